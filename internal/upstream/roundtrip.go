package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Request heads are built, and request bodies copied, in pooled buffers:
// a small one for a request without a body, a large one otherwise, so an
// upload moves in reads and writes of up to BodyBufferSize bytes (the
// head and the first piece of the body in one write).
const (
	headBufferSize = 8 << 10
	// BodyBufferSize is the size of the buffer request bodies are copied
	// with.
	BodyBufferSize = 256 << 10
)

var (
	headBufPool = sync.Pool{New: func() any { b := make([]byte, 0, headBufferSize); return &b }}
	bodyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, BodyBufferSize); return &b }}
)

// chunkHeadRoom is kept free before each piece of a chunked request body
// for its chunk-size line.
const chunkHeadRoom = 18

// maxInterim bounds the 1xx responses skipped before a final one.
const maxInterim = 16

// RoundTrip implements http.RoundTripper. The request body, if any, is
// closed before RoundTrip returns. A request that failed on a connection
// taken from the pool before any byte of the response arrived is sent
// once more on a new connection when sending it again is safe: an
// idempotent method and no byte of the body read.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.roundTrip(req)
	if req.Body != nil {
		req.Body.Close()
	}
	return res, err
}

func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, errors.New("upstream: request without URL")
	}
	p, err := c.pool(req.URL.Scheme, req.URL.Host)
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	idempotent := false
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "":
		idempotent = true
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// A request that may not be sent twice is sent only on a connection
		// that is seen to be open; a request sent again goes on a new one
		// (the store may have closed every idle connection at once).
		var pc *conn
		if attempt == 0 {
			pc = p.get(hasBody || !idempotent)
		}
		if pc == nil {
			if pc, err = p.dial(ctx); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, cerr
				}
				return nil, err
			}
		}
		res, bodyRead, err := pc.roundTrip(ctx, req, hasBody)
		if err == nil {
			return res, nil
		}
		var nr nothingReadError
		if attempt == 0 && pc.reused && idempotent && !bodyRead && ctx.Err() == nil &&
			(errors.As(err, &nr) || errors.As(err, new(*writeError))) {
			continue
		}
		return nil, err
	}
}

// writeError is a failure writing the request to the connection.
type writeError struct{ err error }

func (e *writeError) Error() string { return "upstream: writing the request: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// exchange is one request on one connection.
type exchange struct {
	pc       *conn
	ctx      context.Context
	req      *http.Request
	stop     func() bool
	bodyRead bool // a byte of the request body was read
	noReuse  bool // the connection must not carry another request
	// writeDeadline: a write deadline was set while sending the body.
	writeDeadline bool
}

// fail closes the connection and returns the error to report: the
// context's when it was canceled, a timeout error for an expired head
// wait, else err.
func (ex *exchange) fail(err error) error {
	ex.stop()
	ex.pc.close()
	if cerr := ex.ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// roundTrip sends req on pc and reads the response head.
func (pc *conn) roundTrip(ctx context.Context, req *http.Request, hasBody bool) (*http.Response, bool, error) {
	ex := &exchange{pc: pc, ctx: ctx, req: req, noReuse: req.Close}
	ex.stop = context.AfterFunc(ctx, pc.cancel)

	length := req.ContentLength
	if !hasBody {
		length = 0
	} else if length == 0 {
		length = -1 // a body of unknown length
	}
	var bp *[]byte
	if hasBody {
		bp = bodyBufPool.Get().(*[]byte)
	} else {
		bp = headBufPool.Get().(*[]byte)
	}
	buf, err := appendHead((*bp)[:0], req, length)
	if err != nil {
		putBuf(bp, buf)
		return nil, false, ex.fail(err)
	}
	expect := hasBody && hasToken(req.Header["Expect"], "100-continue")
	var early *http.Response // a final response before the body was sent
	switch {
	case !hasBody:
		if _, err := pc.nc.Write(buf); err != nil {
			putBuf(bp, buf)
			return nil, false, ex.fail(&writeError{err})
		}
	case expect:
		if _, err := pc.nc.Write(buf); err != nil {
			putBuf(bp, buf)
			return nil, false, ex.fail(&writeError{err})
		}
		res, err := ex.awaitContinue()
		if err != nil {
			putBuf(bp, buf)
			return nil, false, err
		}
		if res != nil {
			early = res
			break
		}
		buf = buf[:0]
		fallthrough
	default:
		err := ex.writeBody(buf, length)
		if err != nil {
			putBuf(bp, buf)
			var we *writeError
			if errors.As(err, &we) {
				// The store may have answered and closed before taking the
				// whole body: its answer is worth more than the write error.
				if res, rerr := ex.readResponse(true); rerr == nil {
					return res, true, nil
				}
			}
			return nil, ex.bodyRead, ex.fail(err)
		}
	}
	putBuf(bp, buf)
	if early != nil {
		return early, false, nil
	}
	res, err := ex.readResponse(false)
	return res, ex.bodyRead, err
}

func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) > BodyBufferSize {
		return // a grown head buffer: let it go
	}
	*bp = buf[:0]
	if cap(buf) >= BodyBufferSize {
		bodyBufPool.Put(bp)
	} else {
		headBufPool.Put(bp)
	}
}

