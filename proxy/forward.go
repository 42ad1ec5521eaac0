package proxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

type exchangeKey struct{}

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
	sig         *sigv4.Auth // set for SigV4-authenticated requests
	secret      string      // the secret that verified sig
}

// forward is what the upstream request is built from: only values the
// handler classified and authorized, never the client's raw path.
type forward struct {
	path       string // decoded, path-style
	query      string // encoded
	copySource string // canonical x-amz-copy-source, if any
}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *(copyBufPool.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBufPool.Put(&b) }

func (h *Handler) newReverseProxy() *httputil.ReverseProxy {
	up := h.cfg.Upstream
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			ex := exchangeFrom(pr.In.Context())
			out := pr.Out
			out.URL.Scheme = up.Scheme
			out.URL.Host = up.Host
			out.URL.Path = ex.fwd.path
			out.URL.RawPath = s3req.UriEncodePath(ex.fwd.path)
			out.URL.RawQuery = ex.fwd.query
			out.Host = up.Host
			if ex.fwd.copySource != "" {
				out.Header.Set("X-Amz-Copy-Source", ex.fwd.copySource)
			}
			// The transport owns the length; a header copy would be signed twice.
			out.Header.Del("Content-Length")
			ex.sentAt = time.Now()
		},
		Transport: h.cfg.Transport,
		ModifyResponse: func(resp *http.Response) error {
			ex := exchangeFrom(resp.Request.Context())
			if ex != nil {
				ex.upstreamDur = time.Since(ex.sentAt)
				ex.ev.UpstreamRequestID = resp.Header.Get("X-Amz-Request-Id")
			}
			// The client gets iamgate's request id; the store's is in the audit event.
			resp.Header.Del("X-Amz-Request-Id")
			resp.Header.Del("X-Amz-Id-2")
			return nil
		},
		ErrorHandler: h.upstreamError,
		BufferPool:   bufferPool{},
		ErrorLog:     nil,
	}
}

// upstreamError answers when the store could not be reached or did not
// answer in time: 503 or 504 as an S3 error, never a hang.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
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
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		serr = s3err.ErrGatewayTimeout
	default:
		serr = s3err.ErrServiceUnavailable
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
