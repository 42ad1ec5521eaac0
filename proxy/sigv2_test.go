package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/sigv2test"
	"github.com/iamgate/iamgate/s3req"
)

var aliceV2 = sigv2test.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "alice-secret"}

// withSigV2 turns Signature Version 2 on, accepts virtual-hosted-style
// requests under s3.test, and gives the generation an STS key ring. It
// returns a function that issues session credentials to alice (group
// staff, role member).
func withSigV2(t testing.TB, f *fixture) func() sigv2test.Credentials {
	t.Helper()
	ring, err := identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	gen := *f.h.Current()
	gen.principals = nil
	gen.SigV2 = true
	gen.Sessions = ring
	gen.S3 = s3req.Config{VirtualHostDomains: []string{"s3.test"}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	return func() sigv2test.Credentials {
		s := identity.NewSession()
		s.Issuer, s.Subject, s.Roles = "dev", "id-alice", []string{"member"}
		s.Claims = map[string]any{"groups": []any{"staff"}, "preferred_username": "alice"}
		s.IssuedAt = time.Now().Add(-time.Minute).Truncate(time.Second)
		s.Expiry = s.IssuedAt.Add(time.Hour)
		tok, err := ring.Seal(s)
		if err != nil {
			t.Fatal(err)
		}
		return sigv2test.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: tok}
	}
}

// sendV2 sends req and reports the status, the body (XML entities
// decoded) and whether the store received a request.
func (f *fixture) sendV2(t *testing.T, req *http.Request) (int, string, bool) {
	t.Helper()
	before := f.upLog.count()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, html.UnescapeString(string(b)), f.upLog.count() > before
}

// lastLine is the newest audit line, as written.
func (f *fixture) lastLine(t *testing.T) string {
	t.Helper()
	f.auditMu.Lock()
	defer f.auditMu.Unlock()
	b := bytes.TrimSpace(f.audit.Bytes())
	return string(b[bytes.LastIndexByte(b, '\n')+1:])
}