// awaitContinue waits, after the head of a request with "Expect:
// 100-continue", for the store's 100 (nil, nil: send the body), for
// ExpectContinueTimeout (the same), or for a final response, returned:
// the body is then not sent and the connection not reused.
func (ex *exchange) awaitContinue() (*http.Response, error) {
	pc := ex.pc
	pc.setReadDeadline(time.Now().Add(pc.p.c.cfg.ExpectContinueTimeout))
	_, err := pc.br.Peek(1)
	pc.setReadDeadline(time.Time{})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ex.ctx.Err() == nil {
			return nil, nil // no answer in time: send the body
		}
		return nil, ex.fail(nothingReadError{err})
	}
	h, err := readHead(pc.br, pc.p.c.cfg.MaxResponseHeaderSize, &pc.scratch)
	if err != nil {
		return nil, ex.fail(err)
	}
	if h.status == http.StatusContinue {
		return nil, nil
	}
	if h.status/100 == 1 {
		// Another interim response (103): read on as for any request,
		// which skips interim responses, after sending the body.
		return nil, nil
	}
	ex.noReuse = true
	return ex.response(h)
}

// write writes b to the connection. While a body is sent, each write
// must make progress within ResponseHeaderTimeout: a store that answered
// early and stopped reading without closing the connection does not hold
// the request forever.
func (ex *exchange) write(b []byte) error {
	pc := ex.pc
	if t := pc.p.c.cfg.ResponseHeaderTimeout; t > 0 {
		pc.mu.Lock()
		if !pc.canceled {
			_ = pc.nc.SetWriteDeadline(time.Now().Add(t))
		}
		pc.mu.Unlock()
		ex.writeDeadline = true
	}
	if _, err := pc.nc.Write(b); err != nil {
		return &writeError{err}
	}
	return nil
}

// writeBody writes buf (the head, or nothing) followed by the request
// body: length bytes, or chunked when length is -1.
func (ex *exchange) writeBody(buf []byte, length int64) error {
	err := ex.writeBodyPieces(buf, length)
	if ex.writeDeadline && err == nil {
		ex.pc.mu.Lock()
		if !ex.pc.canceled {
			_ = ex.pc.nc.SetWriteDeadline(time.Time{})
		}
		ex.pc.mu.Unlock()
	}
	return err
}

