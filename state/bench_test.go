package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

// The cost per request of the shared state, against a real redis-server
// on loopback (run with -bench . -run '^$'; -short skips the Redis ones).
// A request made with a session reads the run-time revocations from the
// watcher's local copy; a browser request asks Redis whether its session
// was signed out (one EXISTS); a rate-limited request will take from a
// token bucket (one script).

func BenchmarkRevocationCheck(b *testing.B) {
	for _, rules := range []int{0, 100} {
		b.Run(fmt.Sprintf("rules=%d", rules), func(b *testing.B) {
			ctx := context.Background()
			mem := state.NewRevocationMemory(nil)
			w := state.NewRevocationWatcher(mem, state.WatcherConfig{})
			now := time.Now()
			if err := w.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			for i := range rules {
				if _, err := w.Add(ctx, rule(now, fmt.Sprint("s-", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Rules(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchRedis(b *testing.B) *state.Redis {
	rd := testenv.StartRedis(b)
	r, err := state.NewRedis(state.RedisConfig{URL: rd.URL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

func BenchmarkRedisSignedOutContains(b *testing.B) {
	r := benchRedis(b)
	ctx := context.Background()
	s := session("q3lq2tswdcfxqkfzqmm6ew3bda", "alice", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.SignedOut().Contains(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisVersionPoll(b *testing.B) {
	r := benchRedis(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Revocations().Version(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisTake(b *testing.B) {
	r := benchRedis(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Counters().Take(ctx, "agent:r-1", 1e9, 1_000_000, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisTakeParallel(b *testing.B) {
	r := benchRedis(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := r.Counters().Take(ctx, "agent:r-1", 1e9, 1_000_000, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRedisWindowAdd(b *testing.B) {
	r := benchRedis(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Counters().Add(ctx, "bytes:r-1", time.Minute, 1024); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	c := state.NewCounterMemory(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Take(ctx, "agent:r-1", 1e9, 1_000_000, 1); err != nil {
			b.Fatal(err)
		}
	}
}
