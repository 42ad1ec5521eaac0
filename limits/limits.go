// Package limits enforces how much and how fast a session may act: rate
// limits, byte, object and listing budgets, concurrent requests, and the
// progressive kill switch that denies, then revokes, a session that keeps
// hitting them.
//
// Counts go through state.Counters, so replicas that share a Redis share
// one budget; concurrent requests are counted per replica (an in-process
// semaphore per key).
package limits

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamgate/iamgate/state"
)

// Limit names a limit; it is the reason a request was refused.
type Limit string

// Limits.
const (
	RequestsPerSecond  Limit = "requests_per_second"
	ConcurrentRequests Limit = "concurrent_requests"
	BytesDownloaded    Limit = "bytes_downloaded"
	BytesUploaded      Limit = "bytes_uploaded"
	ObjectsRead        Limit = "objects_read"
	KeysListed         Limit = "keys_listed"
	// Denied: the kill switch denies the session for the rest of its
	// escalation window.
	Denied Limit = "escalation_denied"
	// BulkDelete: a role's protect.bulk_delete guard refused a request; the
	// proxy reports it with Hit, so it escalates like a limit.
	BulkDelete Limit = "bulk_delete"
)

// Scope is what a limit is counted per.
type Scope string

// Scopes.
const (
	PerSession  Scope = "session"
	PerIdentity Scope = "identity" // the value of Rules.Claim, across sessions
	PerRole     Scope = "role"     // every session of the role together
)

// Rules are the limits of a role (or of one of its trust rules). Zero
// values are "no limit".
type Rules struct {
	RequestsPerSecond  float64
	Burst              int           // 0: RequestsPerSecond rounded up
	Window             time.Duration // of the budgets
	BytesDownloaded    int64
	BytesUploaded      int64
	ObjectsRead        int64
	KeysListed         int64 // keys returned by listings
	ConcurrentRequests int
	Per                []Scope // default [session]
	Claim              string  // the identity claim; default "sub"
}

func (r *Rules) budgets() bool {
	return r.BytesDownloaded > 0 || r.BytesUploaded > 0 || r.ObjectsRead > 0 || r.KeysListed > 0
}

// Step is a step of the kill switch.
type Step string

// Steps.
const (
	StepDeny           Step = "deny"
	StepRevokeSession  Step = "revoke_session"
	StepRevokeIdentity Step = "revoke_identity"
)

// Escalation is a role's kill switch. Limit hits of a session are counted
// over Window (a window starts at the session's first request after the
// previous one ended); from DenyAfter hits on, every request of the session
// is refused until the window ends (and each refusal is a hit too); at
// RevokeAfter hits the session, or with RevokeIdentity every session of
// its identity, is revoked. Zero thresholds skip their step.
type Escalation struct {
	Window         time.Duration
	DenyAfter      int64
	RevokeAfter    int64
	RevokeIdentity bool
	// RevokeFor is how long the revocation rule is kept; default 24h.
	// It should be at least the longest session or token lifetime.
	RevokeFor time.Duration
}

// Policy is what applies to the sessions of one role (and trust rule).
type Policy struct {
	Role       string
	Kind       string // the role's kind, for metrics
	Rules      *Rules
	Escalation *Escalation // nil: none
}

// Subject is who a request is counted for.
type Subject struct {
	// Session identifies the session: an STS or browser session id, a
	// bearer token's jti (else its fingerprint). Required.
	Session string
	// Revoke selects the session in a revocation rule (SessionID for STS
	// and browser sessions, Claim jti or Subject for bearer tokens).
	Revoke   state.Revocation
	Issuer   string
	Subject  string
	Identity string // the value of Rules.Claim; "" : none (counted per subject)
	Claims   map[string]any
}

// Event is one step of the kill switch, for the audit log and alerts.
type Event struct {
	Time    time.Time
	Step    Step
	Role    string
	Kind    string
	Subject Subject
	Limit   Limit // the limit whose hit crossed the threshold
	Hits    int64 // limit hits in the window
	Window  time.Duration
	Usage   string // what the session used, e.g. "bytes_downloaded 10485760 of 10485760"
	Rule    string // the revocation rule's id, for revoke steps
	Err     error  // the revocation could not be stored
}

// RevocationAdder stores a run-time revocation rule that every replica
// applies (state.RevocationWatcher, state.Revocations).
type RevocationAdder interface {
	Add(ctx context.Context, r state.Revocation) (state.Revocation, error)
}

