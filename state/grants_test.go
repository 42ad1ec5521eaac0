package state_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

// grantImpls are the record in memory and, unless -short, in a real
// redis-server; open returns an empty record on the clock now.
func grantImpls(t *testing.T) []struct {
	name string
	open func(now func() time.Time) state.Grants
} {
	type im = struct {
		name string
		open func(now func() time.Time) state.Grants
	}
	out := []im{{"memory", func(now func() time.Time) state.Grants { return state.NewGrantMemory(now) }}}
	if testing.Short() {
		return out
	}
	rd := testenv.StartRedis(t)
	return append(out, im{"redis", func(now func() time.Time) state.Grants { return newRedis(t, rd, now).Grants() }})
}

var (
	alice = state.Person{Issuer: "corp", Subject: "u-alice", Username: "alice"}
	bob   = state.Person{Issuer: "corp", Subject: "u-bob", Username: "bob"}
)

func request(who state.Person, role string, d time.Duration) state.AccessRequest {
	return state.AccessRequest{Role: role, Requester: who, Reason: "incident 42", Duration: d}
}

func TestSharedGrants(t *testing.T) {
	ctx := context.Background()
	for _, im := range grantImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			g := im.open(clk.now)
			_, v0, err := g.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Request(ctx, state.AccessRequest{Role: "admin", Requester: alice, Duration: time.Hour}); !errors.Is(err, state.ErrInvalidRequest) {
				t.Fatalf("no reason: %v", err)
			}
			r, err := g.Request(ctx, request(alice, "admin", time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if r.ID == "" || r.Status != state.GrantPending || !r.RequestedAt.Equal(clk.now()) {
				t.Fatalf("request: %+v", r)
			}
			_, v1, _ := g.Version(ctx)
			if v1 <= v0 {
				t.Errorf("version did not move: %d then %d", v0, v1)
			}
			// The requester can never decide their own request, even
			// under another display name.
			self := alice
			self.Username = "someone else"
			if _, err := g.Decide(ctx, r.ID, true, self); !errors.Is(err, state.ErrSelfApproval) {
				t.Fatalf("self-approval: %v", err)
			}
			if _, err := g.Decide(ctx, "ar-nope", true, bob); !errors.Is(err, state.ErrRequestNotFound) {
				t.Fatalf("unknown: %v", err)
			}
			clk.add(time.Minute)
			a, err := g.Decide(ctx, r.ID, true, bob)
			if err != nil {
				t.Fatal(err)
			}
			start := clk.now()
			if a.Status != state.GrantApproved || !a.Start.Equal(start) || !a.End.Equal(start.Add(time.Hour)) || !a.DecidedBy.Same(bob) {
				t.Fatalf("approved: %+v", a)
			}
			if _, err := g.Decide(ctx, r.ID, false, bob); !errors.Is(err, state.ErrNotPending) {
				t.Fatalf("decided twice: %v", err)
			}
			if !a.Active(start) || !a.Active(a.End.Add(-time.Nanosecond)) || a.Active(a.End) || a.Active(start.Add(-time.Nanosecond)) {
				t.Error("Active does not follow [Start, End)")
			}
			// Not expired before its end; marked once after it.
			if _, ok, err := g.Expire(ctx, r.ID); ok || err != nil {
				t.Fatalf("expired early: %v %v", ok, err)
			}
			clk.add(time.Hour)
			e, ok, err := g.Expire(ctx, r.ID)
			if !ok || err != nil || e.Status != state.GrantExpired {
				t.Fatalf("expire: %+v %v %v", e, ok, err)
			}
			if _, ok, _ := g.Expire(ctx, r.ID); ok {
				t.Error("expired twice")
			}

			// Rejection, and revocation of a grant in force.
			r2, _ := g.Request(ctx, request(alice, "admin", 30*time.Minute))
			if x, err := g.Decide(ctx, r2.ID, false, bob); err != nil || x.Status != state.GrantRejected {
				t.Fatalf("reject: %+v %v", x, err)
			}
			r3, _ := g.Request(ctx, request(alice, "admin", 30*time.Minute))
			if _, err := g.Revoke(ctx, r3.ID, bob); !errors.Is(err, state.ErrNotActive) {
				t.Fatalf("revoke pending: %v", err)
			}
			g3, _ := g.Decide(ctx, r3.ID, true, bob)
			clk.add(10 * time.Minute)
			x, err := g.Revoke(ctx, r3.ID, alice)
			if err != nil || x.Status != state.GrantRevoked || !x.End.Equal(clk.now()) || !x.RevokedBy.Same(alice) || x.Active(clk.now()) {
				t.Fatalf("revoke: %+v %v", x, err)
			}
			if !g3.End.After(x.End) {
				t.Error("revocation did not move the end")
			}
			got, err := g.Get(ctx, r3.ID)
			if err != nil || got.Status != state.GrantRevoked {
				t.Fatalf("get: %+v %v", got, err)
			}
			set, err := g.List(ctx)
			if err != nil || len(set.Requests) != 3 || set.Requests[2].ID != r.ID {
				t.Fatalf("list: %+v %v", set, err)
			}
			// Records are forgotten in the end.
			clk.add(state.KeepDecided + state.PendingFor)
			if set, _ := g.List(ctx); len(set.Requests) != 0 {
				t.Errorf("kept %d records", len(set.Requests))
			}
		})
	}
}