func (f *fixture) newV2Request(t *testing.T, method, target string, body string, hdr ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+target, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// Signature Version 2 in the Authorization header: verified, then
// classified, authorized and forwarded (re-signed with SigV4) like any
// request; refused before the store when the signature, the key or the
// time is wrong.
func TestSigV2Header(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, testPolicy)
	session := withSigV2(t, f)()

	type tc struct {
		name      string
		req       func() *http.Request
		status    int
		code      string
		forwarded bool
		reason    string
	}
	signed := func(method, target, body string, c sigv2test.Credentials, hdr ...string) func() *http.Request {
		return func() *http.Request {
			req := f.newV2Request(t, method, target, body, hdr...)
			sigv2test.Sign(req, c, time.Now(), "")
			return req
		}
	}
	cases := []tc{
		{"allowed GET", signed("GET", "/bkt/shared/x", "", aliceV2), 200, "", true, "allowed"},
		{"allowed PUT with signed headers", signed("PUT", "/bkt/home/alice/f.txt", "hello", aliceV2,
			"Content-Type", "text/plain", "Content-Md5", md5B64([]byte("hello")), "X-Amz-Meta-Note", "n"), 200, "", true, "allowed"},
		{"session credentials", signed("GET", "/bkt/home/alice/f.txt", "", session), 200, "", true, "allowed"},
		{"encoded key", signed("GET", "/bkt/home/alice/a%20b%2Bc%25d", "", aliceV2), 200, "", true, "allowed"},
		{"sub-resource", signed("GET", "/bkt/shared/x?response-content-type=text%2Fplain", "", aliceV2), 200, "", true, "allowed"},
		{"explicit deny", signed("GET", "/bkt/shared/secret/x", "", aliceV2), 403, "AccessDenied", false, "explicit_deny"},
		{"no allow", signed("GET", "/bkt/home/bob/x", "", aliceV2), 403, "AccessDenied", false, "no_allow"},
		{"tampered path", func() *http.Request {
			req := signed("GET", "/bkt/home/alice/x", "", aliceV2)()
			req.URL.Path = "/bkt/home/alice/y"
			return req
		}, 403, "SignatureDoesNotMatch", false, "bad_signature"},
		{"tampered sub-resource", func() *http.Request {
			req := signed("GET", "/bkt/shared/x?response-content-type=text%2Fplain", "", aliceV2)()
			req.URL.RawQuery = "response-content-type=text%2Fhtml"
			return req
		}, 403, "SignatureDoesNotMatch", false, "bad_signature"},
		{"added x-amz header", func() *http.Request {
			req := signed("PUT", "/bkt/home/alice/f.txt", "x", aliceV2)()
			req.Header.Set("X-Amz-Acl", "public-read")
			return req
		}, 403, "SignatureDoesNotMatch", false, "bad_signature"},
		{"changed content type", func() *http.Request {
			req := signed("PUT", "/bkt/home/alice/f.txt", "x", aliceV2, "Content-Type", "text/plain")()
			req.Header.Set("Content-Type", "text/html")
			return req
		}, 403, "SignatureDoesNotMatch", false, "bad_signature"},
		{"unsigned sub-resource", func() *http.Request {
			req := signed("GET", "/bkt/home/alice/f.txt", "", aliceV2)()
			req.URL.RawQuery = "tagging" // a client that does not sign ?tagging
			return req
		}, 403, "AccessDenied", false, "unsigned_subresource"},
		{"wrong secret", signed("GET", "/bkt/shared/x", "", sigv2test.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "guess"}),
			403, "SignatureDoesNotMatch", false, "bad_signature"},
		{"unknown key", signed("GET", "/bkt/shared/x", "", sigv2test.Credentials{AccessKeyID: "AKNOBODY", SecretAccessKey: "x"}),
			403, "InvalidAccessKeyId", false, "unknown_access_key"},
		{"session key without its token", signed("GET", "/bkt/shared/x", "", sigv2test.Credentials{AccessKeyID: session.AccessKeyID,
			SecretAccessKey: session.SecretAccessKey}), 400, "MissingSecurityHeader", false, "missing_token"},
		{"token of another key", signed("GET", "/bkt/shared/x", "", sigv2test.Credentials{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA",
			SecretAccessKey: session.SecretAccessKey, SessionToken: session.SessionToken}), 403, "InvalidAccessKeyId", false, "key_mismatch"},
		{"skewed", func() *http.Request {
			req := f.newV2Request(t, "GET", "/bkt/shared/x", "")
			sigv2test.Sign(req, aliceV2, time.Now().Add(-20*time.Minute), "")
			return req
		}, 403, "RequestTimeTooSkewed", false, "malformed_signature"},
		{"no date", func() *http.Request {
			req := signed("GET", "/bkt/shared/x", "", aliceV2)()
			req.Header.Del("Date")
			return req
		}, 403, "AccessDenied", false, "malformed_signature"},
		{"malformed header", func() *http.Request {
			return f.newV2Request(t, "GET", "/bkt/shared/x", "", "Authorization", "AWS AKALICE", "Date", time.Now().UTC().Format(http.TimeFormat))
		}, 400, "InvalidArgument", false, "malformed_signature"},
		{"virtual-hosted style", func() *http.Request {
			req := f.newV2Request(t, "GET", "/shared/x", "")
			req.Host = "bkt.s3.test"
			sigv2test.Sign(req, aliceV2, time.Now(), "bkt")
			return req
		}, 200, "", true, "allowed"},
		{"virtual-hosted style signed as path style", func() *http.Request {
			req := f.newV2Request(t, "GET", "/shared/x", "")
			req.Host = "bkt.s3.test"
			sigv2test.Sign(req, aliceV2, time.Now(), "")
			return req
		}, 403, "SignatureDoesNotMatch", false, "bad_signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, forwarded := f.sendV2(t, c.req())
			if status != c.status || c.code != "" && !strings.Contains(body, "<Code>"+c.code+"</Code>") || forwarded != c.forwarded {
				t.Fatalf("%d forwarded=%v %s; want %d %s forwarded=%v", status, forwarded, body, c.status, c.code, c.forwarded)
			}
			ev := f.lastEvent(t)
			if ev.Reason != c.reason {
				t.Fatalf("audit reason %q, want %q", ev.Reason, c.reason)
			}
			if line := f.lastLine(t); !strings.Contains(line, `"SignatureVersion":"SigV2"`) {
				t.Fatalf("audit line without SignatureVersion SigV2: %s", line)
			}
			if c.code == "SignatureDoesNotMatch" && !strings.Contains(body, "<StringToSign>") {
				t.Fatalf("no StringToSign: %s", body)
			}
		})
	}

	// What the store received is what was authorized, signed by iamgate.
	req := f.newV2Request(t, "PUT", "/bkt/home/alice/a%20b.txt?x-id=PutObject", "hello", "Content-Type", "text/plain",
		"Content-Md5", md5B64([]byte("hello")), "X-Amz-Meta-Note", "n")
	sigv2test.Sign(req, session, time.Now(), "")
	if status, body, _ := f.sendV2(t, req); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	up, body := f.upLog.last()
	if up.URL.Path != "/bkt/home/alice/a b.txt" || up.URL.RawQuery != "" || string(body) != "hello" ||
		up.Header.Get("Content-Type") != "text/plain" || up.Header.Get("Content-Md5") != md5B64([]byte("hello")) ||
		up.Header.Get("X-Amz-Meta-Note") != "n" || up.Header.Get("X-Amz-Security-Token") != "" ||
		!strings.HasPrefix(up.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKUP/") {
		t.Fatalf("the store got %s %s %v %q", up.Method, up.URL, up.Header, body)
	}
	ev := f.lastEvent(t)
	if ev.AuthMethod != "sigv2" || ev.SessionID == "" || ev.AccessKeyID != session.AccessKeyID || ev.Key != "home/alice/a b.txt" ||
		ev.Subject != "id-alice" || ev.Sid != "Home" {
		t.Fatalf("audit %+v", ev)
	}
	if line := f.lastLine(t); strings.Contains(line, session.SessionToken) || strings.Contains(line, session.SecretAccessKey) {
		t.Fatalf("a credential reached the audit log: %s", line)
	}
}

