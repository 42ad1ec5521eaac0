package identity

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// tokenCache holds verified tokens keyed by the SHA-256 of the raw token.
// It is sharded to keep lock contention low; each shard evicts with the
// CLOCK algorithm (an LRU approximation whose hits only set a flag, so a hit
// takes a read lock and allocates nothing). Expired entries are never
// returned and are the first to be evicted.
type tokenCache struct {
	shards []cacheShard
	mask   uint64
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[[32]byte]*cacheEntry
	ring []*cacheEntry
	hand int
	cap  int
}

type cacheEntry struct {
	key      [32]byte
	tok      *Token
	deadline int64 // unix nanoseconds; the entry is valid while now < deadline
	ref      atomic.Bool
}

// newTokenCache returns a cache for about size entries, or nil when size
// is not positive (a nil cache stores nothing).
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n < 16 && size/(n*2) >= 64 {
		n *= 2
	}
	c := &tokenCache{shards: make([]cacheShard, n), mask: uint64(n - 1)}
	per := (size + n - 1) / n
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
		c.shards[i].cap = per
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint64(key[:8])&c.mask]
}

// get returns the token cached under key if it is still valid at now
// (unix nanoseconds).
func (c *tokenCache) get(key *[32]byte, now int64) *Token {
	if c == nil {
		return nil
	}
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[*key]
	if e == nil || now >= e.deadline {
		s.mu.RUnlock()
		return nil
	}
	tok := e.tok
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	s.mu.RUnlock()
	return tok
}

// put stores tok until deadline (unix nanoseconds).
func (c *tokenCache) put(key *[32]byte, tok *Token, deadline, now int64) {
	if c == nil || deadline <= now {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[*key]; e != nil {
		e.tok, e.deadline = tok, deadline
		return
	}
	e := &cacheEntry{key: *key, tok: tok, deadline: deadline}
	if len(s.ring) < s.cap {
		s.ring = append(s.ring, e)
		s.m[*key] = e
		return
	}
	// CLOCK sweep: evict the first entry that is expired or was not used
	// since the hand last passed it. Two rounds always find one.
	for range 2 * len(s.ring) {
		old := s.ring[s.hand]
		if now < old.deadline && old.ref.Swap(false) {
			s.hand = (s.hand + 1) % len(s.ring)
			continue
		}
		break
	}
	old := s.ring[s.hand]
	delete(s.m, old.key)
	s.ring[s.hand] = e
	s.m[*key] = e
	s.hand = (s.hand + 1) % len(s.ring)
}

// len returns the number of entries, expired ones included.
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
