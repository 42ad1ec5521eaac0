package identity

import (
	"context"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
)

func BenchmarkVerifyCached(b *testing.B) {
	iss := devissuer.StartTest(b)
	v := newVerifier(b, iss)
	raw := mint(b, iss, baseClaims(map[string]any{"groups": []string{"a", "b"}}), time.Hour)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	iss := devissuer.StartTest(b)
	v := newVerifier(b, iss)
	raw := mint(b, iss, baseClaims(nil), time.Hour)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	iss := devissuer.StartTest(b)
	v := newVerifier(b, iss, func(c *Config) { c.CacheSize = -1 })
	raw := mint(b, iss, baseClaims(map[string]any{"groups": []string{"a", "b"}}), time.Hour)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
