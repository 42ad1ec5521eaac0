package state

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// CounterOp is one operation of a [CounterBatch]: a take from a token
// bucket (Rate > 0) or an add to a windowed counter, optionally bounded.
type CounterOp struct {
	Key string
	// Take: Rate tokens per second up to Burst; N tokens are taken.
	Rate  float64
	Burst int
	// Add: Window is the counter's window; N is added.
	Window time.Duration
	N      int64
	// Bounded: the add fits only when the total after it is at most Max
	// (N 0 and Max m-1 asks "is anything left of m?").
	Bounded bool
	Max     int64
	// Always: an unbounded add applied whether or not the batch is (a
	// count known only after an earlier request, carried by this batch).
	// It is applied where it stands, so later ops of the batch see it;
	// put such ops first.
	Always bool

	// Results. Fits: the take was possible, or the bounded add fits.
	// Total and ResetAt: the counter's total (after the add when the
	// batch was applied, before it otherwise) and its window's end.
	// RetryAfter: when a take would be possible.
	Fits       bool
	Total      int64
	ResetAt    time.Time
	RetryAfter time.Duration
}

// CounterBatch runs several counter operations at once, all or nothing:
// when every one fits they are all applied and Batch returns -1; else
// none is (but the Always ones), and Batch returns the index of the first
// that does not fit.
// Every op's results are filled either way. One batch is one round trip
// to a shared store.
type CounterBatch interface {
	Batch(ctx context.Context, ops []CounterOp) (refused int, err error)
}

func checkOp(op *CounterOp) error {
	if op.Always && (op.Rate != 0 || op.Bounded) {
		return ErrInvalidCounter
	}
	if op.Rate != 0 {
		if op.N > math.MaxInt32 {
			return ErrInvalidCounter
		}
		return checkTake(op.Key, op.Rate, op.Burst, int(op.N))
	}
	return checkAdd(op.Key, op.Window, op.N)
}

var _ CounterBatch = (*CounterMemory)(nil)

// Batch implements [CounterBatch] under one lock.
func (m *CounterMemory) Batch(_ context.Context, ops []CounterOp) (int, error) {
	for i := range ops {
		if err := checkOp(&ops[i]); err != nil {
			return 0, err
		}
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	refused := -1
	// What the check found, so that applying looks nothing up again.
	var found [16]*window
	for i := range ops {
		op := &ops[i]
		if op.Rate != 0 {
			tokens := float64(op.Burst)
			if b, ok := m.buckets[op.Key]; ok {
				tokens = b.tokens
				if el := now.Sub(b.at).Seconds(); el > 0 {
					tokens = math.Min(float64(op.Burst), tokens+el*op.Rate)
				}
			}
			op.Fits = op.N <= int64(op.Burst) && tokens >= float64(op.N)
			op.RetryAfter = 0
			if !op.Fits && op.N <= int64(op.Burst) {
				op.RetryAfter = secondsCeil((float64(op.N) - tokens) / op.Rate)
			}
		} else if op.Always {
			w, ok := m.windows[op.Key]
			if !ok || !now.Before(w.end) {
				w = &window{end: now.Add(op.Window)}
				m.windows[op.Key] = w
			}
			w.total += op.N
			op.Fits, op.Total, op.ResetAt = true, w.total, w.end
			continue
		} else {
			op.Total, op.ResetAt = 0, now.Add(op.Window)
			if w, ok := m.windows[op.Key]; ok && now.Before(w.end) {
				op.Total, op.ResetAt = w.total, w.end
				if i < len(found) {
					found[i] = w
				}
			}
			op.Fits = !op.Bounded || op.Total+op.N <= op.Max
		}
		if !op.Fits && refused < 0 {
			refused = i
		}
	}
	if refused >= 0 {
		return refused, nil
	}
	for i := range ops {
		op := &ops[i]
		if op.Always {
			continue
		}
		if op.Rate != 0 {
			// Take applies the same arithmetic; it cannot refuse now.
			m.takeLocked(now, op.Key, op.Rate, op.Burst, int(op.N))
			continue
		}
		var w *window
		if i < len(found) {
			w = found[i]
		}
		if w == nil {
			var ok bool
			if w, ok = m.windows[op.Key]; !ok || !now.Before(w.end) {
				w = &window{end: op.ResetAt}
				m.windows[op.Key] = w
			}
		}
		w.total += op.N
		op.Total = w.total
	}
	return -1, nil
}

// takeLocked is Take with m.mu held.
func (m *CounterMemory) takeLocked(now time.Time, key string, rate float64, burst, n int) bool {
	b, ok := m.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), at: now}
		m.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+el*rate)
		b.at = now
	}
	if n > burst || b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	b.full = now.Add(secondsCeil((float64(burst) - b.tokens) / rate))
	return true
}

