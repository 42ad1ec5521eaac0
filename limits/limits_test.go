package limits_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

type recorder struct {
	mu     sync.Mutex
	events []limits.Event
	hits   []limits.Limit
	rules  []state.Revocation
}

func (r *recorder) Add(_ context.Context, rule state.Revocation) (state.Revocation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rule.ID = "rv-test"
	r.rules = append(r.rules, rule)
	return rule, nil
}

func setup(t *testing.T, rules limits.Rules, esc *limits.Escalation) (*limits.Limiter, *limits.Policy, *clock, *recorder) {
	t.Helper()
	c := newClock()
	rec := &recorder{}
	l := limits.New(state.NewCounterMemory(c.now), limits.Config{
		Now:          c.now,
		Revocations:  rec,
		OnHit:        func(_ *limits.Policy, lim limits.Limit) { rec.hits = append(rec.hits, lim) },
		OnEscalation: func(e limits.Event) { rec.events = append(rec.events, e) },
	})
	if len(rules.Per) == 0 {
		rules.Per = []limits.Scope{limits.PerSession}
	}
	return l, &limits.Policy{Role: "agents", Kind: "agent", Rules: &rules, Escalation: esc}, c, rec
}

func subj(session, run string) limits.Subject {
	return limits.Subject{Session: session, Issuer: "dev", Subject: "agent-1", Identity: run,
		Revoke: state.Revocation{SessionID: session}}
}

func admit(t *testing.T, l *limits.Limiter, k *limits.Keys, op limits.Op, up int64) limits.Verdict {
	t.Helper()
	var tk limits.Ticket
	v := l.Admit(context.Background(), k, op, up, &tk)
	tk.Release()
	return v
}

func TestRate(t *testing.T) {
	l, p, c, rec := setup(t, limits.Rules{RequestsPerSecond: 2, Burst: 3}, nil)
	k := l.Keys(p, subj("s1", ""))
	for i := range 3 {
		if v := admit(t, l, k, limits.OpOther, -1); !v.Allowed() {
			t.Fatalf("request %d refused: %+v", i, v)
		}
	}
	v := admit(t, l, k, limits.OpOther, -1)
	if v.Limit != limits.RequestsPerSecond || !v.Rate() || v.RetryAfter < time.Second {
		t.Fatalf("4th request: %+v", v)
	}
	if !strings.Contains(v.Message(), "requests_per_second") {
		t.Errorf("message %q", v.Message())
	}
	// Another session has its own bucket.
	if v := admit(t, l, l.Keys(p, subj("s2", "")), limits.OpOther, -1); !v.Allowed() {
		t.Errorf("other session refused: %+v", v)
	}
	c.add(500 * time.Millisecond) // one token back
	if v := admit(t, l, k, limits.OpOther, -1); !v.Allowed() {
		t.Errorf("after refill: %+v", v)
	}
	if len(rec.hits) != 1 || rec.hits[0] != limits.RequestsPerSecond {
		t.Errorf("hits %v", rec.hits)
	}
}

func TestDownloadBudget(t *testing.T) {
	l, p, c, _ := setup(t, limits.Rules{BytesDownloaded: 100, ObjectsRead: 3, Window: time.Hour}, nil)
	k := l.Keys(p, subj("s1", ""))
	ctx := context.Background()
	var tk limits.Ticket
	if v := l.Admit(ctx, k, limits.OpDownload, -1, &tk); !v.Allowed() || tk.Remaining() != 100 {
		t.Fatalf("admit: %+v remaining %d", v, tk.Remaining())
	}
	if v := l.Download(ctx, &tk, 60); !v.Allowed() {
		t.Fatalf("60 of 100: %+v", v)
	}
	if v := admit(t, l, k, limits.OpDownload, -1); !v.Allowed() {
		t.Fatalf("admit 2: %+v", v)
	}
	v := l.Download(ctx, &tk, 50) // would cross: refused before it starts
	if v.Limit != limits.BytesDownloaded || v.Used != 60 || v.Max != 100 || !v.ResetAt.Equal(c.now().Add(time.Hour)) {
		t.Fatalf("crossing download: %+v", v)
	}
	if !strings.Contains(v.Message(), "bytes_downloaded") || !strings.Contains(v.Message(), "resets at 2030-01-02T04:04:05Z") {
		t.Errorf("message %q", v.Message())
	}
	l.Downloaded(ctx, &tk, 40, true) // an unknown-length download cut at the budget
	if v := admit(t, l, k, limits.OpDownload, -1); v.Limit != limits.ObjectsRead && v.Limit != limits.BytesDownloaded {
		t.Fatalf("spent budget: %+v", v)
	}
	c.add(time.Hour)
	if v := admit(t, l, k, limits.OpDownload, -1); !v.Allowed() {
		t.Fatalf("next window: %+v", v)
	}
}

