package limits_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

// BenchmarkAdmit is the cost of limits per request in memory: the rate
// limit, the object and byte budgets of a download (admission and the
// known-length check) and the kill switch's deny check.
func BenchmarkAdmit(b *testing.B) {
	l := limits.New(state.NewCounterMemory(nil), limits.Config{})
	p := &limits.Policy{Role: "agents", Kind: "agent",
		Rules: &limits.Rules{RequestsPerSecond: 1e9, Burst: 1e6, Window: time.Hour, BytesDownloaded: 1 << 60,
			ObjectsRead: 1 << 60, ConcurrentRequests: 1000, Per: []limits.Scope{limits.PerSession}},
		Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 10, RevokeAfter: 20}}
	k := l.Keys(p, limits.Subject{Session: "sess:abc", Subject: "agent"})
	ctx := context.Background()
	var tk limits.Ticket
	b.ReportAllocs()
	for b.Loop() {
		if v := l.Admit(ctx, k, limits.OpDownload, -1, &tk); !v.Allowed() {
			b.Fatal(v)
		}
		if v := l.Download(ctx, &tk, 1024); !v.Allowed() {
			b.Fatal(v)
		}
		tk.Release()
	}
}

// BenchmarkAdmitRateOnly is a rate limit alone.
func BenchmarkAdmitRateOnly(b *testing.B) {
	l := limits.New(state.NewCounterMemory(nil), limits.Config{})
	p := &limits.Policy{Role: "agents", Rules: &limits.Rules{RequestsPerSecond: 1e9, Burst: 1e6, Per: []limits.Scope{limits.PerSession}}}
	k := l.Keys(p, limits.Subject{Session: "sess:abc"})
	ctx := context.Background()
	var tk limits.Ticket
	b.ReportAllocs()
	for b.Loop() {
		if v := l.Admit(ctx, k, limits.OpOther, -1, &tk); !v.Allowed() {
			b.Fatal(v)
		}
		tk.Release()
	}
}

// BenchmarkAdmitRedis is the same against a real redis-server on
// loopback, as iamgate runs it with shared state (counts carried by the
// next admission): "calls/op" is the scripts Redis ran per request, read
// from its own command statistics.
func BenchmarkAdmitRedis(b *testing.B) {
	if testing.Short() {
		b.Skip("needs redis-server")
	}
	rd := testenv.StartRedis(b)
	r, err := state.NewRedis(state.RedisConfig{URL: rd.URL, Password: rd.Password})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	cli := redis.NewClient(&redis.Options{Addr: rd.Addr, Password: rd.Password})
	b.Cleanup(func() { cli.Close() })
	for _, bc := range []struct {
		name  string
		op    limits.Op
		carry time.Duration
	}{
		{"rate+budgets", limits.OpDownload, 25 * time.Millisecond},
		{"rate+budgets/counted-at-once", limits.OpDownload, 0},
		{"rate", limits.OpOther, 25 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := limits.New(r.Counters(), limits.Config{Defer: bc.carry})
			p := &limits.Policy{Role: "agents", Kind: "agent",
				Rules: &limits.Rules{RequestsPerSecond: 1e9, Burst: 1e6, Window: time.Hour, BytesDownloaded: 1 << 60,
					ObjectsRead: 1 << 60, Per: []limits.Scope{limits.PerSession}},
				Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 10, RevokeAfter: 20}}
			k := l.Keys(p, limits.Subject{Session: "sess:" + bc.name})
			ctx := context.Background()
			var tk limits.Ticket
			before := scriptCalls(b, cli)
			b.ReportAllocs()
			for b.Loop() {
				if v := l.Admit(ctx, k, bc.op, -1, &tk); !v.Allowed() {
					b.Fatal(v)
				}
				if bc.op == limits.OpDownload {
					if v := l.Download(ctx, &tk, 1024); !v.Allowed() {
						b.Fatal(v)
					}
				}
				tk.Release()
			}
			b.StopTimer()
			if err := l.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(scriptCalls(b, cli)-before)/float64(b.N), "calls/op")
		})
	}
}

// scriptCalls is how many scripts Redis has run (EVAL and EVALSHA, and
// the EVALSHA misses that go-redis follows with an EVAL).
func scriptCalls(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		for _, cmd := range []string{"cmdstat_evalsha:", "cmdstat_eval:"} {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), cmd); ok {
				for _, f := range strings.Split(rest, ",") {
					if v, ok := strings.CutPrefix(f, "calls="); ok {
						x, _ := strconv.ParseInt(v, 10, 64)
						n += x
					}
				}
			}
		}
	}
	return n
}
