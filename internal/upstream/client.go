// Package upstream is an HTTP/1.1 client for one reverse proxy's store: the
// calling goroutine writes the request and reads the response over a
// pooled keep-alive connection, with no goroutines or channels per
// connection or request.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultExpectContinueTimeout = time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConns          = 256
	DefaultMaxResponseHeaderSize = 1 << 20
	DefaultReadBufferSize        = 64 << 10
)

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// DialTimeout bounds establishing a TCP connection.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake of an https connection.
	TLSHandshakeTimeout time.Duration
	// TLSClientConfig is used for https; nil: the system roots. The client
	// offers only http/1.1 by ALPN, whatever NextProtos says.
	TLSClientConfig *tls.Config
	// ResponseHeaderTimeout bounds the wait for the response head once the
	// request, body included, has been written; 0: no limit.
	ResponseHeaderTimeout time.Duration
	// ExpectContinueTimeout is how long a request with "Expect:
	// 100-continue" waits for the store's 100 before it sends the body
	// anyway.
	ExpectContinueTimeout time.Duration
	// IdleConnTimeout closes a connection idle that long.
	IdleConnTimeout time.Duration
	// MaxIdleConns bounds the idle connections kept per host; more are
	// closed when they become idle.
	MaxIdleConns int
	// MaxResponseHeaderSize bounds a response head, status line included.
	MaxResponseHeaderSize int
	// ReadBufferSize is the read buffer of each connection; a line of the
	// response head must fit in it.
	ReadBufferSize int
	// KeepAlive is the TCP keep-alive period; 0: 30 s; negative: off.
	KeepAlive time.Duration
}

// Client is an http.RoundTripper for HTTP/1.1 to a few hosts (in
// iamgate, the store). RoundTrip writes the request and reads the
// response head on the caller's goroutine; the response body reads from
// the connection directly and returns it to the pool once the body has
// been read to its end with clean framing. A connection that failed, was
// half read, timed out or whose request was canceled is closed, never
// reused.
type Client struct {
	cfg    Config
	dialer net.Dialer
	// checkIdle: a connection idle at least this long is checked (alive)
	// before any request; under load connections are idle for much less.
	checkIdle time.Duration
	// dialFunc replaces the dialer in tests.
	dialFunc func(ctx context.Context, addr string) (net.Conn, error)

	mu    sync.Mutex
	pools map[string]*pool
	last  atomic.Pointer[pool] // the pool used last: iamgate talks to one store
}

var _ http.RoundTripper = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if cfg.ExpectContinueTimeout <= 0 {
		cfg.ExpectContinueTimeout = DefaultExpectContinueTimeout
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.MaxIdleConns <= 0 {
		cfg.MaxIdleConns = DefaultMaxIdleConns
	}
	if cfg.MaxResponseHeaderSize <= 0 {
		cfg.MaxResponseHeaderSize = DefaultMaxResponseHeaderSize
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	return &Client{cfg: cfg, dialer: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: cfg.KeepAlive},
		checkIdle: time.Second, pools: map[string]*pool{}}
}

// CloseIdleConnections closes the connections now idle.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	pools := make([]*pool, 0, len(c.pools))
	for _, p := range c.pools {
		pools = append(pools, p)
	}
	c.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
}

// Stats are counts of a Client's connections since it was made.
type Stats struct {
	Dials  int64 // connections established
	Reuses int64 // requests sent on a connection from the pool
	Idle   int   // connections idle now
}

// Stats returns the client's connection counts.
func (c *Client) Stats() Stats {
	var s Stats
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		p.mu.Lock()
		s.Dials += p.dials
		s.Reuses += p.reuses
		s.Idle += len(p.idle)
		p.mu.Unlock()
	}
	return s
}

func (c *Client) pool(scheme, host string) (*pool, error) {
	if p := c.last.Load(); p != nil && p.scheme == scheme && p.host == host {
		return p, nil
	}
	key := scheme + "://" + host
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pools[key]; ok {
		c.last.Store(p)
		return p, nil
	}
	p := &pool{c: c, scheme: scheme, host: host, addr: host}
	switch scheme {
	case "http":
		if !hasPort(host) {
			p.addr = net.JoinHostPort(host, "80")
		}
	case "https":
		if !hasPort(host) {
			p.addr = net.JoinHostPort(host, "443")
		}
		var tc *tls.Config
		if c.cfg.TLSClientConfig != nil {
			tc = c.cfg.TLSClientConfig.Clone()
		} else {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tc.NextProtos = []string{"http/1.1"}
		if tc.ServerName == "" {
			h, _, err := net.SplitHostPort(p.addr)
			if err != nil {
				return nil, err
			}
			tc.ServerName = h
		}
		p.tls = tc
	default:
		return nil, fmt.Errorf("upstream: unsupported scheme %q", scheme)
	}
	c.pools[key] = p
	c.last.Store(p)
	return p, nil
}

func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	return i >= 0 && i > strings.LastIndexByte(host, ']')
}

