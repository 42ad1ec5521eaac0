package proxy

import (
	"context"
	"sync"
	"sync/atomic"
)

// inflight counts the requests being served, so that shutdown can wait for
// their audit events. Entering and leaving are one atomic add each (the
// hot path takes no lock); only a waiter creates the channel it waits on.
type inflight struct {
	n       atomic.Int64
	waiting atomic.Bool
	mu      sync.Mutex
	idle    chan struct{} // closed when n drops to 0 while someone waits
}

func (f *inflight) enter() { f.n.Add(1) }

func (f *inflight) leave() {
	if f.n.Add(-1) == 0 && f.waiting.Load() {
		f.mu.Lock()
		if f.idle != nil {
			close(f.idle)
			f.idle = nil
		}
		f.mu.Unlock()
	}
}

// wait returns nil once no request is in flight, or ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.waiting.Store(true)
	f.mu.Lock()
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	// A leave that brought n to 0 before idle existed closed nothing:
	// look at n after idle exists; one after this point closes idle.
	if f.n.Load() == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait returns once every request that reached the Handler has returned,
// and so has written its audit event, or with ctx's error when ctx ends
// first. After http.Server.Shutdown gives up and Close cuts the remaining
// connections, the requests still running fail their reads and writes
// and finish quickly: waiting for them before writing the stop event and
// closing the audit logger keeps their events in the log, before the
// stop event.
func (h *Handler) Wait(ctx context.Context) error { return h.inflight.wait(ctx) }

// Drain makes readyz answer 503 with the reason "shutting down" from now
// on, so that load balancers send new requests to other replicas, while
// every request that still arrives is served as before, with
// Connection: close. The process calls it when a shutdown begins, before
// it stops accepting connections.
func (h *Handler) Drain() { h.draining.Store(true) }
