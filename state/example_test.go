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