// Config holds the optional parts of a Limiter.
type Config struct {
	// Revocations receives the rules of revoke steps; nil: revoke steps
	// only deny (the hits counter keeps refusing).
	Revocations RevocationAdder
	// OnEscalation is called for each step (audit event, alert); nil:
	// ignored. It must not block long: it runs in the request.
	OnEscalation func(Event)
	// OnHit is called for every limit hit (metrics); nil: ignored.
	OnHit func(p *Policy, l Limit)
	Now   func() time.Time // nil: time.Now
	// Defer, when positive, keeps every request at one counter round
	// trip (for shared counters): what is counted only once a response
	// is known (a download's length, the bytes of a download or upload
	// of unknown length, the keys of a listing) is not sent on its own
	// but carried by the next admission's batch, or sent in a background
	// batch within Defer when no admission comes. A download of known
	// length is then checked against the budget left at its admission
	// less what this replica counted since. Zero: counted at once, in a
	// batch of its own (for in-memory counters, where a batch is cheap).
	Defer time.Duration
}

// Limiter counts and enforces. It is safe for concurrent use.
type Limiter struct {
	c   state.Counters
	b   state.CounterBatch // c, when it runs batches
	cfg Config

	semMu sync.Mutex
	sems  map[string]*atomic.Int64
	local map[string]*localCount

	carry carried // Config.Defer > 0
}

// New returns a Limiter counting in c.
func New(c state.Counters, cfg Config) *Limiter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{c: c, cfg: cfg, sems: map[string]*atomic.Int64{}, local: map[string]*localCount{}}
	l.carry.l = l
	l.b, _ = c.(state.CounterBatch)
	return l
}

// Keys are the counter keys of one subject under one policy, built once
// (per principal) so that the request path builds no strings.
type Keys struct {
	p      *Policy
	s      Subject
	scopes []scopeKeys
	hits   string
}

type scopeKeys struct {
	scope                      Scope
	rate, down, up, objs, list string
	sem                        *atomic.Int64
	downLocal                  *localCount // with Config.Defer
}

// Keys returns the keys of s under p. Counters are named
// "limit:<role>:<scope>:<value>:<counter>"; values are length-prefixed so
// that no two subjects share a key.
func (l *Limiter) Keys(p *Policy, s Subject) *Keys {
	k := &Keys{p: p, s: s}
	for _, sc := range p.Rules.Per {
		var v string
		switch sc {
		case PerSession:
			v = s.Session
		case PerIdentity:
			v = s.Identity
			if v == "" {
				v = "sub=" + s.Issuer + "/" + s.Subject
			}
		case PerRole:
			v = "-"
		}
		base := "limit:" + lp(p.Role) + ":" + string(sc) + ":" + lp(v) + ":"
		sk := scopeKeys{scope: sc, rate: base + "rate", down: base + "down", up: base + "up", objs: base + "objs", list: base + "list"}
		if p.Rules.ConcurrentRequests > 0 {
			sk.sem = l.sem(base + "conc")
		}
		if l.cfg.Defer > 0 && p.Rules.BytesDownloaded > 0 {
			sk.downLocal = l.localCount(sk.down)
		}
		k.scopes = append(k.scopes, sk)
	}
	k.hits = "limit:" + lp(p.Role) + ":hits:" + lp(s.Session)
	return k
}

// Policy returns the policy the keys were built for.
func (k *Keys) Policy() *Policy { return k.p }

func lp(s string) string { return strconv.Itoa(len(s)) + "." + s }

// sem returns the process-wide in-flight counter of key. Counters are
// never removed: there is one per session, identity or role that was
// limited, a few bytes each.
func (l *Limiter) sem(key string) *atomic.Int64 {
	l.semMu.Lock()
	defer l.semMu.Unlock()
	s, ok := l.sems[key]
	if !ok {
		s = new(atomic.Int64)
		l.sems[key] = s
	}
	return s
}

// Op is what a request does, as far as limits are concerned.
type Op uint8

// Ops.
const (
	OpOther    Op = iota
	OpDownload    // GetObject: an object read, bytes downloaded
	OpList        // a listing: keys listed
	OpUpload      // PutObject, UploadPart: bytes uploaded
)

// Verdict is the outcome of a check. The zero value allows.
type Verdict struct {
	Limit      Limit
	Scope      Scope
	RetryAfter time.Duration // rate and concurrency: when to try again
	ResetAt    time.Time     // budgets and the deny step: when the window ends
	Used, Max  int64
	// Err: the counters failed and the policy is closed; the request is
	// refused with 503.
	Err error
}