func TestObjectsRead(t *testing.T) {
	l, p, _, _ := setup(t, limits.Rules{ObjectsRead: 2, Window: time.Minute}, nil)
	k := l.Keys(p, subj("s1", ""))
	for range 2 {
		if v := admit(t, l, k, limits.OpDownload, -1); !v.Allowed() {
			t.Fatal(v)
		}
	}
	if v := admit(t, l, k, limits.OpDownload, -1); v.Limit != limits.ObjectsRead {
		t.Fatalf("3rd object: %+v", v)
	}
	if v := admit(t, l, k, limits.OpList, -1); !v.Allowed() {
		t.Fatalf("a listing is not an object read: %+v", v)
	}
}

func TestUploadAndListing(t *testing.T) {
	l, p, _, _ := setup(t, limits.Rules{BytesUploaded: 100, KeysListed: 10, Window: time.Minute}, nil)
	k := l.Keys(p, subj("s1", ""))
	if v := admit(t, l, k, limits.OpUpload, 101); v.Limit != limits.BytesUploaded {
		t.Fatalf("101 of 100 up front: %+v", v)
	}
	if v := admit(t, l, k, limits.OpUpload, 100); !v.Allowed() {
		t.Fatalf("100 of 100: %+v", v)
	}
	if v := admit(t, l, k, limits.OpUpload, 1); v.Limit != limits.BytesUploaded || v.Used != 100 {
		t.Fatalf("after 100: %+v", v)
	}
	if v := admit(t, l, k, limits.OpList, -1); !v.Allowed() {
		t.Fatal(v)
	}
	var tk limits.Ticket
	l.Admit(context.Background(), k, limits.OpOther, -1, &tk)
	l.Listed(context.Background(), &tk, 10)
	if v := admit(t, l, k, limits.OpList, -1); v.Limit != limits.KeysListed {
		t.Fatalf("after 10 keys: %+v", v)
	}
}

