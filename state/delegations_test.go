package state_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

func delegationImpls(t *testing.T) []struct {
	name string
	open func(now func() time.Time) state.Delegations
} {
	out := []struct {
		name string
		open func(now func() time.Time) state.Delegations
	}{{"memory", func(now func() time.Time) state.Delegations { return state.NewDelegationMemory(now) }}}
	if testing.Short() {
		return out
	}
	rd := testenv.StartRedis(t)
	out = append(out, struct {
		name string
		open func(now func() time.Time) state.Delegations
	}{"redis", func(now func() time.Time) state.Delegations { return newRedis(t, rd, now).Delegations() }})
	return out
}

func delegation(id, subject string, issued time.Time, ttl time.Duration) state.Delegation {
	return state.Delegation{SessionID: id, Issuer: "corp", Subject: subject, Role: "analyst",
		ActorIssuer: "corp", ActorSubject: "agent-1", ActorRole: "agent", IssuedAt: issued, Expiry: issued.Add(ttl)}
}

func TestSharedDelegations(t *testing.T) {
	ctx := context.Background()
	for _, im := range delegationImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
			d := im.open(clk.now)
			now := clk.now()
			for _, x := range []state.Delegation{
				delegation("s1", "alice", now, time.Hour),
				delegation("s2", "alice", now.Add(time.Second), 10*time.Minute),
				delegation("s3", "bob", now, time.Hour),
				delegation("s4", "alice", now.Add(-time.Hour), time.Minute), // already expired
			} {
				if err := d.Add(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			list, err := d.List(ctx, "corp", "alice")
			if err != nil || len(list) != 2 || list[0].SessionID != "s2" || list[1].SessionID != "s1" || list[0].ActorSubject != "agent-1" {
				t.Fatalf("alice: %+v %v", list, err)
			}
			if list, _ := d.List(ctx, "other", "alice"); len(list) != 0 {
				t.Fatalf("another issuer's alice sees %+v", list)
			}
			clk.add(11 * time.Minute)
			if list, _ := d.List(ctx, "corp", "alice"); len(list) != 1 || list[0].SessionID != "s1" {
				t.Fatalf("after s2 expired: %+v", list)
			}
			if err := d.Add(ctx, state.Delegation{SessionID: "x"}); !errors.Is(err, state.ErrInvalidDelegation) {
				t.Fatalf("invalid: %v", err)
			}
		})
	}
}

func TestSharedDelegationsBounded(t *testing.T) {
	ctx := context.Background()
	for _, im := range delegationImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
			d := im.open(clk.now)
			now := clk.now()
			// The first expires first, so it is the one forgotten.
			for i := range state.MaxDelegationsPerPerson + 1 {
				if err := d.Add(ctx, delegation(fmt.Sprintf("s%03d", i), "alice", now, time.Hour+time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			list, err := d.List(ctx, "corp", "alice")
			if err != nil || len(list) != state.MaxDelegationsPerPerson {
				t.Fatalf("%d records, %v", len(list), err)
			}
			for _, x := range list {
				if x.SessionID == "s000" {
					t.Fatal("the first to expire was kept")
				}
			}
		})
	}
}