// Allowed reports whether the request may go on.
func (v *Verdict) Allowed() bool { return v.Limit == "" && v.Err == nil }

// Rate reports whether v is a rate or concurrency refusal (503 SlowDown)
// rather than a budget (403 AccessDenied).
func (v *Verdict) Rate() bool { return v.Limit == RequestsPerSecond || v.Limit == ConcurrentRequests }

// Message says which limit refused the request and when it resets.
func (v *Verdict) Message() string {
	switch v.Limit {
	case "":
		return ""
	case RequestsPerSecond:
		return "Request rate limit exceeded (requests_per_second per " + string(v.Scope) + "); retry after " + v.RetryAfter.String() + "."
	case ConcurrentRequests:
		return "Too many concurrent requests (concurrent_requests per " + string(v.Scope) + ")."
	case Denied:
		return "The session is denied after repeated limit hits until " + v.ResetAt.UTC().Format(time.RFC3339) + "."
	}
	return "Limit " + string(v.Limit) + " per " + string(v.Scope) + " reached (" + strconv.FormatInt(v.Used, 10) + " of " +
		strconv.FormatInt(v.Max, 10) + "); it resets at " + v.ResetAt.UTC().Format(time.RFC3339) + "."
}

// maxOps bounds the counter operations of one admission: the deny check
// and, per scope (at most 3), the rate and two budgets; with Config.Defer,
// up to maxCarried counts of earlier requests come first.
const maxOps = maxCarried + 1 + 3*3

// opMeta says what an op of an admission checks.
type opMeta struct {
	limit Limit
	scope Scope
	max   int64
	loc   *localCount // a carried count of a download budget
}

// Ticket is an admitted request: Release it when the request is done. It
// holds the admission's counter operations, so that admission allocates
// nothing.
type Ticket struct {
	k    *Keys
	held int // semaphores held, in scope order
	// remaining is the download budget left at admission (-1: none).
	remaining int64
	ops       [maxOps]state.CounterOp
	meta      [maxOps]opMeta
	// With Config.Defer: per scope, the download budget left at
	// admission and this replica's local count then.
	down [3]downMark
}

// downMark is a scope's download budget as admission saw it.
type downMark struct {
	left    int64 // the budget less the shared total less this replica's unsent counts
	at      int64 // localCount.counted at admission
	resetAt time.Time
}

// Release frees the concurrency slots of an admitted request.
func (t *Ticket) Release() {
	if t == nil || t.k == nil {
		return
	}
	for i := 0; i < t.held; i++ {
		if s := t.k.scopes[i].sem; s != nil {
			s.Add(-1)
		}
	}
	t.held = 0
}

// Remaining returns the download budget left (-1: unlimited).
func (t *Ticket) Remaining() int64 {
	if t.k == nil || t.remaining < 0 || t.k.scopes[0].downLocal == nil {
		return t.remaining
	}
	rem := int64(-1)
	for i := range t.k.scopes {
		if left := t.down[i].left - (t.k.scopes[i].downLocal.counted.Load() - t.down[i].at); rem < 0 || left < rem {
			rem = max(left, 0)
		}
	}
	return rem
}

// batch runs ops in one step: one round trip to a shared store.
func (l *Limiter) batch(ctx context.Context, ops []state.CounterOp) (int, error) {
	if l.b != nil {
		return l.b.Batch(ctx, ops)
	}
	return state.SequentialBatch(ctx, l.c, ops)
}

