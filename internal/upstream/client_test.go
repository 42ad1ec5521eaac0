package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a TCP server whose connections are handled by serve, for
// stores that misbehave. It counts connections and records whether each
// one was closed by the client (EOF seen).
type rawServer struct {
	ln     net.Listener
	mu     sync.Mutex
	open   []net.Conn
	conns  atomic.Int64
	closed chan struct{} // one value per connection the client closed
	wg     sync.WaitGroup
}

func newRawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, closed: make(chan struct{}, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				serve(c, br)
				// Wait for the client to close its end.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				var ne net.Error
				if _, err := io.Copy(io.Discard, br); !errors.As(err, &ne) || !ne.Timeout() {
					s.closed <- struct{}{} // EOF or reset
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// waitClosed checks that the client closed a connection.
func (s *rawServer) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept the connection open")
	}
}

// readRequest reads one request head and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(req.Body)
	return req, b, err
}

func get(t *testing.T, c *Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.RoundTrip(req)
}

func TestKeepAliveReuse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("part one,"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
			w.Header().Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(204)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	defer srv.Close()
	c := New(Config{})
	for i, path := range []string{"/", "/chunked", "/empty", "/", "/chunked"} {
		res, err := get(t, c, srv.URL+path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch path {
		case "/chunked":
			if string(b) != "part one,part two" || res.Trailer.Get("X-Sum") != "42" || res.ContentLength != -1 {
				t.Fatalf("%d: %q trailer %v length %d", i, b, res.Trailer, res.ContentLength)
			}
		case "/empty":
			if res.StatusCode != 204 || len(b) != 0 {
				t.Fatalf("%d: %d %q", i, res.StatusCode, b)
			}
		default:
			if string(b) != "hello" || res.ContentLength != 5 {
				t.Fatalf("%d: %q", i, b)
			}
		}
	}
	if s := c.Stats(); s.Dials != 1 || s.Reuses != 4 || s.Idle != 1 {
		t.Fatalf("stats %+v, want 1 dial and 4 reuses", s)
	}
}

func TestHeadResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
	}))
	defer srv.Close()
	c := New(Config{})
	for range 2 {
		req, _ := http.NewRequest("HEAD", srv.URL, nil)
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.ContentLength != 1000 || res.Body != http.NoBody {
			t.Fatalf("length %d body %T", res.ContentLength, res.Body)
		}
	}
	if s := c.Stats(); s.Dials != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A body closed before its end, or broken off, takes its connection
// with it.
func TestHalfReadBodyNotReused(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, big)
	}))
	defer srv.Close()
	c := New(Config{})
	res, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, err := res.Body.Read(buf); err == nil {
		t.Fatal("read after Close succeeded")
	}
	if s := c.Stats(); s.Idle != 0 {
		t.Fatalf("a half-read connection is idle: %+v", s)
	}
	res, err = get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(b) != len(big) {
		t.Fatalf("read %d", len(b))
	}
	if s := c.Stats(); s.Dials != 2 || s.Idle != 1 {
		t.Fatalf("stats %+v, want 2 dials", s)
	}
}

func TestEarlyClose(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly fifty bytes..................................")
		c.(*net.TCPConn).CloseWrite()
	})
	c := New(Config{})
	res, err := get(t, c, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want unexpected EOF", err)
	}
	srv.waitClosed(t)
	if s := c.Stats(); s.Idle != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Responses whose framing is ambiguous or malformed are refused and their
// connection closed: the client never guesses where a response ends.
func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		name, response string
		inBody         bool // the head is fine, the body is not
	}{
		{"Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false},
		{"differing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", false},
		{"Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", false},
		{"signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", false},
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false},
		{"two Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false},
		{"bare CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", false},
		{"folded line", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", false},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", false},
		{"NUL in value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", false},
		{"bad status line", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/2 status line", "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false},
		{"bad trailer name", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", false},
		{"head too large", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 70) + "\r\n", false},
		{"line too long", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 5000) + "\r\n\r\n", false},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", true},
		{"signed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", true},
		{"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", true},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", true},
		{"chunk size bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", true},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-A b\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				readRequest(br)
				io.WriteString(c, tc.response)
			})
			c := New(Config{MaxResponseHeaderSize: 64 << 10, ReadBufferSize: 4096})
			res, err := get(t, c, srv.url())
			if tc.inBody {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(res.Body)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("got %v, want a malformed response", err)
			}
			srv.waitClosed(t)
			if s := c.Stats(); s.Idle != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// What net/http accepts in a response and is not ambiguous is accepted:
