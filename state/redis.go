package state

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of a [RedisConfig].
const (
	DefaultKeyPrefix    = "iamgate:"
	DefaultDialTimeout  = 2 * time.Second
	DefaultRedisTimeout = 200 * time.Millisecond
	DefaultPoolSize     = 32
)

// Uses of the shared state, as reported to RedisConfig.OnError.
const (
	UseSignedOut   = "signed_out"
	UseFailures    = "failures"
	UseRevocations = "revocations"
	UseCounters    = "counters"
)

// RedisConfig configures a [Redis]. Only plain commands and Lua scripts
// that Redis 6.2 and Valkey support are used.
type RedisConfig struct {
	// URL is redis://host:port/db or rediss://host:port/db (TLS).
	// Required.
	URL      string
	Username string // "" : the URL's, or none
	Password string // "" : the URL's, or none
	// TLS configures a rediss:// connection (root CAs, server name); nil:
	// the system roots. Ignored for redis://.
	TLS *tls.Config
	// KeyPrefix starts every key; default DefaultKeyPrefix. Replicas
	// that share state use the same prefix.
	KeyPrefix   string
	DialTimeout time.Duration // default DefaultDialTimeout
	// Timeout bounds each command, round trip included; default
	// DefaultRedisTimeout.
	Timeout  time.Duration
	PoolSize int // connections; default DefaultPoolSize
	// Now is the clock of time-based state (token buckets, windows, rule
	// expiry); nil: time.Now. Replicas' clocks are assumed to agree
	// within a small fraction of the windows counted.
	Now func() time.Time
	// OnError is called with the use (UseSignedOut…) of each failed
	// command, for a metric; nil: ignored.
	OnError func(use string, err error)
}

// Redis is the state shared by replicas in a Redis (or Valkey) server.
// Its parts implement the interfaces of this package: [Redis.SignedOut],
// [Redis.Failures], [Redis.Revocations] and [Redis.Counters].
type Redis struct {
	c       *redis.Client
	prefix  string
	timeout time.Duration
	now     func() time.Time
	onError func(string, error)
	up      atomic.Bool
}

// NewRedis returns a client of cfg.URL. It does no I/O: use Ping to check
// the server.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("state: redis url: %w", err)
	}
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	if opts.TLSConfig != nil && cfg.TLS != nil {
		t := cfg.TLS.Clone()
		if t.ServerName == "" {
			t.ServerName = opts.TLSConfig.ServerName
		}
		if t.MinVersion == 0 {
			t.MinVersion = tls.VersionTLS12
		}
		opts.TLSConfig = t
	}
	r := &Redis{prefix: cfg.KeyPrefix, timeout: cfg.Timeout, now: cfg.Now, onError: cfg.OnError}
	if r.prefix == "" {
		r.prefix = DefaultKeyPrefix
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	opts.DialTimeout = cfg.DialTimeout
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	opts.ReadTimeout, opts.WriteTimeout = r.timeout, r.timeout
	opts.ContextTimeoutEnabled = true
	opts.PoolSize = cfg.PoolSize
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	// A command is not retried, nor a dial: the time bound is the
	// caller's, and the next command dials again.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	// No CLIENT SETINFO on connect: older servers and some proxies refuse
	// it.
	opts.DisableIdentity = true
	opts.Protocol = 2
	quietLibrary.Do(func() { redis.SetLogger(discardLogger{}) })
	r.c = redis.NewClient(opts)
	return r, nil
}

// quietLibrary silences the client library's own log (process-wide, as
// the library has no other way): each failure is returned to the caller,
// counted by OnError and logged there once.
var quietLibrary sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// Close closes the connections.
func (r *Redis) Close() error { return r.c.Close() }

// KeyPrefix returns the prefix of r's keys.
func (r *Redis) KeyPrefix() string { return r.prefix }

// Up reports whether the latest command reached the server.
func (r *Redis) Up() bool { return r.up.Load() }

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.do(ctx, "ping", func(ctx context.Context) error { return r.c.Ping(ctx).Err() })
}

