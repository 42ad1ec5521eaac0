package state

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// UseGrants is the use of the record of access requests and grants, as
// reported to RedisConfig.OnError.
const UseGrants = "grants"

// GrantStatus is where an access request stands.
type GrantStatus string

// Statuses of an access request. A request starts pending; an approver
// approves it (it is then a grant, in force from Start to End) or
// rejects it; a grant ends early when revoked, or is marked expired
// once its End has passed.
const (
	GrantPending  GrantStatus = "pending"
	GrantApproved GrantStatus = "approved"
	GrantRejected GrantStatus = "rejected"
	GrantRevoked  GrantStatus = "revoked"
	GrantExpired  GrantStatus = "expired"
)

// Person names someone in the record: the issuer's configured name and
// the subject identify them; Username is for display.
type Person struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Username string `json:"username,omitempty"`
}

// Same reports whether p and o are the same person (issuer and subject).
func (p Person) Same(o Person) bool { return p.Issuer == o.Issuer && p.Subject == o.Subject }

// AccessRequest is a request for a requestable role and, once approved,
// the grant it became: the role is added to the requester's sessions
// from Start until End.
type AccessRequest struct {
	// ID names the request and its grant; Request assigns it.
	ID        string        `json:"id"`
	Role      string        `json:"role"`
	Requester Person        `json:"requester"`
	Reason    string        `json:"reason"`
	Duration  time.Duration `json:"duration"`
	// RequestedAt is set by Request.
	RequestedAt time.Time   `json:"requested_at"`
	Status      GrantStatus `json:"status"`
	// DecidedBy and DecidedAt: who approved or rejected the request.
	DecidedBy *Person   `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Start and End bound the grant of an approved request; End is moved
	// to the revocation time when a grant is revoked early.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// RevokedBy and RevokedAt: who ended the grant early.
	RevokedBy *Person   `json:"revoked_by,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Forget is when the record may be dropped: PendingFor after a
	// request nobody decided, KeepDecided after a decision or the end of a
	// grant.
	Forget time.Time `json:"forget"`
}

// Active reports whether a is a grant in force at now: approved, and now
// in [Start, End).
func (a *AccessRequest) Active(now time.Time) bool {
	return a.Status == GrantApproved && !now.Before(a.Start) && now.Before(a.End)
}

// Limits and retention of the record.
const (
	// PendingFor is how long a request waits for a decision before it is
	// forgotten.
	PendingFor = 24 * time.Hour
	// KeepDecided is how long a decided request, or a grant after its
	// end, stays listed.
	KeepDecided = 24 * time.Hour
	// MaxGrantRecords bounds the records kept at once.
	MaxGrantRecords = 10_000
	// MaxPendingPerPerson bounds one person's requests waiting for a
	// decision.
	MaxPendingPerPerson = 10
	// MaxGrantReason bounds the reason's bytes.
	MaxGrantReason = 1024
	// MaxGrantField bounds the role, issuer, subject and username.
	MaxGrantField = 256
)

// Errors of [Grants].
var (
	ErrInvalidRequest  = errors.New("state: invalid access request")
	ErrTooManyRequests = errors.New("state: too many access requests waiting")
	ErrRequestNotFound = errors.New("state: no such access request")
	// ErrSelfApproval: the requester can never decide their own request.
	ErrSelfApproval = errors.New("state: an access request cannot be decided by its requester")
	ErrNotPending   = errors.New("state: the access request was already decided")
	ErrNotActive    = errors.New("state: the grant is not in force")
	// ErrConflict: the record kept changing under a transition; try
	// again.
	ErrConflict = errors.New("state: the access request changed concurrently")
)

// Grants is the shared record of access requests and grants.
// Implementations are safe for concurrent use; every change moves the
// version, so that a [GrantWatcher] sees it.
type Grants interface {
	// Request validates r (Role, Requester, Reason, Duration) and stores
	// it as pending, assigning ID, RequestedAt, Status and Forget.
	Request(ctx context.Context, r AccessRequest) (AccessRequest, error)
	// Decide approves or rejects a pending request. An approved request
	// is in force from now for its Duration. The requester can never
	// decide it (ErrSelfApproval).
	Decide(ctx context.Context, id string, approve bool, by Person) (AccessRequest, error)
	// Revoke ends a grant in force now (ErrNotActive otherwise).
	Revoke(ctx context.Context, id string, by Person) (AccessRequest, error)
	// Expire marks an approved grant whose End has passed as expired. It
	// reports whether this call did so: among replicas racing, exactly
	// one does (for the one audit event).
	Expire(ctx context.Context, id string) (AccessRequest, bool, error)
	// Get returns one record.
	Get(ctx context.Context, id string) (AccessRequest, error)
	// Version returns the epoch and version: cheap, asked often. The
	// epoch changes when the store lost its data.
	Version(ctx context.Context) (epoch string, version int64, err error)
	// List returns every record not yet forgotten, with the version.
	List(ctx context.Context) (GrantSet, error)
}

// GrantSet is the records and the version they were read at.
type GrantSet struct {
	Epoch   string
	Version int64
	// Requests are sorted by RequestedAt, the latest first.
	Requests []AccessRequest
}

// Validate checks what a requester fills in.
func (r *AccessRequest) Validate() error {
	var errs []string
	if r.Role == "" {
		errs = append(errs, "role is required")
	}
	if r.Requester.Issuer == "" || r.Requester.Subject == "" {
		errs = append(errs, "the requester's issuer and subject are required")
	}
	for _, f := range []struct{ name, v string }{{"role", r.Role}, {"issuer", r.Requester.Issuer},
		{"subject", r.Requester.Subject}, {"username", r.Requester.Username}} {
		if len(f.v) > MaxGrantField {
			errs = append(errs, fmt.Sprintf("%s is longer than %d bytes", f.name, MaxGrantField))
		}
	}
	if strings.TrimSpace(r.Reason) == "" {
		errs = append(errs, "reason is required")
	} else if len(r.Reason) > MaxGrantReason {
		errs = append(errs, fmt.Sprintf("reason is longer than %d bytes", MaxGrantReason))
	}
	if r.Duration < time.Second {
		errs = append(errs, "duration must be at least one second")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(errs, "; "))
	}
	return nil
}