// Admit checks a request before it is forwarded: the deny step, the
// concurrency and rate limits, and the budgets that can be known up front
// (objects read, the upload's declared length, budgets already spent),
// all in one counter batch (one round trip to Redis); nothing is counted
// unless everything fits. upload is the upload's length (-1: unknown). A
// refusal is a limit hit and escalates. t must be released, whatever the
// verdict.
func (l *Limiter) Admit(ctx context.Context, k *Keys, op Op, upload int64, t *Ticket) Verdict {
	t.k, t.held, t.remaining = k, 0, -1
	r := k.p.Rules
	for i := range k.scopes {
		sk := &k.scopes[i]
		if sk.sem != nil {
			if sk.sem.Add(1) > int64(r.ConcurrentRequests) {
				sk.sem.Add(-1)
				v := Verdict{Limit: ConcurrentRequests, Scope: sk.scope, RetryAfter: time.Second}
				l.hit(ctx, k, &v)
				return v
			}
		}
		t.held = i + 1
	}
	n := 0
	add := func(o state.CounterOp, m opMeta) {
		t.ops[n], t.meta[n] = o, m
		n++
	}
	carriedN := 0
	if l.cfg.Defer > 0 {
		carriedN = l.carry.take(t.ops[:maxCarried], t.meta[:maxCarried])
		n = carriedN
	}
	if e := k.p.Escalation; e != nil && e.DenyAfter > 0 {
		add(state.CounterOp{Key: k.hits, Window: e.Window, Bounded: true, Max: e.DenyAfter - 1},
			opMeta{limit: Denied, scope: PerSession, max: e.DenyAfter})
	}
	for i := range k.scopes {
		sk := &k.scopes[i]
		if r.RequestsPerSecond > 0 {
			burst := r.Burst
			if burst <= 0 {
				burst = int(math.Ceil(r.RequestsPerSecond))
			}
			add(state.CounterOp{Key: sk.rate, Rate: r.RequestsPerSecond, Burst: burst, N: 1},
				opMeta{limit: RequestsPerSecond, scope: sk.scope})
		}
		switch op {
		case OpDownload:
			if r.ObjectsRead > 0 {
				add(state.CounterOp{Key: sk.objs, Window: r.Window, N: 1, Bounded: true, Max: r.ObjectsRead},
					opMeta{limit: ObjectsRead, scope: sk.scope, max: r.ObjectsRead})
			}
			if r.BytesDownloaded > 0 {
				add(state.CounterOp{Key: sk.down, Window: r.Window, Bounded: true, Max: r.BytesDownloaded - 1},
					opMeta{limit: BytesDownloaded, scope: sk.scope, max: r.BytesDownloaded})
			}
		case OpList:
			if r.KeysListed > 0 {
				add(state.CounterOp{Key: sk.list, Window: r.Window, Bounded: true, Max: r.KeysListed - 1},
					opMeta{limit: KeysListed, scope: sk.scope, max: r.KeysListed})
			}
		case OpUpload:
			if r.BytesUploaded > 0 {
				o := state.CounterOp{Key: sk.up, Window: r.Window, Bounded: true, Max: r.BytesUploaded - 1}
				if upload >= 0 {
					o.N, o.Max = upload, r.BytesUploaded
				}
				add(o, opMeta{limit: BytesUploaded, scope: sk.scope, max: r.BytesUploaded})
			}
		}
	}
	if n == 0 {
		return Verdict{}
	}
	refused, err := l.batch(ctx, t.ops[:n])
	if carriedN > 0 {
		l.carry.sent(t.ops[:carriedN], t.meta[:carriedN], err)
	}
	if err != nil {
		return Verdict{Err: err}
	}
	if refused >= 0 {
		o, m := &t.ops[refused], &t.meta[refused]
		v := Verdict{Limit: m.limit, Scope: m.scope, Max: m.max, Used: o.Total, ResetAt: o.ResetAt}
		if m.limit == RequestsPerSecond {
			v.RetryAfter, v.Max, v.ResetAt = max(o.RetryAfter, time.Second), 0, time.Time{}
		}
		l.hit(ctx, k, &v)
		return v
	}
	si := 0
	for i := carriedN; i < n; i++ {
		if t.meta[i].limit != BytesDownloaded {
			continue
		}
		left := t.meta[i].max - t.ops[i].Total
		if loc := k.scopes[si].downLocal; loc != nil {
			// Read counted before unsent: a count made in between is
			// subtracted twice (refusing early), never missed.
			t.down[si].at = loc.counted.Load()
			left -= loc.unsent.Load()
			t.down[si].left, t.down[si].resetAt = left, t.ops[i].ResetAt
		}
		si++
		if t.remaining < 0 || left < t.remaining {
			t.remaining = max(left, 0)
		}
	}
	return Verdict{}
}

// Download checks a download of n bytes (known from the store's
// Content-Length) before its first byte is sent, and counts it when it
// fits every budget, in one counter batch. A refusal is a limit hit.
func (l *Limiter) Download(ctx context.Context, t *Ticket, n int64) Verdict {
	k := t.k
	r := k.p.Rules
	if r.BytesDownloaded == 0 || n <= 0 {
		return Verdict{}
	}
	if k.scopes[0].downLocal != nil {
		return l.downloadLocal(ctx, t, n)
	}
	ops := t.ops[:len(k.scopes)]
	for i := range k.scopes {
		ops[i] = state.CounterOp{Key: k.scopes[i].down, Window: r.Window, N: n, Bounded: true, Max: r.BytesDownloaded}
	}
	refused, err := l.batch(ctx, ops)
	if err != nil {
		return Verdict{Err: err}
	}
	if refused >= 0 {
		o := &ops[refused]
		v := Verdict{Limit: BytesDownloaded, Scope: k.scopes[refused].scope, ResetAt: o.ResetAt, Used: o.Total, Max: r.BytesDownloaded}
		l.hit(ctx, k, &v)
		return v
	}
	return Verdict{}
}

