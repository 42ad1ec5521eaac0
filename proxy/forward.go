package proxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/upstream"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// exchange is the state of one request as it moves through the handler.
type exchange struct {
	start       time.Time
	rid         string
	gen         *Generation
	w           *responseRecorder
	body        *countingBody
	sourceIP    netip.Addr
	secure      bool
	fwd         forward
	sentAt      time.Time
	upstreamDur time.Duration
	ev          audit.Event
	// signedIn: a usable browser session authenticated the request.
	signedIn    bool
	outBody     noopCloseBody
	hopNamed    []string   // headers removed because Connection named them
	v2          v2Kind     // how a Signature Version 2 request was signed
	query       url.Values // the parsed query, see queryValues
	queryParsed bool
	sig         *sigv4.Auth // set for SigV4-authenticated requests
	secret      string      // the secret that verified sig
	lim         limitState  // limits of the request, when its role has some
	// guardINM: an overwrite guard added If-None-Match: * (the client sent
	// none), under the setting guardMode; the store's 412 means the key
	// exists.
	guardINM  bool
	guardMode GuardMode
	// grants are the roles the caller holds through just-in-time grants.
	grants []grantUse
	// corked holds a small response back until its audit event is
	// written (finish).
	corked *framedConn
}

// queryValues returns r's query, parsed once per request (nil when there
// is none). Callers must not modify it.
func (ex *exchange) queryValues(r *http.Request) url.Values {
	if !ex.queryParsed {
		ex.queryParsed = true
		if r.URL.RawQuery != "" {
			ex.query = r.URL.Query()
		}
	}
	return ex.query
}

// forward is what the upstream request is built from: only values the
// handler classified and authorized, never the client's raw path, query or
// headers.
type forward struct {
	path   string      // decoded, path-style
	query  string      // encoded (s3req.Request.UpstreamQuery)
	header http.Header // the headers that were classified and authorized (requestHeader)
}

// Response bodies are copied with a pooled buffer: 64 KiB, or 256 KiB for
// bodies of 1 MiB and more, so a large object moves in fewer, larger
// reads and writes.
var (
	copyBufPool      = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	largeCopyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
)

// largeBody is the response length from which largeCopyBufPool is used.
const largeBody = 1 << 20

// ownedRoundTripper is a transport that may sign and send the request it
// is given in place (sigv4.Transport): the forwarder builds a fresh
// request per call, so the copy RoundTrip makes is not needed.
type ownedRoundTripper interface {
	RoundTripOwned(*http.Request) (*http.Response, error)
}