func TestScopes(t *testing.T) {
	// Per identity (agent_run) and per role at once: two sessions of one
	// run share the run's budget; another run has its own, up to the
	// role's.
	rules := limits.Rules{ObjectsRead: 2, Window: time.Minute, Per: []limits.Scope{limits.PerIdentity}, Claim: "agent_run"}
	l, p, _, _ := setup(t, rules, nil)
	a1, a2 := l.Keys(p, subj("s1", "r-1")), l.Keys(p, subj("s2", "r-1"))
	b := l.Keys(p, subj("s3", "r-2"))
	for _, k := range []*limits.Keys{a1, a2} {
		if v := admit(t, l, k, limits.OpDownload, -1); !v.Allowed() {
			t.Fatal(v)
		}
	}
	if v := admit(t, l, a1, limits.OpDownload, -1); v.Limit != limits.ObjectsRead || v.Scope != limits.PerIdentity {
		t.Fatalf("run r-1 spent: %+v", v)
	}
	if v := admit(t, l, b, limits.OpDownload, -1); !v.Allowed() {
		t.Fatalf("run r-2: %+v", v)
	}

	role := limits.Rules{ObjectsRead: 3, Window: time.Minute, Per: []limits.Scope{limits.PerSession, limits.PerRole}}
	l, p, _, _ = setup(t, role, nil)
	ks := []*limits.Keys{l.Keys(p, subj("x1", "")), l.Keys(p, subj("x2", "")), l.Keys(p, subj("x3", "")), l.Keys(p, subj("x4", ""))}
	for i := range 3 {
		if v := admit(t, l, ks[i], limits.OpDownload, -1); !v.Allowed() {
			t.Fatal(v)
		}
	}
	if v := admit(t, l, ks[3], limits.OpDownload, -1); v.Limit != limits.ObjectsRead || v.Scope != limits.PerRole {
		t.Fatalf("role spent: %+v", v)
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	l, p, _, _ := setup(t, limits.Rules{ObjectsRead: 1, Window: time.Minute}, nil)
	// "a:b" + "c" and "a" + "b:c" must not share a key.
	p2 := *p
	p2.Role = "agents:x"
	if v := admit(t, l, l.Keys(p, subj("x:s", "")), limits.OpDownload, -1); !v.Allowed() {
		t.Fatal(v)
	}
	if v := admit(t, l, l.Keys(&p2, subj("s", "")), limits.OpDownload, -1); !v.Allowed() {
		t.Fatalf("different role and session share a counter: %+v", v)
	}
}

func TestConcurrent(t *testing.T) {
	l, p, _, _ := setup(t, limits.Rules{ConcurrentRequests: 2}, nil)
	k := l.Keys(p, subj("s1", ""))
	ctx := context.Background()
	var t1, t2, t3 limits.Ticket
	if v := l.Admit(ctx, k, limits.OpOther, -1, &t1); !v.Allowed() {
		t.Fatal(v)
	}
	if v := l.Admit(ctx, k, limits.OpOther, -1, &t2); !v.Allowed() {
		t.Fatal(v)
	}
	v := l.Admit(ctx, k, limits.OpOther, -1, &t3)
	t3.Release()
	if v.Limit != limits.ConcurrentRequests || !v.Rate() {
		t.Fatalf("3rd concurrent: %+v", v)
	}
	t1.Release()
	t1.Release() // a second release does nothing
	if v := l.Admit(ctx, k, limits.OpOther, -1, &t3); !v.Allowed() {
		t.Fatalf("after release: %+v", v)
	}
	t2.Release()
	t3.Release()
}

func TestEscalation(t *testing.T) {
	esc := &limits.Escalation{Window: 10 * time.Minute, DenyAfter: 3, RevokeAfter: 5, RevokeIdentity: true}
	rules := limits.Rules{RequestsPerSecond: 1, Burst: 1, Per: []limits.Scope{limits.PerSession}, Claim: "agent_run"}
	l, p, c, rec := setup(t, rules, esc)
	k := l.Keys(p, subj("s1", "r-42"))
	if v := admit(t, l, k, limits.OpOther, -1); !v.Allowed() {
		t.Fatal(v)
	}
	// Hits 1, 2: throttled.
	for range 2 {
		if v := admit(t, l, k, limits.OpOther, -1); v.Limit != limits.RequestsPerSecond {
			t.Fatalf("throttle: %+v", v)
		}
	}
	// Hit 3 crosses deny_after.
	if v := admit(t, l, k, limits.OpOther, -1); v.Limit != limits.RequestsPerSecond {
		t.Fatalf("3rd hit: %+v", v)
	}
	if len(rec.events) != 1 || rec.events[0].Step != limits.StepDeny || rec.events[0].Hits != 3 {
		t.Fatalf("events after 3 hits: %+v", rec.events)
	}
	c.add(5 * time.Second) // the bucket is full again, but the session is denied
	v := admit(t, l, k, limits.OpOther, -1)
	if v.Limit != limits.Denied || v.Rate() || !v.ResetAt.Equal(c.now().Add(10*time.Minute-5*time.Second)) {
		t.Fatalf("denied: %+v", v)
	}
	// Hit 5 (the 2nd denied request) revokes every session of the run.
	admit(t, l, k, limits.OpOther, -1)
	if len(rec.events) != 2 || rec.events[1].Step != limits.StepRevokeIdentity || rec.events[1].Rule != "rv-test" {
		t.Fatalf("events after 5 hits: %+v", rec.events)
	}
	r := rec.rules[0]
	if r.Claim != "agent_run" || r.ClaimValue != "r-42" || r.Role != "agents" || r.Reason == "" ||
		!r.IssuedBefore.After(c.now()) || !r.Expires.Equal(c.now().Add(24*time.Hour)) {
		t.Fatalf("rule %+v", r)
	}
	// Later hits take no further step.
	for range 5 {
		admit(t, l, k, limits.OpOther, -1)
	}
	if len(rec.events) != 2 {
		t.Fatalf("extra steps: %+v", rec.events)
	}
	// The window ends: the session would be served again (the revocation
	// is what keeps it out).
	c.add(10 * time.Minute)
	if v := admit(t, l, k, limits.OpOther, -1); !v.Allowed() {
		t.Fatalf("new window: %+v", v)
	}
}

func TestEscalationRevokesSession(t *testing.T) {
	esc := &limits.Escalation{Window: time.Minute, RevokeAfter: 1}
	l, p, _, rec := setup(t, limits.Rules{ObjectsRead: 1, Window: time.Minute}, esc)
	k := l.Keys(p, subj("sess-9", ""))
	admit(t, l, k, limits.OpDownload, -1)
	if v := admit(t, l, k, limits.OpDownload, -1); v.Limit != limits.ObjectsRead {
		t.Fatal(v)
	}
	if len(rec.rules) != 1 || rec.rules[0].SessionID != "sess-9" || rec.events[0].Step != limits.StepRevokeSession {
		t.Fatalf("rules %+v events %+v", rec.rules, rec.events)
	}
	if !strings.Contains(rec.events[0].Usage, "objects_read 1 of 1") {
		t.Errorf("usage %q", rec.events[0].Usage)
	}
}

type failing struct{}

func (failing) Take(context.Context, string, float64, int, int) (bool, time.Duration, error) {
	return false, 0, context.DeadlineExceeded
}
func (failing) Add(context.Context, string, time.Duration, int64) (int64, time.Time, error) {
	return 0, time.Time{}, context.DeadlineExceeded
}

func TestCountersFail(t *testing.T) {
	p := &limits.Policy{Role: "r", Rules: &limits.Rules{RequestsPerSecond: 1, Burst: 1, Per: []limits.Scope{limits.PerSession}}}
	closed := limits.New(&state.GuardedCounters{Counters: failing{}, Policy: state.CountersClosed}, limits.Config{})
	if v := admit(t, closed, closed.Keys(p, subj("s", "")), limits.OpOther, -1); v.Err == nil || v.Allowed() {
		t.Fatalf("closed: %+v", v)
	}
	open := limits.New(&state.GuardedCounters{Counters: failing{}, Policy: state.CountersOpen}, limits.Config{})
	if v := admit(t, open, open.Keys(p, subj("s", "")), limits.OpOther, -1); !v.Allowed() {
		t.Fatalf("open: %+v", v)
	}
}

// roundTrips counts the calls that would be round trips to a shared store.
type roundTrips struct {
	*state.CounterMemory
	n int
}

func (r *roundTrips) Batch(ctx context.Context, ops []state.CounterOp) (int, error) {
	r.n++
	return r.CounterMemory.Batch(ctx, ops)
}

func (r *roundTrips) Add(ctx context.Context, key string, w time.Duration, n int64) (int64, time.Time, error) {
	r.n++
	return r.CounterMemory.Add(ctx, key, w, n)
}

func (r *roundTrips) Take(ctx context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	r.n++
	return r.CounterMemory.Take(ctx, key, rate, burst, n)
}

// Every limit of a request is checked in one batch (one round trip); a
// download of known length adds one when its length is known.
func TestOneRoundTrip(t *testing.T) {
	c := &roundTrips{CounterMemory: state.NewCounterMemory(nil)}
	l := limits.New(c, limits.Config{})
	p := &limits.Policy{Role: "agents", Rules: &limits.Rules{RequestsPerSecond: 100, Burst: 100, Window: time.Hour,
		BytesDownloaded: 1 << 30, ObjectsRead: 100, KeysListed: 100, BytesUploaded: 1 << 30,
		Per: []limits.Scope{limits.PerSession, limits.PerIdentity, limits.PerRole}},
		Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 5, RevokeAfter: 10}}
	k := l.Keys(p, subj("s", "r-1"))
	ctx := context.Background()
	for _, op := range []limits.Op{limits.OpOther, limits.OpDownload, limits.OpList, limits.OpUpload} {
		c.n = 0
		var tk limits.Ticket
		if v := l.Admit(ctx, k, op, 10, &tk); !v.Allowed() || c.n != 1 {
			t.Errorf("op %d: %+v, %d round trips", op, v, c.n)
		}
		if op == limits.OpDownload {
			if v := l.Download(ctx, &tk, 10); !v.Allowed() || c.n != 2 {
				t.Errorf("download: %+v, %d round trips", v, c.n)
			}
		}
		tk.Release()
	}
}