// interim responses, chunk extensions, repeated equal lengths, HTTP/1.0.
func TestTolerated(t *testing.T) {
	for _, tc := range []struct {
		name, response, body string
		reused               bool
	}{
		{"interim 103", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", true},
		{"chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2;name=value\r\nok\r\n0\r\n\r\n", "ok", true},
		{"equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "ok", true},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nok", "ok", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", false},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "ok", false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "ok", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				readRequest(br)
				io.WriteString(c, tc.response)
				if !tc.reused {
					c.(*net.TCPConn).CloseWrite()
				}
			})
			c := New(Config{})
			res, err := get(t, c, srv.url())
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != tc.body {
				t.Fatalf("%q %v", b, err)
			}
			res.Body.Close()
			if s := c.Stats(); (s.Idle == 1) != tc.reused {
				t.Fatalf("stats %+v, reusable: %v", s, tc.reused)
			}
		})
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n") // and nothing more
		time.Sleep(time.Second)
	})
	c := New(Config{ResponseHeaderTimeout: 100 * time.Millisecond})
	_, err := get(t, c, srv.url())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	srv.waitClosed(t)
}

func TestContextCancel(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		time.Sleep(time.Second)
	})
	c := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.url(), nil)
	_, err := c.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
	srv.waitClosed(t)

	// Canceled while the body is read.
	srv = newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		time.Sleep(time.Second)
	})
	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.url(), nil)
	res, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := io.ReadAll(res.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
	srv.waitClosed(t)
}

// A request on an idle connection the store has closed is sent again on a
// new one when that is safe (GET); a request with a body is sent only on a
// connection seen to be open.
func TestStaleIdleConnection(t *testing.T) {
	var bodies sync.Map
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		req, b, err := readRequest(br)
		if err != nil {
			return
		}
		bodies.Store(req.Method, string(b))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.(*net.TCPConn).CloseWrite() // without Connection: close
	})
	c := New(Config{})
	for i, method := range []string{"GET", "GET", "PUT", "DELETE"} {
		var body io.Reader
		if method == "PUT" {
			body = strings.NewReader("payload")
		}
		req, _ := http.NewRequest(method, srv.url(), body)
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatalf("%d %s: %v", i, method, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("%q", b)
		}
		time.Sleep(20 * time.Millisecond) // the store's FIN arrives
	}
	if v, _ := bodies.Load("PUT"); v != "payload" {
		t.Fatalf("PUT body %q", v)
	}
	if n := srv.conns.Load(); n != 4 {
		t.Fatalf("%d connections, want 4", n)
	}
}

// A GET whose reused connection fails before any response byte is sent
// again once; the second failure is reported.
func TestRetryOnce(t *testing.T) {
	var n atomic.Int64
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if n.Add(1) == 1 {
			readRequest(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			readRequest(br) // the second request on this connection: no answer
			c.Close()
			return
		}
		readRequest(br) // the retry: no answer either
		c.Close()
	})
	c := New(Config{})
	res, err := get(t, c, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	if _, err := get(t, c, srv.url()); err == nil {
		t.Fatal("no error")
	}
	if got := srv.conns.Load(); got != 2 {
		t.Fatalf("%d connections, want 2 (one retry)", got)
	}
}

