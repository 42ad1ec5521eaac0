package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// Request framing (RFC 9112 §6). net/http frames a request that carries
// both Transfer-Encoding: chunked and Content-Length by the chunked
// coding, deletes Content-Length, and keeps the connection open. A load
// balancer in front of iamgate that frames by Content-Length would then
// see the bytes after the chunked body as part of the first request, and
// iamgate would serve them as a second one (request smuggling). RFC 9112
// §6.1 says a server must close the connection after such a request.
//
// The handler cannot see the deleted header, so FramingListener wraps each
// connection with a small tracker that follows the requests' framing as
// the bytes are read: it records, for every request head, whether it had
// Content-Length, Transfer-Encoding or both, and skips Content-Length
// bodies exactly. A chunked body is not followed: the handler closes the
// connection after every chunked request, so no request head can come
// after one. When the tracker is unsure (a head it cannot read the way
// net/http does, a head too large), the connection is closed after the
// request too. So every request with both headers is refused (400) and
// ends its connection, and nothing after a chunked body is ever read as a
// request.

// maxTrackedHead bounds the bytes of one request head the tracker keeps.
// net/http refuses heads above Server.MaxHeaderBytes (1 MiB by default)
// plus 4096 bytes, so a longer head never reaches the handler.
const maxTrackedHead = 1<<20 + 8192

// FramingListener returns a listener whose connections track request
// framing for the Handler; serve it with ConnContext set as the server's
// ConnContext hook. TLS listeners are wrapped too (wrap the TLS listener,
// not the TCP one): the Handler restores Request.TLS, which net/http sets
// only for a *tls.Conn.
func FramingListener(ln net.Listener) net.Listener { return framingListener{ln} }

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framedConn{Conn: c}, nil
}

type framingKey struct{}

// ConnContext is the http.Server.ConnContext hook that lets the Handler
// find the framing tracker of a connection accepted by FramingListener.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framedConn); ok {
		return context.WithValue(ctx, framingKey{}, fc)
	}
	return ctx
}

// head is what the tracker saw of one request head.
type head struct {
	method, target string
	contentLength  bool
	transferCoding bool
	unsure         bool // not read the way net/http reads it
}

// framedConn is a connection whose reads feed a framingTracker, and
// whose writes can be held back and sent as one (cork).
type framedConn struct {
	net.Conn
	mu sync.Mutex
	t  framingTracker

	corked atomic.Bool
	wmu    sync.Mutex
	wbuf   *[]byte // while corked: the bytes held back
}

// corkSize bounds what a corked connection holds back; a response of up
// to corkBody bytes of body fits with its head.
const (
	corkSize = 64 << 10
	corkBody = corkSize - 16<<10
)

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, corkSize); return &b }}

func (c *framedConn) Write(p []byte) (int, error) {
	if !c.corked.Load() {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		return c.Conn.Write(p)
	}
	b := *c.wbuf
	if len(b)+len(p) <= cap(b) {
		*c.wbuf = append(b, p...)
		return len(p), nil
	}
	// More than fits: what is held and p go out now, in one system call.
	bufs := net.Buffers{b, p}
	*c.wbuf = b[:0]
	n, err := bufs.WriteTo(c.Conn)
	n -= int64(len(b))
	if n < 0 {
		n = 0
	}
	return int(n), err
}

// ReadFrom lets net/http's ResponseWriter hand a large body to the
// connection: a TCP connection moves it with splice(2) when r is one (or
// a length-limited one); otherwise it is copied with a 256 KiB buffer.
func (c *framedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && !c.corked.Load() {
		return rf.ReadFrom(r)
	}
	bp := largeCopyBufPool.Get().(*[]byte)
	defer largeCopyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{c}, r, *bp)
}

// writerOnly hides every method of an io.Writer but Write.
type writerOnly struct{ io.Writer }

// cork holds the connection's writes back until uncork, which sends them
// in one write: net/http's server writes a response head and a body of
// about 4 KiB in two system calls (its connection buffer is 4 KiB), and
// the handler knows when a small response is complete.
func (c *framedConn) cork() {
	c.wmu.Lock()
	if c.wbuf == nil {
		c.wbuf = corkPool.Get().(*[]byte)
		c.corked.Store(true)
	}
	c.wmu.Unlock()
}

// uncork sends what cork held back.
func (c *framedConn) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	bp := c.wbuf
	if bp == nil {
		return nil
	}
	c.wbuf = nil
	c.corked.Store(false)
	var err error
	if len(*bp) > 0 {
		_, err = c.Conn.Write(*bp)
	}
	*bp = (*bp)[:0]
	corkPool.Put(bp)
	return err
}

