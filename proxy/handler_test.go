package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/upstream"
	"github.com/iamgate/iamgate/sigv4"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Home","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::bkt/home/${aws:username}/*"},
 {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}},
 {"Sid":"ReadShared","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/shared/*"},
 {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::bkt/shared/secret/*"}]}`

type upstreamLog struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (l *upstreamLog) count() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.reqs) }
func (l *upstreamLog) last() (*http.Request, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reqs[len(l.reqs)-1], l.body[len(l.body)-1]
}

type fixture struct {
	iss     *devissuer.Issuer
	h       *Handler
	srv     *httptest.Server
	up      *httptest.Server
	upLog   *upstreamLog
	audit   *bytes.Buffer
	auditMu *sync.Mutex
	metrics *prometheus.Registry
	m       *Metrics
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newFixture(t testing.TB, upstream http.HandlerFunc, base http.RoundTripper) *fixture {
	t.Helper()
	f := &fixture{iss: devissuer.StartTest(t), upLog: &upstreamLog{}, audit: &bytes.Buffer{}, auditMu: &sync.Mutex{}}
	if upstream == nil {
		upstream = func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "object body") }
	}
	f.up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.upLog.mu.Lock()
		f.upLog.reqs = append(f.upLog.reqs, r.Clone(context.Background()))
		f.upLog.body = append(f.upLog.body, b)
		f.upLog.mu.Unlock()
		w.Header().Set("X-Amz-Request-Id", "UPSTREAM1")
		upstream(w, r)
	}))
	t.Cleanup(f.up.Close)
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "p", JSON: []byte(testPolicy)}},
		Roles: []authz.RoleConfig{{Name: "member", Kind: "human", Policies: []string{"p"},
			Trust: []authz.TrustRule{{Issuer: "dev", Claims: map[string]any{"groups": "staff"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.New(context.Background(), identity.Config{Issuers: []identity.IssuerConfig{
		{Name: "dev", URL: f.iss.URL(), Audiences: []string{"iamgate"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	u, _ := url.Parse(f.up.URL)
	if base == nil {
		base = testUpstreamClient()
	}
	f.metrics = prometheus.NewRegistry()
	f.m = NewMetrics(f.metrics)
	f.h, err = New(Config{
		Upstream:       u,
		Transport:      sigv4.NewTransport(base, sigv4.Credentials{AccessKeyID: "AKUP", SecretAccessKey: "s"}, "us-east-1"),
		Audit:          audit.NewLogger(audit.WriterSink{W: lockedBuffer{f.auditMu, f.audit}}),
		Metrics:        f.m,
		FingerprintKey: []byte("0123456789abcdef0123456789abcdef"),
	}, &Generation{Engine: engine, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// testUpstreamClient is the client the fixtures reach their store with:
// iamgate's own (internal/upstream), or net/http's Transport when
// IAMGATE_TEST_UPSTREAM_CLIENT=std.
func testUpstreamClient() http.RoundTripper {
	if os.Getenv("IAMGATE_TEST_UPSTREAM_CLIENT") == "std" {
		return &http.Transport{DisableCompression: true}
	}
	return upstream.New(upstream.Config{})
}

func (f *fixture) token(t testing.TB, user string, groups ...string) string {
	t.Helper()
	tok, err := f.iss.Mint(map[string]any{"sub": "id-" + user, "preferred_username": user, "groups": groups, "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func (f *fixture) events(t *testing.T) []audit.Event {
	t.Helper()
	f.auditMu.Lock()
	defer f.auditMu.Unlock()
	var evs []audit.Event
	for _, line := range bytes.Split(bytes.TrimSpace(f.audit.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if err := auditschema.Line(line); err != nil {
			t.Fatalf("audit line does not match the schema: %v", err)
		}
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		evs = append(evs, *ev)
	}
	return evs
}

// lastEvent returns the newest audit event, checked against the schema.
func (f *fixture) lastEvent(t *testing.T) audit.Event {
	t.Helper()
	f.auditMu.Lock()
	b := bytes.TrimSpace(f.audit.Bytes())
	line := append([]byte(nil), b[bytes.LastIndexByte(b, '\n')+1:]...)
	f.auditMu.Unlock()
	if err := auditschema.Line(line); err != nil {
		t.Fatalf("audit line does not match the schema: %v", err)
	}
	ev, err := audit.Decode(line)
	if err != nil {
		t.Fatalf("audit line %q: %v", line, err)
	}
	return *ev
}

func TestAllowedRequestIsRebuiltAndSigned(t *testing.T) {
	f := newFixture(t, nil, nil)
	tok := f.token(t, "alice", "staff")
	res, body := f.do(t, "GET", "/bkt/home/alice/a%20b.txt?x-id=GetObject&response-content-type=text/plain", tok, nil,
		"Cookie", "c=1", "X-Amz-Evil", "1", "X-Iamgate-Role", "member", "Range", "bytes=0-3")
	if res.StatusCode != 200 || body != "object body" {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
	if res.Header.Get("X-Amz-Request-Id") == "UPSTREAM1" || res.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("request id %q", res.Header.Get("X-Amz-Request-Id"))
	}
	up, _ := f.upLog.last()
	// x-id is ignored by the store: it is not forwarded.
	if up.RequestURI != "/bkt/home/alice/a%20b.txt?response-content-type=text%2Fplain" {
		t.Errorf("upstream URI %q", up.RequestURI)
	}
	if a := up.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKUP/") {
		t.Errorf("upstream Authorization %q", a)
	}
	for _, h := range []string{"Cookie", "X-Amz-Evil", "X-Iamgate-Role"} {
		if up.Header.Get(h) != "" {
			t.Errorf("%s forwarded", h)
		}
	}
	if up.Header.Get("Range") != "bytes=0-3" {
		t.Error("Range not forwarded")
	}
	if up.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the caller's address", up.Header.Get("X-Forwarded-For"))
	}
	evs := f.events(t)
	ev := evs[len(evs)-1]
	if ev.Decision != "allow" || ev.Operation != "GetObject" || ev.Key != "home/alice/a b.txt" || ev.Policy != "p" ||
		ev.Sid != "Home" || ev.UpstreamRequestID != "UPSTREAM1" || ev.BytesOut != 11 || ev.Subject != "id-alice" {
		t.Fatalf("audit event %+v", ev)
	}
}

func TestDeniedRequestsAreNeverForwarded(t *testing.T) {
	f := newFixture(t, nil, nil)
	alice := f.token(t, "alice", "staff")
	tests := []struct {
		name, method, path, token string
		hdr                       []string
		status                    int
		code, msg                 string
	}{
		{"other home", "GET", "/bkt/home/bob/x", alice, nil, 403, "AccessDenied", "not authorized to perform: s3:GetObject on resource: arn:aws:s3:::bkt/home/bob/x because no policy of its roles allows s3:GetObject"},
		{"explicit deny", "GET", "/bkt/shared/secret/k", alice, nil, 403, "AccessDenied", `explicit deny in role "member" policy "p" statement "NoSecrets"`},
		{"copy from denied source", "PUT", "/bkt/home/alice/c", alice, []string{"X-Amz-Copy-Source", "/bkt/home/bob/x"}, 403, "AccessDenied", "s3:GetObject on resource: arn:aws:s3:::bkt/home/bob/x"},
		{"list other prefix", "GET", "/bkt?list-type=2&prefix=home/bob/", alice, nil, 403, "AccessDenied", "s3:ListBucket"},
		{"untrusted", "GET", "/bkt/shared/x", f.token(t, "eve", "visitors"), nil, 403, "AccessDenied", "No role trusts this identity"},
		{"role header not trusting", "GET", "/bkt/shared/x", alice, []string{"X-Iamgate-Role", "ghost"}, 403, "AccessDenied", `role "ghost"`},
		{"anonymous", "GET", "/bkt/shared/x", "", nil, 403, "AccessDenied", "Anonymous access"},
		{"sigv2", "GET", "/bkt/shared/x", "", []string{"Authorization", "AWS AKID:sig"}, 400, "InvalidRequest", "Signature Version 2"},
		{"two mechanisms", "GET", "/bkt/shared/x?X-Amz-Credential=a", alice, nil, 400, "InvalidRequest", "more than one"},
		{"minio admin", "GET", "/minio/admin/v3/info", alice, nil, 403, "AccessDenied", ""},
		{"unknown subresource", "GET", "/bkt?torrent", alice, nil, 501, "NotImplemented", ""},
		{"dot segment", "GET", "/bkt/home/alice/%2E%2E/bob/x", alice, nil, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.upLog.count()
			res, body := f.do(t, tt.method, tt.path, tt.token, nil, tt.hdr...)
			body = html.UnescapeString(body)
			if res.StatusCode != tt.status || !strings.Contains(body, "<Code>"+tt.code) || !strings.Contains(body, tt.msg) {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			if f.upLog.count() != before {
				t.Fatal("a rejected request reached the store")
			}
		})
	}
}

func TestAuthenticationFailures(t *testing.T) {
	f := newFixture(t, nil, nil)
	expired, _ := f.iss.Mint(map[string]any{"sub": "a", "aud": "iamgate", "groups": "staff",
		"exp": time.Now().Add(-2 * time.Hour).Unix(), "iat": time.Now().Add(-3 * time.Hour).Unix()}, time.Hour)
	wrongAud, _ := f.iss.Mint(map[string]any{"sub": "a", "aud": "other"}, time.Hour)
	foreign := devissuer.StartTest(t)
	unknown, _ := foreign.Mint(map[string]any{"sub": "a", "aud": "iamgate"}, time.Hour)
	tests := []struct {
		name, token, code, reason string
	}{
		{"expired", expired, "ExpiredToken", "expired"},
		{"wrong audience", wrongAud, "InvalidToken", "wrong_audience"},
		{"unknown issuer", unknown, "InvalidToken", "unknown_issuer"},
		{"malformed", "abc.def", "InvalidToken", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, "GET", "/bkt/shared/x", tt.token, nil)
			if res.StatusCode != 401 || !strings.Contains(body, "<Code>"+tt.code+"</Code>") {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			if !strings.Contains(res.Header.Get("Www-Authenticate"), tt.reason) {
				t.Fatalf("WWW-Authenticate %q", res.Header.Get("Www-Authenticate"))
			}
			if strings.Contains(body, tt.token) {
				t.Fatal("token echoed")
			}
			if got := testutil.ToFloat64(f.m.AuthFailures.WithLabelValues(tt.reason)); got != 1 {
				t.Fatalf("auth failure metric for %s = %v", tt.reason, got)
			}
		})
	}
	evs := f.events(t)
	for _, ev := range evs {
		if ev.Kind != "auth_failure" || ev.Decision != "deny" || ev.Reason == "" {
			t.Fatalf("event %+v", ev)
		}
	}
	if len(evs) != len(tests) {
		t.Fatalf("%d events for %d requests", len(evs), len(tests))
	}
}

func TestDeleteObjectsForwardsWhatWasAuthorized(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<DeleteResult/>") }, nil)
	alice := f.token(t, "alice", "staff")
	body := `<?xml version="1.0"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">  <Object><Key>home/alice/1</Key></Object>
  <Object><Key>home/alice/2</Key><VersionId>v1</VersionId></Object></Delete>`
	res, _ := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", "bogus")
	// The client's digest must cover the client's body.
	if res.StatusCode != 400 || f.upLog.count() != 0 {
		t.Fatalf("%d, upstream saw %d requests", res.StatusCode, f.upLog.count())
	}
	// DeleteObjectVersion is not granted: only the first key is forwarded.
	res, _ = f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 {
		t.Fatalf("%d", res.StatusCode)
	}
	up, got := f.upLog.last()
	sum := md5.Sum(got)
	if up.Header.Get("Content-Md5") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("digests not recomputed: %v", up.Header)
	}
	if !bytes.Contains(got, []byte("<Key>home/alice/1</Key>")) || bytes.Contains(got, []byte("home/alice/2")) {
		t.Fatalf("forwarded body %s", got)
	}
	evs := f.events(t)
	if keys := evs[len(evs)-1].Keys; len(keys) != 2 {
		t.Fatalf("audit keys %v", keys)
	}
}

func TestCopySourceIsCanonicalized(t *testing.T) {
	f := newFixture(t, nil, nil)
	alice := f.token(t, "alice", "staff")
	res, _ := f.do(t, "PUT", "/bkt/home/alice/copy", alice, nil, "X-Amz-Copy-Source", "bkt/shared/a%20b?versionId=")
	if res.StatusCode == 200 {
		up, _ := f.upLog.last()
		t.Logf("forwarded copy source %q", up.Header.Get("X-Amz-Copy-Source"))
	}
	res, _ = f.do(t, "PUT", "/bkt/home/alice/copy", alice, nil, "X-Amz-Copy-Source", "bkt/shared/a%20b+c")
	if res.StatusCode != 200 {
		t.Fatalf("%d", res.StatusCode)
	}
	up, _ := f.upLog.last()
	if got := up.Header.Get("X-Amz-Copy-Source"); got != "/bkt/shared/a%20b%2Bc" {
		t.Fatalf("copy source forwarded as %q", got)
	}
}

func TestUpstreamFailures(t *testing.T) {
	for name, base := range map[string]http.RoundTripper{
		"std":  &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond},
		"lean": upstream.New(upstream.Config{ResponseHeaderTimeout: 100 * time.Millisecond}),
	} {
		t.Run("timeout/"+name, func(t *testing.T) {
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(500 * time.Millisecond) }, base)
			res, body := f.do(t, "GET", "/bkt/shared/x", f.token(t, "alice", "staff"), nil)
			if res.StatusCode != 504 || !strings.Contains(body, "GatewayTimeout") {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		// A store (or what answers in its place) that frames a response
		// two ways: nothing of it reaches the client.
		f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
			c, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nsmuggle")
			bw.Flush()
		}, upstream.New(upstream.Config{}))
		res, body := f.do(t, "GET", "/bkt/shared/x", f.token(t, "alice", "staff"), nil)
		if res.StatusCode != 502 || !strings.Contains(body, "BadGateway") || strings.Contains(body, "smuggle") {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	})
	t.Run("down", func(t *testing.T) {
		f := newFixture(t, nil, nil)
		f.up.Close()
		res, body := f.do(t, "GET", "/bkt/shared/x", f.token(t, "alice", "staff"), nil)
		if res.StatusCode != 503 || !strings.Contains(body, "ServiceUnavailable") {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		res, body = f.do(t, "GET", "/_iamgate/readyz", "", nil)
		if res.StatusCode != 503 || !strings.Contains(body, "upstream") {
			t.Fatalf("readyz %d %s", res.StatusCode, body)
		}
	})
}

// A denied upload with Expect: 100-continue is answered before the client
// sends its body.
func TestExpectContinueDeniedBeforeBody(t *testing.T) {
	f := newFixture(t, nil, nil)
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /bkt/home/bob/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n",
		f.token(t, "alice", "staff"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 403") {
		t.Fatalf("first response line %q (a 100 Continue would invite the body)", line)
	}
}

func TestMetricsAndAuditGolden(t *testing.T) {
	f := newFixture(t, nil, nil)
	alice := f.token(t, "alice", "staff")
	f.do(t, "GET", "/bkt/home/alice/k", alice, nil)
	f.do(t, "GET", "/bkt/home/bob/k", alice, nil, "User-Agent", "golden/1.0")
	if got := testutil.ToFloat64(f.m.Requests.WithLabelValues("GetObject", "allow", "2xx", "human")); got != 1 {
		t.Fatalf("allow counter %v", got)
	}
	if got := testutil.ToFloat64(f.m.Requests.WithLabelValues("GetObject", "deny", "4xx", "human")); got != 1 {
		t.Fatalf("deny counter %v", got)
	}
	evs := f.events(t)
	ev := evs[len(evs)-1]
	ev.Time, ev.RequestID, ev.DurationMS, ev.Fingerprint, ev.SourceIP = time.Time{}, "RID", 0, "FP", "127.0.0.1"
	ev.EventID, ev.IssuerURL = "00000000-0000-4000-8000-000000000000", "http://issuer.test"
	var got bytes.Buffer
	json.Indent(&got, ev.AppendJSON(nil), "", "  ")
	path := filepath.Join("testdata", "audit_deny.golden.json")
	if *update {
		os.WriteFile(path, got.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("audit event\n%s\nwant\n%s", got.Bytes(), want)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		remote, xff, proto string
		want               string
		secure             bool
	}{
		{"192.0.2.1:5", "", "", "192.0.2.1", false},
		{"192.0.2.1:5", "203.0.113.9", "https", "192.0.2.1", false}, // untrusted peer: header ignored
		{"10.1.1.1:5", "203.0.113.9", "https", "203.0.113.9", true},
		{"10.1.1.1:5", "198.51.100.7, 203.0.113.9, 10.2.2.2", "", "203.0.113.9", false},
		{"10.1.1.1:5", "garbage", "", "10.1.1.1", false},
		{"[::ffff:10.1.1.1]:5", "2001:db8::1", "", "2001:db8::1", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		got, secure := clientAddr(r, trusted)
		if got.String() != tt.want || secure != tt.secure {
			t.Errorf("%s xff=%q: %v %v, want %s %v", tt.remote, tt.xff, got, secure, tt.want, tt.secure)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	f := newFixture(t, nil, nil)
	res, _ := f.do(t, "GET", "/_iamgate/healthz", "", nil)
	if res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
	// The issuer's keys load on first use or in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := f.do(t, "GET", "/_iamgate/readyz", "", nil)
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, _ := f.do(t, "GET", "/_iamgate/nope", "", nil); res.StatusCode != 404 {
		t.Fatal(res.Status)
	}
	// Once draining, readyz fails with its reason while requests are
	// still served.
	f.h.Drain()
	if res, body := f.do(t, "GET", "/_iamgate/readyz", "", nil); res.StatusCode != 503 || !strings.Contains(body, `"shutdown":"shutting down"`) {
		t.Fatalf("readyz while draining: %s %s", res.Status, body)
	}
	if res, body := f.do(t, "GET", "/bkt/shared/x", f.token(t, "alice", "staff"), nil); res.StatusCode != 200 {
		t.Fatalf("GET while draining: %s %s", res.Status, body)
	}
}

// TestAuditRecordsClaimsAndActor: only the claims named in AuditClaims are
// recorded, an RFC 8693 act claim names the actor, and the role kind is
// given.
func TestAuditRecordsClaimsAndActor(t *testing.T) {
	f := newFixture(t, nil, nil)
	gen := *f.h.Current()
	gen.AuditClaims = []string{"email", "groups", "absent"}
	gen.principals = nil
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	tok, err := f.iss.Mint(map[string]any{"sub": "agent-7", "preferred_username": "summarizer", "groups": []string{"staff"},
		"email": "bot@example.com", "secret_claim": "do-not-record", "aud": "iamgate",
		"act": map[string]any{"sub": "agent-7", "client_id": "summarizer", "groups": []any{"staff"},
			"act": map[string]any{"sub": "id-alice", "iss": "https://idp.example.com"}}},
		time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := f.do(t, "GET", "/bkt/shared/report.txt", tok, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("status %s", res.Status)
	}
	f.auditMu.Lock()
	raw := f.audit.String()
	f.auditMu.Unlock()
	if strings.Contains(raw, "do-not-record") {
		t.Fatalf("a claim outside the allowlist was recorded: %s", raw)
	}
	evs := f.events(t)
	ev := evs[len(evs)-1]
	if ev.Claims["email"] != "bot@example.com" || len(ev.Claims) != 2 || ev.RoleKind != "human" {
		t.Errorf("claims %v, role kind %q", ev.Claims, ev.RoleKind)
	}
	// The holder acts for the subject: the request is delegated, and the
	// actor is named with the role that trusts it.
	want := &audit.Actor{Subject: "agent-7", Issuer: gen.IssuerURLs["dev"], ClientID: "summarizer", Role: "member",
		Act: &audit.Actor{Subject: "id-alice", Issuer: "https://idp.example.com"}}
	if !reflect.DeepEqual(ev.Actor, want) {
		t.Errorf("actor %+v, want %+v", ev.Actor, want)
	}
}

// TestBearerActClaimIsDelegated: a bearer token with an act claim is
// allowed only what the roles of both the subject and the actor allow.
func TestBearerActClaimIsDelegated(t *testing.T) {
	f := newFixture(t, nil, nil)
	mint := func(act any) string {
		tok, err := f.iss.Mint(map[string]any{"sub": "id-alice", "groups": []string{"staff"}, "aud": "iamgate", "act": act}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		name string
		act  any
		want int
	}{
		{"actor trusted by the role", map[string]any{"sub": "agent-7", "groups": []any{"staff"}}, http.StatusOK},
		{"no role trusts the actor", map[string]any{"sub": "agent-7"}, http.StatusForbidden},
		{"malformed act", "agent-7", http.StatusForbidden},
		{"actor of an unknown issuer", map[string]any{"sub": "agent-7", "groups": []any{"staff"}, "iss": "https://elsewhere.example"}, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res, _ := f.do(t, "GET", "/bkt/shared/report.txt", mint(c.act), nil); res.StatusCode != c.want {
				t.Fatalf("status %s, want %d", res.Status, c.want)
			}
		})
	}
}
