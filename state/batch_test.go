package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/iamgate/iamgate/state"
)

// A batch is all or nothing, the same in memory and in Redis, and the
// sequential fallback agrees on what fits.
func TestCounterBatch(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
			c := im.open(t, clk.now).counters
			b := c.(state.CounterBatch)
			ops := func(n int64) []state.CounterOp {
				return []state.CounterOp{
					{Key: "rate", Rate: 1, Burst: 2, N: 1},
					{Key: "objs", Window: time.Minute, N: 1, Bounded: true, Max: 3},
					{Key: "bytes", Window: time.Minute, N: n, Bounded: true, Max: 100},
				}
			}
			o := ops(60)
			if r, err := b.Batch(ctx, o); r != -1 || err != nil || o[1].Total != 1 || o[2].Total != 60 ||
				!o[2].ResetAt.Equal(clk.now().Add(time.Minute)) {
				t.Fatalf("first: %d %v %+v", r, err, o)
			}
			// 60 + 50 > 100: nothing is applied, not the take nor the
			// object count.
			o = ops(50)
			if r, err := b.Batch(ctx, o); r != 2 || err != nil || o[2].Total != 60 || o[2].Fits || !o[0].Fits {
				t.Fatalf("crossing: %d %v %+v", r, err, o)
			}
			o = ops(40)
			if r, _ := b.Batch(ctx, o); r != -1 || o[1].Total != 2 || o[2].Total != 100 {
				t.Fatalf("fits: %d %+v", r, o)
			}
			// The bucket (2, refilled at 1/s) is empty now.
			o = ops(0)
			if r, _ := b.Batch(ctx, o); r != 0 || o[0].RetryAfter != time.Second {
				t.Fatalf("empty bucket: %d %+v", r, o)
			}
			// Is anything left of 100? (N 0, Max 99)
			clk.add(time.Second)
			o = []state.CounterOp{{Key: "bytes", Window: time.Minute, Bounded: true, Max: 99}}
			if r, _ := b.Batch(ctx, o); r != 0 || o[0].Total != 100 {
				t.Fatalf("spent: %d %+v", r, o)
			}
			clk.add(time.Minute)
			if r, _ := b.Batch(ctx, o); r != -1 || o[0].Total != 0 {
				t.Fatalf("next window: %d %+v", r, o)
			}
			o = []state.CounterOp{{Key: "", Window: time.Minute}}
			if _, err := b.Batch(ctx, o); err == nil {
				t.Error("empty key accepted")
			}
			// The sequential fallback refuses the same op.
			s := []state.CounterOp{{Key: "seq", Window: time.Minute, N: 60, Bounded: true, Max: 100}}
			state.SequentialBatch(ctx, c, s)
			s[0].N = 50
			if r, err := state.SequentialBatch(ctx, c, s); r != 0 || err != nil || s[0].Total != 60 {
				t.Fatalf("sequential: %d %v %+v", r, err, s)
			}
		})
	}
}

// An Always op is applied even when the batch is refused, before the ops
// after it are checked; it cannot be bounded or a take.
func TestCounterBatchAlways(t *testing.T) {
	ctx := context.Background()
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
			b := im.open(t, clk.now).counters.(state.CounterBatch)
			o := []state.CounterOp{
				{Key: "down", Window: time.Minute, N: 70, Always: true},
				{Key: "down", Window: time.Minute, Bounded: true, Max: 99},
			}
			if r, err := b.Batch(ctx, o); r != -1 || err != nil || o[0].Total != 70 || o[1].Total != 70 {
				t.Fatalf("first: %d %v %+v", r, err, o)
			}
			// The carried 40 crosses the budget: the check after it
			// refuses, and the 40 stays counted.
			o = []state.CounterOp{
				{Key: "down", Window: time.Minute, N: 40, Always: true},
				{Key: "objs", Window: time.Minute, N: 1, Bounded: true, Max: 5},
				{Key: "down", Window: time.Minute, Bounded: true, Max: 99},
			}
			if r, err := b.Batch(ctx, o); r != 2 || err != nil || o[0].Total != 110 || o[2].Total != 110 {
				t.Fatalf("refused: %d %v %+v", r, err, o)
			}
			o = []state.CounterOp{{Key: "objs", Window: time.Minute, Bounded: true, Max: 5}, {Key: "down", Window: time.Minute, Bounded: true, Max: 1000}}
			if r, _ := b.Batch(ctx, o); r != -1 || o[0].Total != 0 || o[1].Total != 110 {
				t.Fatalf("after: %d %+v", r, o)
			}
			// The carried count starts a window of its own when there is none.
			clk.add(2 * time.Minute)
			o = []state.CounterOp{{Key: "down", Window: time.Minute, N: 5, Always: true}}
			if r, _ := b.Batch(ctx, o); r != -1 || o[0].Total != 5 || !o[0].ResetAt.Equal(clk.now().Add(time.Minute)) {
				t.Fatalf("new window: %d %+v", r, o)
			}
			for _, bad := range []state.CounterOp{
				{Key: "x", Window: time.Minute, N: 1, Always: true, Bounded: true, Max: 3},
				{Key: "x", Rate: 1, Burst: 1, N: 1, Always: true},
			} {
				if _, err := b.Batch(ctx, []state.CounterOp{bad}); err == nil {
					t.Errorf("accepted %+v", bad)
				}
			}
		})
	}
}
