package state

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Revocation is a rule added at run time that voids sessions, like the
// revocations of the configuration file. The selectors that are set must
// all match a session; at least one of Subject, Issuer, Role, SessionID
// and Claim is set.
type Revocation struct {
	// ID names the rule; Add assigns it.
	ID        string `json:"id"`
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	Role      string `json:"role,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// Claim and ClaimValue match a session whose token claim Claim has
	// the string (or number) value ClaimValue, such as agent_run=r-42.
	Claim      string `json:"claim,omitempty"`
	ClaimValue string `json:"claim_value,omitempty"`
	// IssuedBefore: sessions issued at or after it are not affected.
	IssuedBefore time.Time `json:"issued_before"`
	Reason       string    `json:"reason"`
	AddedBy      string    `json:"added_by"`
	AddedAt      time.Time `json:"added_at"`
	// Expires is when the rule is forgotten: no session it voids can
	// live longer (the longest session lifetime after IssuedBefore).
	Expires time.Time `json:"expires"`
}

// Limits of a revocation rule's fields.
const (
	MaxRevocationField  = 256  // bytes of each selector, AddedBy
	MaxRevocationReason = 1024 // bytes of Reason
	// MaxRevocations bounds the rules in force at once.
	MaxRevocations = 10_000
)

// Errors of [Revocations.Add].
var (
	ErrInvalidRevocation  = errors.New("state: invalid revocation")
	ErrTooManyRevocations = errors.New("state: too many revocations in force")
)

// Validate checks r's fields (not ID and AddedAt, which Add sets) at now.
func (r *Revocation) Validate(now time.Time) error {
	var errs []string
	if r.Subject == "" && r.Issuer == "" && r.Role == "" && r.SessionID == "" && r.Claim == "" {
		errs = append(errs, "set at least one of subject, issuer, role, session_id, claim")
	}
	for _, f := range []struct{ name, v string }{{"subject", r.Subject}, {"issuer", r.Issuer}, {"role", r.Role},
		{"session_id", r.SessionID}, {"claim", r.Claim}, {"claim_value", r.ClaimValue}, {"added_by", r.AddedBy}} {
		if len(f.v) > MaxRevocationField {
			errs = append(errs, fmt.Sprintf("%s is longer than %d bytes", f.name, MaxRevocationField))
		}
	}
	if (r.Claim == "") != (r.ClaimValue == "") {
		errs = append(errs, "claim and claim_value go together")
	}
	if strings.TrimSpace(r.Reason) == "" {
		errs = append(errs, "reason is required")
	} else if len(r.Reason) > MaxRevocationReason {
		errs = append(errs, fmt.Sprintf("reason is longer than %d bytes", MaxRevocationReason))
	}
	if r.IssuedBefore.IsZero() {
		errs = append(errs, "issued_before is required")
	}
	if !r.Expires.After(now) {
		errs = append(errs, "expires must be in the future")
	} else if r.Expires.Before(r.IssuedBefore) {
		errs = append(errs, "expires must not be before issued_before")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRevocation, strings.Join(errs, "; "))
	}
	return nil
}

// RevocationSet is the rules in force and the version they were read at.
// The version grows with every change; Epoch names the store's data, and
// changes when the store lost it (a Redis restarted without persistence
// comes back with none).
type RevocationSet struct {
	Epoch   string
	Version int64
	Rules   []Revocation // by AddedAt, then ID
}

// Revocations is the shared list of revocation rules added at run time.
// Implementations are safe for concurrent use.
type Revocations interface {
	// Add validates r, assigns its ID and AddedAt, and stores it until
	// r.Expires. An error means nothing was stored.
	Add(ctx context.Context, r Revocation) (Revocation, error)
	// Version returns the current epoch and version: cheap, asked often.
	// A store that holds nothing yet has the epoch "".
	Version(ctx context.Context) (epoch string, version int64, err error)
	// List returns the unexpired rules with the version.
	List(ctx context.Context) (RevocationSet, error)
	// Restore stores rules again after the store lost them (a restarted
	// Redis without persistence), keeping their IDs. Rules already present
	// and expired ones are left out.
	Restore(ctx context.Context, rules []Revocation) error
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRevocationID returns a random rule ID such as rv-4f3yxs3pdzaj2wqe.
func newRevocationID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "rv-" + strings.ToLower(idEncoding.EncodeToString(b))
}

// newEpoch returns a random name for a store's data.
func newEpoch() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}

func sortRules(rules []Revocation) {
	slices.SortFunc(rules, func(a, b Revocation) int {
		if c := a.AddedAt.Compare(b.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// RevocationMemory is [Revocations] in process memory: enough for one
// replica.
type RevocationMemory struct {
	now func() time.Time

	mu      sync.Mutex
	epoch   string
	version int64
	rules   map[string]Revocation
}

var _ Revocations = (*RevocationMemory)(nil)

// NewRevocationMemory returns an empty list; now is the clock (nil:
// time.Now).
func NewRevocationMemory(now func() time.Time) *RevocationMemory {
	if now == nil {
		now = time.Now
	}
	return &RevocationMemory{now: now, epoch: newEpoch(), rules: map[string]Revocation{}}
}

// Add stores r.
func (m *RevocationMemory) Add(_ context.Context, r Revocation) (Revocation, error) {
	now := m.now()
	if err := r.Validate(now); err != nil {
		return Revocation{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if len(m.rules) >= MaxRevocations {
		return Revocation{}, ErrTooManyRevocations
	}
	r.ID, r.AddedAt = newRevocationID(), now.UTC()
	m.rules[r.ID] = r
	m.version++
	return r, nil
}

// Version returns the epoch and version.
func (m *RevocationMemory) Version(context.Context) (string, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch, m.version, nil
}

// List returns the unexpired rules.
func (m *RevocationMemory) List(context.Context) (RevocationSet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(m.now())
	set := RevocationSet{Epoch: m.epoch, Version: m.version}
	for _, r := range m.rules {
		set.Rules = append(set.Rules, r)
	}
	sortRules(set.Rules)
	return set, nil
}

// Restore stores rules that are missing.
func (m *RevocationMemory) Restore(_ context.Context, rules []Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, r := range rules {
		if _, ok := m.rules[r.ID]; !ok && r.ID != "" && r.Expires.After(now) {
			m.rules[r.ID] = r
		}
	}
	m.version++
	return nil
}

func (m *RevocationMemory) prune(now time.Time) {
	for id, r := range m.rules {
		if !r.Expires.After(now) {
			delete(m.rules, id)
		}
	}
}