var _ CounterBatch = (*RedisCounters)(nil)

// KEYS: one per op. ARGV: now_ms, then per op: kind (t: take, a: add,
// A: add always, applied at once), rate or
// window_ms, burst or bounded (0/1), n, max. Returns {refused (0: none,
// else 1-based), then per op fits, total, end_ms, retry_ms}.
var batchScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local res, st, refused = {}, {}, 0
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 5
  local kind, x, y, n, mx = ARGV[a+1], tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), tonumber(ARGV[a+5])
  local fits, total, e, retry = 1, 0, 0, 0
  if kind == 't' then
    local v = redis.call('HMGET', KEYS[i], 't', 'at')
    local tokens, at = tonumber(v[1]), tonumber(v[2])
    if tokens == nil or at == nil then tokens, at = y, now end
    if now > at then tokens = math.min(y, tokens + (now - at) / 1000 * x); at = now end
    if n > y then fits = 0 elseif tokens < n then fits = 0; retry = math.ceil((n - tokens) / x * 1000) end
    st[i] = {tokens, at}
  elseif kind == 'A' then
    local v = redis.call('HMGET', KEYS[i], 'n', 'end')
    total, e = tonumber(v[1]), tonumber(v[2])
    if total == nil or e == nil or now >= e then total, e = 0, now + x end
    total = total + n
    redis.call('HSET', KEYS[i], 'n', string.format('%d', total), 'end', string.format('%d', e))
    redis.call('PEXPIRE', KEYS[i], e - now)
  else
    local v = redis.call('HMGET', KEYS[i], 'n', 'end')
    total, e = tonumber(v[1]), tonumber(v[2])
    if total == nil or e == nil or now >= e then total, e = 0, now + x end
    if y == 1 and total + n > mx then fits = 0 end
    st[i] = {total, e}
  end
  if fits == 0 and refused == 0 then refused = i end
  res[#res+1] = fits; res[#res+1] = total; res[#res+1] = e; res[#res+1] = retry
end
if refused == 0 then
  for i = 1, #KEYS do
    local a = 1 + (i - 1) * 5
    local kind, x, y, n = ARGV[a+1], tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
    if kind == 'A' then
    elseif kind == 't' then
      local tokens = st[i][1] - n
      redis.call('HSET', KEYS[i], 't', string.format('%.17g', tokens), 'at', string.format('%d', st[i][2]))
      redis.call('PEXPIRE', KEYS[i], math.ceil((y - tokens) / x * 1000) + 1000)
    else
      local total, e = st[i][1] + n, st[i][2]
      redis.call('HSET', KEYS[i], 'n', string.format('%d', total), 'end', string.format('%d', e))
      redis.call('PEXPIRE', KEYS[i], e - now)
      res[(i - 1) * 4 + 2] = total
    end
  end
end
table.insert(res, 1, refused)
return res`)

// Batch implements [CounterBatch] with one script: one round trip.
func (c *RedisCounters) Batch(ctx context.Context, ops []CounterOp) (int, error) {
	if len(ops) == 0 {
		return -1, nil
	}
	r := (*Redis)(c)
	keys := make([]string, len(ops))
	args := make([]any, 1, 1+5*len(ops))
	args[0] = ms(r.now())
	for i := range ops {
		op := &ops[i]
		if err := checkOp(op); err != nil {
			return 0, err
		}
		if op.Rate != 0 {
			keys[i] = r.key("bucket", op.Key)
			args = append(args, "t", strconv.FormatFloat(op.Rate, 'g', -1, 64), op.Burst, op.N, 0)
		} else {
			bounded := 0
			if op.Bounded {
				bounded = 1
			}
			kind := "a"
			if op.Always {
				kind = "A"
			}
			keys[i] = r.key("window", op.Key)
			args = append(args, kind, op.Window.Milliseconds(), bounded, op.N, op.Max)
		}
	}
	var res []int64
	err := r.do(ctx, UseCounters, func(ctx context.Context) error {
		var err error
		res, err = batchScript.Run(ctx, r.c, keys, args...).Int64Slice()
		return err
	})
	if err != nil {
		return 0, err
	}
	if len(res) != 1+4*len(ops) {
		return 0, fmt.Errorf("state: redis %s: unexpected answer to the batch script", UseCounters)
	}
	for i := range ops {
		op := &ops[i]
		v := res[1+4*i:]
		op.Fits, op.Total, op.RetryAfter = v[0] == 1, v[1], time.Duration(v[3])*time.Millisecond
		op.ResetAt = time.Time{}
		if op.Rate == 0 {
			op.ResetAt = time.UnixMilli(v[2]).UTC()
		}
	}
	return int(res[0]) - 1, nil
}

var _ CounterBatch = (*GuardedCounters)(nil)

// Batch runs the batch of the guarded counters ([SequentialBatch] when
// they do not implement [CounterBatch]); on a store error it applies the policy: open reports
// every op as fitting with nothing counted, closed returns the error.
func (g *GuardedCounters) Batch(ctx context.Context, ops []CounterOp) (int, error) {
	var refused int
	var err error
	if b, ok := g.Counters.(CounterBatch); ok {
		refused, err = b.Batch(ctx, ops)
	} else {
		refused, err = SequentialBatch(ctx, g.Counters, ops)
	}
	if err == nil || errors.Is(err, ErrInvalidCounter) {
		return refused, err
	}
	if g.OnError != nil {
		g.OnError(err)
	}
	if g.Policy == CountersOpen {
		for i := range ops {
			ops[i].Fits, ops[i].Total, ops[i].RetryAfter = true, 0, 0
		}
		return -1, nil
	}
	return 0, err
}

// SequentialBatch runs ops one by one with c's Take and Add, for counters
// without [CounterBatch]: a bounded add reads the total first. It stops
// at the first op that does not fit, but unlike a CounterBatch it is not
// all or nothing (the ops before it stay applied) nor atomic.
func SequentialBatch(ctx context.Context, c Counters, ops []CounterOp) (int, error) {
	for i := range ops {
		op := &ops[i]
		if err := checkOp(op); err != nil {
			return 0, err
		}
		if op.Rate != 0 {
			ok, retry, err := c.Take(ctx, op.Key, op.Rate, op.Burst, int(op.N))
			if err != nil {
				return 0, err
			}
			op.Fits, op.RetryAfter = ok, retry
			if !ok {
				return i, nil
			}
			continue
		}
		n := op.N
		if op.Bounded {
			total, end, err := c.Add(ctx, op.Key, op.Window, 0)
			if err != nil {
				return 0, err
			}
			op.Total, op.ResetAt = total, end
			if op.Fits = total+op.N <= op.Max; !op.Fits {
				return i, nil
			}
			if n == 0 {
				continue
			}
		}
		total, end, err := c.Add(ctx, op.Key, op.Window, n)
		if err != nil {
			return 0, err
		}
		op.Fits, op.Total, op.ResetAt = true, total, end
	}
	return -1, nil
}
