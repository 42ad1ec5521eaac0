package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The forwarder streams what the store sends: a response of unknown length
// reaches the client piece by piece, before the store has finished.
func TestForwardStreamsUnknownLength(t *testing.T) {
	release := make(chan struct{})
	var waited atomic.Bool // the store gave up waiting for the client to see the first piece
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			waited.Store(true)
		}
		io.WriteString(w, "second\n")
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Fatalf("first piece: %q %v", line, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" || waited.Load() {
		t.Fatalf("rest %q; the first piece arrived only after the store finished: %v", rest, waited.Load())
	}
	if res.Header.Get("X-Amz-Request-Id") == "UPSTREAM1" || res.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("request id %q", res.Header.Get("X-Amz-Request-Id"))
	}
}

// Trailers of the store's response are passed on.
func TestForwardPassesTrailers(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Amz-Checksum-Crc32")
		io.WriteString(w, "body")
		w.Header().Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
		t.Fatalf("body %q trailer %v", b, res.Trailer)
	}
}

// A response the store breaks off midway is broken off toward the client
// too (never completed as if it were whole), and audited as aborted.
func TestForwardAbortsBrokenResponse(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("a broken-off response reached the client as complete")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		evs := f.events(t)
		if len(evs) > 0 {
			if ev := evs[len(evs)-1]; ev.ErrorCode != "ResponseAborted" {
				t.Fatalf("audit error code %q", ev.ErrorCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit event")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
