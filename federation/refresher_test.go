package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSTS hands out numbered credentials valid for life from the fake
// clock's now, or fails while down.
type fakeSTS struct {
	now   *time.Time
	life  time.Duration
	down  bool
	calls int
}

func (s *fakeSTS) fetch(context.Context) (Credentials, error) {
	s.calls++
	if s.down {
		return Credentials{}, &STSError{StatusCode: 503, Code: "ServiceUnavailable", Message: "down"}
	}
	return Credentials{AccessKeyID: fmt.Sprintf("KEY%d", s.calls), SecretAccessKey: "secret", SessionToken: "token",
		Expiration: s.now.Add(s.life)}, nil
}

func TestRefresherSchedule(t *testing.T) {
	t0 := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	sts := &fakeSTS{now: &now, life: time.Hour}
	var got []Credentials
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r := NewRefresher(sts.fetch, RefresherConfig{
		RefreshBefore: 10 * time.Minute,
		OnCredentials: func(c Credentials) { got = append(got, c) },
		Now:           func() time.Time { return now },
		Jitter:        func() float64 { return 0.5 }, // factor 0.75
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:       m,
	})
	ctx := context.Background()
	if err := r.Ready(); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "yet") {
		t.Fatalf("ready before the first: %v", err)
	}

	// First credentials at t0, renewed 10 minutes before they expire.
	next := r.Step(ctx)
	if want := t0.Add(50 * time.Minute); !next.Equal(want) || len(got) != 1 || r.Ready() != nil {
		t.Fatalf("next %v want %v; got %d; ready %v", next, want, len(got), r.Ready())
	}
	if v := testutil.ToFloat64(m.Expiry); v != float64(t0.Add(time.Hour).Unix()) {
		t.Fatalf("expiry gauge %v", v)
	}

	// The renewal fails: retries with growing backoff, the old credentials
	// stay (nothing handed over), still ready.
	now = next
	sts.down = true
	var waits []time.Duration
	for range 7 {
		n := r.Step(ctx)
		waits = append(waits, n.Sub(now))
		now = n
	}
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second,
		12 * time.Second, 22500 * time.Millisecond, 22500 * time.Millisecond}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("backoff %v, want %v", waits, want)
	}
	if len(got) != 1 || r.Ready() != nil || testutil.ToFloat64(m.RefreshFailures) != 7 {
		t.Fatalf("after failures: %d handed over, ready %v, failures %v", len(got), r.Ready(), testutil.ToFloat64(m.RefreshFailures))
	}
	if c, ok := r.Current(); !ok || c.AccessKeyID != "KEY1" {
		t.Fatalf("current %v", c)
	}

	// Past expiry: not ready, with the reason; still retrying.
	now = t0.Add(time.Hour)
	r.Step(ctx)
	if err := r.Ready(); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "expired at 2027-03-01T13:00:00Z") ||
		!strings.Contains(err.Error(), "ServiceUnavailable") {
		t.Fatalf("ready after expiry: %v", err)
	}

	// The STS is back: new credentials, backoff reset, ready.
	sts.down = false
	next = r.Step(ctx)
	if len(got) != 2 || got[1].AccessKeyID != "KEY10" || r.Ready() != nil || !next.Equal(now.Add(50*time.Minute)) {
		t.Fatalf("recovery: %v, ready %v, next %v", got, r.Ready(), next)
	}
	sts.down = true
	now = next
	if w := r.Step(ctx).Sub(now); w != 750*time.Millisecond {
		t.Fatalf("backoff not reset: %v", w)
	}
}

func TestRefresherRenewalTimes(t *testing.T) {
	t0 := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		cfg      RefresherConfig
		life     time.Duration
		renewsIn time.Duration
	}{
		{"default before", RefresherConfig{}, time.Hour, 50 * time.Minute},
		{"fraction", RefresherConfig{RefreshFraction: 0.25}, time.Hour, 45 * time.Minute},
		{"store gives less than asked", RefresherConfig{RefreshBefore: 10 * time.Minute}, 8 * time.Minute, 4 * time.Minute},
		{"seconds before a 15m life", RefresherConfig{RefreshBefore: 14*time.Minute + 56*time.Second}, 15 * time.Minute, 4 * time.Second},
	} {
		now := t0
		sts := &fakeSTS{now: &now, life: c.life}
		c.cfg.Now = func() time.Time { return now }
		c.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		r := NewRefresher(sts.fetch, c.cfg)
		if got := r.Step(context.Background()).Sub(t0); got != c.renewsIn {
			t.Errorf("%s: renews in %v, want %v", c.name, got, c.renewsIn)
		}
	}
}

func TestRefresherRefusesExpiredAnswer(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	r := NewRefresher(func(context.Context) (Credentials, error) {
		return Credentials{AccessKeyID: "K", SecretAccessKey: "s", SessionToken: "t", Expiration: now.Add(-time.Second)}, nil
	}, RefresherConfig{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnCredentials: func(Credentials) { t.Fatal("expired credentials handed over") }})
	r.Step(context.Background())
	if err := r.Ready(); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("%v", err)
	}
}

// TestRefresherRun runs the loop on the real clock with credentials that
// last a moment, and stops it.
func TestRefresherRun(t *testing.T) {
	var mu sync.Mutex
	n := 0
	renewed := make(chan struct{}, 100)
	r := NewRefresher(func(context.Context) (Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return Credentials{AccessKeyID: fmt.Sprint("K", n), SecretAccessKey: "s", SessionToken: "t",
			Expiration: time.Now().Add(20 * time.Millisecond)}, nil
	}, RefresherConfig{RefreshBefore: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnCredentials: func(Credentials) { renewed <- struct{}{} }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	for range 3 {
		select {
		case <-renewed:
		case <-time.After(10 * time.Second):
			t.Fatal("no renewal")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
