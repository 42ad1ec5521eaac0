package state

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestFailureMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewFailureMemory(FailureMemoryConfig{MaxEntries: 2, Now: func() time.Time { return now }})
	for i := 1; i <= 3; i++ {
		c, err := m.Add(ctx, "u:alice", time.Minute)
		if err != nil || c.N != i || !c.Last.Equal(now) {
			t.Fatalf("Add #%d = %+v, %v", i, c, err)
		}
		now = now.Add(10 * time.Second)
	}
	if c, _ := m.Get(ctx, "u:alice"); c.N != 3 {
		t.Fatalf("Get = %+v, want 3", c)
	}
	if c, _ := m.Get(ctx, "u:bob"); c.N != 0 {
		t.Fatalf("Get(bob) = %+v, want 0", c)
	}
	// The window runs from the latest failure.
	now = now.Add(49 * time.Second)
	if c, _ := m.Get(ctx, "u:alice"); c.N != 3 {
		t.Fatalf("Get within the window = %+v", c)
	}
	now = now.Add(2 * time.Second)
	if c, _ := m.Get(ctx, "u:alice"); c.N != 0 {
		t.Fatalf("Get after the window = %+v, want 0", c)
	}
	// Reset forgets.
	m.Add(ctx, "u:alice", time.Minute)
	if err := m.Reset(ctx, "u:alice"); err != nil {
		t.Fatal(err)
	}
	if c, _ := m.Get(ctx, "u:alice"); c.N != 0 || m.Len() != 0 {
		t.Fatalf("after Reset: %+v, len %d", c, m.Len())
	}
	if _, err := m.Add(ctx, "", time.Minute); err != ErrNoKey {
		t.Fatalf("empty key: %v", err)
	}
}

func TestFailureMemoryOverflowIsShared(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewFailureMemory(FailureMemoryConfig{MaxEntries: 3, Now: func() time.Time { return now }})
	for i := range 10 {
		if _, err := m.Add(ctx, fmt.Sprintf("k%d", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (bounded)", m.Len())
	}
	// Seven failures overflowed: every key reports them, even a new one.
	if c, _ := m.Get(ctx, "someone-else"); c.N != 7 {
		t.Fatalf("overflow count = %+v, want 7", c)
	}
	now = now.Add(time.Minute)
	if c, _ := m.Get(ctx, "someone-else"); c.N != 0 || m.Len() != 0 {
		t.Fatalf("after the window: %+v, len %d", c, m.Len())
	}
}