// pool holds the idle connections to one host, newest last.
type pool struct {
	c            *Client
	scheme, host string
	addr         string
	tls          *tls.Config

	mu      sync.Mutex
	idle    []*conn
	janitor *time.Timer
	dials   int64
	reuses  int64
}

// get returns an idle connection that is not too old and, when check is
// set or it has been idle for a while, that the store has not closed; or
// nil.
func (p *pool) get(check bool) *conn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.reuses++
		p.mu.Unlock()
		idle := time.Since(pc.idleAt)
		if idle >= p.c.cfg.IdleConnTimeout || (check || idle >= p.c.checkIdle) && !pc.alive() {
			pc.close()
			p.mu.Lock()
			p.reuses--
			p.mu.Unlock()
			continue
		}
		pc.reused = true
		return pc
	}
}

// put makes pc idle, or closes it when the pool is full.
func (p *pool) put(pc *conn) {
	pc.idleAt = time.Now()
	p.mu.Lock()
	if len(p.idle) >= p.c.cfg.MaxIdleConns {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.idle = append(p.idle, pc)
	if p.janitor == nil {
		p.janitor = time.AfterFunc(p.c.cfg.IdleConnTimeout, p.sweep)
	}
	p.mu.Unlock()
}

// sweep closes the connections idle for IdleConnTimeout and runs again
// while any stay idle.
func (p *pool) sweep() {
	now := time.Now()
	timeout := p.c.cfg.IdleConnTimeout
	var old []*conn
	p.mu.Lock()
	keep := p.idle[:0]
	next := timeout
	for _, pc := range p.idle {
		if age := now.Sub(pc.idleAt); age >= timeout {
			old = append(old, pc)
		} else {
			keep = append(keep, pc)
			next = min(next, timeout-age)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(keep) > 0 {
		p.janitor.Reset(next + time.Millisecond)
	} else {
		p.janitor = nil
	}
	p.mu.Unlock()
	for _, pc := range old {
		pc.close()
	}
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
}

// dial makes a new connection.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	var nc net.Conn
	var err error
	if p.c.dialFunc != nil {
		nc, err = p.c.dialFunc(ctx, p.addr)
	} else {
		nc, err = p.c.dialer.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	pc := &conn{p: p, nc: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		pc.raw, _ = tc.SyscallConn()
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		hctx, cancel := context.WithTimeout(ctx, p.c.cfg.TLSHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		pc.nc = tc
	}
	pc.br = bufio.NewReaderSize(pc.nc, p.c.cfg.ReadBufferSize)
	p.mu.Lock()
	p.dials++
	p.mu.Unlock()
	return pc, nil
}

// conn is one connection to the store.
type conn struct {
	p      *pool
	nc     net.Conn
	raw    syscall.RawConn // of the TCP connection, for alive
	br     *bufio.Reader
	idleAt time.Time
	reused bool // taken from the pool, for the current request
	closed bool

	scratch []byte // the response head's bytes

	// mu guards canceled against the deadlines set while a request runs.
	mu       sync.Mutex
	canceled bool
}

// aLongTimeAgo is a deadline in the past: it makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

// cancel interrupts any I/O on the connection (context canceled).
func (pc *conn) cancel() {
	pc.mu.Lock()
	pc.canceled = true
	_ = pc.nc.SetDeadline(aLongTimeAgo)
	pc.mu.Unlock()
}

// setReadDeadline sets a read deadline unless the request was canceled.
func (pc *conn) setReadDeadline(t time.Time) {
	pc.mu.Lock()
	if !pc.canceled {
		_ = pc.nc.SetReadDeadline(t)
	}
	pc.mu.Unlock()
}

func (pc *conn) close() {
	if !pc.closed {
		pc.closed = true
		_ = pc.nc.Close()
	}
}

// alive reports whether the idle connection still looks usable: no
// end-of-stream, error or unexpected bytes are waiting on it. It peeks
// without blocking (one system call), and is used before a request whose
// body could not be sent again if the store had closed the connection
// while it was idle.
func (pc *conn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false // the store sent something unasked
	}
	if pc.raw == nil {
		return true
	}
	ok := true
	var b [1]byte
	err := pc.raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		case err != nil, n == 0:
			ok = false // closed or failed
		case pc.p.tls == nil:
			ok = false // bytes nobody asked for
		}
		// Over TLS, records can wait unread (session tickets): not a sign
		// of a closed connection.
		return true
	})
	return ok && err == nil
}

// release ends the use of pc by a request: back to the pool when reuse
// is true, closed otherwise.
func (pc *conn) release(reuse bool) {
	if reuse && !pc.closed {
		pc.reused = false
		pc.p.put(pc)
		return
	}
	pc.close()
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

var errHeaderTimeout = &timeoutError{"upstream: timeout awaiting response headers"}