func (c *framedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.t.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// next returns the head of the next request the handler serves, in order;
// ok is false when the tracker did not see it.
func (c *framedConn) next() (h head, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.pop()
}

// tlsState returns the TLS state of the connection, if it is TLS.
func (c *framedConn) tlsState() *tls.ConnectionState {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// framingTracker follows HTTP/1.x request framing over the bytes of one
// connection.
type framingTracker struct {
	stopped bool   // lost or after a chunked head: nothing more is tracked
	buf     []byte // the head being read
	body    int64  // Content-Length bytes still to skip
	heads   []head // seen, not yet popped
}

func (t *framingTracker) pop() (head, bool) {
	if len(t.heads) == 0 {
		return head{}, false
	}
	h := t.heads[0]
	t.heads = t.heads[1:]
	return h, true
}

func (t *framingTracker) feed(p []byte) {
	for len(p) > 0 && !t.stopped {
		if t.body > 0 {
			n := int64(len(p))
			if n > t.body {
				n = t.body
			}
			t.body -= n
			p = p[n:]
			continue
		}
		if len(t.buf) == 0 {
			// Blank lines before a request line are skipped (net/http
			// does so after a POST; otherwise it refuses the request and
			// closes the connection).
			for len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
				p = p[1:]
			}
			if len(p) == 0 {
				return
			}
		}
		if len(t.buf) == 0 {
			// The common case: the whole head is in this read; parse it
			// where it is, without copying.
			if end := headEnd(p, 0); end >= 0 {
				if !t.head(p[:end]) {
					return
				}
				p = p[end:]
				continue
			}
		}
		start := len(t.buf) - 3
		if start < 0 {
			start = 0
		}
		t.buf = append(t.buf, p...)
		end := headEnd(t.buf, start)
		if end < 0 {
			if len(t.buf) > maxTrackedHead {
				t.stop()
			}
			return
		}
		rest := len(t.buf) - end // bytes after the head, from p
		ok := t.head(t.buf[:end])
		if t.buf != nil {
			t.buf = t.buf[:0]
		}
		if !ok {
			return
		}
		p = p[len(p)-rest:]
	}
}

// head records the request head b and sets up skipping its body; false
// when tracking stops there.
func (t *framingTracker) head(b []byte) bool {
	h, body, ok := parseHead(b)
	t.heads = append(t.heads, h)
	if !ok || h.transferCoding {
		t.stop()
		return false
	}
	t.body = body
	return true
}

func (t *framingTracker) stop() {
	t.stopped = true
	t.buf = nil
}

// headEnd returns the index just past the blank line that ends a head in
// b (CRLF or bare LF line ends, as net/textproto reads them), searching
// from from; -1 if there is none yet.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
		i++
	}
	return -1
}

// parseHead reads a request head: the request line, and the presence of
// Content-Length and Transfer-Encoding. body is the Content-Length to
// skip; ok is false when the framing cannot be known the way net/http
// knows it (malformed or repeated differing lengths, folded lines), in
// which case the tracker stops.
func parseHead(b []byte) (h head, body int64, ok bool) {
	line, rest, _ := bytes.Cut(b, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	m, target, _ := bytes.Cut(line, []byte{' '})
	target, _, _ = bytes.Cut(target, []byte{' '})
	h.method, h.target = string(m), string(target)
	lengths := 0
	var cl []byte
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			h.unsure = true // an obsolete folded line
			continue
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			h.unsure = true
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v := bytes.TrimSpace(value)
			if lengths > 0 && !bytes.Equal(v, cl) {
				h.unsure = true
			}
			cl = v
			lengths++
			h.contentLength = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.transferCoding = true
		case len(bytes.TrimSpace(name)) != len(name):
			h.unsure = true // "Content-Length :" is refused by net/http
		}
	}
	if h.unsure {
		return h, 0, false
	}
	if h.contentLength {
		n, err := strconv.ParseUint(string(cl), 10, 63)
		if err != nil {
			return h, 0, false
		}
		body = int64(n)
	}
	return h, body, true
}

// ambiguousFramingMessage answers a request with both Transfer-Encoding
// and Content-Length.
const ambiguousFramingMessage = "The request has both Transfer-Encoding and Content-Length (RFC 9112 §6.1); send one of them."

// checkFraming applies the framing rules to r before anything else reads
// it: a request with both Transfer-Encoding and Content-Length is refused
// (true: answered 400, connection closed); after a chunked request, or one
// whose head the tracker did not follow, the connection is closed once the
// response is written.
func checkFraming(w http.ResponseWriter, r *http.Request) (refused bool) {
	fc, _ := r.Context().Value(framingKey{}).(*framedConn)
	if fc == nil {
		// Not served through FramingListener (tests, embedding): close
		// after a chunked request at least.
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		return false
	}
	h, ok := fc.next()
	if ok && h.contentLength && h.transferCoding {
		w.Header().Set("Connection", "close")
		return true
	}
	if !ok || h.unsure || h.transferCoding || len(r.TransferEncoding) > 0 ||
		h.method != r.Method || h.target != r.RequestURI {
		w.Header().Set("Connection", "close")
	}
	return false
}