// Query authentication (presigned URLs) as botocore writes it: the
// session token and x-amz-* headers move into the query, the content type
// stays a header.
func TestSigV2Presigned(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, testPolicy)
	session := withSigV2(t, f)()
	presign := func(method, target string, c sigv2test.Credentials, expires time.Time, hdr ...string) string {
		req := f.newV2Request(t, method, target, "", hdr...)
		return sigv2test.Presign(req, c, expires, "")
	}
	get := func(u string, hdr ...string) (int, string, bool) {
		req, _ := http.NewRequest("GET", u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return f.sendV2(t, req)
	}
	hour := time.Now().Add(time.Hour)

	u := presign("GET", "/bkt/shared/x?response-content-type=text%2Fplain", aliceV2, hour)
	if status, body, fwd := get(u); status != 200 || !fwd {
		t.Fatalf("service credential: %d %s", status, body)
	}
	up, _ := f.upLog.last()
	if up.URL.RawQuery != "response-content-type=text%2Fplain" {
		t.Fatalf("the store got the query %q", up.URL.RawQuery)
	}
	if ev := f.lastEvent(t); ev.AuthMethod != "service-credential" || ev.SignatureVersion != "SigV2" || ev.Decision != "allow" {
		t.Fatalf("audit %+v", ev)
	}

	u = presign("GET", "/bkt/home/alice/f.txt", session, hour)
	if !strings.Contains(u, "x-amz-security-token=") {
		t.Fatalf("no token in %s", u)
	}
	if status, body, fwd := get(u); status != 200 || !fwd {
		t.Fatalf("session credentials: %d %s", status, body)
	}
	if ev := f.lastEvent(t); ev.AuthMethod != "sigv2-presigned" || ev.SessionID == "" {
		t.Fatalf("audit %+v", ev)
	}

	// A presigned PUT carrying metadata and a content type, as
	// botocore's generate_presigned_url writes it.
	req := f.newV2Request(t, "PUT", "/bkt/home/alice/up.txt", "", "Content-Type", "text/plain", "X-Amz-Meta-Owner", "alice")
	u = sigv2test.Presign(req, session, hour, "")
	u += "&content-type=text%2Fplain"
	put, _ := http.NewRequest("PUT", u, strings.NewReader("data"))
	put.Header.Set("Content-Type", "text/plain")
	if status, body, fwd := f.sendV2(t, put); status != 200 || !fwd {
		t.Fatalf("presigned PUT: %d %s", status, body)
	}
	up, body := f.upLog.last()
	if up.URL.Path != "/bkt/home/alice/up.txt" || up.URL.RawQuery != "" || up.Header.Get("X-Amz-Meta-Owner") != "alice" ||
		up.Header.Get("Content-Type") != "text/plain" || string(body) != "data" {
		t.Fatalf("the store got %s %v %q", up.URL, up.Header, body)
	}

	for _, c := range []struct {
		name   string
		url    func() string
		hdr    []string
		status int
		code   string
		reason string
	}{
		{"expired", func() string { return presign("GET", "/bkt/shared/x", aliceV2, time.Now().Add(-time.Minute)) }, nil,
			403, "AccessDenied", "expired"},
		{"expires zero", func() string {
			return f.srv.URL + "/bkt/shared/x?AWSAccessKeyId=AKALICE&Signature=c2ln&Expires=0"
		}, nil, 403, "AccessDenied", "expired"},
		{"expires extended", func() string {
			u := presign("GET", "/bkt/shared/x", aliceV2, hour)
			return strings.Replace(u, "Expires="+strconv.FormatInt(hour.Unix(), 10), "Expires="+strconv.FormatInt(hour.Unix()+3600, 10), 1)
		}, nil, 403, "SignatureDoesNotMatch", "bad_signature"},
		{"other object", func() string {
			return strings.Replace(presign("GET", "/bkt/shared/x", aliceV2, hour), "/shared/x", "/shared/y", 1)
		}, nil, 403, "SignatureDoesNotMatch", "bad_signature"},
		{"metadata changed", func() string {
			req := f.newV2Request(t, "GET", "/bkt/shared/x", "", "X-Amz-Meta-A", "1")
			return strings.Replace(sigv2test.Presign(req, aliceV2, hour, ""), "x-amz-meta-a=1", "x-amz-meta-a=2", 1)
		}, nil, 403, "SignatureDoesNotMatch", "bad_signature"},
		{"content type changed", func() string { return presign("GET", "/bkt/shared/x", aliceV2, hour, "Content-Type", "text/plain") },
			[]string{"Content-Type", "text/html"}, 403, "SignatureDoesNotMatch", "bad_signature"},
		{"missing expires", func() string {
			return strings.Replace(presign("GET", "/bkt/shared/x", aliceV2, hour), "&Expires=", "&Expired=", 1)
		}, nil, 403, "AccessDenied", "malformed_signature"},
		{"and an Authorization header", func() string { return presign("GET", "/bkt/shared/x", aliceV2, hour) },
			[]string{"Authorization", "AWS AKALICE:c2ln"}, 400, "InvalidRequest", "multiple_auth"},
		{"and SigV4 parameters", func() string {
			return presign("GET", "/bkt/shared/x", aliceV2, hour) + "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
		},
			nil, 400, "InvalidRequest", "malformed_signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, fwd := get(c.url(), c.hdr...)
			if status != c.status || !strings.Contains(body, "<Code>"+c.code+"</Code>") || fwd {
				t.Fatalf("%d forwarded=%v %s; want %d %s", status, fwd, body, c.status, c.code)
			}
			if ev := f.lastEvent(t); ev.Reason != c.reason {
				t.Fatalf("reason %q, want %q", ev.Reason, c.reason)
			}
		})
	}
	status, out, _ := get(f.srv.URL + "/bkt/shared/x?AWSAccessKeyId=AKALICE&Signature=c2ln&Expires=0")
	if status != 403 || !strings.Contains(out, "<Message>Request has expired</Message>") || !strings.Contains(out, "<Expires>1970-01-01T00:00:00Z</Expires>") {
		t.Fatalf("expired: %s", out)
	}
}