func TestExpectContinue(t *testing.T) {
	payload := strings.Repeat("p", 100<<10)
	t.Run("continue", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue here
			io.WriteString(w, hash(b))
		}))
		defer srv.Close()
		c := New(Config{ExpectContinueTimeout: time.Minute})
		req, _ := http.NewRequest("PUT", srv.URL, strings.NewReader(payload))
		req.Header.Set("Expect", "100-continue")
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != hash([]byte(payload)) {
			t.Fatal("body changed")
		}
		if s := c.Stats(); s.Idle != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("final status", func(t *testing.T) {
		got := make(chan int, 1)
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied")
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := io.Copy(io.Discard, br)
			got <- int(n)
		})
		c := New(Config{ExpectContinueTimeout: time.Minute})
		body := &countReader{r: strings.NewReader(payload)}
		req, _ := http.NewRequest("PUT", srv.url(), body)
		req.Header.Set("Expect", "100-continue")
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 403 || string(b) != "denied" || body.n != 0 {
			t.Fatalf("%d %q, %d body bytes read", res.StatusCode, b, body.n)
		}
		if n := <-got; n != 0 {
			t.Fatalf("the store received %d body bytes", n)
		}
		if s := c.Stats(); s.Idle != 0 {
			t.Fatalf("reused after a final status to Expect: %+v", s)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
			_, b, err := readRequest(br) // no 100: the body comes after the timeout
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n%s", hash(b))
		})
		c := New(Config{ExpectContinueTimeout: 50 * time.Millisecond})
		req, _ := http.NewRequest("PUT", srv.url(), strings.NewReader(payload))
		req.Header.Set("Expect", "100-continue")
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != hash([]byte(payload)) {
			t.Fatal("body changed")
		}
	})
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// Uploads of known and unknown length arrive whole, the latter chunked;
// each read of the body is one write, head and first piece together.
func TestUploads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("X-Length", fmt.Sprint(r.ContentLength))
		w.Header().Set("X-Te", strings.Join(r.TransferEncoding, ","))
		io.WriteString(w, hash(b))
	}))
	defer srv.Close()
	c := New(Config{})
	for _, size := range []int{0, 1, 4096, BodyBufferSize - 100, BodyBufferSize + 1, 3 << 20} {
		payload := bytes.Repeat([]byte{'a', 'b', 'c'}, size/3+1)[:size]
		for _, known := range []bool{true, false} {
			var body io.Reader = bytes.NewReader(payload)
			if !known {
				body = io.MultiReader(body) // hides the length
			}
			req, _ := http.NewRequest("PUT", srv.URL, body)
			if !known {
				req.ContentLength = -1
			}
			res, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != hash(payload) {
				t.Fatalf("size %d known %v: body changed (%d)", size, known, res.StatusCode)
			}
			wantTE := ""
			if !known {
				wantTE = "chunked"
			}
			if te := res.Header.Get("X-Te"); te != wantTE {
				t.Fatalf("size %d known %v: Transfer-Encoding %q", size, known, te)
			}
		}
	}
	if s := c.Stats(); s.Dials != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A request body that ends before its Content-Length fails the request
// and closes the connection; a body's own error is returned as it is.
func TestShortRequestBody(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
	})
	c := New(Config{})
	req, _ := http.NewRequest("PUT", srv.url(), strings.NewReader("abc"))
	req.ContentLength = 10
	if _, err := c.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "Content-Length") {
		t.Fatalf("got %v", err)
	}
	srv.waitClosed(t)
	errBody := errors.New("the client's body failed")
	req, _ = http.NewRequest("PUT", srv.url(), io.MultiReader(strings.NewReader("abc"), errReader{errBody}))
	req.ContentLength = 10
	if _, err := c.RoundTrip(req); !errors.Is(err, errBody) {
		t.Fatalf("got %v", err)
	}
	srv.waitClosed(t)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Header values that would split the request are refused before anything
// is sent.
func TestInvalidRequestHeaders(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {})
	c := New(Config{})
	for _, h := range []http.Header{{"X-A": {"a\r\nX-B: b"}}, {"X A": {"a"}}, {"X-A": {"a\x00"}}} {
		req, _ := http.NewRequest("GET", srv.url(), nil)
		req.Header = h
		if _, err := c.RoundTrip(req); err == nil {
			t.Fatalf("%v sent", h)
		}
	}
}

