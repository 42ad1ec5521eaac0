package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/devissuer"
)

// serveFixture runs an app against an httptest upstream.
type serveFixture struct {
	iss    *devissuer.Issuer
	cfg    string
	audit  string // the audit file
	app    *app
	url    string
	token  string
	cancel context.CancelFunc
	done   chan error
}

const serveConfig = `
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
server: {read_header_timeout: 500ms, shutdown_grace: %s}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles:
  - {name: reader, kind: machine, trust: {issuer: dev, claims: {sub: "svc-*"}}, policies: [%s]}
  - {name: uploader, kind: machine, trust: {issuer: dev, claims: {sub: "up-*"}}, policies: [write]}
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}'
  write: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"}]}'
  none: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}'
audit: {file: %q}
log: {level: error}
`

func newServeFixture(t *testing.T, upstream http.Handler, grace string, reload time.Duration) *serveFixture {
	t.Helper()
	return newServeFixtureWith(t, upstream, grace, appOptions{ReloadInterval: reload, DrainDelay: noDrain})
}

// newServeFixtureWith is newServeFixture with the given options (their
// Stdout and Stderr are discarded).
func newServeFixtureWith(t *testing.T, upstream http.Handler, grace string, opts appOptions) *serveFixture {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	f := &serveFixture{iss: devissuer.StartTest(t)}
	dir := t.TempDir()
	f.cfg = filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	f.audit = filepath.Join(dir, "audit.log")
	writeFile(t, f.cfg, fmt.Sprintf(serveConfig, up.URL, grace, f.iss.URL(), "read", f.audit))
	ctx, cancel := context.WithCancel(context.Background())
	opts.Stdout, opts.Stderr = io.Discard, io.Discard
	a, err := newApp(ctx, f.cfg, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f.app, f.url, f.cancel, f.done = a, "http://"+a.Addr(), cancel, make(chan error, 1)
	go func() { f.done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-f.done })
	f.token, err = f.iss.Mint(map[string]any{"sub": "svc-1", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *serveFixture) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// A gzip-encoded object reaches the client exactly as stored.
func TestCompressedObjectsAreNotDecoded(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(bytes.Repeat([]byte("compressible "), 1000))
	w.Close()
	stored := gz.Bytes()
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding %q was added toward the store", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", fmt.Sprint(len(stored)))
		w.Write(stored)
	}), "5s", time.Hour)
	res, body := f.get(t, "/bkt/archive.gz")
	if res.StatusCode != 200 || !bytes.Equal(body, stored) || res.Header.Get("Content-Encoding") != "gzip" ||
		res.Header.Get("Content-Length") != fmt.Sprint(len(stored)) {
		t.Fatalf("%d, %d bytes (stored %d), Content-Encoding %q, Content-Length %q", res.StatusCode, len(body), len(stored),
			res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"))
	}
}

