package state

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultMaxEntries is MemoryConfig.MaxEntries when it is zero. An entry
// takes about 160 bytes, so the default bounds the record to about 16 MB
// of sessions (and as much again of people, once that is full).
const DefaultMaxEntries = 100_000

// MemoryConfig configures a [Memory].
type MemoryConfig struct {
	// MaxEntries bounds the signed-out sessions recorded one by one, and
	// separately the people recorded as a whole once that is full; zero
	// means DefaultMaxEntries. When both are full, a sign-out refuses
	// every session signed in no later than the signed-out one (ScopeAll):
	// memory stays bounded and no sign-out is ever dropped, at the cost of
	// signing other people out. Entries are forgotten when they expire.
	MaxEntries int
	Now        func() time.Time // nil: time.Now
}

// Memory is the record of signed-out sessions in process memory: what one
// replica needs. It survives configuration reloads if the caller keeps it,
// and is lost on restart (copies of signed-out cookies then depend on
// their renewal window alone). Safe for concurrent use.
type Memory struct {
	max int
	now func() time.Time

	mu       sync.Mutex
	sessions table[string]     // by session ID
	subjects table[subjectKey] // sessions of a person signed in at or before the entry's time
	// all refuses every session signed in at or before all.before, until
	// all.until.
	all struct{ before, until time.Time }
}

var _ SignedOut = (*Memory)(nil)

type subjectKey struct{ issuer, subject string }

// NewMemory returns an empty record.
func NewMemory(cfg MemoryConfig) *Memory {
	m := &Memory{max: cfg.MaxEntries, now: cfg.Now}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.sessions.m = map[string]*entry[string]{}
	m.subjects.m = map[subjectKey]*entry[subjectKey]{}
	return m
}

// Add records that s was signed out, until until. It never fails: when
// the sessions are full it records s's person (ScopeSubject), and when the
// people are full too, everyone (ScopeAll). A time that has passed records
// nothing.
func (m *Memory) Add(_ context.Context, s Session, until time.Time) (Scope, error) {
	if s.ID == "" {
		return "", ErrNoSessionID
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if !until.After(now) {
		return ScopeSession, nil
	}
	if m.sessions.put(s.ID, time.Time{}, until, m.max) {
		return ScopeSession, nil
	}
	if m.subjects.put(subjectKey{s.Issuer, s.Subject}, s.IssuedAt, until, m.max) {
		return ScopeSubject, nil
	}
	if !m.all.until.After(now) {
		m.all.before, m.all.until = s.IssuedAt, until
	} else {
		m.all.before, m.all.until = later(m.all.before, s.IssuedAt), later(m.all.until, until)
	}
	return ScopeAll, nil
}

// Contains reports whether s was signed out (alone, with its person, or
// with everyone) and the entry has not expired. It never fails.
func (m *Memory) Contains(_ context.Context, s Session) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if _, ok := m.sessions.m[s.ID]; ok {
		return true, nil
	}
	if e, ok := m.subjects.m[subjectKey{s.Issuer, s.Subject}]; ok && !s.IssuedAt.After(e.before) {
		return true, nil
	}
	return m.all.until.After(now) && !s.IssuedAt.After(m.all.before), nil
}

// MemoryStats counts what a Memory holds.
type MemoryStats struct {
	Sessions int // signed out one by one
	Subjects int // people signed out as a whole
	// AllUntil is when the refusal of every session signed in before some
	// time ends; zero if there is none.
	AllUntil time.Time
}

// Stats returns what m holds now, expired entries left out.
func (m *Memory) Stats() MemoryStats {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	st := MemoryStats{Sessions: len(m.sessions.m), Subjects: len(m.subjects.m)}
	if m.all.until.After(now) {
		st.AllUntil = m.all.until
	}
	return st
}

// prune forgets the entries that expired at or before now; m.mu is held.
func (m *Memory) prune(now time.Time) {
	m.sessions.prune(now)
	m.subjects.prune(now)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// table is a bounded map whose entries expire, with a heap ordered by
// expiry so that expired entries are found without a scan.
type table[K comparable] struct {
	m map[K]*entry[K]
	h entryHeap[K]
}

type entry[K comparable] struct {
	key    K
	before time.Time // subjects: sessions signed in at or before it
	until  time.Time
	index  int // in the heap
}

// put adds key or extends its entry (later times win). It returns false,
// changing nothing, when key is new and the table holds max entries.
func (t *table[K]) put(key K, before, until time.Time, max int) bool {
	if e, ok := t.m[key]; ok {
		e.before = later(e.before, before)
		if until.After(e.until) {
			e.until = until
			heap.Fix(&t.h, e.index)
		}
		return true
	}
	if len(t.m) >= max {
		return false
	}
	e := &entry[K]{key: key, before: before, until: until}
	t.m[key] = e
	heap.Push(&t.h, e)
	return true
}

func (t *table[K]) prune(now time.Time) {
	for len(t.h) > 0 && !t.h[0].until.After(now) {
		e := heap.Pop(&t.h).(*entry[K])
		delete(t.m, e.key)
	}
}

// entryHeap implements heap.Interface, soonest expiry first.
type entryHeap[K comparable] []*entry[K]

func (h entryHeap[K]) Len() int           { return len(h) }
func (h entryHeap[K]) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h entryHeap[K]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap[K]) Push(x any) {
	e := x.(*entry[K])
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap[K]) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