// newRequest fills in what Request assigns.
func newRequest(r AccessRequest, now time.Time) AccessRequest {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	r.ID = "ar-" + strings.ToLower(idEncoding.EncodeToString(b))
	r.RequestedAt = now.UTC()
	r.Status = GrantPending
	r.DecidedBy, r.DecidedAt, r.Start, r.End, r.RevokedBy, r.RevokedAt = nil, time.Time{}, time.Time{}, time.Time{}, nil, time.Time{}
	r.Forget = r.RequestedAt.Add(PendingFor)
	return r
}

// decide is the transition of Decide.
func decide(r AccessRequest, approve bool, by Person, now time.Time) (AccessRequest, error) {
	if r.Status != GrantPending || !now.Before(r.Forget) {
		return r, ErrNotPending
	}
	if by.Same(r.Requester) {
		return r, ErrSelfApproval
	}
	now = now.UTC()
	r.DecidedBy, r.DecidedAt = &by, now
	if approve {
		r.Status, r.Start, r.End = GrantApproved, now, now.Add(r.Duration)
		r.Forget = r.End.Add(KeepDecided)
	} else {
		r.Status, r.Forget = GrantRejected, now.Add(KeepDecided)
	}
	return r, nil
}

// revoke is the transition of Revoke.
func revoke(r AccessRequest, by Person, now time.Time) (AccessRequest, error) {
	if !r.Active(now) {
		return r, ErrNotActive
	}
	now = now.UTC()
	r.Status, r.RevokedBy, r.RevokedAt, r.End = GrantRevoked, &by, now, now
	r.Forget = now.Add(KeepDecided)
	return r, nil
}

// expire is the transition of Expire; ok is false when there is nothing
// to do.
func expire(r AccessRequest, now time.Time) (AccessRequest, bool) {
	if r.Status != GrantApproved || now.Before(r.End) {
		return r, false
	}
	r.Status = GrantExpired
	return r, true
}

func sortRequests(rs []AccessRequest) {
	slices.SortFunc(rs, func(a, b AccessRequest) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// GrantMemory is [Grants] in process memory: enough for one replica.
type GrantMemory struct {
	now func() time.Time

	mu      sync.Mutex
	epoch   string
	version int64
	recs    map[string]AccessRequest
}

var _ Grants = (*GrantMemory)(nil)

// NewGrantMemory returns an empty record; now is the clock (nil:
// time.Now).
func NewGrantMemory(now func() time.Time) *GrantMemory {
	if now == nil {
		now = time.Now
	}
	return &GrantMemory{now: now, epoch: newEpoch(), recs: map[string]AccessRequest{}}
}

func (m *GrantMemory) prune(now time.Time) {
	for id, r := range m.recs {
		if !now.Before(r.Forget) {
			delete(m.recs, id)
		}
	}
}

// Request stores r as pending.
func (m *GrantMemory) Request(_ context.Context, r AccessRequest) (AccessRequest, error) {
	if err := r.Validate(); err != nil {
		return AccessRequest{}, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	pending := 0
	for _, x := range m.recs {
		if x.Status == GrantPending && x.Requester.Same(r.Requester) {
			pending++
		}
	}
	if len(m.recs) >= MaxGrantRecords || pending >= MaxPendingPerPerson {
		return AccessRequest{}, ErrTooManyRequests
	}
	r = newRequest(r, now)
	m.recs[r.ID] = r
	m.version++
	return r, nil
}

func (m *GrantMemory) change(id string, f func(AccessRequest, time.Time) (AccessRequest, bool, error)) (AccessRequest, bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || !now.Before(r.Forget) {
		return AccessRequest{}, false, ErrRequestNotFound
	}
	n, changed, err := f(r, now)
	if err != nil || !changed {
		return n, false, err
	}
	m.recs[id] = n
	m.version++
	return n, true, nil
}

// Decide approves or rejects a pending request.
func (m *GrantMemory) Decide(_ context.Context, id string, approve bool, by Person) (AccessRequest, error) {
	r, _, err := m.change(id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, err := decide(r, approve, by, now)
		return r, err == nil, err
	})
	return r, err
}

// Revoke ends a grant in force.
func (m *GrantMemory) Revoke(_ context.Context, id string, by Person) (AccessRequest, error) {
	r, _, err := m.change(id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, err := revoke(r, by, now)
		return r, err == nil, err
	})
	return r, err
}

// Expire marks a grant past its end as expired.
func (m *GrantMemory) Expire(_ context.Context, id string) (AccessRequest, bool, error) {
	return m.change(id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, ok := expire(r, now)
		return r, ok, nil
	})
}

// Get returns one record.
func (m *GrantMemory) Get(_ context.Context, id string) (AccessRequest, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || !now.Before(r.Forget) {
		return AccessRequest{}, ErrRequestNotFound
	}
	return r, nil
}

// Version returns the epoch and version.
func (m *GrantMemory) Version(context.Context) (string, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch, m.version, nil
}

// List returns the records not yet forgotten.
func (m *GrantMemory) List(context.Context) (GrantSet, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	set := GrantSet{Epoch: m.epoch, Version: m.version}
	for _, r := range m.recs {
		set.Requests = append(set.Requests, r)
	}
	sortRequests(set.Requests)
	return set, nil
}