func TestMetricsListener(t *testing.T) {
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }), "5s", time.Hour)
	f.get(t, "/bkt/k")
	res, err := http.Get("http://" + f.app.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`iamgate_requests_total{decision="allow",operation="GetObject",role_kind="machine",status_class="2xx"} 1`,
		`iamgate_jwks_refreshes_total{issuer="dev",result="ok"}`,
		"iamgate_config_last_reload_successful 1",
		"iamgate_request_duration_seconds_bucket", "go_goroutines",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Metrics are not served on the S3 listener.
	if res, _ := f.get(t, "/metrics"); res.StatusCode == 200 {
		t.Error("/metrics answered on the S3 listener")
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }), "5s", time.Hour)
	if res, _ := f.get(t, "/bkt/k"); res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
	raw, _ := os.ReadFile(f.cfg)
	writeFile(t, f.cfg, strings.Replace(string(raw), "policies: [read]", "policies: [none]", 1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if res, _ := f.get(t, "/bkt/k"); res.StatusCode == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the configuration")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On shutdown a transfer in flight finishes; new connections are refused.
func TestGracefulShutdownFinishesTransfers(t *testing.T) {
	started := make(chan struct{})
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000000")
		chunk := bytes.Repeat([]byte("a"), 100000)
		for i := 0; i < 20; i++ {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			if i == 0 {
				close(started)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}), "10s", time.Hour)
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", f.url+"/bkt/big", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		got <- result{len(b), err}
	}()
	<-started
	f.cancel()
	r := <-got
	if r.err != nil || r.n != 2000000 {
		t.Fatalf("in-flight transfer: %d bytes, %v", r.n, r.err)
	}
	if err := <-f.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.done <- nil // for the cleanup
	if _, err := net.DialTimeout("tcp", f.app.Addr(), time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// On shutdown, readiness fails first while requests are still served and
// connections accepted (with Connection: close), on new connections and on
// keep-alive connections that were idle; only when the drain delay ends
// does the listener close, and an upload in flight still completes.
func TestDrainBeforeShutdown(t *testing.T) {
	arrived := make(chan struct{})
	var stored atomic.Int64
	endDrain := make(chan time.Time)
	f := newServeFixtureWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			close(arrived)
			n, _ := io.Copy(io.Discard, r.Body)
			stored.Store(n)
		}
		io.WriteString(w, "ok")
	}), "1m", appOptions{ReloadInterval: time.Hour, DrainDelay: new(time.Hour),
		drainTimer: func(time.Duration) <-chan time.Time { return endDrain }})
	uploader, err := f.iss.Mint(map[string]any{"sub": "up-1", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	body, feed := io.Pipe()
	// Should the test stop early, the drain and the upload end, so that
	// the fixture's cleanup does not wait for them.
	var endOnce sync.Once
	finishDrain := func() { endOnce.Do(func() { close(endDrain) }) }
	t.Cleanup(func() { finishDrain(); feed.CloseWithError(errors.New("test over")) })
	type result struct {
		status int
		err    error
	}
	uploaded := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("PUT", f.url+"/bkt/big", body)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+uploader)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			uploaded <- result{err: err}
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		uploaded <- result{status: res.StatusCode}
	}()
	// A keep-alive connection, idle when the drain begins.
	idle, err := net.Dial("tcp", f.app.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleReader := bufio.NewReader(idle)
	getOnIdle := func() *http.Response {
		t.Helper()
		fmt.Fprintf(idle, "GET /bkt/small HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.token)
		idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(idleReader, nil)
		if err != nil {
			t.Fatalf("GET on the keep-alive connection: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := getOnIdle(); res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("GET before the drain: %s, Connection: close %v", res.Status, res.Close)
	}
	chunk := bytes.Repeat([]byte("u"), size/4)
	feed.Write(chunk)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload did not reach the store")
	}

	f.cancel() // as SIGTERM does
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, b := f.get(t, "/_iamgate/readyz")
		if res.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(string(b), `"shutdown":"shutting down"`) {
				t.Fatalf("readyz while draining: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never turned 503: %d %s", res.StatusCode, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Draining: a new connection is accepted and served, and told to close.
	res, b := f.get(t, "/bkt/small")
	if res.StatusCode != http.StatusOK || string(b) != "ok" || !res.Close {
		t.Fatalf("GET while draining: %s %q, Connection: close %v", res.Status, b, res.Close)
	}
	// The idle connection was not cut: a request sent on it is served, and
	// told to close.
	if res := getOnIdle(); res.StatusCode != http.StatusOK || !res.Close {
		t.Fatalf("GET on the idle connection while draining: %s, Connection: close %v", res.Status, res.Close)
	}

	finishDrain()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", f.app.Addr(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener is still open after the drain delay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		feed.Write(chunk)
	}
	feed.Close()
	if r := <-uploaded; r.err != nil || r.status != http.StatusOK || stored.Load() != size {
		t.Fatalf("upload in flight: status %d, %v; %d bytes stored", r.status, r.err, stored.Load())
	}
	if err := <-f.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.done <- nil // for the cleanup
}

// A client that never finishes its headers is disconnected.
func TestSlowHeadersAreCutOff(t *testing.T) {
	f := newServeFixture(t, http.NotFoundHandler(), "5s", time.Hour)
	conn, err := net.Dial("tcp", f.app.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /bkt/k HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// A policy with an unknown action is an error: serve refuses to start with
// it and a reload to it is rejected, so a misspelt Deny can never let
// through what it was written to stop. A policy with only warnings loads.
func TestPolicyMistakesOnServeAndReload(t *testing.T) {
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.WriteString(w, "x")
	}), "5s", time.Hour)
	del := func() int {
		t.Helper()
		req, _ := http.NewRequest("DELETE", f.url+"/bkt/k", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	raw, _ := os.ReadFile(f.cfg)
	withDeny := func(action, resource string) string {
		return strings.Replace(strings.Replace(string(raw), "policies: [read]", "policies: [all, keep]", 1), "policies:\n", "policies:\n"+
			`  all: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'`+"\n"+
			`  keep: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"`+action+`","Resource":"`+resource+`"}]}'`+"\n", 1)
	}
	ctx := context.Background()

	writeFile(t, f.cfg, withDeny("s3:DeleteObject", "arn:aws:s3:::bkt/*"))
	if err := f.app.reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if code := del(); code != 403 {
		t.Fatalf("DELETE under the Deny: %d", code)
	}

	// Misspelt, the Deny is refused and the previous configuration stays.
	writeFile(t, f.cfg, withDeny("s3:DeleteObjekt", "arn:aws:s3:::bkt/*"))
	err := f.app.reload(ctx, "test")
	if err == nil || !strings.Contains(err.Error(), `Action "s3:DeleteObjekt": no such S3 action (did you mean "s3:DeleteObject"?)`) ||
		!strings.Contains(err.Error(), f.cfg+":") {
		t.Fatalf("reload with a misspelt Deny: %v", err)
	}
	if code := del(); code != 403 {
		t.Fatalf("DELETE after the rejected reload: %d", code)
	}
	if got := testutil.ToFloat64(f.app.metrics.ReloadOK); got != 0 {
		t.Errorf("iamgate_config_last_reload_successful %v after a rejected reload, want 0", got)
	}
	if res, _ := f.get(t, "/bkt/k"); res.StatusCode != 200 {
		t.Fatalf("GET after the rejected reload: %s", res.Status)
	}

	// Nor does serve start with it.
	cfg2 := filepath.Join(filepath.Dir(f.cfg), "typo.yaml")
	writeFile(t, cfg2, withDeny("s3:DeleteObjekt", "arn:aws:s3:::bkt/*"))
	if _, err := newApp(ctx, cfg2, appOptions{Stdout: io.Discard, Stderr: io.Discard}); err == nil || !strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("serve with a misspelt Deny: %v", err)
	}

	// A Deny on the bucket instead of its objects is only a warning (it
	// never matches a delete): the reload applies.
	writeFile(t, f.cfg, withDeny("s3:DeleteObject", "arn:aws:s3:::bkt"))
	if err := f.app.reload(ctx, "test"); err != nil {
		t.Fatalf("reload with a warning: %v", err)
	}
	if code := del(); code != 204 {
		t.Fatalf("DELETE after the reload: %d", code)
	}
}

// An upload cut off when the shutdown grace period ends still gets its one
// audit event, before the stop event and the closing checkpoint.
func TestShutdownCutRequestIsAudited(t *testing.T) {
	arrived := make(chan struct{})
	f := newServeFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		io.Copy(io.Discard, r.Body) // the client never sends the whole body
		w.WriteHeader(http.StatusBadRequest)
	}), "100ms", time.Hour)
	token, err := f.iss.Mint(map[string]any{"sub": "up-1", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", f.app.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /bkt/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 1000000\r\n\r\n", token)
	conn.Write(bytes.Repeat([]byte("a"), 1000))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload did not reach the store")
	}
	f.cancel()
	if err := <-f.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.done <- nil // for the cleanup

	raw, err := os.ReadFile(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	upload, stop := -1, -1
	for i, line := range lines {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		switch {
		case ev.Kind == audit.KindS3 && ev.Operation == "PutObject":
			if upload >= 0 {
				t.Errorf("line %d: a second event for the upload", i+1)
			}
			upload = i
			if ev.Subject != "up-1" || ev.Decision != "allow" || ev.BytesIn < 1000 || ev.ErrorCode == "" && ev.Status < 400 {
				t.Errorf("upload event %+v", ev)
			}
		case ev.Kind == audit.KindStop:
			stop = i
		}
	}
	last, _ := audit.Decode(lines[len(lines)-1])
	switch {
	case upload < 0:
		t.Fatalf("no audit event for the upload cut by shutdown:\n%s", raw)
	case stop < upload:
		t.Fatalf("the stop event (line %d) is not after the upload's (line %d)", stop+1, upload+1)
	case last.Kind != audit.KindCheckpoint || last.Reason != audit.CheckpointClose || stop != len(lines)-2:
		t.Fatalf("the log does not end with the stop event and the closing checkpoint:\n%s", raw)
	}
	if rep := verifyLog(t, f.audit); !rep.OK() {
		t.Errorf("verify: %+v", rep)
	}
}

// verifyLog checks the hash chain of an audit file.
func verifyLog(t *testing.T, path string) *audit.Report {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	v := audit.NewVerifier(audit.VerifyConfig{})
	v.Read(filepath.Base(path), fh)
	return v.Finish()
}