// do runs f with the per-command time bound and records the outcome.
func (r *Redis) do(ctx context.Context, use string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := f(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		r.up.Store(false)
		err = fmt.Errorf("state: redis %s: %w", use, err)
		if r.onError != nil {
			r.onError(use, err)
		}
		return err
	}
	r.up.Store(true)
	return nil
}

func (r *Redis) key(parts ...string) string {
	k := r.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// SignedOut returns the record of signed-out sessions in r. With Redis
// every sign-out is recorded for its session alone (ScopeSession): the
// server's memory, not a count of entries, bounds it.
func (r *Redis) SignedOut() *RedisSignedOut { return (*RedisSignedOut)(r) }

// RedisSignedOut is [SignedOut] in Redis: one key per session, expiring
// when the sign-out may be forgotten.
type RedisSignedOut Redis

var _ SignedOut = (*RedisSignedOut)(nil)

// signOutScript sets the key to the later of its expiry times.
var signOutScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1`)

// Add records s until until.
func (s *RedisSignedOut) Add(ctx context.Context, sess Session, until time.Time) (Scope, error) {
	if sess.ID == "" {
		return "", ErrNoSessionID
	}
	r := (*Redis)(s)
	ttl := until.Sub(r.now()).Milliseconds()
	if ttl <= 0 {
		return ScopeSession, nil
	}
	err := r.do(ctx, UseSignedOut, func(ctx context.Context) error {
		return signOutScript.Run(ctx, r.c, []string{r.key("signedout", sess.ID)}, ms(until), ttl).Err()
	})
	if err != nil {
		return "", err
	}
	return ScopeSession, nil
}

// Contains reports whether s was signed out: one EXISTS.
func (s *RedisSignedOut) Contains(ctx context.Context, sess Session) (bool, error) {
	r := (*Redis)(s)
	var n int64
	err := r.do(ctx, UseSignedOut, func(ctx context.Context) error {
		var err error
		n, err = r.c.Exists(ctx, r.key("signedout", sess.ID)).Result()
		return err
	})
	return n > 0, err
}

// Failures returns the failed sign-in counts in r.
func (r *Redis) Failures() *RedisFailures { return (*RedisFailures)(r) }

// RedisFailures is [Failures] in Redis: one hash per key, expiring a
// window after its latest failure.
type RedisFailures Redis

var _ Failures = (*RedisFailures)(nil)

var failureScript = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n`)

// Get returns key's count.
func (f *RedisFailures) Get(ctx context.Context, key string) (FailureCount, error) {
	if key == "" {
		return FailureCount{}, ErrNoKey
	}
	r := (*Redis)(f)
	var v []any
	err := r.do(ctx, UseFailures, func(ctx context.Context) error {
		var err error
		v, err = r.c.HMGet(ctx, r.key("failures", key), "n", "last").Result()
		return err
	})
	if err != nil || len(v) != 2 || v[0] == nil {
		return FailureCount{}, err
	}
	n, _ := strconv.Atoi(fmt.Sprint(v[0]))
	last, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
	return FailureCount{N: n, Last: time.UnixMilli(last).UTC()}, nil
}

// Add counts one failure of key now.
func (f *RedisFailures) Add(ctx context.Context, key string, window time.Duration) (FailureCount, error) {
	if key == "" {
		return FailureCount{}, ErrNoKey
	}
	r := (*Redis)(f)
	now := r.now()
	var n int64
	err := r.do(ctx, UseFailures, func(ctx context.Context) error {
		var err error
		n, err = failureScript.Run(ctx, r.c, []string{r.key("failures", key)}, ms(now), max(window.Milliseconds(), 1)).Int64()
		return err
	})
	if err != nil {
		return FailureCount{}, err
	}
	return FailureCount{N: int(n), Last: time.UnixMilli(ms(now)).UTC()}, nil
}

