package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// BenchmarkRuntimeRevocationCheck is what a request made with a session
// pays for the run-time revocations: the local copy (no Redis call) and
// matching the session against every rule.
func BenchmarkRuntimeRevocationCheck(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			ctx := context.Background()
			w := state.NewRevocationWatcher(state.NewRevocationMemory(nil), state.WatcherConfig{})
			if err := w.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for i := range n {
				if _, err := w.Add(ctx, state.Revocation{Subject: fmt.Sprint("someone-", i), IssuedBefore: now,
					Reason: "bench", Expires: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			src := &runtimeRevocations{w: w}
			s := identity.NewSession()
			s.Issuer, s.Subject, s.Roles, s.IssuedAt = "corp", "alice", []string{"reader"}, now.Add(-time.Minute)
			s.Claims = map[string]any{"agent_run": "r-1"}
			b.ReportAllocs()
			for b.Loop() {
				revoked, _, err := identity.CheckRevoked(s, nil, src)
				if err != nil || revoked {
					b.Fatal(revoked, err)
				}
			}
		})
	}
}
