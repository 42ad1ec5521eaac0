package state

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Grants returns the record of access requests and grants in r.
func (r *Redis) Grants() *RedisGrants { return (*RedisGrants)(r) }

// RedisGrants is [Grants] in Redis: a hash of the records (ID → JSON), a
// sorted set of their IDs by the time they may be forgotten, and a hash
// holding the epoch and version. Every change is one script that also
// moves the version; a change of a record is a compare-and-set of its
// JSON, computed here, so the transitions are the same code as in memory.
type RedisGrants Redis

var _ Grants = (*RedisGrants)(nil)

func (g *RedisGrants) keys() []string {
	r := (*Redis)(g)
	return []string{r.key("grants", "records"), r.key("grants", "forget"), r.key("grants", "meta")}
}

// requestScript forgets the records whose time has come, refuses a new
// one past ARGV[5] records, stores it and moves the version.
var requestScript = redis.NewScript(`
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(old) do redis.call('HDEL', KEYS[1], id) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1]) end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'version', 1)
return 1`)

// casScript replaces the record ARGV[1] if it still is ARGV[2].
var casScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'version', 1)
return 1`)

// Request stores r as pending: a List to count the requester's pending
// requests (so the per-person bound may be passed by requests racing),
// then one script.
func (g *RedisGrants) Request(ctx context.Context, req AccessRequest) (AccessRequest, error) {
	if err := req.Validate(); err != nil {
		return AccessRequest{}, err
	}
	set, err := g.List(ctx)
	if err != nil {
		return AccessRequest{}, err
	}
	pending := 0
	for _, x := range set.Requests {
		if x.Status == GrantPending && x.Requester.Same(req.Requester) {
			pending++
		}
	}
	if pending >= MaxPendingPerPerson {
		return AccessRequest{}, ErrTooManyRequests
	}
	r := (*Redis)(g)
	now := r.now()
	req = newRequest(req, now)
	b, err := json.Marshal(&req)
	if err != nil {
		return AccessRequest{}, err
	}
	var stored int64
	err = r.do(ctx, UseGrants, func(ctx context.Context) error {
		var err error
		stored, err = requestScript.Run(ctx, r.c, g.keys(), ms(now), req.ID, b, ms(req.Forget), MaxGrantRecords, newEpoch()).Int64()
		return err
	})
	if err != nil {
		return AccessRequest{}, err
	}
	if stored == 0 {
		return AccessRequest{}, ErrTooManyRequests
	}
	return req, nil
}

// get returns a record and its stored JSON.
func (g *RedisGrants) get(ctx context.Context, id string) (AccessRequest, string, error) {
	r := (*Redis)(g)
	var raw string
	err := r.do(ctx, UseGrants, func(ctx context.Context) error {
		var err error
		raw, err = r.c.HGet(ctx, g.keys()[0], id).Result()
		return err
	})
	if err != nil {
		return AccessRequest{}, "", err
	}
	var a AccessRequest
	if raw == "" || json.Unmarshal([]byte(raw), &a) != nil || a.ID != id || !r.now().Before(a.Forget) {
		return AccessRequest{}, "", ErrRequestNotFound
	}
	return a, raw, nil
}

// change applies f to the record id with a compare-and-set, retrying a
// few times when another replica changed it meanwhile.
func (g *RedisGrants) change(ctx context.Context, id string, f func(AccessRequest, time.Time) (AccessRequest, bool, error)) (AccessRequest, bool, error) {
	r := (*Redis)(g)
	for range 5 {
		cur, raw, err := g.get(ctx, id)
		if err != nil {
			return AccessRequest{}, false, err
		}
		n, changed, err := f(cur, r.now())
		if err != nil || !changed {
			return n, false, err
		}
		b, err := json.Marshal(&n)
		if err != nil {
			return AccessRequest{}, false, err
		}
		var ok int64
		err = r.do(ctx, UseGrants, func(ctx context.Context) error {
			var err error
			ok, err = casScript.Run(ctx, r.c, g.keys(), id, raw, b, ms(n.Forget), newEpoch()).Int64()
			return err
		})
		if err != nil {
			return AccessRequest{}, false, err
		}
		if ok == 1 {
			return n, true, nil
		}
	}
	return AccessRequest{}, false, ErrConflict
}

// Decide approves or rejects a pending request.
func (g *RedisGrants) Decide(ctx context.Context, id string, approve bool, by Person) (AccessRequest, error) {
	r, _, err := g.change(ctx, id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, err := decide(r, approve, by, now)
		return r, err == nil, err
	})
	return r, err
}

// Revoke ends a grant in force.
func (g *RedisGrants) Revoke(ctx context.Context, id string, by Person) (AccessRequest, error) {
	r, _, err := g.change(ctx, id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, err := revoke(r, by, now)
		return r, err == nil, err
	})
	return r, err
}

// Expire marks a grant past its end as expired; of replicas racing, the
// one whose compare-and-set succeeds reports true.
func (g *RedisGrants) Expire(ctx context.Context, id string) (AccessRequest, bool, error) {
	return g.change(ctx, id, func(r AccessRequest, now time.Time) (AccessRequest, bool, error) {
		r, ok := expire(r, now)
		return r, ok, nil
	})
}

// Get returns one record: one HGET.
func (g *RedisGrants) Get(ctx context.Context, id string) (AccessRequest, error) {
	a, _, err := g.get(ctx, id)
	return a, err
}

// Version returns the epoch and version: one HMGET.
func (g *RedisGrants) Version(ctx context.Context) (string, int64, error) {
	r := (*Redis)(g)
	var vals []any
	err := r.do(ctx, UseGrants, func(ctx context.Context) error {
		var err error
		vals, err = r.c.HMGet(ctx, g.keys()[2], "epoch", "version").Result()
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return metaOf(vals)
}

func metaOf(vals []any) (string, int64, error) {
	epoch, _ := vals[0].(string)
	var v int64
	if s, ok := vals[1].(string); ok {
		var err error
		if v, err = strconv.ParseInt(s, 10, 64); err != nil {
			return "", 0, errors.New("state: redis grants: malformed version")
		}
	}
	return epoch, v, nil
}

// List returns the records not yet forgotten with their version: one
// transaction (HMGET, HGETALL).
func (g *RedisGrants) List(ctx context.Context) (GrantSet, error) {
	r := (*Redis)(g)
	keys := g.keys()
	var meta *redis.SliceCmd
	var all *redis.MapStringStringCmd
	err := r.do(ctx, UseGrants, func(ctx context.Context) error {
		_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			meta = p.HMGet(ctx, keys[2], "epoch", "version")
			all = p.HGetAll(ctx, keys[0])
			return nil
		})
		return err
	})
	if err != nil {
		return GrantSet{}, err
	}
	var set GrantSet
	if set.Epoch, set.Version, err = metaOf(meta.Val()); err != nil {
		return GrantSet{}, err
	}
	now := r.now()
	for id, raw := range all.Val() {
		var a AccessRequest
		if json.Unmarshal([]byte(raw), &a) != nil || a.ID != id || !now.Before(a.Forget) {
			continue
		}
		set.Requests = append(set.Requests, a)
	}
	sortRequests(set.Requests)
	return set, nil
}
