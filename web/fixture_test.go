package web_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/sigv4"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

const consolePolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Buckets","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"},
 {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
 {"Sid":"Objects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::bkt/*"},
 {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::bkt/secret/*"}]}`

// hostileKeys are listed by the fake store under prefix "".
var hostileKeys = []string{
	`<script>alert(1)</script>`,
	`quote"and'apos`,
	"ünï/中文.txt",
	"with space.txt",
	"hash#frag.txt",
	"question?x=1.txt",
	"percent%41.txt",
	"plus+sign.txt",
	"secret/plan.txt",
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type upstreamCall struct {
	method, path string
	query        url.Values
}

type env struct {
	t     *testing.T
	clk   *clock
	idp   *testProvider
	keys  *identity.KeyRing
	h     *proxy.Handler
	web   *web.Service
	srv   *httptest.Server
	audMu sync.Mutex
	aud   bytes.Buffer
	upMu  sync.Mutex
	calls []upstreamCall

	// signedOut is the record of signed-out sessions (a state.Memory
	// unless envOpts.signedOut is set), which replicas may share.
	signedOut   web.SignedOutSessions
	upstreamURL string
	engine      *authz.Engine
	verifier    *identity.Verifier
	opts        envOpts
}

type envOpts struct {
	maxSession  time.Duration
	revocations []identity.Revocation
	issuers     []web.Issuer // in addition to the test provider
	required    []string     // the test provider's required claims
	algorithms  []string     // and accepted algorithms
	// signedOut replaces the in-memory record of signed-out sessions.
	signedOut web.SignedOutSessions
	// sessionRefresh is web.Config.SessionRefresh (0: the default).
	sessionRefresh time.Duration
	// directories are offered for sign-in with a form; roles are added to
	// the staff role.
	directories []web.Directory
	roles       []authz.RoleConfig
	// delegations and revoke are web.Config.Delegations and RevokeSessions.
	delegations web.DelegationList
	revoke      web.RevocationAdder
	// runtime is web.Config.RuntimeRevocations.
	runtime identity.RevocationSource
	// grants and notify are web.Config.Grants and Notify.
	grants web.GrantStore
	notify func(web.Notification)
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clk: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	e.idp = newTestProvider(t, e.clk.now)
	up := httptest.NewServer(http.HandlerFunc(e.upstream))
	t.Cleanup(up.Close)
	e.upstreamURL = up.URL
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "console", JSON: []byte(consolePolicy)}},
		Roles: append([]authz.RoleConfig{{Name: "staff", Kind: "human", Policies: []string{"console"},
			Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}}}}, o.roles...),
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.New(context.Background(), identity.Config{Now: e.clk.now, Issuers: []identity.IssuerConfig{
		{Name: "corp", URL: e.idp.srv.URL, Audiences: []string{clientID}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	e.keys, err = identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	e.signedOut = o.signedOut
	if e.signedOut == nil {
		e.signedOut = state.NewMemory(state.MemoryConfig{Now: e.clk.now})
	}
	e.engine, e.verifier, e.opts = engine, v, o
	e.web, e.h, e.srv = e.replica(e.signedOut)
	return e
}

// replica starts another iamgate (web front end, proxy and listener) of
// the same deployment: the same keys, provider, roles and store, and the
// record of signed-out sessions given.
func (e *env) replica(signedOut web.SignedOutSessions) (*web.Service, *proxy.Handler, *httptest.Server) {
	t, o := e.t, e.opts
	t.Helper()
	ms := o.maxSession
	if ms == 0 {
		ms = 30 * time.Minute
	}
	issuers := append([]web.Issuer{{Name: "corp", URL: e.idp.srv.URL, ClientID: clientID, ClientSecret: e.idp.secret,
		Scopes: []string{"openid", "profile", "email", "offline_access"}, Label: "Corporate SSO",
		RequiredClaims: o.required, Algorithms: o.algorithms}}, o.issuers...)
	var h *proxy.Handler
	w, err := web.New(web.Config{
		Issuers:        issuers,
		Directories:    o.directories,
		Keys:           e.keys,
		Engine:         e.engine,
		MaxSession:     map[string]time.Duration{"staff": ms},
		Revocations:    o.revocations,
		SignedOut:      signedOut,
		SessionRefresh: o.sessionRefresh,
		S3:             http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }),
		Audit:          audit.NewLogger(audit.WriterSink{W: e.auditWriter()}),
		Now:            e.clk.now,
		Delegations:    o.delegations,
		RevokeSessions: o.revoke,
		Grants:         o.grants,
		Notify:         o.notify,

		RuntimeRevocations: o.runtime,
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.upstreamURL)
	h, err = proxy.New(proxy.Config{
		Upstream:  u,
		Transport: sigv4.NewTransport(http.DefaultTransport, sigv4.Credentials{AccessKeyID: "AKUP", SecretAccessKey: "s"}, "us-east-1"),
		Audit:     audit.NewLogger(audit.WriterSink{W: e.auditWriter()}),
		Now:       e.clk.now,
	}, &proxy.Generation{Engine: e.engine, Verifier: e.verifier, Sessions: e.keys, Revocations: o.revocations, Browser: w})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return w, h, srv
}

type auditWriter struct{ e *env }

func (w auditWriter) Write(p []byte) (int, error) {
	w.e.audMu.Lock()
	defer w.e.audMu.Unlock()
	return w.e.aud.Write(p)
}

func (e *env) auditWriter() io.Writer { return auditWriter{e} }

func (e *env) events() []audit.Event {
	e.audMu.Lock()
	defer e.audMu.Unlock()
	var out []audit.Event
	for _, l := range bytes.Split(bytes.TrimSpace(e.aud.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if err := auditschema.Line(l); err != nil {
			e.t.Errorf("audit event does not match the schema: %v", err)
		}
		ev, err := audit.Decode(l)
		if err != nil {
			e.t.Errorf("audit event: %v", err)
			continue
		}
		out = append(out, *ev)
	}
	return out
}

// lastEvent returns the last audit event of kind, failing if there is none.
func (e *env) lastEvent(kind string) audit.Event {
	e.t.Helper()
	evs := e.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == kind {
			return evs[i]
		}
	}
	e.t.Fatalf("no %s audit event in %d events", kind, len(evs))
	return audit.Event{}
}

// upstream is a fake S3 store.
func (e *env) upstream(w http.ResponseWriter, r *http.Request) {
	e.upMu.Lock()
	e.calls = append(e.calls, upstreamCall{r.Method, r.URL.Path, r.URL.Query()})
	e.upMu.Unlock()
	q := r.URL.Query()
	switch {
	case r.Method == "GET" && r.URL.Path == "/":
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets>`+
			`<Bucket><Name>bkt</Name><CreationDate>2026-01-02T03:04:05.000Z</CreationDate></Bucket>`+
			`<Bucket><Name>hidden</Name><CreationDate>2026-01-02T03:04:05.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`)
	case r.Method == "GET" && r.URL.Path == "/bkt" && q.Get("list-type") == "2":
		type content struct {
			Key          string
			LastModified string
			Size         int64
		}
		type cp struct{ Prefix string }
		res := struct {
			XMLName               xml.Name `xml:"ListBucketResult"`
			EncodingType          string   `xml:",omitempty"`
			IsTruncated           bool
			NextContinuationToken string `xml:",omitempty"`
			Contents              []content
			CommonPrefixes        []cp
		}{EncodingType: q.Get("encoding-type")}
		enc := func(s string) string {
			if res.EncodingType == "url" {
				return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
			}
			return s
		}
		prefix := q.Get("prefix")
		if prefix == "" && q.Get("continuation-token") == "" {
			res.CommonPrefixes = []cp{{enc("dir/")}, {enc("ünï/")}}
			for i, k := range hostileKeys {
				if !strings.Contains(k, "/") {
					res.Contents = append(res.Contents, content{enc(k), "2026-03-04T05:06:07.000Z", int64(1000 * (i + 1))})
				}
			}
			res.IsTruncated, res.NextContinuationToken = true, "tok/+= next"
		} else {
			res.Contents = []content{{enc(prefix + "page2.txt"), "2026-03-04T05:06:07.000Z", 5}}
		}
		w.Header().Set("Content-Type", "application/xml")
		_ = xml.NewEncoder(w).Encode(res)
	case r.Method == "GET":
		// As an object stored with caching metadata is served.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")
		fmt.Fprintf(w, "content of %s", r.URL.Path)
	case r.Method == "PUT":
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	case r.Method == "DELETE":
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// lastCall is the last request the store saw.
func (e *env) lastCall() upstreamCall {
	e.upMu.Lock()
	defer e.upMu.Unlock()
	if len(e.calls) == 0 {
		return upstreamCall{}
	}
	return e.calls[len(e.calls)-1]
}

func (e *env) callCount() int { e.upMu.Lock(); defer e.upMu.Unlock(); return len(e.calls) }

// browser is an HTTP client with a cookie jar that follows redirects,
// as a browser does.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// noFollow is a client with the same jar that stops at redirects.
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type result struct {
	status int
	body   string
	hdr    http.Header
	url    *url.URL
}

func do(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return result{res.StatusCode, string(b), res.Header, res.Request.URL}
}

// login signs in through the whole flow and returns the browser.
func (e *env) login(t *testing.T) *http.Client {
	t.Helper()
	c := e.browser()
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd=/_iamgate/ui/", nil)
	if r.status != 200 || r.url.Path != "/_iamgate/ui/" {
		t.Fatalf("login ended at %s with %d: %s", r.url, r.status, r.body)
	}
	return c
}

// csrf extracts the CSRF token from a console page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	const m = `<meta name="iamgate-csrf" content="`
	i := strings.Index(page, m)
	if i < 0 {
		t.Fatalf("no CSRF token in page")
	}
	rest := page[i+len(m):]
	return rest[:strings.IndexByte(rest, '"')]
}

// sessionCookies returns the session cookies the jar holds for the server.
func (e *env) sessionCookies(c *http.Client) []*http.Cookie {
	u, _ := url.Parse(e.srv.URL)
	var out []*http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, web.DefaultCookieName) {
			out = append(out, ck)
		}
	}
	return out
}
