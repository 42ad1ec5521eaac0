package state_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamgate/iamgate/state"
)

// A sign-out is recorded until no copy of the session's cookie can be
// valid; every use of a browser session asks the record first.
func ExampleMemory() {
	now := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	record := state.NewMemory(state.MemoryConfig{Now: func() time.Time { return now }})
	ctx := context.Background()

	sess := state.Session{ID: "q3lq2tswdcfxqkfzqmm6ew3bda", Issuer: "corp", Subject: "id-alice", IssuedAt: now.Add(-2 * time.Hour)}
	scope, err := record.Add(ctx, sess, now.Add(8*time.Hour))
	fmt.Println(scope, err)

	out, err := record.Contains(ctx, sess)
	fmt.Println(out, err)
	other := state.Session{ID: "7wxbrmyq5m4f3yxs3pdzaj2wqe", Issuer: "corp", Subject: "id-alice", IssuedAt: now}
	out, err = record.Contains(ctx, other)
	fmt.Println(out, err)
	// Output:
	// session <nil>
	// true <nil>
	// false <nil>
}

// A token bucket of 3 requests, refilled at one per second: the fourth
// request in the same instant waits a second.
func ExampleCounterMemory() {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c := state.NewCounterMemory(func() time.Time { return now })
	ctx := context.Background()
	for range 4 {
		ok, retry, _ := c.Take(ctx, "agent:r-42", 1, 3, 1)
		fmt.Println(ok, retry)
	}
	total, reset, _ := c.Add(ctx, "bytes:r-42", time.Hour, 5<<20)
	fmt.Println(total, reset.Format(time.TimeOnly))
	// Output:
	// true 0s
	// true 0s
	// true 0s
	// false 1s
	// 5242880 10:00:00
}

// A watcher serves the rules from a local copy; a rule added through it
// applies at once.
func ExampleRevocationWatcher() {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	w := state.NewRevocationWatcher(state.NewRevocationMemory(clock), state.WatcherConfig{Now: clock})
	ctx := context.Background()
	_ = w.Refresh(ctx)
	r, err := w.Add(ctx, state.Revocation{Claim: "agent_run", ClaimValue: "r-42", IssuedBefore: now,
		Reason: "runaway agent", AddedBy: "corp:ops-1", Expires: now.Add(24 * time.Hour)})
	fmt.Println(err)
	set, err := w.Rules()
	fmt.Println(len(set.Rules), set.Rules[0].ID == r.ID, set.Rules[0].ClaimValue, err)
	// Output:
	// <nil>
	// 1 true r-42 <nil>
}
