package proxy

import (
	"context"
	"sync"
)

// inflight counts the requests being served, so that shutdown can wait for
// their audit events.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while n is 0
}

func (f *inflight) enter() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) leave() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait returns nil once no request is in flight, or ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
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