// downloadLocal is Download with Config.Defer: the budget left at
// admission less what this replica counted since; n is counted here and
// carried to the shared counters later.
func (l *Limiter) downloadLocal(ctx context.Context, t *Ticket, n int64) Verdict {
	k := t.k
	r := k.p.Rules
	// unsent grows before counted, and admission reads counted before
	// unsent: a count made meanwhile is subtracted twice, never missed.
	for i := range k.scopes {
		loc, m := k.scopes[i].downLocal, &t.down[i]
		loc.unsent.Add(n)
		for {
			c := loc.counted.Load()
			if left := m.left - (c - m.at); n > left {
				loc.unsent.Add(-n)
				for j := 0; j < i; j++ { // give back what the scopes before took
					k.scopes[j].downLocal.counted.Add(-n)
					k.scopes[j].downLocal.unsent.Add(-n)
				}
				v := Verdict{Limit: BytesDownloaded, Scope: k.scopes[i].scope, ResetAt: m.resetAt,
					Used: r.BytesDownloaded - max(left, 0), Max: r.BytesDownloaded}
				l.hit(ctx, k, &v)
				return v
			}
			if loc.counted.CompareAndSwap(c, c+n) {
				break
			}
		}
	}
	for i := range k.scopes {
		l.carry.add(k.scopes[i].down, r.Window, n, k.scopes[i].downLocal, true)
	}
	return Verdict{}
}

// count adds n to the counter of every scope chosen by key, in one batch;
// with Config.Defer it is carried by a later batch and returns nil.
func (l *Limiter) count(ctx context.Context, t *Ticket, key func(*scopeKeys) string, win time.Duration, n int64) []state.CounterOp {
	k := t.k
	if l.cfg.Defer > 0 {
		for i := range k.scopes {
			var loc *localCount
			if sk := &k.scopes[i]; key(sk) == sk.down {
				loc = sk.downLocal
			}
			if loc != nil {
				loc.unsent.Add(n)
				loc.counted.Add(n)
			}
			l.carry.add(key(&k.scopes[i]), win, n, loc, true)
		}
		return nil
	}
	ops := t.ops[:len(k.scopes)]
	for i := range k.scopes {
		ops[i] = state.CounterOp{Key: key(&k.scopes[i]), Window: win, N: n}
	}
	if _, err := l.batch(ctx, ops); err != nil {
		return nil
	}
	return ops
}

// Downloaded counts n bytes of a download of unknown length, after it;
// cut reports that it was cut at the budget (a limit hit).
func (l *Limiter) Downloaded(ctx context.Context, t *Ticket, n int64, cut bool) {
	k := t.k
	r := k.p.Rules
	if r.BytesDownloaded == 0 {
		return
	}
	ops := l.count(ctx, t, func(s *scopeKeys) string { return s.down }, r.Window, n)
	if !cut {
		return
	}
	v := Verdict{Limit: BytesDownloaded, Scope: k.scopes[0].scope, Max: r.BytesDownloaded, Used: r.BytesDownloaded,
		ResetAt: t.down[0].resetAt}
	for i := range ops {
		if ops[i].Total >= r.BytesDownloaded {
			v.Scope, v.Used, v.ResetAt = k.scopes[i].scope, ops[i].Total, ops[i].ResetAt
			break
		}
	}
	l.hit(ctx, k, &v)
}

// Uploaded counts n bytes of an upload whose length was not known up
// front.
func (l *Limiter) Uploaded(ctx context.Context, t *Ticket, n int64) {
	k := t.k
	r := k.p.Rules
	if r.BytesUploaded == 0 || n <= 0 {
		return
	}
	l.count(ctx, t, func(s *scopeKeys) string { return s.up }, r.Window, n)
}

// Listed counts n keys returned by a listing.
func (l *Limiter) Listed(ctx context.Context, t *Ticket, n int64) {
	k := t.k
	r := k.p.Rules
	if r.KeysListed == 0 || n <= 0 {
		return
	}
	l.count(ctx, t, func(s *scopeKeys) string { return s.list }, r.Window, n)
}

