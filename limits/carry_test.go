package limits_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

// deferred is a Limiter that carries counts (Config.Defer) over c; the
// background flush never fires during a test (Flush sends).
func deferred(c state.Counters, now func() time.Time) *limits.Limiter {
	return limits.New(c, limits.Config{Defer: time.Hour, Now: now})
}

func everyLimit() *limits.Policy {
	return &limits.Policy{Role: "agents", Rules: &limits.Rules{RequestsPerSecond: 100, Burst: 100, Window: time.Hour,
		BytesDownloaded: 1 << 30, ObjectsRead: 100, KeysListed: 100, BytesUploaded: 1 << 30,
		Per: []limits.Scope{limits.PerSession, limits.PerIdentity, limits.PerRole}},
		Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 5, RevokeAfter: 10}}
}

// With Config.Defer a request makes one round trip whatever it does: the
// counts known after its response travel with the next admission.
func TestDeferredOneRoundTrip(t *testing.T) {
	c := &roundTrips{CounterMemory: state.NewCounterMemory(nil)}
	l := deferred(c, nil)
	k := l.Keys(everyLimit(), subj("s", "r-1"))
	ctx := context.Background()
	for i := range 20 {
		for _, op := range []limits.Op{limits.OpOther, limits.OpDownload, limits.OpDownload, limits.OpList, limits.OpUpload} {
			c.n = 0
			var tk limits.Ticket
			if v := l.Admit(ctx, k, op, -1, &tk); !v.Allowed() {
				t.Fatalf("round %d op %d: %+v", i, op, v)
			}
			switch op {
			case limits.OpDownload:
				if v := l.Download(ctx, &tk, 1000); !v.Allowed() {
					t.Fatalf("download: %+v", v)
				}
				l.Downloaded(ctx, &tk, 10, false) // and one of unknown length
			case limits.OpList:
				l.Listed(ctx, &tk, 3)
			case limits.OpUpload:
				l.Uploaded(ctx, &tk, 500)
			}
			tk.Release()
			if c.n != 1 {
				t.Fatalf("round %d op %d: %d round trips", i, op, c.n)
			}
		}
	}
	c.n = 0
	if err := l.Flush(ctx); err != nil || c.n != 1 {
		t.Fatalf("flush: %v, %d round trips", err, c.n)
	}
	// Every count arrived: 20 × (2 × 1010) bytes, 20 × 3 keys, 20 × 500.
	for _, want := range []struct {
		key string
		n   int64
	}{{"down", 40400}, {"list", 60}, {"up", 10000}} {
		for _, scope := range []string{"session:1.s", "identity:3.r-1", "role:1.-"} {
			n, _, _ := c.CounterMemory.Add(ctx, "limit:6.agents:"+scope+":"+want.key, time.Hour, 0)
			if n != want.n {
				t.Errorf("%s %s: %d, want %d", scope, want.key, n, want.n)
			}
		}
	}
	// Nothing is left to send.
	c.n = 0
	if l.Flush(ctx); c.n != 0 {
		t.Errorf("second flush: %d round trips", c.n)
	}
}