func TestSharedGrantsBounded(t *testing.T) {
	ctx := context.Background()
	for _, im := range grantImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			g := im.open(clk.now)
			for i := range state.MaxPendingPerPerson {
				if _, err := g.Request(ctx, request(alice, "admin", time.Hour)); err != nil {
					t.Fatal(i, err)
				}
			}
			if _, err := g.Request(ctx, request(alice, "admin", time.Hour)); !errors.Is(err, state.ErrTooManyRequests) {
				t.Fatalf("one too many: %v", err)
			}
			if _, err := g.Request(ctx, request(bob, "admin", time.Hour)); err != nil {
				t.Fatalf("another person: %v", err)
			}
			// Pending requests are forgotten after PendingFor.
			clk.add(state.PendingFor)
			if _, err := g.Request(ctx, request(alice, "admin", time.Hour)); err != nil {
				t.Fatalf("after the old ones were forgotten: %v", err)
			}
		})
	}
}

// TestSharedGrantsDecideRace: of approvers deciding at once, one wins.
func TestSharedGrantsDecideRace(t *testing.T) {
	ctx := context.Background()
	for _, im := range grantImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			g := im.open(clk.now)
			r, _ := g.Request(ctx, request(alice, "admin", time.Hour))
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := range 8 {
				wg.Go(func() {
					by := state.Person{Issuer: "corp", Subject: "approver-" + string(rune('a'+i))}
					if _, err := g.Decide(ctx, r.ID, i%2 == 0, by); err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if !errors.Is(err, state.ErrNotPending) && !errors.Is(err, state.ErrConflict) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("%d decisions won", wins)
			}
		})
	}
}

func TestGrantWatcher(t *testing.T) {
	ctx := context.Background()
	for _, im := range grantImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			g := im.open(clk.now)
			var expired []state.AccessRequest
			w := state.NewGrantWatcher(g, state.GrantWatcherConfig{Now: clk.now,
				OnExpire: func(a state.AccessRequest) { expired = append(expired, a) }})
			// A second replica sharing the store.
			w2 := state.NewGrantWatcher(g, state.GrantWatcherConfig{Now: clk.now})
			if _, err := w.Active("corp", "u-alice"); err == nil {
				t.Error("Active before the first read")
			}
			r, _ := g.Request(ctx, request(alice, "admin", time.Hour))
			a, _ := g.Decide(ctx, r.ID, true, bob)
			for _, x := range []*state.GrantWatcher{w, w2} {
				if err := x.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got, err := w.Active("corp", "u-alice")
			if err != nil || len(got) != 1 || got[0].ID != a.ID {
				t.Fatalf("active: %+v %v", got, err)
			}
			if got, _ := w.Active("corp", "u-bob"); len(got) != 0 {
				t.Error("bob holds alice's grant")
			}
			// The end is decided by the clock at each call, without a
			// poll: in force a nanosecond before, not at the end.
			clk.t = a.End.Add(-time.Nanosecond)
			_ = w2.Refresh(ctx)
			if got, _ := w2.Active("corp", "u-alice"); len(got) != 1 {
				t.Error("ended early")
			}
			clk.t = a.End
			if got, _ := w2.Active("corp", "u-alice"); len(got) != 0 {
				t.Error("in force at its end")
			}
			// The replicas race to mark it expired: one event in all.
			if err := w.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			w.ExpireDue(ctx)
			w2.ExpireDue(ctx)
			if len(expired) != 1 || expired[0].ID != a.ID || expired[0].Status != state.GrantExpired {
				t.Fatalf("expired: %+v", expired)
			}
			if im.name == "redis" {
				// A copy not confirmed within the bound grants nothing.
				r2, _ := g.Request(ctx, request(alice, "admin", time.Hour))
				_, _ = g.Decide(ctx, r2.ID, true, bob)
				_ = w.Refresh(ctx)
				clk.add(2 * state.DefaultFreshnessBound)
				if got, err := w.Active("corp", "u-alice"); !errors.Is(err, state.ErrGrantsNotFresh) || len(got) != 0 {
					t.Errorf("stale copy: %+v %v", got, err)
				}
			}
		})
	}
}

// BenchmarkGrantWatcherActive is the look-up every bearer and browser
// request makes: a person without a grant while others hold some, and a
// person with one.
func BenchmarkGrantWatcherActive(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	g := state.NewGrantMemory(clk)
	for i := range 100 {
		r, _ := g.Request(ctx, request(state.Person{Issuer: "corp", Subject: "u-" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, "admin", time.Hour))
		_, _ = g.Decide(ctx, r.ID, true, bob)
	}
	w := state.NewGrantWatcher(g, state.GrantWatcherConfig{Now: clk})
	if err := w.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, subject string }{{"without", "u-nobody"}, {"with", "u-aa"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = w.Active("corp", c.subject)
			}
		})
	}
}