// Hit records a limit hit found outside the Limiter (a guard of the
// proxy, say): OnHit and the kill switch, as for the Limiter's own.
func (l *Limiter) Hit(ctx context.Context, k *Keys, v Verdict) {
	if v.Limit != "" {
		l.hit(ctx, k, &v)
	}
}

// hit records a limit hit: OnHit, and the kill switch.
func (l *Limiter) hit(ctx context.Context, k *Keys, v *Verdict) {
	if l.cfg.OnHit != nil {
		l.cfg.OnHit(k.p, v.Limit)
	}
	e := k.p.Escalation
	if e == nil {
		return
	}
	n, _, err := l.c.Add(ctx, k.hits, e.Window, 1)
	if err != nil {
		return
	}
	// Exactly one request sees each threshold crossed, on whichever
	// replica: the count is shared.
	switch {
	case e.DenyAfter > 0 && n == e.DenyAfter:
		l.escalate(ctx, k, v, StepDeny, n)
	case e.RevokeAfter > 0 && n == e.RevokeAfter:
		step := StepRevokeSession
		if e.RevokeIdentity {
			step = StepRevokeIdentity
		}
		l.escalate(ctx, k, v, step, n)
	}
}

// Errors of a revoke step (in Event.Err).
var (
	ErrNoRevocations = errors.New("limits: no revocation store to revoke in")
	ErrNotRevocable  = errors.New("limits: the session cannot be revoked (static credentials); it stays denied")
)

func (l *Limiter) escalate(ctx context.Context, k *Keys, v *Verdict, step Step, hits int64) {
	now := l.cfg.Now()
	ev := Event{Time: now, Step: step, Role: k.p.Role, Kind: k.p.Kind, Subject: k.s, Limit: v.Limit, Hits: hits,
		Window: k.p.Escalation.Window, Usage: l.usage(ctx, k)}
	if step != StepDeny {
		rule := k.s.Revoke
		if step == StepRevokeIdentity {
			rule = state.Revocation{Issuer: k.s.Issuer, Subject: k.s.Subject}
			if c := k.p.Rules.Claim; c != "" && c != "sub" && k.s.Identity != "" {
				rule = state.Revocation{Claim: c, ClaimValue: k.s.Identity}
			}
		}
		rule.Role = k.p.Role
		life := k.p.Escalation.RevokeFor
		if life <= 0 {
			life = 24 * time.Hour
		}
		// Sessions issued up to this second are void; a token's iat has
		// whole seconds.
		rule.IssuedBefore = now.Add(time.Second).Truncate(time.Second)
		rule.Expires = now.Add(life)
		rule.Reason = "limits: " + string(step) + " after " + strconv.FormatInt(hits, 10) + " limit hits (" + string(v.Limit) + ")"
		rule.AddedBy = "iamgate-limits"
		switch {
		case rule.SessionID == "" && rule.Subject == "" && rule.Claim == "":
			// Static credentials: nothing narrower than the role would
			// match, and the role is not what misbehaved.
			ev.Err = ErrNotRevocable
		case l.cfg.Revocations == nil:
			ev.Err = ErrNoRevocations
		default:
			if added, err := l.cfg.Revocations.Add(ctx, rule); err != nil {
				ev.Err = err
			} else {
				ev.Rule = added.ID
			}
		}
	}
	if l.cfg.OnEscalation != nil {
		l.cfg.OnEscalation(ev)
	}
}

// usage says what the session's first scope used of its budgets.
func (l *Limiter) usage(ctx context.Context, k *Keys) string {
	r := k.p.Rules
	if !r.budgets() || len(k.scopes) == 0 {
		return ""
	}
	sk := &k.scopes[0]
	var out string
	add := func(name, key string, limit int64) {
		if limit == 0 {
			return
		}
		n, _, err := l.c.Add(ctx, key, r.Window, 0)
		if err != nil {
			return
		}
		if out != "" {
			out += ", "
		}
		out += name + " " + strconv.FormatInt(n, 10) + " of " + strconv.FormatInt(limit, 10)
	}
	add(string(BytesDownloaded), sk.down, r.BytesDownloaded)
	add(string(BytesUploaded), sk.up, r.BytesUploaded)
	add(string(ObjectsRead), sk.objs, r.ObjectsRead)
	add(string(KeysListed), sk.list, r.KeysListed)
	return out + " per " + string(sk.scope)
}