// On one replica the budget holds exactly although counts travel later:
// two downloads admitted together cannot both take the last of it.
func TestDeferredDownloadExactOnOneReplica(t *testing.T) {
	clk := newClock()
	l := deferred(state.NewCounterMemory(clk.now), clk.now)
	p := &limits.Policy{Role: "agents", Rules: &limits.Rules{BytesDownloaded: 100, Window: time.Hour, Per: []limits.Scope{limits.PerSession, limits.PerRole}}}
	k := l.Keys(p, subj("s", ""))
	ctx := context.Background()
	var a, b limits.Ticket
	if v := l.Admit(ctx, k, limits.OpDownload, -1, &a); !v.Allowed() {
		t.Fatal(v)
	}
	if v := l.Admit(ctx, k, limits.OpDownload, -1, &b); !v.Allowed() {
		t.Fatal(v)
	}
	if v := l.Download(ctx, &a, 60); !v.Allowed() {
		t.Fatalf("first: %+v", v)
	}
	if got := b.Remaining(); got != 40 {
		t.Errorf("remaining after the first: %d", got)
	}
	v := l.Download(ctx, &b, 60)
	if v.Limit != limits.BytesDownloaded || v.Used != 60 || v.Max != 100 || !v.ResetAt.Equal(clk.now().Add(time.Hour)) {
		t.Fatalf("second: %+v", v)
	}
	if v := l.Download(ctx, &b, 40); !v.Allowed() {
		t.Fatalf("the rest: %+v", v)
	}
	a.Release()
	b.Release()
	// Many at once, counted in one process: never more than the budget.
	l2 := deferred(state.NewCounterMemory(clk.now), clk.now)
	k2 := l2.Keys(&limits.Policy{Role: "agents", Rules: &limits.Rules{BytesDownloaded: 1000, Window: time.Hour, Per: []limits.Scope{limits.PerSession}}}, subj("s", ""))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tk limits.Ticket
			defer tk.Release()
			if v := l2.Admit(ctx, k2, limits.OpDownload, -1, &tk); !v.Allowed() {
				return
			}
			if v := l2.Download(ctx, &tk, 30); v.Allowed() {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed > 33 {
		t.Errorf("%d downloads of 30 bytes fit a budget of 1000", allowed)
	}
}

// Two replicas sharing one counter store share the budget once the
// counts have travelled.
func TestDeferredTwoReplicas(t *testing.T) {
	clk := newClock()
	shared := state.NewCounterMemory(clk.now)
	a, b := deferred(shared, clk.now), deferred(shared, clk.now)
	p := &limits.Policy{Role: "agents", Rules: &limits.Rules{BytesDownloaded: 100, Window: time.Hour, Per: []limits.Scope{limits.PerSession}}}
	ctx := context.Background()
	get := func(l *limits.Limiter, n int64) limits.Verdict {
		var tk limits.Ticket
		defer tk.Release()
		if v := l.Admit(ctx, l.Keys(p, subj("s", "")), limits.OpDownload, -1, &tk); !v.Allowed() {
			return v
		}
		return l.Download(ctx, &tk, n)
	}
	if v := get(a, 70); !v.Allowed() {
		t.Fatal(v)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if v := get(b, 40); v.Limit != limits.BytesDownloaded || v.Used != 70 {
		t.Fatalf("b after a's 70: %+v", v)
	}
	if v := get(b, 30); !v.Allowed() {
		t.Fatalf("b, the rest: %+v", v)
	}
	// b's 30 rides on its next admission; a sees it after b sends.
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if v := get(a, 1); v.Limit != limits.BytesDownloaded {
		t.Fatalf("a, spent: %+v", v)
	}
}

// switchable fails while down is set.
type switchable struct {
	*state.CounterMemory
	mu   sync.Mutex
	down bool
}

var errDown = errors.New("counters down")

func (s *switchable) Batch(ctx context.Context, ops []state.CounterOp) (int, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return 0, errDown
	}
	return s.CounterMemory.Batch(ctx, ops)
}

// Counts whose batch failed are kept and sent later; meanwhile this
// replica still subtracts them from what it allows.
func TestDeferredCountsSurviveFailures(t *testing.T) {
	clk := newClock()
	c := &switchable{CounterMemory: state.NewCounterMemory(clk.now)}
	l := deferred(c, clk.now)
	p := &limits.Policy{Role: "agents", Rules: &limits.Rules{BytesDownloaded: 100, Window: time.Hour, Per: []limits.Scope{limits.PerSession}}}
	k := l.Keys(p, subj("s", ""))
	ctx := context.Background()
	var tk limits.Ticket
	l.Admit(ctx, k, limits.OpDownload, -1, &tk)
	if v := l.Download(ctx, &tk, 70); !v.Allowed() {
		t.Fatal(v)
	}
	tk.Release()
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	if err := l.Flush(ctx); !errors.Is(err, errDown) {
		t.Fatalf("flush while down: %v", err)
	}
	if v := l.Admit(ctx, k, limits.OpDownload, -1, &tk); !errors.Is(v.Err, errDown) {
		t.Fatalf("admission while down: %+v", v)
	}
	tk.Release()
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
	// The 70 were not lost: this admission carries them, and the budget
	// left is 30.
	if v := l.Admit(ctx, k, limits.OpDownload, -1, &tk); !v.Allowed() || tk.Remaining() != 30 {
		t.Fatalf("after: %+v, remaining %d", v, tk.Remaining())
	}
	tk.Release()
	if n, _, _ := c.CounterMemory.Add(ctx, "limit:6.agents:session:1.s:down", time.Hour, 0); n != 70 {
		t.Errorf("shared total %d", n)
	}
	// Close sends what is left.
	l.Admit(ctx, k, limits.OpDownload, -1, &tk)
	l.Download(ctx, &tk, 20)
	tk.Release()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := c.CounterMemory.Add(ctx, "limit:6.agents:session:1.s:down", time.Hour, 0); n != 90 {
		t.Errorf("after close %d", n)
	}
}