// A header the client names in Connection is removed before the
// signature is verified: a Signature Version 2 signature that covered it
// (Content-Type, Content-MD5, x-amz-*, Date) cannot be verified.
func TestSigV2HopByHop(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, testPolicy)
	withSigV2(t, f)
	host := strings.TrimPrefix(f.srv.URL, "http://")
	raw := func(conn string, extra ...string) string {
		req, _ := http.NewRequest("PUT", "http://"+host+"/bkt/home/alice/h.txt", nil)
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		sigv2test.Sign(req, aliceV2, time.Now(), "")
		var b strings.Builder
		fmt.Fprintf(&b, "PUT /bkt/home/alice/h.txt HTTP/1.1\r\nHost: %s\r\n", host)
		for k, vv := range req.Header {
			fmt.Fprintf(&b, "%s: %s\r\n", k, vv[0])
		}
		if conn != "" {
			fmt.Fprintf(&b, "Connection: %s\r\n", conn)
		}
		b.WriteString("Content-Length: 4\r\n\r\nbody")
		return b.String()
	}
	for _, c := range []struct{ name, raw string }{
		{"content-type", raw("Content-Type", "Content-Type", "text/plain")},
		{"content-md5", raw("keep-alive, content-md5", "Content-Md5", md5B64([]byte("body")))},
		{"x-amz header", raw("X-Amz-Meta-Note", "X-Amz-Meta-Note", "n")},
		{"date", raw("Date")},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.upLog.count()
			resps, _ := rawExchange(t, host, c.raw, 1, false)
			if len(resps) != 1 || resps[0].status != 400 || !strings.Contains(resps[0].body, "<Code>InvalidRequest</Code>") ||
				!strings.Contains(resps[0].body, "hop-by-hop") {
				t.Fatalf("responses %+v", resps)
			}
			if f.upLog.count() != before {
				t.Fatal("the store received the request")
			}
			if ev := f.lastEvent(t); ev.Reason != "hop_by_hop_signed" || ev.Kind != "auth_failure" {
				t.Fatalf("audit %+v", ev)
			}
		})
	}
	// Connection naming a header the signature does not cover changes nothing.
	before := f.upLog.count()
	if resps, _ := rawExchange(t, host, raw("keep-alive, Cache-Control", "Content-Type", "text/plain", "Cache-Control", "no-cache"), 1, false); len(resps) != 1 || resps[0].status != 200 {
		t.Fatalf("control: %+v", resps)
	}
	if up, _ := f.upLog.last(); f.upLog.count() != before+1 || up.Header.Get("Cache-Control") != "" || up.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("control reached the store as %v", up.Header)
	}
}