func (ex *exchange) writeBodyPieces(buf []byte, length int64) error {
	body := ex.req.Body
	if length < 0 {
		return ex.writeChunked(buf)
	}
	left := length
	for {
		if len(buf) == cap(buf) { // a head as large as the buffer
			if err := ex.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		room := buf[len(buf):cap(buf)]
		if int64(len(room)) > left {
			room = room[:left]
		}
		n := 0
		var rerr error
		if len(room) > 0 {
			n, rerr = body.Read(room)
			if n > 0 {
				ex.bodyRead = true
			}
		}
		left -= int64(n)
		buf = buf[:len(buf)+n]
		if len(buf) > 0 && (rerr != nil || left == 0 || n > 0) {
			if err := ex.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if left == 0 {
			return nil
		}
		if rerr == io.EOF {
			return fmt.Errorf("upstream: request body ended %d bytes before its Content-Length %d", left, length)
		}
		if rerr != nil {
			return rerr
		}
	}
}

// writeChunked writes buf and the body in the chunked coding, one chunk
// per read of the body, each in one write together with its size line.
func (ex *exchange) writeChunked(buf []byte) error {
	body := ex.req.Body
	for {
		if len(buf)+chunkHeadRoom+4096 > cap(buf) { // a head almost as large as the buffer
			if err := ex.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		start := len(buf)
		full := buf[:cap(buf)]
		// Room: the size line before the data, CRLF and the last chunk after.
		n, rerr := body.Read(full[start+chunkHeadRoom : cap(buf)-8])
		out := buf
		if n > 0 {
			ex.bodyRead = true
			var sz [chunkHeadRoom]byte
			line := append(strconv.AppendInt(sz[:0], int64(n), 16), '\r', '\n')
			gap := chunkHeadRoom - len(line)
			if start > 0 {
				copy(full[gap:], full[:start]) // the head moves next to the size line
			}
			copy(full[start+gap:], line)
			out = append(full[gap:start+chunkHeadRoom+n], '\r', '\n')
		}
		if rerr == io.EOF {
			out = append(out, "0\r\n\r\n"...)
		}
		if len(out) > 0 && (n > 0 || rerr == io.EOF) {
			if err := ex.write(out); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// readResponse reads the final response head (skipping interim ones)
// within ResponseHeaderTimeout. afterWriteError: the request could not be
// written whole, so only a complete answer counts and the connection is
// not reused.
func (ex *exchange) readResponse(afterWriteError bool) (*http.Response, error) {
	pc := ex.pc
	cfg := &pc.p.c.cfg
	timeout := cfg.ResponseHeaderTimeout
	if afterWriteError {
		ex.noReuse = true
		if timeout <= 0 || timeout > time.Second {
			timeout = time.Second
		}
	}
	if timeout > 0 {
		pc.setReadDeadline(time.Now().Add(timeout))
	}
	for i := 0; ; i++ {
		h, err := readHead(pc.br, cfg.MaxResponseHeaderSize, &pc.scratch)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ex.ctx.Err() == nil && !afterWriteError {
				err = errHeaderTimeout
			}
			return nil, ex.fail(err)
		}
		if h.status/100 == 1 {
			if h.status == http.StatusSwitchingProtocols || i >= maxInterim {
				return nil, ex.fail(malformed("unexpected %d response", h.status))
			}
			continue
		}
		if timeout > 0 {
			pc.setReadDeadline(time.Time{})
		}
		return ex.response(h)
	}
}

// response builds the response for head h; its body reads from the
// connection.
func (ex *exchange) response(h head) (*http.Response, error) {
	f, err := responseFraming(&h, ex.req.Method)
	if err != nil {
		return nil, ex.fail(err)
	}
	res := &http.Response{
		Status:     h.statusText,
		StatusCode: h.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: h.minor,
		Header:        h.header,
		ContentLength: f.length,
		Close:         f.close,
		Trailer:       f.trailer,
		Request:       ex.req,
	}
	if h.minor == 0 {
		res.Proto = "HTTP/1.0"
	}
	reuse := !f.close && !ex.noReuse
	if f.noBody || f.length == 0 {
		if ex.req.Method == http.MethodHead {
			res.ContentLength = -1
			if v, ok := h.header["Content-Length"]; ok {
				res.ContentLength, _ = parseLength(v[0])
			}
		}
		res.Body = http.NoBody
		ex.pc.release(ex.stop() && reuse)
		return res, nil
	}
	b := &body{pc: ex.pc, stop: ex.stop, ctx: ex.ctx, res: res, left: f.length, reuse: reuse}
	if f.chunked {
		res.TransferEncoding = []string{"chunked"}
		b.cr = &chunkReader{br: ex.pc.br}
	}
	res.Body = b
	return res, nil
}

// body is a response body read from the connection. Read and Close must
// not be called concurrently.
type body struct {
	pc    *conn
	stop  func() bool
	ctx   context.Context
	res   *http.Response
	left  int64        // Content-Length bytes still to read; -1: chunked or until close
	cr    *chunkReader // chunked
	reuse bool         // the framing allows another request once the body is read
	done  bool
	err   error
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	switch {
	case b.cr != nil:
		n, err := b.cr.Read(p)
		if err == io.EOF {
			if len(b.cr.trailer) > 0 {
				if b.res.Trailer == nil {
					b.res.Trailer = make(http.Header, len(b.cr.trailer))
				}
				for k, vv := range b.cr.trailer {
					b.res.Trailer[k] = vv
				}
			}
			b.finish()
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	case b.left >= 0:
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := b.pc.br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.finish()
			return n, io.EOF
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, b.fail(err)
		}
		return n, nil
	default: // until the store closes the connection
		n, err := b.pc.br.Read(p)
		if err == io.EOF {
			b.finish()
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	}
}

// SpliceTo copies the rest of a body of known length from a plain TCP
// connection to w when w can take it from a reader itself
// (io.ReaderFrom, such as net/http's ResponseWriter over TCP, which then
// moves the bytes socket to socket with splice(2)): the bytes already
// buffered are written first, then exactly the remaining length is
// offered from the connection, so the connection can still be reused.
// handled is false, and nothing is read, when the body does not qualify
// (TLS, chunked, until close, w no io.ReaderFrom); the caller copies it
// then.
func (b *body) SpliceTo(w io.Writer) (n int64, handled bool, err error) {
	if b.err != nil || b.done || b.cr != nil || b.left <= 0 {
		return 0, false, nil
	}
	tc, ok := b.pc.nc.(*net.TCPConn)
	rf, ok2 := w.(io.ReaderFrom)
	if !ok || !ok2 {
		return 0, false, nil
	}
	if k := min(int64(b.pc.br.Buffered()), b.left); k > 0 {
		p, _ := b.pc.br.Peek(int(k))
		nw, err := w.Write(p)
		n += int64(nw)
		_, _ = b.pc.br.Discard(nw)
		b.left -= int64(nw)
		if err != nil {
			b.fail(err)
			return n, true, err
		}
	}
	if b.left > 0 {
		lr := &io.LimitedReader{R: tc, N: b.left}
		nr, err := rf.ReadFrom(lr)
		n += nr
		b.left = lr.N
		if err != nil {
			return n, true, b.fail(err)
		}
		if b.left > 0 {
			return n, true, b.fail(io.ErrUnexpectedEOF)
		}
	}
	b.finish()
	return n, true, nil
}

// finish ends a body read to its end: the connection goes back to the
// pool if its framing and the request allow.
func (b *body) finish() {
	b.done = true
	b.pc.release(b.stop() && b.reuse)
	b.pc = nil
}

func (b *body) fail(err error) error {
	if cerr := b.ctx.Err(); cerr != nil {
		err = cerr
	}
	b.err = err
	b.stop()
	b.pc.close()
	b.pc = nil
	return err
}

// Close closes the body; a body not read to its end closes its
// connection.
func (b *body) Close() error {
	if b.err == nil && !b.done {
		b.fail(errBodyClosed)
	}
	if b.done {
		b.err = errBodyClosed
	}
	return nil
}

// appendHead appends the request line and header of req to buf; length
// is the body's length (-1: chunked).
func appendHead(buf []byte, req *http.Request, length int64) ([]byte, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpguts.ValidHeaderFieldName(method) {
		return buf, fmt.Errorf("upstream: invalid method %q", method)
	}
	uri := req.URL.RequestURI()
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return buf, fmt.Errorf("upstream: invalid request target %q", uri)
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return buf, fmt.Errorf("upstream: invalid host %q", host)
	}
	buf = append(buf, method...)
	buf = append(buf, ' ')
	buf = append(buf, uri...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, host...)
	buf = append(buf, "\r\n"...)
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return buf, fmt.Errorf("upstream: invalid header name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return buf, fmt.Errorf("upstream: invalid value of header %s", k)
			}
			buf = append(buf, k...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, "\r\n"...)
		}
	}
	if req.Close {
		buf = append(buf, "Connection: close\r\n"...)
	}
	switch {
	case length < 0:
		buf = append(buf, "Transfer-Encoding: chunked\r\n"...)
	case length > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, length, 10)
		buf = append(buf, "\r\n"...)
	}
	return append(buf, "\r\n"...), nil
}
