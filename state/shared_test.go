package state_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

// stores are the implementations of the state interfaces that one
// behavioural suite runs against: in memory, and in a real redis-server.
type stores struct {
	signedOut   state.SignedOut
	failures    state.Failures
	revocations state.Revocations
	counters    state.Counters
}

type impl struct {
	name string
	// open returns fresh, empty stores on the clock now.
	open func(t *testing.T, now func() time.Time) stores
}

var redisOnce struct {
	sync.Mutex
	r *testenv.Redis
	n atomic.Int64
}

// impls are the memory implementations and, unless -short, the Redis ones
// on a server shared by the test function (each open uses its own key
// prefix, so stores do not see each other's keys).
func impls(t *testing.T) []impl {
	out := []impl{{"memory", func(t *testing.T, now func() time.Time) stores {
		return stores{
			signedOut:   state.NewMemory(state.MemoryConfig{Now: now}),
			failures:    state.NewFailureMemory(state.FailureMemoryConfig{Now: now}),
			revocations: state.NewRevocationMemory(now),
			counters:    state.NewCounterMemory(now),
		}
	}}}
	if testing.Short() {
		return out
	}
	rd := testenv.StartRedis(t)
	return append(out, impl{"redis", func(t *testing.T, now func() time.Time) stores {
		r := newRedis(t, rd, now)
		return stores{signedOut: r.SignedOut(), failures: r.Failures(), revocations: r.Revocations(), counters: r.Counters()}
	}})
}

func newRedis(t testing.TB, rd *testenv.Redis, now func() time.Time) *state.Redis {
	t.Helper()
	// A generous bound per command: these tests assert what the commands
	// do, and a loaded machine must not turn a slow answer into an error.
	r, err := state.NewRedis(state.RedisConfig{URL: rd.URL, Password: rd.Password, Now: now,
		KeyPrefix: fmt.Sprintf("t%d:", redisOnce.n.Add(1)), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSharedSignedOut(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			s := im.open(t, clk.now).signedOut
			a := session("a", "alice", clk.now().Add(-time.Hour))
			if ok, err := s.Contains(ctx, a); ok || err != nil {
				t.Fatalf("empty: %v %v", ok, err)
			}
			if scope, err := s.Add(ctx, a, clk.now().Add(time.Hour)); scope != state.ScopeSession || err != nil {
				t.Fatalf("Add: %q %v", scope, err)
			}
			if ok, err := s.Contains(ctx, a); !ok || err != nil {
				t.Fatalf("signed out: %v %v", ok, err)
			}
			if ok, _ := s.Contains(ctx, session("b", "alice", a.IssuedAt)); ok {
				t.Error("another session of the same person is held")
			}
			// A time that has passed records nothing.
			if _, err := s.Add(ctx, session("c", "carol", a.IssuedAt), clk.now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.Contains(ctx, session("c", "carol", a.IssuedAt)); ok {
				t.Error("a sign-out that already ended is held")
			}
			if _, err := s.Add(ctx, state.Session{}, clk.now().Add(time.Hour)); !errors.Is(err, state.ErrNoSessionID) {
				t.Errorf("no ID: %v", err)
			}
		})
	}
}

func TestSharedFailures(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
			f := im.open(t, clk.now).failures
			for i := 1; i <= 3; i++ {
				c, err := f.Add(ctx, "u:alice", time.Minute)
				if err != nil || c.N != i || !c.Last.Equal(clk.now()) {
					t.Fatalf("Add #%d = %+v, %v", i, c, err)
				}
				clk.add(time.Second)
			}
			if c, err := f.Get(ctx, "u:alice"); c.N != 3 || err != nil || !c.Last.Equal(clk.now().Add(-time.Second)) {
				t.Fatalf("Get = %+v, %v", c, err)
			}
			if c, _ := f.Get(ctx, "u:bob"); c.N != 0 {
				t.Fatalf("Get(bob) = %+v", c)
			}
			if err := f.Reset(ctx, "u:alice"); err != nil {
				t.Fatal(err)
			}
			if c, _ := f.Get(ctx, "u:alice"); c.N != 0 {
				t.Fatalf("after Reset: %+v", c)
			}
			if _, err := f.Add(ctx, "", time.Minute); !errors.Is(err, state.ErrNoKey) {
				t.Fatalf("empty key: %v", err)
			}
		})
	}
}

func rule(now time.Time, subject string) state.Revocation {
	return state.Revocation{Subject: subject, IssuedBefore: now, Reason: "test", AddedBy: "admin-token", Expires: now.Add(time.Hour)}
}

