package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn that reads a fixed response and discards writes.
type memConn struct {
	r *bytes.Reader
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// roundTripBytes sends a request for method to a store that answers with
// raw, and reads the whole body.
func roundTripBytes(method string, raw []byte) (*http.Response, []byte, error) {
	c := New(Config{MaxResponseHeaderSize: 8 << 10, ReadBufferSize: 4096})
	c.dialFunc = func(context.Context, string) (net.Conn, error) { return &memConn{bytes.NewReader(raw)}, nil }
	req, _ := http.NewRequest(method, "http://store/x", nil)
	res, err := c.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, b, err
}

var fuzzResponses = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nno",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Amz-Meta-A: b\r\nx-amz-request-id: 1\r\nContent-Length: 0\r\n\r\n",
}

// FuzzResponse reads arbitrary bytes as the store's response. What the
// client accepts, net/http's reader accepts too and reads the same way
// (status, header values, body, trailer); the client only refuses more.
func FuzzResponse(f *testing.F) {
	for _, s := range fuzzResponses {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		res, body, err := roundTripBytes(method, []byte(raw))
		if err != nil {
			return
		}
		br := bufio.NewReader(strings.NewReader(raw))
		req, _ := http.NewRequest(method, "http://store/x", nil)
		var want *http.Response
		for {
			want, err = http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("accepted what net/http refuses (%v): %q", err, raw)
			}
			if want.StatusCode/100 != 1 {
				break
			}
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("accepted a body net/http cannot read (%v): %q", err, raw)
		}
		if res.StatusCode != want.StatusCode || !bytes.Equal(body, wantBody) {
			t.Fatalf("got %d %q, net/http %d %q: %q", res.StatusCode, body, want.StatusCode, wantBody, raw)
		}
		if res.ContentLength != want.ContentLength {
			t.Fatalf("length %d, net/http %d: %q", res.ContentLength, want.ContentLength, raw)
		}
		for k, vv := range want.Header {
			if k == "Transfer-Encoding" {
				continue
			}
			if strings.Join(res.Header[k], "\x00") != strings.Join(vv, "\x00") {
				t.Fatalf("header %s: %q, net/http %q: %q", k, res.Header[k], vv, raw)
			}
		}
		if len(res.Header) != len(want.Header) {
			t.Fatalf("header %v, net/http %v: %q", res.Header, want.Header, raw)
		}
		for k, vv := range want.Trailer {
			if strings.Join(res.Trailer[k], "\x00") != strings.Join(vv, "\x00") {
				t.Fatalf("trailer %s: %q, net/http %q: %q", k, res.Trailer[k], vv, raw)
			}
		}
	})
}

// FuzzChunked reads arbitrary bytes as a chunked body: what the client's
// reader accepts, net/http's chunked reader accepts with the same data.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\nX-A: b\r\n\r\n", "A\r\n0123456789\r\n0\r\n\r\n",
		"0\r\n\r\n", "ffffffffffffffff\r\n", "5\nhello\n0\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cr := &chunkReader{br: bufio.NewReaderSize(strings.NewReader(raw), 4096)}
		got, err := io.ReadAll(cr)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither malformed nor a short body", err)
			}
			return
		}
		want, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", err, raw)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, net/http %q", got, want)
		}
	})
}