// sigv2: false refuses Signature Version 2 with the clear error it had
// before, in the header, the query and a form.
func TestSigV2Disabled(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, testPolicy)
	req := f.newV2Request(t, "GET", "/bkt/shared/x", "")
	sigv2test.Sign(req, aliceV2, time.Now(), "")
	u := sigv2test.Presign(f.newV2Request(t, "GET", "/bkt/shared/x", ""), aliceV2, time.Now().Add(time.Hour), "")
	presigned, _ := http.NewRequest("GET", u, nil)
	body, ct := v2Form(t, "home/alice/d.txt", aliceV2, nil)
	form := f.newV2Request(t, "POST", "/bkt", "", "Content-Type", ct)
	form.Body, form.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	for name, req := range map[string]*http.Request{"header": req, "presigned": presigned, "form": form} {
		status, out, fwd := f.sendV2(t, req)
		if status != 400 || !strings.Contains(out, "<Code>InvalidRequest</Code>") || !strings.Contains(out, "Signature Version 2 is not supported") || fwd {
			t.Errorf("%s: %d %s", name, status, out)
		}
		if ev := f.lastEvent(t); ev.Reason != "unsupported_auth" {
			t.Errorf("%s: reason %q", name, ev.Reason)
		}
	}
	// Reloading with SigV2 on applies to the next request.
	withSigV2(t, f)
	req = f.newV2Request(t, "GET", "/bkt/shared/x", "")
	sigv2test.Sign(req, aliceV2, time.Now(), "")
	if status, out, _ := f.sendV2(t, req); status != 200 {
		t.Fatalf("after the swap: %d %s", status, out)
	}
}

