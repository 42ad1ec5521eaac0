package identity

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

func TestTokenCacheEviction(t *testing.T) {
	key := func(i int) *[32]byte {
		k := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		return &k
	}
	const size, now, later = 8, 100, 1000
	c := newTokenCache(size)
	toks := make([]*Token, 3*size)
	for i := range toks {
		toks[i] = &Token{Subject: fmt.Sprint(i)}
	}
	for i := range size {
		c.put(key(i), toks[i], later, now)
	}
	// Keep 0..3 hot; inserting more must evict the cold ones first.
	for i := range 4 {
		if c.get(key(i), now) != toks[i] {
			t.Fatalf("entry %d missing", i)
		}
	}
	for i := size; i < size+4; i++ {
		c.put(key(i), toks[i], later, now)
	}
	if n := c.len(); n > size {
		t.Errorf("cache holds %d entries, bound is %d", n, size)
	}
	for i := range 4 {
		if c.get(key(i), now) != toks[i] {
			t.Errorf("recently used entry %d was evicted", i)
		}
	}
	// Expired entries are never returned and are evicted first.
	c.put(key(100), toks[0], now+1, now)
	if c.get(key(100), now+1) != nil {
		t.Error("expired entry returned")
	}
	if c.get(key(100), now) == nil {
		t.Error("fresh entry not returned")
	}
	// Already-expired tokens are not stored.
	c.put(key(101), toks[0], now, now)
	if c.get(key(101), now-1) != nil {
		t.Error("token stored past its deadline")
	}
	var nilCache *tokenCache
	nilCache.put(key(1), toks[1], later, now)
	if nilCache.get(key(1), now) != nil || nilCache.len() != 0 {
		t.Error("disabled cache stored a token")
	}
}

func TestTokenCacheSharding(t *testing.T) {
	c := newTokenCache(DefaultCacheSize)
	if len(c.shards) != 16 {
		t.Errorf("shards = %d, want 16", len(c.shards))
	}
	total := 0
	for i := range c.shards {
		total += c.shards[i].cap
	}
	if total < DefaultCacheSize || total > DefaultCacheSize+16 {
		t.Errorf("total capacity %d, want about %d", total, DefaultCacheSize)
	}
	for i := range 3 * DefaultCacheSize {
		k := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		c.put(&k, &Token{}, 10, 1)
	}
	if n := c.len(); n > total {
		t.Errorf("cache holds %d entries, bound is %d", n, total)
	}
}
