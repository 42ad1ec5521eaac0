package limits_test

import (
	"context"
	"testing"
	"time"

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
// loopback: one round trip for the admission, one when the download's
// length is known.
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
	for _, bc := range []struct {
		name string
		op   limits.Op
	}{{"rate+budgets", limits.OpDownload}, {"rate", limits.OpOther}} {
		b.Run(bc.name, func(b *testing.B) {
			l := limits.New(r.Counters(), limits.Config{})
			p := &limits.Policy{Role: "agents", Kind: "agent",
				Rules: &limits.Rules{RequestsPerSecond: 1e9, Burst: 1e6, Window: time.Hour, BytesDownloaded: 1 << 60,
					ObjectsRead: 1 << 60, Per: []limits.Scope{limits.PerSession}},
				Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 10, RevokeAfter: 20}}
			k := l.Keys(p, limits.Subject{Session: "sess:" + bc.name})
			ctx := context.Background()
			var tk limits.Ticket
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
		})
	}
}