// Reset forgets key's failures.
func (f *RedisFailures) Reset(ctx context.Context, key string) error {
	if key == "" {
		return ErrNoKey
	}
	r := (*Redis)(f)
	return r.do(ctx, UseFailures, func(ctx context.Context) error { return r.c.Del(ctx, r.key("failures", key)).Err() })
}

// Revocations returns the run-time revocations in r.
func (r *Redis) Revocations() *RedisRevocations { return (*RedisRevocations)(r) }

// RedisRevocations is [Revocations] in Redis: a hash of rules (JSON) by
// ID, a sorted set of their expiry times, and a hash with the epoch and
// version.
type RedisRevocations Redis

var _ Revocations = (*RedisRevocations)(nil)

func (v *RedisRevocations) keys() []string {
	r := (*Redis)(v)
	return []string{r.key("revocations", "rules"), r.key("revocations", "expires"), r.key("revocations", "meta")}
}

// KEYS: rules, expires, meta. ARGV: now_ms, epoch, max, then id, json,
// expires_ms triples. Expired rules are dropped first; returns the new
// version, or -1 when the list is full. With restore=1 (ARGV[4]), rules
// already present or expired are skipped and there is no bound.
var revocationAddScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[1], id) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local restore = ARGV[4] == '1'
if not restore and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
for i = 5, #ARGV, 3 do
  local exp = tonumber(ARGV[i+2])
  if not restore or (exp > now and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
    redis.call('ZADD', KEYS[2], exp, ARGV[i])
  end
end
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[2])
return redis.call('HINCRBY', KEYS[3], 'version', 1)`)

// KEYS: rules, meta. Returns epoch, version and the rules' JSON, read at
// once.
var revocationListScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'epoch', 'version')
return {m[1] or '', m[2] or '0', redis.call('HVALS', KEYS[1])}`)

// Add stores rule.
func (v *RedisRevocations) Add(ctx context.Context, rule Revocation) (Revocation, error) {
	r := (*Redis)(v)
	now := r.now()
	if err := rule.Validate(now); err != nil {
		return Revocation{}, err
	}
	rule.ID, rule.AddedAt = newRevocationID(), now.UTC()
	b, err := json.Marshal(rule)
	if err != nil {
		return Revocation{}, err
	}
	var ver int64
	err = r.do(ctx, UseRevocations, func(ctx context.Context) error {
		var err error
		ver, err = revocationAddScript.Run(ctx, r.c, v.keys(), ms(now), newEpoch(), MaxRevocations, "0",
			rule.ID, string(b), ms(rule.Expires)).Int64()
		return err
	})
	if err != nil {
		return Revocation{}, err
	}
	if ver < 0 {
		return Revocation{}, ErrTooManyRevocations
	}
	return rule, nil
}

// Restore stores the rules that are missing.
func (v *RedisRevocations) Restore(ctx context.Context, rules []Revocation) error {
	r := (*Redis)(v)
	args := []any{ms(r.now()), newEpoch(), MaxRevocations, "1"}
	for _, rule := range rules {
		b, err := json.Marshal(rule)
		if err != nil {
			return err
		}
		args = append(args, rule.ID, string(b), ms(rule.Expires))
	}
	return r.do(ctx, UseRevocations, func(ctx context.Context) error {
		return revocationAddScript.Run(ctx, r.c, v.keys(), args...).Err()
	})
}

// Version returns the epoch and version: one HMGET.
func (v *RedisRevocations) Version(ctx context.Context) (string, int64, error) {
	r := (*Redis)(v)
	var m []any
	err := r.do(ctx, UseRevocations, func(ctx context.Context) error {
		var err error
		m, err = r.c.HMGet(ctx, v.keys()[2], "epoch", "version").Result()
		return err
	})
	if err != nil || len(m) != 2 || m[0] == nil {
		return "", 0, err
	}
	ver, _ := strconv.ParseInt(fmt.Sprint(m[1]), 10, 64)
	return fmt.Sprint(m[0]), ver, nil
}