func TestSharedRevocations(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
			v := im.open(t, clk.now).revocations
			if e, n, err := v.Version(ctx); n != 0 || err != nil {
				t.Fatalf("empty: %q %d %v", e, n, err)
			}
			a, err := v.Add(ctx, rule(clk.now(), "alice"))
			if err != nil || !strings.HasPrefix(a.ID, "rv-") || !a.AddedAt.Equal(clk.now()) {
				t.Fatalf("Add = %+v, %v", a, err)
			}
			clk.add(time.Second)
			b, _ := v.Add(ctx, state.Revocation{Claim: "agent_run", ClaimValue: "r-42", IssuedBefore: clk.now(),
				Reason: "runaway", AddedBy: "corp:ops", Expires: clk.now().Add(time.Minute)})
			epoch, n, err := v.Version(ctx)
			if err != nil || n != 2 || epoch == "" {
				t.Fatalf("Version = %q %d %v", epoch, n, err)
			}
			set, err := v.List(ctx)
			if err != nil || set.Version != 2 || set.Epoch != epoch || len(set.Rules) != 2 {
				t.Fatalf("List = %+v, %v", set, err)
			}
			if set.Rules[0].ID != a.ID || set.Rules[1] != b {
				t.Errorf("List order or content: %+v", set.Rules)
			}
			// Invalid rules are refused and change nothing.
			for _, bad := range []state.Revocation{
				{IssuedBefore: clk.now(), Reason: "x", Expires: clk.now().Add(time.Hour)},                                    // no selector
				{Subject: "x", IssuedBefore: clk.now(), Expires: clk.now().Add(time.Hour)},                                   // no reason
				{Subject: "x", Reason: "x", IssuedBefore: clk.now(), Expires: clk.now()},                                     // expired
				{Claim: "agent_run", Reason: "x", IssuedBefore: clk.now(), Expires: clk.now().Add(time.Hour)},                // no claim value
				{Subject: strings.Repeat("x", 300), Reason: "x", IssuedBefore: clk.now(), Expires: clk.now().Add(time.Hour)}, // too long
			} {
				if _, err := v.Add(ctx, bad); !errors.Is(err, state.ErrInvalidRevocation) {
					t.Errorf("Add(%+v) = %v", bad, err)
				}
			}
			// Expired rules are left out.
			clk.add(2 * time.Minute)
			set, _ = v.List(ctx)
			if len(set.Rules) != 1 || set.Rules[0].ID != a.ID {
				t.Errorf("after b expired: %+v", set.Rules)
			}
			// Restore keeps present rules, adds missing ones, skips expired.
			c := rule(clk.now(), "carol")
			c.ID, c.AddedAt = "rv-restored", clk.now()
			old := b
			if err := v.Restore(ctx, []state.Revocation{a, c, old}); err != nil {
				t.Fatal(err)
			}
			set, _ = v.List(ctx)
			if len(set.Rules) != 2 || set.Rules[0].ID != a.ID || set.Rules[1].ID != "rv-restored" || set.Version <= 2 {
				t.Errorf("after Restore: %+v", set)
			}
		})
	}
}

func TestSharedCounters(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
			c := im.open(t, clk.now).counters
			// A bucket of 3, refilled at 2 per second.
			for i := range 3 {
				if ok, _, err := c.Take(ctx, "agent:r-1", 2, 3, 1); !ok || err != nil {
					t.Fatalf("take #%d: %v %v", i, ok, err)
				}
			}
			ok, retry, err := c.Take(ctx, "agent:r-1", 2, 3, 1)
			if ok || err != nil || retry != 500*time.Millisecond {
				t.Fatalf("empty bucket: %v %v %v", ok, retry, err)
			}
			if ok, _, _ := c.Take(ctx, "agent:r-2", 2, 3, 3); !ok {
				t.Error("another key's bucket is shared")
			}
			clk.add(500 * time.Millisecond)
			if ok, _, _ := c.Take(ctx, "agent:r-1", 2, 3, 1); !ok {
				t.Error("not refilled after retryAfter")
			}
			if ok, retry, _ := c.Take(ctx, "agent:r-1", 2, 3, 2); ok || retry != time.Second {
				t.Errorf("two from an empty bucket: %v %v", ok, retry)
			}
			clk.add(time.Hour)
			if ok, _, _ := c.Take(ctx, "agent:r-1", 2, 3, 3); !ok {
				t.Error("not full after a long time")
			}
			if ok, _, _ := c.Take(ctx, "agent:r-1", 2, 3, 4); ok {
				t.Error("took more than the burst")
			}
			if _, _, err := c.Take(ctx, "", 2, 3, 1); !errors.Is(err, state.ErrInvalidCounter) {
				t.Errorf("empty key: %v", err)
			}

			// A window of a minute from the first Add.
			start := clk.now()
			total, reset, err := c.Add(ctx, "bytes:r-1", time.Minute, 100)
			if total != 100 || !reset.Equal(start.Add(time.Minute)) || err != nil {
				t.Fatalf("Add = %d %v %v", total, reset, err)
			}
			clk.add(59 * time.Second)
			if total, reset, _ = c.Add(ctx, "bytes:r-1", time.Minute, 5); total != 105 || !reset.Equal(start.Add(time.Minute)) {
				t.Errorf("same window: %d %v", total, reset)
			}
			clk.add(time.Second)
			if total, reset, _ = c.Add(ctx, "bytes:r-1", time.Minute, 7); total != 7 || !reset.Equal(clk.now().Add(time.Minute)) {
				t.Errorf("next window: %d %v", total, reset)
			}
			if _, _, err := c.Add(ctx, "bytes:r-1", 0, 1); !errors.Is(err, state.ErrInvalidCounter) {
				t.Errorf("zero window: %v", err)
			}
		})
	}
}

