package state_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/state"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func session(id, subject string, issued time.Time) state.Session {
	return state.Session{ID: id, Issuer: "corp", Subject: subject, IssuedAt: issued}
}

func mustAdd(t *testing.T, m *state.Memory, s state.Session, until time.Time, want state.Scope) {
	t.Helper()
	got, err := m.Add(context.Background(), s, until)
	if err != nil || got != want {
		t.Fatalf("Add(%s) = %q, %v; want %q", s.ID, got, err, want)
	}
}

func contains(t *testing.T, m *state.Memory, s state.Session) bool {
	t.Helper()
	ok, err := m.Contains(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMemoryExpiry(t *testing.T) {
	clk := &clock{t: t0}
	m := state.NewMemory(state.MemoryConfig{Now: clk.now})
	a := session("a", "alice", t0.Add(-time.Hour))
	if contains(t, m, a) {
		t.Fatal("an empty record holds a session")
	}
	mustAdd(t, m, a, t0.Add(time.Hour), state.ScopeSession)
	if !contains(t, m, a) {
		t.Fatal("a signed-out session is not held")
	}
	if contains(t, m, session("b", "alice", a.IssuedAt)) {
		t.Error("another session of the same person is held")
	}
	// Adding again with an earlier time does not shorten it; a later one
	// extends it.
	mustAdd(t, m, a, t0.Add(time.Minute), state.ScopeSession)
	clk.add(59 * time.Minute)
	if !contains(t, m, a) {
		t.Fatal("shortened by a second Add")
	}
	mustAdd(t, m, a, t0.Add(2*time.Hour), state.ScopeSession)
	clk.add(time.Hour + time.Minute - time.Second) // t0 + 1h59m59s
	if !contains(t, m, a) {
		t.Fatal("not extended by a later Add")
	}
	clk.add(time.Second) // t0 + 2h, exactly until: forgotten
	if contains(t, m, a) {
		t.Fatal("held after its time")
	}
	if st := m.Stats(); st.Sessions != 0 || st.Subjects != 0 || !st.AllUntil.IsZero() {
		t.Errorf("stats after expiry %+v", st)
	}
	// A time already past records nothing.
	mustAdd(t, m, session("c", "carol", t0), clk.now(), state.ScopeSession)
	if st := m.Stats(); st.Sessions != 0 || contains(t, m, session("c", "carol", t0)) {
		t.Errorf("a past time was recorded: %+v", st)
	}
	if _, err := m.Add(context.Background(), state.Session{Subject: "x"}, clk.now().Add(time.Hour)); !errors.Is(err, state.ErrNoSessionID) {
		t.Errorf("Add without an ID: %v", err)
	}
}

// TestMemoryBound: a full record never drops a sign-out; it refuses more
// instead — the person's earlier sessions, then everyone's — and says so.
func TestMemoryBound(t *testing.T) {
	clk := &clock{t: t0}
	m := state.NewMemory(state.MemoryConfig{MaxEntries: 2, Now: clk.now})
	until := t0.Add(time.Hour)
	mustAdd(t, m, session("s1", "alice", t0.Add(-3*time.Hour)), until, state.ScopeSession)
	mustAdd(t, m, session("s2", "bob", t0.Add(-3*time.Hour)), until.Add(time.Hour), state.ScopeSession)
	// Adding a session already held needs no room.
	mustAdd(t, m, session("s1", "alice", t0.Add(-3*time.Hour)), until, state.ScopeSession)

	// Full: carol's sign-out covers her sessions signed in no later than it.
	carol := session("s3", "carol", t0.Add(-2*time.Hour))
	mustAdd(t, m, carol, until, state.ScopeSubject)
	for _, c := range []struct {
		s    state.Session
		want bool
	}{
		{carol, true},
		{session("s3-older", "carol", t0.Add(-5*time.Hour)), true},
		{session("s3-same-second", "carol", carol.IssuedAt), true},
		{session("s3-later", "carol", carol.IssuedAt.Add(time.Second)), false},
		{state.Session{ID: "s3-other-issuer", Issuer: "partners", Subject: "carol", IssuedAt: carol.IssuedAt}, false},
		{session("d1", "dave", t0.Add(-5*time.Hour)), false},
	} {
		if got := contains(t, m, c.s); got != c.want {
			t.Errorf("%s: held %v, want %v", c.s.ID, got, c.want)
		}
	}
	// Carol again, a later session: her entry is extended, no room needed.
	mustAdd(t, m, session("s4", "carol", t0.Add(-time.Hour)), until.Add(30*time.Minute), state.ScopeSubject)
	if !contains(t, m, session("s4", "carol", t0.Add(-time.Hour))) {
		t.Error("carol's later session not held")
	}
	mustAdd(t, m, session("d1", "dave", t0.Add(-4*time.Hour)), until, state.ScopeSubject)
	if st := m.Stats(); st.Sessions != 2 || st.Subjects != 2 {
		t.Errorf("stats %+v", st)
	}

	// Both full: erin's sign-out refuses every session signed in no later
	// than hers.
	erin := session("e1", "erin", t0.Add(-2*time.Hour))
	mustAdd(t, m, erin, until, state.ScopeAll)
	if !contains(t, m, erin) || !contains(t, m, session("x", "frank", erin.IssuedAt.Add(-time.Minute))) {
		t.Error("ScopeAll does not hold erin or an older session of someone else")
	}
	if contains(t, m, session("y", "frank", erin.IssuedAt.Add(time.Second))) {
		t.Error("ScopeAll holds a later session")
	}
	// A later sign-out moves the line forward.
	mustAdd(t, m, session("g1", "gina", t0.Add(-30*time.Minute)), until.Add(time.Minute), state.ScopeAll)
	if !contains(t, m, session("y", "frank", erin.IssuedAt.Add(time.Second))) {
		t.Error("the line did not move to the later sign-out")
	}
	if st := m.Stats(); !st.AllUntil.Equal(until.Add(time.Minute)) {
		t.Errorf("all until %v", st.AllUntil)
	}

	// Everything is forgotten when it expires, and there is room again.
	clk.add(2*time.Hour + time.Second)
	if st := m.Stats(); st.Sessions != 0 || st.Subjects != 0 || !st.AllUntil.IsZero() {
		t.Errorf("stats after expiry %+v", st)
	}
	mustAdd(t, m, session("h1", "hank", clk.now()), clk.now().Add(time.Hour), state.ScopeSession)
	if contains(t, m, erin) || contains(t, m, carol) {
		t.Error("expired entries still held")
	}
}

// TestMemoryNeverDropsASignOut adds random sign-outs to a small record
// and checks that every one is held until its time, whatever the scope.
func TestMemoryNeverDropsASignOut(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clk := &clock{t: t0}
	m := state.NewMemory(state.MemoryConfig{MaxEntries: 5, Now: clk.now})
	type added struct {
		s     state.Session
		until time.Time
	}
	var all []added
	scopes := map[state.Scope]int{}
	for i := range 2000 {
		clk.add(time.Duration(rng.IntN(120)) * time.Second)
		s := session(fmt.Sprintf("s%d", i), fmt.Sprintf("p%d", rng.IntN(12)), clk.now().Add(-time.Duration(rng.IntN(3600))*time.Second))
		until := clk.now().Add(time.Duration(1+rng.IntN(7200)) * time.Second)
		sc, err := m.Add(context.Background(), s, until)
		if err != nil {
			t.Fatal(err)
		}
		scopes[sc]++
		all = append(all, added{s, until})
		for _, a := range all {
			if a.until.After(clk.now()) && !contains(t, m, a.s) {
				t.Fatalf("after %d sign-outs, %s (until %v) is not held at %v", i+1, a.s.ID, a.until, clk.now())
			}
		}
		if st := m.Stats(); st.Sessions > 5 || st.Subjects > 5 {
			t.Fatalf("bound exceeded: %+v", st)
		}
	}
	if scopes[state.ScopeSession] == 0 || scopes[state.ScopeSubject] == 0 || scopes[state.ScopeAll] == 0 {
		t.Errorf("the random run did not reach every scope: %v", scopes)
	}
}

// TestMemoryConcurrent is meant for go test -race.
func TestMemoryConcurrent(t *testing.T) {
	clk := &clock{t: t0}
	m := state.NewMemory(state.MemoryConfig{MaxEntries: 50, Now: clk.now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				s := session(fmt.Sprintf("g%d-%d", g, i), fmt.Sprintf("p%d", i%7), t0)
				if _, err := m.Add(context.Background(), s, clk.now().Add(time.Minute)); err != nil {
					t.Error(err)
					return
				}
				if ok, err := m.Contains(context.Background(), s); !ok || err != nil {
					t.Errorf("%s not held right after Add: %v %v", s.ID, ok, err)
					return
				}
				if i%50 == 0 {
					clk.add(time.Second)
					_ = m.Stats()
				}
			}
		}()
	}
	wg.Wait()
	if st := m.Stats(); st.Sessions > 50 || st.Subjects > 50 {
		t.Errorf("bound exceeded: %+v", st)
	}
}

func BenchmarkMemoryContains(b *testing.B) {
	m := state.NewMemory(state.MemoryConfig{Now: func() time.Time { return t0 }})
	for i := range 10_000 {
		_, _ = m.Add(context.Background(), session(fmt.Sprintf("s%d", i), "p", t0), t0.Add(time.Hour))
	}
	s := session("absent", "q", t0)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = m.Contains(context.Background(), s)
	}
}