func TestIdleTimeoutAndMax(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := New(Config{IdleConnTimeout: 50 * time.Millisecond, MaxIdleConns: 2})
	var res []*http.Response
	for range 4 { // four at once: four connections
		r, err := get(t, c, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	for _, r := range res {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
	if s := c.Stats(); s.Dials != 4 || s.Idle != 2 {
		t.Fatalf("stats %+v, want 4 dials and 2 idle", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Idle != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle connections not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHTTPS(t *testing.T) {
	var protos sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		io.WriteString(w, "secure")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := New(Config{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}}})
	for range 3 {
		res, err := get(t, c, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "secure" {
			t.Fatalf("%q", b)
		}
	}
	if _, ok := protos.Load("HTTP/1.1"); !ok {
		t.Fatal("not HTTP/1.1")
	}
	if s := c.Stats(); s.Dials != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The system roots do not trust the test certificate.
	if _, err := get(t, New(Config{}), srv.URL); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
}

// When the store has closed every idle connection (its idle timeout), a
// GET still succeeds: checked before use when idle a while, otherwise
// sent once more on a new connection.
func TestAllIdleConnectionsClosed(t *testing.T) {
	for _, checkIdle := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint(checkIdle), func(t *testing.T) {
			var mu sync.Mutex
			var open []net.Conn
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			c := New(Config{})
			c.checkIdle = checkIdle
			var res []*http.Response
			for range 4 {
				r, err := get(t, c, srv.url())
				if err != nil {
					t.Fatal(err)
				}
				res = append(res, r)
			}
			for _, r := range res {
				io.ReadAll(r.Body)
				r.Body.Close()
			}
			mu.Lock()
			for _, oc := range open {
				oc.(*net.TCPConn).CloseRead()
				oc.(*net.TCPConn).CloseWrite()
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			for i := range 4 {
				r, err := get(t, c, srv.url())
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.ReadAll(r.Body)
				r.Body.Close()
			}
		})
	}
}

// A store that answers before it has read the body (and then closes the
// connection, or stops reading) has its answer returned; the connection
// is not reused.
func TestEarlyAnswerToUpload(t *testing.T) {
	for _, closeConn := range []bool{true, false} {
		t.Run(fmt.Sprint("close=", closeConn), func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 3\r\n\r\nbig")
				if closeConn {
					c.Close()
					return
				}
				time.Sleep(time.Second) // neither reads nor closes
			})
			c := New(Config{ResponseHeaderTimeout: 300 * time.Millisecond})
			req, _ := http.NewRequest("PUT", srv.url(), bytes.NewReader(make([]byte, 64<<20)))
			res, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 413 || string(b) != "big" {
				t.Fatalf("%d %q", res.StatusCode, b)
			}
			if s := c.Stats(); s.Idle != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// SpliceTo moves a body of known length from a plain TCP connection to a
// writer that reads for itself (here a TCP connection), the buffered part
// first, and leaves the connection reusable; other bodies are left to the
// caller.
func TestSpliceTo(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 500_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write(payload[:10])
			w.(http.Flusher).Flush()
			w.Write(payload[:10])
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
		w.Write(payload)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	sink, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{})
	res, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sp := res.Body.(interface {
		SpliceTo(io.Writer) (int64, bool, error)
	})
	n, handled, err := sp.SpliceTo(sink)
	if err != nil || !handled || n != int64(len(payload)) {
		t.Fatalf("%d %v %v", n, handled, err)
	}
	sink.Close()
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("%d bytes arrived, changed", len(b))
	}
	if s := c.Stats(); s.Idle != 1 {
		t.Fatalf("stats %+v", s)
	}
	res, err = get(t, c, srv.URL+"/chunked")
	if err != nil {
		t.Fatal(err)
	}
	if _, handled, _ := res.Body.(interface {
		SpliceTo(io.Writer) (int64, bool, error)
	}).SpliceTo(&bytes.Buffer{}); handled {
		t.Fatal("a chunked body was spliced")
	}
	res.Body.Close()
}
