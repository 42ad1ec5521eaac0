package limits

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamgate/iamgate/state"
)

// maxCarried bounds the counts of earlier requests one admission carries.
const maxCarried = 8

// flushBatch bounds the ops of one background batch.
const flushBatch = 128

// localCount is what this replica counted of a download budget: counted
// only grows; unsent is the part not yet in the shared counter.
type localCount struct {
	counted atomic.Int64
	unsent  atomic.Int64
}

// localCount returns the replica's count of key (never removed, like the
// semaphores: one per limited session, identity or role).
func (l *Limiter) localCount(key string) *localCount {
	l.semMu.Lock()
	defer l.semMu.Unlock()
	c, ok := l.local[key]
	if !ok {
		c = new(localCount)
		l.local[key] = c
	}
	return c
}

// carried holds counts waiting for a batch to carry them, one entry per
// counter key (later counts of a key add up).
type carried struct {
	l       *Limiter
	mu      sync.Mutex
	pending []pendingCount
	index   map[string]int
	timer   *time.Timer
	closed  bool
}

type pendingCount struct {
	key    string
	window time.Duration
	n      int64
	loc    *localCount // a download budget's: its unsent part drops once sent
}

// add queues n for key; schedule starts the background flush when it is
// not already due.
func (c *carried) add(key string, window time.Duration, n int64, loc *localCount, schedule bool) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[key]; ok {
		c.pending[i].n += n
		return
	}
	if c.index == nil {
		c.index = map[string]int{}
	}
	c.index[key] = len(c.pending)
	c.pending = append(c.pending, pendingCount{key: key, window: window, n: n, loc: loc})
	if schedule && c.timer == nil && !c.closed {
		c.timer = time.AfterFunc(c.l.cfg.Defer, c.flushLater)
	}
}

// take moves up to len(ops) queued counts into ops as Always adds, with
// their local counts in meta, and returns how many.
func (c *carried) take(ops []state.CounterOp, meta []opMeta) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(ops), len(c.pending))
	for i := 0; i < n; i++ {
		p := &c.pending[len(c.pending)-1-i]
		ops[i] = state.CounterOp{Key: p.key, Window: p.window, N: p.n, Always: true}
		meta[i] = opMeta{loc: p.loc}
		delete(c.index, p.key)
	}
	c.pending = c.pending[:len(c.pending)-n]
	return n
}

// sent settles carried ops after their batch: sent, their counts leave
// the unsent parts; failed, they are queued again.
func (c *carried) sent(ops []state.CounterOp, meta []opMeta, err error) {
	if err != nil {
		defer c.retry()
	}
	for i := range ops {
		if err != nil {
			// Queued again; the flush retries, or the next admission.
			c.add(ops[i].Key, ops[i].Window, ops[i].N, meta[i].loc, false)
			continue
		}
		if meta[i].loc != nil {
			meta[i].loc.unsent.Add(-ops[i].N)
		}
	}
}

// retry schedules a background flush in a second (the counters failed).
func (c *carried) retry() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer == nil && !c.closed && len(c.pending) > 0 {
		c.timer = time.AfterFunc(max(c.l.cfg.Defer, time.Second), c.flushLater)
	}
}

// flushLater is the background flush: it sends what no admission
// carried, retrying each second while the counters fail.
func (c *carried) flushLater() {
	c.mu.Lock()
	c.timer = nil
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.flush(ctx) // a failure schedules a retry (sent)
}

// flush sends every queued count, in batches of flushBatch.
func (c *carried) flush(ctx context.Context) error {
	var (
		ops  [flushBatch]state.CounterOp
		meta [flushBatch]opMeta
	)
	for {
		n := c.take(ops[:], meta[:])
		if n == 0 {
			return nil
		}
		_, err := c.l.batch(ctx, ops[:n])
		c.sent(ops[:n], meta[:n], err)
		if err != nil {
			return err
		}
	}
}

// Flush sends the counts waiting to be carried (Config.Defer) now.
func (l *Limiter) Flush(ctx context.Context) error { return l.carry.flush(ctx) }

// Close stops the background flush and sends what is waiting.
func (l *Limiter) Close(ctx context.Context) error {
	c := &l.carry
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	return c.flush(ctx)
}
