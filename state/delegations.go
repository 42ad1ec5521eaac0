package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// UseDelegations is the use of the record of delegated sessions, as
// reported to RedisConfig.OnError.
const UseDelegations = "delegations"

// MaxDelegationsPerPerson bounds the delegated sessions recorded for one
// person: when a new one would exceed it, the one that expires first is
// forgotten (it stays valid, and revocable by subject or role; it is only
// no longer listed).
const MaxDelegationsPerPerson = 100

// Delegation records a delegated session: an actor (an agent) acting for
// a person, with the intersection of their roles. Sessions are sealed
// tokens the servers keep no copy of; this record is what lets a person
// see the sessions acting for them, and revoke one by its ID.
type Delegation struct {
	SessionID string `json:"session_id"`
	// Issuer and Subject name the person (the issuer's configured name).
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Role    string `json:"role"`
	// ActorIssuer, ActorSubject and ActorRole name the actor.
	ActorIssuer  string `json:"actor_issuer"`
	ActorSubject string `json:"actor_subject"`
	ActorRole    string `json:"actor_role"`
	// ActorClientID is the actor's client_id claim, if any.
	ActorClientID   string    `json:"actor_client_id,omitempty"`
	RoleSessionName string    `json:"role_session_name,omitempty"`
	IssuedAt        time.Time `json:"issued_at"`
	Expiry          time.Time `json:"expiry"`
	// Claims and ActorClaims are the scalar claims of the person and of
	// the actor (formatted as revocation rules compare them), so that a
	// listing sees a revocation by claim (agent_run=r-42, say).
	Claims      map[string]string `json:"claims,omitempty"`
	ActorClaims map[string]string `json:"actor_claims,omitempty"`
}

// ErrInvalidDelegation is returned by Delegations.Add for a record
// without a session ID, person or expiry.
var ErrInvalidDelegation = errors.New("state: a delegation needs a session ID, an issuer, a subject and an expiry")

// Delegations is the record of delegated sessions by person.
// Implementations are safe for concurrent use; records are forgotten when
// their session expires.
type Delegations interface {
	// Add records d until d.Expiry.
	Add(ctx context.Context, d Delegation) error
	// List returns the unexpired delegated sessions acting for the
	// person, the latest issued first.
	List(ctx context.Context, issuer, subject string) ([]Delegation, error)
}

func (d *Delegation) valid() bool {
	return d.SessionID != "" && d.Issuer != "" && d.Subject != "" && !d.Expiry.IsZero()
}

// personKey names a person in the record; a hash keeps any subject safe
// as a key.
func personKey(issuer, subject string) string {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return hex.EncodeToString(sum[:16])
}

func sortDelegations(ds []Delegation) {
	slices.SortFunc(ds, func(a, b Delegation) int {
		if c := b.IssuedAt.Compare(a.IssuedAt); c != 0 {
			return c
		}
		if a.SessionID < b.SessionID {
			return -1
		}
		return 1
	})
}

// DelegationMemory is [Delegations] in process memory: enough for one
// replica.
type DelegationMemory struct {
	now func() time.Time

	mu     sync.Mutex
	people map[string][]Delegation
}

var _ Delegations = (*DelegationMemory)(nil)

// NewDelegationMemory returns an empty record; now is the clock (nil:
// time.Now).
func NewDelegationMemory(now func() time.Time) *DelegationMemory {
	if now == nil {
		now = time.Now
	}
	return &DelegationMemory{now: now, people: map[string][]Delegation{}}
}

// Add records d.
func (m *DelegationMemory) Add(_ context.Context, d Delegation) error {
	if !d.valid() {
		return ErrInvalidDelegation
	}
	now := m.now()
	if !d.Expiry.After(now) {
		return nil
	}
	k := personKey(d.Issuer, d.Subject)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneAll(now)
	list := slices.DeleteFunc(m.people[k], func(e Delegation) bool { return e.SessionID == d.SessionID })
	list = append(list, d)
	for len(list) > MaxDelegationsPerPerson {
		first := 0
		for i := range list {
			if list[i].Expiry.Before(list[first].Expiry) {
				first = i
			}
		}
		list = slices.Delete(list, first, first+1)
	}
	m.people[k] = list
	return nil
}

// List returns the person's unexpired delegated sessions.
func (m *DelegationMemory) List(_ context.Context, issuer, subject string) ([]Delegation, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Delegation
	for _, d := range m.people[personKey(issuer, subject)] {
		if d.Expiry.After(now) {
			out = append(out, d)
		}
	}
	sortDelegations(out)
	return out, nil
}

// pruneAll forgets expired records, so that the map stays bounded by the
// sessions alive.
func (m *DelegationMemory) pruneAll(now time.Time) {
	for k, list := range m.people {
		list = slices.DeleteFunc(list, func(d Delegation) bool { return !d.Expiry.After(now) })
		if len(list) == 0 {
			delete(m.people, k)
		} else {
			m.people[k] = list
		}
	}
}

// Delegations returns the record of delegated sessions in r.
func (r *Redis) Delegations() *RedisDelegations { return (*RedisDelegations)(r) }

// RedisDelegations is [Delegations] in Redis: one sorted set per person,
// members the JSON records scored by expiry, the key expiring with the
// last of them.
type RedisDelegations Redis

var _ Delegations = (*RedisDelegations)(nil)

// addDelegationScript drops expired members, adds the new one, keeps at
// most ARGV[4] (dropping those that expire first) and extends the key's
// expiry to the latest member's.
var addDelegationScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[4])
if n > max then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1)
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return n`)

// Add records d: one script, one round trip.
func (s *RedisDelegations) Add(ctx context.Context, d Delegation) error {
	if !d.valid() {
		return ErrInvalidDelegation
	}
	r := (*Redis)(s)
	now := r.now()
	if !d.Expiry.After(now) {
		return nil
	}
	member, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	return r.do(ctx, UseDelegations, func(ctx context.Context) error {
		return addDelegationScript.Run(ctx, r.c, []string{r.key("delegations", personKey(d.Issuer, d.Subject))},
			ms(now), ms(d.Expiry), member, MaxDelegationsPerPerson).Err()
	})
}

// List returns the person's unexpired delegated sessions: one ZRANGE
// BYSCORE.
func (s *RedisDelegations) List(ctx context.Context, issuer, subject string) ([]Delegation, error) {
	r := (*Redis)(s)
	var members []string
	err := r.do(ctx, UseDelegations, func(ctx context.Context) error {
		var err error
		members, err = r.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: r.key("delegations", personKey(issuer, subject)),
			ByScore: true, Start: "(" + strconv.FormatInt(ms(r.now()), 10), Stop: "+inf"}).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Delegation, 0, len(members))
	for _, m := range members {
		var d Delegation
		if json.Unmarshal([]byte(m), &d) != nil || d.Issuer != issuer || d.Subject != subject {
			continue
		}
		out = append(out, d)
	}
	sortDelegations(out)
	return out, nil
}