// forward sends the classified and authorized request to the store with
// transport and streams the answer to the client. The outbound request is
// built from ex.fwd only (path, query and headers as authorized) plus
// X-Forwarded-For with the caller's address; hop-by-hop response headers
// are dropped; a response of unknown length is flushed as it arrives;
// trailers are passed on; a response the store breaks off midway aborts
// the client's response (http.ErrAbortHandler); a request that cannot be
// sent is answered by upstreamError.
func (h *Handler) forward(ex *exchange, w http.ResponseWriter, r *http.Request, transport http.RoundTripper) {
	up := h.cfg.Upstream
	out := &http.Request{
		Method: r.Method,
		URL: &url.URL{Scheme: up.Scheme, Host: up.Host, Path: ex.fwd.path,
			RawPath: s3req.UriEncodePath(ex.fwd.path), RawQuery: ex.fwd.query},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:           ex.fwd.header,
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Host:             up.Host,
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// The transport closes the body it is given, also when it cannot
		// connect; the client's body must stay open (an unread 100-continue
		// body would hang on Close), so it gets a Close that does nothing.
		ex.outBody.rc = r.Body
		out.Body = &ex.outBody
	}
	if out.Header == nil {
		out.Header = make(http.Header, 1)
	}
	if ex.sourceIP.IsValid() {
		out.Header["X-Forwarded-For"] = []string{ex.sourceIP.String()}
	}
	out = out.WithContext(r.Context())

	ex.sentAt = time.Now()
	var res *http.Response
	var err error
	if ot, ok := transport.(ownedRoundTripper); ok {
		res, err = ot.RoundTripOwned(out)
	} else {
		res, err = transport.RoundTrip(out)
	}
	if err != nil {
		h.upstreamError(ex, w, r, err)
		return
	}
	ex.upstreamDur = time.Since(ex.sentAt)
	ex.ev.UpstreamRequestID = res.Header.Get("X-Amz-Request-Id")
	if ex.lim.on && h.limitResponse(ex, r, res) {
		return
	}

	rh := res.Header
	for _, v := range rh["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				rh.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(rh, k)
	}
	// The client gets iamgate's request id; the store's is in the audit event.
	delete(rh, "X-Amz-Request-Id")
	delete(rh, "X-Amz-Id-2")
	wh := w.Header()
	for k, vv := range rh {
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			// User metadata names go out as S3 and MinIO send them, in
			// lower case (clients read them case-sensitively: boto3's
			// Metadata keys); Go's client canonicalized them on the way in.
			// net/http writes a header name as it is in the map.
			k = strings.ToLower(k)
		}
		if cur, ok := wh[k]; ok {
			wh[k] = append(cur, vv...)
		} else {
			wh[k] = vv
		}
	}
	if ex.signedIn {
		// What a session cookie authorized is the signed-in person's, and
		// only while the session holds: no shared cache keeps it, and the
		// browser asks iamgate again before reusing it (after sign-out,
		// a revocation or a grant's end it gets a refusal, not its copy),
		// whatever caching the object's metadata asks for.
		wh.Set("Cache-Control", "private, no-cache")
		delete(wh, "Expires")
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		wh.Add("Trailer", strings.Join(keys, ", "))
	}
	if ex.guardINM && res.StatusCode == http.StatusPreconditionFailed {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, errorBodyMax))
		res.Body.Close()
		for k := range wh {
			if k != "X-Amz-Request-Id" {
				delete(wh, k)
			}
		}
		h.overwriteRefused(ex, w, r)
		return
	}
	if res.StatusCode >= 400 && r.Method != http.MethodHead && ex.ev.UpstreamRequestID != "" &&
		res.ContentLength >= 0 && res.ContentLength <= errorBodyMax && len(res.Trailer) == 0 {
		h.relayError(ex, w, r, res)
		return
	}
	var rc *http.ResponseController
	streamed := res.ContentLength == -1 || isEventStream(rh.Get("Content-Type"))
	var fc *framedConn
	if !streamed && res.ContentLength > 0 && res.ContentLength <= corkBody && r.Method != http.MethodHead && !h.noCork {
		// A small body: its head and body leave in one write (below).
		if fc, _ = r.Context().Value(framingKey{}).(*framedConn); fc != nil {
			fc.cork()
			ex.corked = fc // finish sends it, after the audit event
		}
	}
	w.WriteHeader(res.StatusCode)

	if streamed {
		// Streamed: pass each piece on as it arrives, the header at once.
		rc = http.NewResponseController(w)
		_ = rc.Flush()
	}
	pool := &copyBufPool
	if res.ContentLength >= largeBody && r.Method != http.MethodHead && res.Body != http.NoBody {
		pool = &largeCopyBufPool
	}
	handled := false
	if sp, ok := res.Body.(splicer); ok && rc == nil && pool == &largeCopyBufPool && r.TLS == nil && !h.noSplice {
		// A large body from a plain TCP connection to a plain TCP client:
		// socket to socket, without passing through user space.
		if _, handled, err = sp.SpliceTo(w); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Warn("upstream response body copy failed", "err", err)
		}
	}
	if !handled {
		err = h.copyBody(w, res.Body, rc, pool)
	}
	if err != nil {
		res.Body.Close()
		if r.Context().Value(http.ServerContextKey) == nil {
			return // not under an http.Server, which would recover the panic
		}
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // now, to populate res.Trailer
	if fc != nil {
		// The whole response is written: out of net/http's buffer into
		// the connection's, which finish sends in one write once the
		// event is written.
		_ = http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) > 0 {
		// Force chunking, so the trailer can follow the body.
		_ = http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			wh[k] = append(wh[k], vv...)
		}
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		wh[k] = append(wh[k], vv...)
	}
}

// splicer is a response body that can move itself to w without a copy
// through user space (internal/upstream's, from a plain TCP connection);
// handled is false when it cannot, and nothing was read.
type splicer interface {
	SpliceTo(w io.Writer) (n int64, handled bool, err error)
}

// errorBodyMax bounds the store's error documents that relayError reads
// to give them iamgate's request ID.
const errorBodyMax = 64 << 10

// relayError sends the store's error answer (a small body of known
// length) with the store's request ID in its <RequestId> replaced by
// iamgate's, which the x-amz-request-id header carries: S3 clients report
// both, and they must name the same request. The store's ID is in the
// audit event (upstreamRequestId). A body that does not hold the store's
// ID as <RequestId> is sent unchanged.
func (h *Handler) relayError(ex *exchange, w http.ResponseWriter, r *http.Request, res *http.Response) {
	body, err := readLimited(res.Body, errorBodyMax)
	res.Body.Close()
	if err != nil {
		h.upstreamError(ex, w, r, err)
		return
	}
	old := "<RequestId>" + ex.ev.UpstreamRequestID + "</RequestId>"
	if i := bytes.Index(body, []byte(old)); i >= 0 {
		body = slices.Concat(body[:i], []byte("<RequestId>"+ex.rid+"</RequestId>"), body[i+len(old):])
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}

func isEventStream(ct string) bool {
	const es = "text/event-stream"
	ct = strings.TrimSpace(ct)
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false // what ParseMediaType would not call an event stream
	}
	base, _, _ := mime.ParseMediaType(ct)
	return base == "text/event-stream"
}

