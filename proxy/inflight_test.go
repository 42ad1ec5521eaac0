package proxy

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// Wait returns only once every request in flight has logged its event.
func TestWaitForRequestsInFlight(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		w.Write([]byte("late"))
	}, nil)
	if err := f.h.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with nothing in flight: %v", err)
	}
	tok := f.token(t, "alice", "staff")
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/home/alice/slow", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.h.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a request in flight: %v", err)
	}
	if n := len(f.events(t)); n != 0 {
		t.Fatalf("%d events before the request finished", n)
	}
	close(release)
	if err := f.h.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The event is written before Wait returns, not merely before the
	// client sees the end of the response.
	evs := f.events(t)
	if len(evs) != 1 || evs[0].Key != "home/alice/slow" || evs[0].Decision != "allow" {
		t.Fatalf("events %+v", evs)
	}
	<-done
}
