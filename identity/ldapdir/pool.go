package ldapdir

import (
	"context"
	"sync"

	"github.com/go-ldap/ldap/v3"
)

// pool holds lookup-bound connections: at most size exist at once, idle
// or in use. A connection that failed is closed, not returned. A closed
// pool keeps working for the sign-ins that still reach it (a reload), but
// keeps no connection idle.
type pool struct {
	dial  func(context.Context) (*ldap.Conn, error)
	slots chan struct{}

	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
}

func newPool(size int, dial func(context.Context) (*ldap.Conn, error)) *pool {
	return &pool{dial: dial, slots: make(chan struct{}, size)}
}

// get returns an idle connection or dials one, waiting for a free slot.
func (p *pool) get(ctx context.Context) (*ldap.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// put returns c to the pool if healthy, else closes it, and frees its
// slot.
func (p *pool) put(c *ldap.Conn, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed && !c.IsClosing() {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
