package state

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// Failures counts failed sign-in attempts by key (a user name, a source
// address), so that password guessing can be slowed down. A count lives
// for a window after its latest failure; a failure after that starts a new
// count. Implementations are safe for concurrent use.
type Failures interface {
	// Get returns the current count of key (zero when it has none).
	Get(ctx context.Context, key string) (FailureCount, error)
	// Add records one failure of key and returns the new count. window
	// is how long the count lives after this failure.
	Add(ctx context.Context, key string, window time.Duration) (FailureCount, error)
	// Reset forgets key's failures (after a successful sign-in).
	Reset(ctx context.Context, key string) error
}

// FailureCount is the failures of one key within its window.
type FailureCount struct {
	N    int       // failures counted
	Last time.Time // the latest of them; zero when N is 0
}

// ErrNoKey is returned for an empty key.
var ErrNoKey = errors.New("state: a failure count needs a key")

// FailureMemoryConfig configures a [FailureMemory].
type FailureMemoryConfig struct {
	// MaxEntries bounds the keys counted one by one; zero means
	// DefaultMaxEntries. When it is full, failures of further keys are
	// counted together in one shared count that every key reports too
	// (when it is higher): memory stays bounded and no failure goes
	// uncounted, at the cost of slowing down everyone while a flood of
	// distinct keys lasts.
	MaxEntries int
	Now        func() time.Time // nil: time.Now
}

// FailureMemory is [Failures] in process memory: enough for one replica.
// It survives configuration reloads if the caller keeps it.
type FailureMemory struct {
	max int
	now func() time.Time

	mu       sync.Mutex
	t        table[string]
	counts   map[string]int
	overflow FailureCount
	overEnd  time.Time
}

var _ Failures = (*FailureMemory)(nil)

// NewFailureMemory returns an empty FailureMemory.
func NewFailureMemory(cfg FailureMemoryConfig) *FailureMemory {
	m := &FailureMemory{max: cfg.MaxEntries, now: cfg.Now, counts: map[string]int{}}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.t.m = map[string]*entry[string]{}
	return m
}

// Get returns key's count, or the shared count of the overflow when that
// is higher. It never fails for a non-empty key.
func (m *FailureMemory) Get(_ context.Context, key string) (FailureCount, error) {
	if key == "" {
		return FailureCount{}, ErrNoKey
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	var c FailureCount
	if e, ok := m.t.m[key]; ok {
		c = FailureCount{N: m.counts[key], Last: e.before}
	}
	if m.overflow.N > c.N {
		c = m.overflow
	}
	return c, nil
}

// Add counts one failure of key at the current time.
func (m *FailureMemory) Add(_ context.Context, key string, window time.Duration) (FailureCount, error) {
	if key == "" {
		return FailureCount{}, ErrNoKey
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	until := now.Add(window)
	if e, ok := m.t.m[key]; ok {
		m.counts[key]++
		e.before = now
		if until.After(e.until) {
			e.until = until
			heap.Fix(&m.t.h, e.index)
		}
		return FailureCount{N: m.counts[key], Last: now}, nil
	}
	if m.t.put(key, now, until, m.max) {
		m.counts[key] = 1
		return FailureCount{N: 1, Last: now}, nil
	}
	m.overflow.N++
	m.overflow.Last = now
	m.overEnd = later(m.overEnd, until)
	return m.overflow, nil
}

// Reset forgets key's own count (not the shared overflow count).
func (m *FailureMemory) Reset(_ context.Context, key string) error {
	if key == "" {
		return ErrNoKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.t.m[key]; ok {
		e.until = time.Time{} // soonest: pruned next
		heap.Fix(&m.t.h, e.index)
		m.prune(m.now())
	}
	return nil
}

// Len returns the number of keys counted one by one, expired ones left
// out.
func (m *FailureMemory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(m.now())
	return len(m.t.m)
}

func (m *FailureMemory) prune(now time.Time) {
	for len(m.t.h) > 0 && !m.t.h[0].until.After(now) {
		e := heap.Pop(&m.t.h).(*entry[string])
		delete(m.t.m, e.key)
		delete(m.counts, e.key)
	}
	if !m.overEnd.After(now) {
		m.overflow, m.overEnd = FailureCount{}, time.Time{}
	}
}

// FailuresFallback counts in Primary (shared by the replicas) and, when
// Primary fails, in Local (this replica's own) instead: sign-ins go on
// while the shared store is down, still throttled, per replica. Every
// failure is counted in Local too, so that its counts are warm when
// needed. Primary's errors go to OnError.
type FailuresFallback struct {
	Primary, Local Failures
	OnError        func(error) // nil: ignored
}

var _ Failures = (*FailuresFallback)(nil)

func (f *FailuresFallback) failed(err error) bool {
	if err == nil || errors.Is(err, ErrNoKey) {
		return false
	}
	if f.OnError != nil {
		f.OnError(err)
	}
	return true
}

// Get returns Primary's count, or Local's when Primary fails.
func (f *FailuresFallback) Get(ctx context.Context, key string) (FailureCount, error) {
	c, err := f.Primary.Get(ctx, key)
	if f.failed(err) {
		return f.Local.Get(ctx, key)
	}
	return c, err
}

// Add counts in both; it returns Primary's count, or Local's when Primary
// fails.
func (f *FailuresFallback) Add(ctx context.Context, key string, window time.Duration) (FailureCount, error) {
	lc, lerr := f.Local.Add(ctx, key, window)
	c, err := f.Primary.Add(ctx, key, window)
	if f.failed(err) {
		return lc, lerr
	}
	return c, err
}

// Reset forgets key in both.
func (f *FailuresFallback) Reset(ctx context.Context, key string) error {
	lerr := f.Local.Reset(ctx, key)
	if err := f.Primary.Reset(ctx, key); f.failed(err) {
		return lerr
	}
	return lerr
}