// copyBody copies the store's response body to the client with a buffer
// from pool, flushing after every write when rc is set. Read errors other
// than a canceled request are logged; any error means the response is
// incomplete.
func (h *Handler) copyBody(w io.Writer, body io.Reader, rc *http.ResponseController, pool *sync.Pool) error {
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	buf := *bp
	for {
		nr, rerr := body.Read(buf)
		if rerr != nil && rerr != io.EOF && rerr != context.Canceled {
			h.log.Warn("upstream response body read failed", "err", rerr)
		}
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return werr
			}
			if nw != nr {
				return io.ErrShortWrite
			}
			if rc != nil {
				_ = rc.Flush()
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}

// noopCloseBody is a request body whose Close does nothing.
type noopCloseBody struct{ rc io.Reader }

func (b *noopCloseBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b *noopCloseBody) Close() error               { return nil }

// errNoUpstreamCredentials answers a request that could not be signed:
// iamgate's temporary credentials for the store are missing or expired
// (the store's STS could not renew them).
var errNoUpstreamCredentials = s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
	"iamgate has no valid credentials for the storage service at the moment (they could not be obtained or renewed from the store's STS). Please try again.")

// errBadGateway answers a request whose response from the store was
// malformed.
var errBadGateway = s3err.New(http.StatusBadGateway, "BadGateway",
	"The storage service sent a response iamgate cannot pass on. Please try again.")

// countUpstreamError counts a request the store did not answer.
func (h *Handler) countUpstreamError(reason string) {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.UpstreamErrors.WithLabelValues(reason).Inc()
	}
}

// upstreamError answers when the store could not be reached or did not
// answer in time: 503 or 504 as an S3 error, never a hang.
func (h *Handler) upstreamError(ex *exchange, w http.ResponseWriter, r *http.Request, err error) {
	if ex != nil && !ex.sentAt.IsZero() {
		ex.upstreamDur = time.Since(ex.sentAt)
	}
	var serr *s3err.Error
	var ne net.Error
	switch {
	case errors.As(err, &serr):
		// The request body failed verification on its way through (a
		// chunk signature, a trailer checksum, a short body): the
		// caller's error, and the store saw an aborted upload.
		if ex != nil {
			ex.ev.Decision = "deny"
			ex.ev.Reason = "bad_body"
			ex.ev.ErrorCode, ex.ev.Message = serr.Code, serr.Message
			if !ex.w.wroteHeader {
				s3err.Write(w, r, serr, ex.rid)
			}
		}
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; there is nobody to answer.
		if ex != nil {
			ex.ev.ErrorCode = "ClientClosedRequest"
			ex.w.code = 499
		}
		return
	case errors.Is(err, errClientBody):
		serr = s3err.New(http.StatusBadRequest, "IncompleteBody", "The request body ended before the declared length.")
	case errors.Is(err, sigv4.ErrNoCredentials):
		serr = errNoUpstreamCredentials
	case errors.Is(err, upstream.ErrMalformedResponse):
		// The store's answer cannot be passed on safely (ambiguous
		// framing, a malformed head): nothing of it reaches the client.
		serr = errBadGateway
		h.countUpstreamError("malformed")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		serr = s3err.ErrGatewayTimeout
		h.countUpstreamError("timeout")
	default:
		serr = s3err.ErrServiceUnavailable
		h.countUpstreamError("unavailable")
	}
	if ex == nil {
		s3err.Write(w, r, serr, "")
		return
	}
	ex.ev.Decision = "allow"
	ex.ev.ErrorCode = serr.Code
	ex.ev.Message = "upstream: " + err.Error()
	h.log.Warn("upstream request failed", "request_id", ex.rid, "err", err)
	if !ex.w.wroteHeader {
		s3err.Write(w, r, serr, ex.rid)
	}
}

// responseRecorder counts what is sent to the client.
type responseRecorder struct {
	http.ResponseWriter
	code        int
	n           int64
	wroteHeader bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code = code
		if code >= 200 {
			w.wroteHeader = true
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *responseRecorder) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseRecorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// errClientBody marks a failure reading the client's request body.
var errClientBody = errors.New("client request body")

// countingBody counts request body bytes and marks read errors as the
// client's, so they are not reported as an unavailable store.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		err = errors.Join(errClientBody, err)
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

type bytesBody struct {
	data []byte
	off  int
}

func (b *bytesBody) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *bytesBody) Close() error { return nil }

var errTooLarge = errors.New("body too large")

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

func contentMD5(data []byte) string {
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}