// List returns the unexpired rules.
func (v *RedisRevocations) List(ctx context.Context) (RevocationSet, error) {
	r := (*Redis)(v)
	keys := v.keys()
	var res []any
	err := r.do(ctx, UseRevocations, func(ctx context.Context) error {
		var err error
		res, err = revocationListScript.Run(ctx, r.c, []string{keys[0], keys[2]}).Slice()
		return err
	})
	if err != nil {
		return RevocationSet{}, err
	}
	if len(res) != 3 {
		return RevocationSet{}, fmt.Errorf("state: redis %s: unexpected answer to the list script", UseRevocations)
	}
	set := RevocationSet{Epoch: fmt.Sprint(res[0])}
	set.Version, _ = strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
	vals, _ := res[2].([]any)
	now := r.now()
	for _, val := range vals {
		var rule Revocation
		if err := json.Unmarshal([]byte(fmt.Sprint(val)), &rule); err != nil {
			return RevocationSet{}, fmt.Errorf("state: redis %s: a stored rule does not decode: %w", UseRevocations, err)
		}
		if rule.Expires.After(now) {
			set.Rules = append(set.Rules, rule)
		}
	}
	sortRules(set.Rules)
	return set, nil
}

// Counters returns the rate-limit counters in r.
func (r *Redis) Counters() *RedisCounters { return (*RedisCounters)(r) }

// RedisCounters is [Counters] in Redis: one hash per bucket or window,
// each updated by one script (one round trip).
type RedisCounters Redis

var _ Counters = (*RedisCounters)(nil)

// KEYS: bucket. ARGV: rate (tokens/s), burst, n, now_ms. Returns
// {allowed, retry_ms}; retry_ms -1: never.
var takeScript = redis.NewScript(`
local rate, burst, n, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(v[1]), tonumber(v[2])
if tokens == nil or at == nil then tokens, at = burst, now end
if now > at then
  tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
  at = now
end
if n > burst then return {0, -1} end
if tokens < n then return {0, math.ceil((n - tokens) / rate * 1000)} end
tokens = tokens - n
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'at', string.format('%d', at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {1, 0}`)

// KEYS: window. ARGV: window_ms, n, now_ms. Returns {total, end_ms}.
var windowScript = redis.NewScript(`
local win, n, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'n', 'end')
local total, e = tonumber(v[1]), tonumber(v[2])
if total == nil or e == nil or now >= e then total, e = 0, now + win end
total = total + n
redis.call('HSET', KEYS[1], 'n', string.format('%d', total), 'end', string.format('%d', e))
redis.call('PEXPIRE', KEYS[1], e - now)
return {total, e}`)

// Take implements the token bucket.
func (c *RedisCounters) Take(ctx context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	if err := checkTake(key, rate, burst, n); err != nil {
		return false, 0, err
	}
	r := (*Redis)(c)
	var res []int64
	err := r.do(ctx, UseCounters, func(ctx context.Context) error {
		var err error
		res, err = takeScript.Run(ctx, r.c, []string{r.key("bucket", key)},
			strconv.FormatFloat(rate, 'g', -1, 64), burst, n, ms(r.now())).Int64Slice()
		return err
	})
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("state: redis %s: unexpected answer to the bucket script", UseCounters)
	}
	if res[1] < 0 {
		res[1] = 0
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// Add implements the windowed counter.
func (c *RedisCounters) Add(ctx context.Context, key string, window time.Duration, n int64) (int64, time.Time, error) {
	if err := checkAdd(key, window, n); err != nil {
		return 0, time.Time{}, err
	}
	r := (*Redis)(c)
	var res []int64
	err := r.do(ctx, UseCounters, func(ctx context.Context) error {
		var err error
		res, err = windowScript.Run(ctx, r.c, []string{r.key("window", key)}, window.Milliseconds(), n, ms(r.now())).Int64Slice()
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("state: redis %s: unexpected answer to the window script", UseCounters)
	}
	return res[0], time.UnixMilli(res[1]).UTC(), nil
}