// Counters are atomic: concurrent takes from one bucket never take more
// than it holds.
func TestSharedCountersConcurrent(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			c := im.open(t, clk.now).counters
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 25 {
						if ok, _, err := c.Take(ctx, "k", 0.001, 50, 1); err != nil {
							t.Error(err)
							return
						} else if ok {
							allowed.Add(1)
						}
						if _, _, err := c.Add(ctx, "w", time.Hour, 1); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if allowed.Load() != 50 {
				t.Errorf("allowed %d of 200, want the burst of 50", allowed.Load())
			}
			if total, _, _ := c.Add(ctx, "w", time.Hour, 0); total != 200 {
				t.Errorf("window total %d, want 200", total)
			}
		})
	}
}

// A watcher keeps its copy current, applies a rule added on another
// replica at its next poll, and fails closed once the store has not
// confirmed its copy for the freshness bound.
func TestWatcherRedis(t *testing.T) {
	ctx := context.Background()
	rd := testenv.StartRedis(t)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	r1 := newRedis(t, rd, clk.now)
	// The second replica shares the first one's keys.
	r2, err := state.NewRedis(state.RedisConfig{URL: rd.URL, Now: clk.now, KeyPrefix: r1.KeyPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	var errs atomic.Int64
	w1 := state.NewRevocationWatcher(r1.Revocations(), state.WatcherConfig{Now: clk.now})
	w2 := state.NewRevocationWatcher(r2.Revocations(), state.WatcherConfig{Now: clk.now, OnError: func(error) { errs.Add(1) }})
	if _, err := w2.Rules(); !errors.Is(err, state.ErrNotFresh) {
		t.Fatalf("never refreshed: %v", err)
	}
	for _, w := range []*state.RevocationWatcher{w1, w2} {
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	added, err := w1.Add(ctx, rule(clk.now(), "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if set, err := w1.Rules(); err != nil || len(set.Rules) != 1 {
		t.Fatalf("w1 right after Add: %+v %v", set, err)
	}
	if set, _ := w2.Rules(); len(set.Rules) != 0 {
		t.Fatalf("w2 before polling: %+v", set)
	}
	w2.Refresh(ctx)
	if set, err := w2.Rules(); err != nil || len(set.Rules) != 1 || set.Rules[0].ID != added.ID {
		t.Fatalf("w2 after polling: %+v %v", set, err)
	}
	clk.add(900 * time.Millisecond)
	if _, err := w2.Rules(); err != nil {
		t.Fatalf("within the bound: %v", err)
	}

	// Redis restarted without persistence: it comes back empty. The
	// watchers write back what they know.
	rd.Stop()
	if err := w2.Refresh(ctx); err == nil || errs.Load() == 0 {
		t.Fatalf("Refresh with Redis down: %v", err)
	}
	clk.add(200 * time.Millisecond)
	if _, err := w2.Rules(); !errors.Is(err, state.ErrNotFresh) || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("past the bound with Redis down: %v", err)
	}
	if w2.Ready() == nil || r2.Up() {
		t.Error("ready or up with Redis down")
	}
	rd.Restart(t)
	if epoch, n, err := r2.Revocations().Version(ctx); epoch != "" || n != 0 || err != nil {
		t.Fatalf("a restarted Redis without persistence: %q %d %v", epoch, n, err)
	}
	if err := w2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if set, err := w2.Rules(); err != nil || len(set.Rules) != 1 || set.Rules[0] != added {
		t.Fatalf("w2 after the restart: %+v %v", set, err)
	}
	if !r2.Up() {
		t.Error("not up again")
	}
	// The other replica sees another epoch too, and its copy agrees.
	if err := w1.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	set1, _ := w1.Rules()
	set2, _ := w2.Rules()
	if len(set1.Rules) != 1 || set1.Rules[0] != added {
		t.Errorf("w1 after the restart: %+v", set1)
	}
	w2.Refresh(ctx)
	set2, _ = w2.Rules()
	if set1.Epoch != set2.Epoch || set1.Version != set2.Version {
		t.Errorf("copies disagree: %s/%d and %s/%d", set1.Epoch, set1.Version, set2.Epoch, set2.Version)
	}
}

// A persistent Redis keeps sign-outs across a restart; a password is
// required when set.
func TestRedisPersistenceAndAuth(t *testing.T) {
	ctx := context.Background()
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{Persist: true, Password: "redis-test-password"})
	var failed atomic.Int64
	bad, err := state.NewRedis(state.RedisConfig{URL: rd.URL, Password: "wrong", OnError: func(use string, _ error) {
		if use == state.UseSignedOut {
			failed.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.SignedOut().Contains(ctx, session("a", "alice", time.Now())); err == nil || failed.Load() != 1 {
		t.Fatalf("wrong password: %v (%d errors)", err, failed.Load())
	}
	r := newRedis(t, rd, nil)
	s := session("a", "alice", time.Now().Add(-time.Minute))
	if _, err := r.SignedOut().Add(ctx, s, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rd.Restart(t)
	if ok, err := r.SignedOut().Contains(ctx, s); !ok || err != nil {
		t.Fatalf("after a restart with persistence: %v %v", ok, err)
	}
}

// FailuresFallback counts on the replica while the shared store fails.
func TestFailuresFallback(t *testing.T) {
	ctx := context.Background()
	rd := testenv.StartRedis(t)
	r := newRedis(t, rd, nil)
	var reported atomic.Int64
	f := &state.FailuresFallback{Primary: r.Failures(), Local: state.NewFailureMemory(state.FailureMemoryConfig{}),
		OnError: func(error) { reported.Add(1) }}
	f.Add(ctx, "u:alice", time.Minute)
	rd.Stop()
	c, err := f.Add(ctx, "u:alice", time.Minute)
	if err != nil || c.N != 2 || reported.Load() != 1 {
		t.Fatalf("with Redis down: %+v %v (%d reported)", c, err, reported.Load())
	}
	if c, err := f.Get(ctx, "u:alice"); err != nil || c.N != 2 {
		t.Fatalf("Get with Redis down: %+v %v", c, err)
	}
}

// GuardedCounters applies the configured policy when the store fails.
func TestGuardedCounters(t *testing.T) {
	ctx := context.Background()
	rd := testenv.StartRedis(t)
	r := newRedis(t, rd, nil)
	rd.Stop()
	for _, p := range []state.CounterPolicy{state.CountersOpen, state.CountersClosed} {
		var reported int
		g := &state.GuardedCounters{Counters: r.Counters(), Policy: p, OnError: func(error) { reported++ }}
		ok, _, err := g.Take(ctx, "k", 1, 1, 1)
		if ok != (p == state.CountersOpen) || (err == nil) != (p == state.CountersOpen) || reported != 1 {
			t.Errorf("%s: Take = %v %v (%d reported)", p, ok, err, reported)
		}
		if _, _, err := g.Add(ctx, "k", time.Minute, 1); (err == nil) != (p == state.CountersOpen) {
			t.Errorf("%s: Add = %v", p, err)
		}
		if _, _, err := g.Take(ctx, "", 1, 1, 1); !errors.Is(err, state.ErrInvalidCounter) {
			t.Errorf("%s: invalid arguments = %v", p, err)
		}
	}
}

// rediss:// with the server's CA: the state works over TLS; without the
// CA the server certificate is refused.
func TestRedisTLS(t *testing.T) {
	ctx := context.Background()
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: true})
	pem, err := os.ReadFile(rd.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	r, err := state.NewRedis(state.RedisConfig{URL: rd.URL, TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := session("a", "alice", time.Now())
	if _, err := r.SignedOut().Add(ctx, s, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.SignedOut().Contains(ctx, s); !ok || err != nil {
		t.Fatalf("over TLS: %v %v", ok, err)
	}
	untrusted, err := state.NewRedis(state.RedisConfig{URL: rd.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if _, err := untrusted.SignedOut().Contains(ctx, s); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted server certificate: %v", err)
	}
}