// A static credential is never revoked through its role: the step
// reports that it cannot be, and the session stays denied.
func TestEscalationStaticCredential(t *testing.T) {
	esc := &limits.Escalation{Window: time.Minute, RevokeAfter: 1}
	l, p, _, rec := setup(t, limits.Rules{ObjectsRead: 1, Window: time.Minute}, esc)
	k := l.Keys(p, limits.Subject{Session: "key:AKSERVICE", Issuer: "service-credential", Subject: "etl"})
	admit(t, l, k, limits.OpDownload, -1)
	admit(t, l, k, limits.OpDownload, -1)
	if len(rec.rules) != 0 || len(rec.events) != 1 || rec.events[0].Err != limits.ErrNotRevocable {
		t.Fatalf("rules %+v events %+v", rec.rules, rec.events)
	}
}

// A hit found outside the Limiter escalates like its own.
func TestExternalHit(t *testing.T) {
	esc := &limits.Escalation{Window: time.Minute, DenyAfter: 2}
	l, p, _, rec := setup(t, limits.Rules{RequestsPerSecond: 100}, esc)
	k := l.Keys(p, subj("s", ""))
	for range 2 {
		l.Hit(context.Background(), k, limits.Verdict{Limit: "bulk_delete", Scope: limits.PerSession})
	}
	if len(rec.events) != 1 || rec.events[0].Step != limits.StepDeny || rec.events[0].Limit != "bulk_delete" {
		t.Fatalf("events %+v", rec.events)
	}
	if v := admit(t, l, k, limits.OpOther, -1); v.Limit != limits.Denied {
		t.Fatalf("after 2 hits: %+v", v)
	}
}
