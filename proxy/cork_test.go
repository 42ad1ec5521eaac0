package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/upstream"
)

// writeCounter is a listener whose connections count their writes.
type writeCounter struct {
	net.Listener
	mu     sync.Mutex
	writes []int
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l *writeCounter
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, len(p))
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// servedThroughFraming serves h the way iamgate serve does, counting the
// writes of its connections.
func servedThroughFraming(t testing.TB, h http.Handler) (addr string, wc *writeCounter) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wc = &writeCounter{Listener: ln}
	srv := &http.Server{Handler: h, ConnContext: ConnContext}
	go srv.Serve(FramingListener(wc))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), wc
}

// A small response leaves in one write, head and body together; a large
// one streams as before.
func TestSmallResponseOneWrite(t *testing.T) {
	for _, size := range []int{4096, 20000, corkBody, 1 << 20} {
		body := strings.Repeat("b", size)
		f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			io.WriteString(w, body)
		}, nil)
		addr, wc := servedThroughFraming(t, f.h)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		tok := f.token(t, "alice", "staff")
		for i := range 2 {
			wc.mu.Lock()
			wc.writes = nil
			wc.mu.Unlock()
			io.WriteString(c, "GET /bkt/home/alice/obj HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(b) != body {
				t.Fatalf("size %d: %d, %d bytes", size, res.StatusCode, len(b))
			}
			wc.mu.Lock()
			n := len(wc.writes)
			wc.mu.Unlock()
			if size <= corkBody && n != 1 {
				t.Fatalf("size %d, request %d: %d writes", size, i, n)
			}
			if size > corkBody && n < 2 {
				t.Fatalf("size %d: %d writes", size, n)
			}
		}
	}
}

// BenchmarkServeGetFramed is a 4 KiB GET served the way iamgate serve
// serves it (FramingListener), with the response written in one piece
// (cork) or as net/http writes it.
func BenchmarkServeGetFramed(b *testing.B) {
	body := strings.Repeat("x", 4096)
	for _, cork := range []bool{false, true} {
		name := "nocork"
		if cork {
			name = "cork"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "4096")
				io.WriteString(w, body)
			}, nil)
			f.h.noCork = !cork
			f.audit.Grow(1 << 20)
			addr, _ := servedThroughFraming(b, f.h)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			req, _ := http.NewRequest("GET", "http://"+addr+"/bkt/home/alice/obj", nil)
			req.Header.Set("Authorization", "Bearer "+f.token(b, "alice", "staff"))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatal(res.Status)
				}
				f.auditMu.Lock()
				f.audit.Reset()
				f.auditMu.Unlock()
			}
			reportCPU(b, cpu)
		})
	}
}

// Large downloads over plain TCP move socket to socket (splice) and leave
// the store's connection reusable; one the client abandons midway closes
// it.
func TestLargeDownloadSpliced(t *testing.T) {
	const size = 32<<20 + 123
	body := strings.Repeat("0123456789abcdef", size/16+1)[:size]
	base := upstream.New(upstream.Config{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.WriteString(w, body)
	}, base)
	addr, _ := servedThroughFraming(t, f.h)
	tok := f.token(t, "alice", "staff")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for range 3 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/bkt/home/alice/big", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(b) != body {
			t.Fatalf("%d bytes, %v", len(b), err)
		}
	}
	if s := base.Stats(); s.Dials != 1 || s.Idle != 1 {
		t.Fatalf("store connections %+v, want one reused", s)
	}
	// A client that goes away after 64 KiB.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /bkt/home/alice/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	io.ReadFull(c, make([]byte, 64<<10))
	c.Close()
	f.h.Wait(context.Background())
	if s := base.Stats(); s.Idle != 0 {
		t.Fatalf("store connections %+v: a half-sent body's connection is idle", s)
	}
}

// probeSink checks, when an event is written, whether the client already
// holds bytes of the response (on loopback a write is readable by the
// peer as soon as it returns): it peeks at the client's socket without
// taking anything from it.
type probeSink struct {
	client *net.TCPConn
	mu     sync.Mutex
	early  int // bytes the client could read before the event was written
	events int
}

func (s *probeSink) WriteEvent([]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	rc, err := s.client.SyscallConn()
	if err != nil {
		return err
	}
	var b [64 << 10]byte
	return rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == nil {
			s.early += n
		}
	})
}

// A response held back to leave in one write is sent only after its audit
// event is written: a client never has a response whose event is not.
func TestSmallResponseAfterAuditEvent(t *testing.T) {
	for _, size := range []int{0, 100, 4096, corkBody} {
		body := strings.Repeat("b", size)
		f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			io.WriteString(w, body)
		}, nil)
		addr, _ := servedThroughFraming(t, f.h)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sink := &probeSink{client: c.(*net.TCPConn)}
		f.h.cfg.Audit = audit.NewLogger(sink)
		tok := f.token(t, "alice", "staff")
		io.WriteString(c, "GET /bkt/home/alice/obj HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != body {
			t.Fatalf("size %d: %d, %d bytes", size, res.StatusCode, len(b))
		}
		sink.mu.Lock()
		if sink.events != 1 || sink.early != 0 {
			t.Errorf("size %d: %d events; %d bytes of the response reached the client before its event was written", size, sink.events, sink.early)
		}
		sink.mu.Unlock()
	}
}
