package limits_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

// An agent run may read 2 objects per hour; the third is refused with a
// verdict that names the limit and when it resets.
func Example() {
	now := func() time.Time { return time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC) }
	l := limits.New(state.NewCounterMemory(now), limits.Config{Now: now})
	p := &limits.Policy{Role: "agents", Kind: "agent", Rules: &limits.Rules{
		ObjectsRead: 2, Window: time.Hour, Per: []limits.Scope{limits.PerIdentity}, Claim: "agent_run"}}
	k := l.Keys(p, limits.Subject{Session: "jti:platform/5b0e", Identity: "r-42"})
	for range 3 {
		var t limits.Ticket
		v := l.Admit(context.Background(), k, limits.OpDownload, -1, &t)
		t.Release()
		if v.Allowed() {
			fmt.Println("allowed")
		} else {
			fmt.Println(v.Message())
		}
	}
	// Output:
	// allowed
	// allowed
	// Limit objects_read per identity reached (2 of 2); it resets at 2027-03-01T13:00:00Z.
}