// v2Form is a browser form for key signed with Signature Version 2, its
// policy binding the bucket bkt, the key, the session token (if any) and
// the extra conditions.
func v2Form(t *testing.T, key string, c sigv2test.Credentials, conds []any, fields ...string) ([]byte, string) {
	t.Helper()
	conditions := append([]any{map[string]string{"bucket": "bkt"}, []any{"eq", "$key", key}}, conds...)
	if c.SessionToken != "" {
		conditions = append(conditions, map[string]string{"x-amz-security-token": c.SessionToken})
	}
	doc, _ := json.Marshal(map[string]any{"expiration": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conditions})
	auth := sigv2test.PostFields(doc, c)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("key", key)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	for _, k := range []string{"AWSAccessKeyId", "x-amz-security-token", "policy", "signature"} {
		if v, ok := auth[k]; ok {
			mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", "f.txt")
	fw.Write([]byte("form data"))
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// A browser form signed with Signature Version 2: the signature over the
// policy is verified, the policy's conditions are checked as for SigV4,
// and the form is re-issued to the store with a SigV4 policy of iamgate's.
func TestSigV2PostObject(t *testing.T) {
	f, st := newPostFixture(t)
	withPolicy(t, f, testPolicy)
	session := withSigV2(t, f)()
	post := func(body []byte, ct string) (int, string, bool) {
		req := f.newV2Request(t, "POST", "/bkt", "", "Content-Type", ct)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		return f.sendV2(t, req)
	}
	for _, c := range []struct {
		name   string
		creds  sigv2test.Credentials
		method string
	}{{"service credential", aliceV2, "service-credential"}, {"session credentials", session, "sigv2-post"}} {
		key := "home/alice/" + strings.ReplaceAll(c.name, " ", "-")
		body, ct := v2Form(t, key, c.creds, []any{map[string]string{"content-type": "text/plain"}}, "Content-Type", "text/plain")
		if status, out, _ := post(body, ct); status != 204 {
			t.Fatalf("%s: %d %s", c.name, status, out)
		}
		data, fields, ok := st.object("bkt/" + key)
		if !ok || string(data) != "form data" || fields["content-type"] != "text/plain" || !strings.HasPrefix(fields["x-amz-credential"], "AKUP/") ||
			fields["awsaccesskeyid"] != "" || fields["signature"] != "" || fields["x-amz-security-token"] != "" {
			t.Fatalf("%s: stored %q %v", c.name, data, fields)
		}
		ev := f.lastEvent(t)
		if ev.AuthMethod != c.method || ev.Decision != "allow" || ev.Key != key || ev.AccessKeyID != c.creds.AccessKeyID {
			t.Fatalf("%s: audit %+v", c.name, ev)
		}
		if line := f.lastLine(t); !strings.Contains(line, `"SignatureVersion":"SigV2"`) {
			t.Fatalf("%s: %s", c.name, line)
		}
	}

	tampered, ct := v2Form(t, "home/alice/t.txt", aliceV2, nil)
	tampered = bytes.Replace(tampered, []byte("home/alice/t.txt\r\n"), []byte("home/alice/u.txt\r\n"), 1)
	wrongSecret, ct2 := v2Form(t, "home/alice/w.txt", sigv2test.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "guess"}, nil)
	extraField, ct3 := v2Form(t, "home/alice/e.txt", aliceV2, nil, "x-amz-meta-unbound", "1")
	denied, ct4 := v2Form(t, "home/bob/x.txt", aliceV2, nil)
	noSig, ct5 := v2Form(t, "home/alice/n.txt", aliceV2, nil)
	noSig = bytes.Replace(noSig, []byte(`name="signature"`), []byte(`name="x-ignore-signature"`), 1)
	for _, c := range []struct {
		name   string
		body   []byte
		ct     string
		status int
		code   string
		reason string
	}{
		{"key outside the policy", tampered, ct, 403, "AccessDenied", "post_policy"},
		{"wrong secret", wrongSecret, ct2, 403, "SignatureDoesNotMatch", "bad_signature"},
		{"field not in the policy", extraField, ct3, 403, "AccessDenied", "post_policy"},
		{"key the role may not write", denied, ct4, 403, "AccessDenied", "no_allow"},
		{"no signature", noSig, ct5, 400, "InvalidArgument", "malformed_signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out, fwd := post(c.body, c.ct)
			if status != c.status || !strings.Contains(out, "<Code>"+c.code+"</Code>") || fwd {
				t.Fatalf("%d forwarded=%v %s", status, fwd, out)
			}
			if ev := f.lastEvent(t); ev.Reason != c.reason {
				t.Fatalf("reason %q, want %q", ev.Reason, c.reason)
			}
		})
	}
}

// classifyURL drops exactly the Signature Version 2 authentication
// parameters (by decoded name) and empty segments, and keeps every other
// segment as sent, in order, when the generation accepts Signature Version 2 and the query
// carries it.
func FuzzClassifyURL(f *testing.F) {
	f.Add("AWSAccessKeyId=a&Signature=b&Expires=1&versionId=v&content-type=x", true)
	f.Add("%41WSAccessKeyId=a&Signature&&Expires&acl", true)
	f.Add("Signature=%zz&x-amz-meta-a=1", false)
	f.Fuzz(func(t *testing.T, rawQuery string, on bool) {
		gen := &Generation{SigV2: on}
		ex := &exchange{gen: gen}
		r := &http.Request{URL: &url.URL{Path: "/b/k", RawQuery: rawQuery}}
		got := ex.classifyURL(r)
		if got.Path != "/b/k" {
			t.Fatalf("path %q", got.Path)
		}
		q, _ := url.ParseQuery(rawQuery)
		if !on || (!q.Has("AWSAccessKeyId") && !q.Has("Signature")) {
			if got.RawQuery != rawQuery {
				t.Fatalf("query changed to %q", got.RawQuery)
			}
			return
		}
		var kept []string
		for _, seg := range strings.Split(rawQuery, "&") {
			k, _, _ := strings.Cut(seg, "=")
			switch dk, err := url.QueryUnescape(k); {
			case seg == "":
			case err == nil && (dk == "AWSAccessKeyId" || dk == "Signature" || dk == "Expires" || dk == "content-type" || dk == "content-md5"):
			default:
				kept = append(kept, seg)
			}
		}
		if want := strings.Join(kept, "&"); got.RawQuery != want {
			t.Fatalf("classified query %q, want %q", got.RawQuery, want)
		}
		if r.URL.RawQuery != rawQuery {
			t.Fatal("the request's URL was changed")
		}
	})
}

// s3:signatureversion is "AWS" and s3:authType says header or query for
// Signature Version 2, so a policy can require (or refuse) it.
func TestSigV2ConditionKeys(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/header/*","Condition":{"StringEquals":{"s3:authType":"REST-HEADER","s3:signatureversion":"AWS"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/query/*","Condition":{"StringEquals":{"s3:authType":"REST-QUERY-STRING","s3:signatureversion":"AWS"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/v4only/*","Condition":{"StringEquals":{"s3:signatureversion":"AWS4-HMAC-SHA256"}}}]}`)
	withSigV2(t, f)
	header := func(path string) int {
		req := f.newV2Request(t, "GET", path, "")
		sigv2test.Sign(req, aliceV2, time.Now(), "")
		status, _, _ := f.sendV2(t, req)
		return status
	}
	query := func(path string) int {
		u := sigv2test.Presign(f.newV2Request(t, "GET", path, ""), aliceV2, time.Now().Add(time.Hour), "")
		req, _ := http.NewRequest("GET", u, nil)
		status, _, _ := f.sendV2(t, req)
		return status
	}
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"header, header rule", header("/bkt/header/a"), 200},
		{"query, query rule", query("/bkt/query/a"), 200},
		{"header, query rule", header("/bkt/query/a"), 403},
		{"query, header rule", query("/bkt/header/a"), 403},
		{"header, SigV4-only rule", header("/bkt/v4only/a"), 403},
		{"query, SigV4-only rule", query("/bkt/v4only/a"), 403},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	f.events(t)
}
