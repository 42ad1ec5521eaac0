package state

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// Counters are the shared counters of rate limits and quotas: a token
// bucket and a fixed-window counter, each updated atomically. Keys are
// chosen by the caller (a role, a subject, an agent run); implementations
// are safe for concurrent use.
type Counters interface {
	// Take takes n tokens from the bucket key, which refills at rate
	// tokens per second up to burst. When fewer than n are left it takes
	// none and says how long until n would be there.
	Take(ctx context.Context, key string, rate float64, burst, n int) (allowed bool, retryAfter time.Duration, err error)
	// Add adds n to the count of key in its current window of length
	// window, which starts at the first Add after the previous window
	// ended, and returns the total and when the window ends.
	Add(ctx context.Context, key string, window time.Duration, n int64) (total int64, resetAt time.Time, err error)
}

// ErrInvalidCounter is returned for an empty key or a rate, burst, n or
// window that cannot be counted.
var ErrInvalidCounter = errors.New("state: invalid counter arguments")

func checkTake(key string, rate float64, burst, n int) error {
	if key == "" || !(rate > 0) || math.IsInf(rate, 0) || burst <= 0 || n < 0 {
		return ErrInvalidCounter
	}
	return nil
}

func checkAdd(key string, window time.Duration, n int64) error {
	if key == "" || window < time.Millisecond || n < 0 {
		return ErrInvalidCounter
	}
	return nil
}

// CounterMemory is [Counters] in process memory: enough for one replica.
// Buckets and windows are forgotten once they no longer matter (a full
// bucket, an ended window), on a sweep every so many updates.
type CounterMemory struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	windows map[string]*window
	ops     int
}

type bucket struct {
	tokens float64
	at     time.Time
	full   time.Time // when it is full again
}

type window struct {
	total int64
	end   time.Time
}

var _ Counters = (*CounterMemory)(nil)

// NewCounterMemory returns empty counters; now is the clock (nil:
// time.Now).
func NewCounterMemory(now func() time.Time) *CounterMemory {
	if now == nil {
		now = time.Now
	}
	return &CounterMemory{now: now, buckets: map[string]*bucket{}, windows: map[string]*window{}}
}

// Take implements the token bucket.
func (m *CounterMemory) Take(_ context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	if err := checkTake(key, rate, burst, n); err != nil {
		return false, 0, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	b, ok := m.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), at: now}
		m.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+el*rate)
		b.at = now
	}
	if n > burst {
		return false, 0, nil // never possible; retrying does not help
	}
	if b.tokens < float64(n) {
		return false, secondsCeil((float64(n) - b.tokens) / rate), nil
	}
	b.tokens -= float64(n)
	b.full = now.Add(secondsCeil((float64(burst) - b.tokens) / rate))
	return true, 0, nil
}

// Add implements the windowed counter.
func (m *CounterMemory) Add(_ context.Context, key string, win time.Duration, n int64) (int64, time.Time, error) {
	if err := checkAdd(key, win, n); err != nil {
		return 0, time.Time{}, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	w, ok := m.windows[key]
	if !ok || !now.Before(w.end) {
		w = &window{end: now.Add(win)}
		m.windows[key] = w
	}
	w.total += n
	return w.total, w.end, nil
}

// sweep forgets full buckets and ended windows every 1024 updates;
// m.mu is held.
func (m *CounterMemory) sweep(now time.Time) {
	m.ops++
	if m.ops%1024 != 0 {
		return
	}
	for k, b := range m.buckets {
		if !now.Before(b.full) {
			delete(m.buckets, k)
		}
	}
	for k, w := range m.windows {
		if !now.Before(w.end) {
			delete(m.windows, k)
		}
	}
}

// secondsCeil converts seconds to a duration rounded up to the
// millisecond.
func secondsCeil(s float64) time.Duration {
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}

// CounterPolicy says what a [GuardedCounters] answers when its store
// fails.
type CounterPolicy string

// Counter policies.
const (
	// CountersClosed refuses (Take not allowed, Add reports an error):
	// no limit is exceeded while the store is down, and nothing limited
	// is served.
	CountersClosed CounterPolicy = "closed"
	// CountersOpen allows (Take allowed, Add counts nothing): service goes
	// on without limits while the store is down.
	CountersOpen CounterPolicy = "open"
)

// GuardedCounters applies a [CounterPolicy] to the errors of Counters,
// reporting each to OnError. Invalid arguments are returned as errors
// whatever the policy.
type GuardedCounters struct {
	Counters Counters
	Policy   CounterPolicy
	OnError  func(error) // nil: ignored
}

var _ Counters = (*GuardedCounters)(nil)

// Take takes from the bucket; on a store error it allows when the policy
// is open and refuses (with the error) when it is closed.
func (g *GuardedCounters) Take(ctx context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	ok, retry, err := g.Counters.Take(ctx, key, rate, burst, n)
	if err == nil || errors.Is(err, ErrInvalidCounter) {
		return ok, retry, err
	}
	if g.OnError != nil {
		g.OnError(err)
	}
	if g.Policy == CountersOpen {
		return true, 0, nil
	}
	return false, 0, err
}

// Add counts; on a store error it reports a zero total when the policy is
// open and the error when it is closed.
func (g *GuardedCounters) Add(ctx context.Context, key string, win time.Duration, n int64) (int64, time.Time, error) {
	total, end, err := g.Counters.Add(ctx, key, win, n)
	if err == nil || errors.Is(err, ErrInvalidCounter) {
		return total, end, err
	}
	if g.OnError != nil {
		g.OnError(err)
	}
	if g.Policy == CountersOpen {
		return 0, time.Time{}, nil
	}
	return 0, time.Time{}, err
}
