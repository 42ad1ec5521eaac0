package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// tagStore is a recording store that answers GetObjectTagging from tags
// (404 for an object it does not have, 500 for "broken"), and everything
// else with "object body". It records iamgate's own tag lookups: the
// tagging requests without the X-Forwarded-For a forwarded request has.
type tagStore struct {
	mu      sync.Mutex
	tags    map[string]string // key -> Tagging document's TagSet content
	lookups []*http.Request
}

func (s *tagStore) handler(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.URL.Query()["tagging"]; ok && r.Method == "GET" {
		if r.Header.Get("X-Forwarded-For") == "" {
			s.mu.Lock()
			s.lookups = append(s.lookups, r.Clone(context.Background()))
			s.mu.Unlock()
		}
		_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case key == "broken":
			http.Error(w, "<Error><Code>InternalError</Code></Error>", 500)
		case s.tags[key] == "" && key != "untagged":
			w.WriteHeader(404)
			fmt.Fprint(w, "<Error><Code>NoSuchKey</Code></Error>")
		default:
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>%s</TagSet></Tagging>`, s.tags[key])
		}
		return
	}
	fmt.Fprint(w, "object body")
}

func (s *tagStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.lookups) }
func (s *tagStore) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups[len(s.lookups)-1]
}

func tagXML(k, v string) string {
	return "<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>"
}

// classifiedPolicy reads everything in bkt except objects tagged
// classification=secret (a Deny on s3:ExistingObjectTag), reads objects
// tagged share=yes in the shared bucket (an Allow on it), and writes
// without reading tags.
const classifiedPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::bkt/*"},
 {"Sid":"Write","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"},
 {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"},
 {"Sid":"NoSecrets","Effect":"Deny","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::bkt/*",
  "Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"secret"}}},
 {"Sid":"Shared","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*",
  "Condition":{"StringEquals":{"s3:ExistingObjectTag/share":"yes"}}}]}`

// s3:ExistingObjectTag/<key> is read from the store with iamgate's own
// key, only when a statement that applies to the request reads it, once
// per request and never across requests; when the tags cannot be read, a
// Deny that reads them refuses the request (503), never lets it through.
func TestExistingObjectTagLookup(t *testing.T) {
	store := &tagStore{tags: map[string]string{
		"secret":  tagXML("classification", "secret"),
		"public":  tagXML("classification", "public") + tagXML("owner", "alice"),
		"photo":   tagXML("share", "yes"),
		"private": tagXML("share", "no"),
	}}
	f := newFixture(t, store.handler, nil)
	withPolicy(t, f, classifiedPolicy)
	tok := f.token(t, "alice", "staff")

	cases := []struct {
		method, path string
		hdr          []string
		status       int
		lookups      int    // GetObjectTagging requests the store gets
		lookupQuery  string // of the last one
		forwarded    bool   // the request itself reached the store
		reason       string
	}{
		{"GET", "/bkt/public", nil, 200, 1, "tagging=", true, "allowed"},
		{"HEAD", "/bkt/public", nil, 200, 1, "tagging=", true, "allowed"},
		{"GET", "/bkt/secret", nil, 403, 1, "tagging=", false, "explicit_deny"},
		{"GET", "/bkt/secret?versionId=v%2B1", nil, 403, 1, "tagging=&versionId=v%2B1", false, "explicit_deny"},
		{"GET", "/bkt/untagged", nil, 200, 1, "tagging=", true, "allowed"},
		{"GET", "/bkt/gone", nil, 200, 1, "tagging=", true, "allowed"}, // no such object: no tags
		{"GET", "/bkt/broken", nil, 503, 1, "tagging=", false, "condition_unavailable"},
		{"GET", "/bkt/secret?tagging", nil, 200, 0, "", true, "allowed"}, // GetObjectTagging: no statement reads tags for it
		{"PUT", "/bkt/secret", nil, 200, 0, "", true, "allowed"},         // PutObject does not support the key
		{"GET", "/bkt", nil, 200, 0, "", true, "allowed"},
		{"PUT", "/bkt/copy", []string{"X-Amz-Copy-Source", "/bkt/secret"}, 403, 1, "tagging=", false, "explicit_deny"},
		{"PUT", "/bkt/copy", []string{"X-Amz-Copy-Source", "/bkt/public?versionId=v7"}, 200, 1, "tagging=&versionId=v7", true, "allowed"},
		{"GET", "/shared/photo", nil, 200, 1, "tagging=", true, "allowed"},
		{"GET", "/shared/private", nil, 403, 1, "tagging=", false, "no_allow"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			lookups, before := store.count(), f.upLog.count()
			res, body := f.do(t, tc.method, tc.path, tok, nil, tc.hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if n := store.count() - lookups; n != tc.lookups {
				t.Fatalf("%d GetObjectTagging requests, want %d", n, tc.lookups)
			}
			if tc.lookups > 0 {
				l := store.last()
				if l.URL.RawQuery != tc.lookupQuery || !strings.Contains(l.Header.Get("Authorization"), "Credential=AKUP/") ||
					l.Header.Get("X-Amz-Content-Sha256") == "" || l.Header.Get("X-Amz-Date") == "" {
					t.Errorf("tag lookup %s?%s with headers %v: not signed with iamgate's key or not as expected", l.URL.Path, l.URL.RawQuery, l.Header)
				}
				if l.Header.Get("Authorization") == "Bearer "+tok {
					t.Error("the caller's credentials reached the store")
				}
			}
			forwarded := f.upLog.count()-before > tc.lookups
			if forwarded != tc.forwarded {
				t.Errorf("forwarded %v, want %v", forwarded, tc.forwarded)
			}
			ev := f.lastEvent(t)
			if ev.Reason != tc.reason {
				t.Errorf("audit reason %q, want %q (%s)", ev.Reason, tc.reason, ev.Message)
			}
			if tc.status == 503 {
				if ev.Decision != "error" || ev.ErrorCode != "ServiceUnavailable" || res.Header.Get("Retry-After") == "" ||
					!strings.Contains(body, "<Code>ServiceUnavailable</Code>") || !strings.Contains(ev.Message, "500") {
					t.Errorf("undecided request: decision %s code %s message %q, body %s", ev.Decision, ev.ErrorCode, ev.Message, body)
				}
			}
		})
	}

	// Never cached across requests: the store's answer is asked again.
	lookups := store.count()
	for range 3 {
		if res, _ := f.do(t, "GET", "/bkt/public", tok, nil); res.StatusCode != 200 {
			t.Fatal(res.Status)
		}
	}
	store.tags["public"] = tagXML("classification", "secret")
	if res, _ := f.do(t, "GET", "/bkt/public", tok, nil); res.StatusCode != 403 || store.count()-lookups != 4 {
		t.Fatalf("retagged object: %d after %d lookups, want 403 after 4", res.StatusCode, store.count()-lookups)
	}

	// A principal whose policies never read tags causes no lookup.
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}`)
	lookups = store.count()
	if res, _ := f.do(t, "GET", "/bkt/secret", tok, nil); res.StatusCode != 200 || store.count() != lookups {
		t.Fatalf("no tag policy: %d, %d lookups", res.StatusCode, store.count()-lookups)
	}
}

// Two statements reading the object's tags (an Allow and a Deny) cost one
// GetObjectTagging request.
func TestExistingObjectTagOncePerRequest(t *testing.T) {
	store := &tagStore{tags: map[string]string{"doc": tagXML("team", "blue")}}
	f := newFixture(t, store.handler, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"blue"}}},
	 {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"red"}}},
	 {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"Null":{"s3:ExistingObjectTag/team":"true"}}}]}`)
	res, body := f.do(t, "GET", "/bkt/doc", f.token(t, "alice", "staff"), nil)
	if res.StatusCode != 200 || store.count() != 1 {
		t.Fatalf("%d %s after %d lookups, want 200 after 1", res.StatusCode, body, store.count())
	}
}

// s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys come from the
// x-amz-tagging header and from the PutObjectTagging document; the store
// receives exactly the tags that were authorized, re-encoded, with fresh
// digests; bad tagging gets S3's errors.
func TestRequestObjectTags(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Sid":"Tagged","Effect":"Allow","Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::bkt/*",
	  "Condition":{"StringEquals":{"s3:RequestObjectTag/classification":["public","internal"]},
	               "ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["classification","team"]}}}]}`)
	tok := f.token(t, "alice", "staff")
	doc := func(tags ...string) string {
		var b strings.Builder
		for i := 0; i+1 < len(tags); i += 2 {
			b.WriteString(tagXML(tags[i], tags[i+1]))
		}
		return "<Tagging><TagSet>" + b.String() + "</TagSet></Tagging>"
	}
	cases := []struct {
		name   string
		query  string
		hdr    []string
		body   string
		status int
		code   string
		fwdHdr string // X-Amz-Tagging the store gets
		fwdDoc string // part of the document the store gets
	}{
		{"header", "", []string{"X-Amz-Tagging", "classification=internal&team=blue%20green"}, "data", 200, "", "classification=internal&team=blue+green", ""},
		{"header secret", "", []string{"X-Amz-Tagging", "classification=secret"}, "data", 403, "AccessDenied", "", ""},
		{"header other key", "", []string{"X-Amz-Tagging", "classification=public&owner=alice"}, "data", 403, "AccessDenied", "", ""},
		{"header untagged", "", nil, "data", 403, "AccessDenied", "", ""},
		{"header duplicate", "", []string{"X-Amz-Tagging", "classification=public&classification=secret"}, "data", 400, "InvalidTag", "", ""},
		{"header as query parameter", "x-amz-tagging=classification%3Dpublic", nil, "data", 200, "", "classification=public", ""},
		{"document", "tagging", []string{"Content-Md5", md5B64([]byte(doc("classification", "public", "team", "a&amp;b")))},
			doc("classification", "public", "team", "a&amp;b"), 400, "InvalidTag", "", ""},
		{"document ok", "tagging", nil, " " + doc("team", "blue", "classification", "internal") + "\n", 200, "",
			"", "<Tag><Key>team</Key><Value>blue</Value></Tag><Tag><Key>classification</Key><Value>internal</Value></Tag>"},
		{"document secret", "tagging", nil, doc("classification", "secret"), 403, "AccessDenied", "", ""},
		{"document malformed", "tagging", nil, "<Tagging><TagSet><Tag><Key>classification</Key>", 400, "MalformedXML", "", ""},
		{"document bad digest", "tagging", []string{"Content-Md5", md5B64([]byte("other"))}, doc("classification", "public"), 400, "BadDigest", "", ""},
		{"document bad checksum", "tagging", []string{"X-Amz-Checksum-Crc32", "AAAAAA=="}, doc("classification", "public"), 400, "BadDigest", "", ""},
		{"document too large", "tagging", nil, doc("classification", strings.Repeat("x", 70<<10)), 400, "MaxMessageLengthExceeded", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			path := "/bkt/k"
			if tc.query != "" {
				path += "?" + tc.query
			}
			res, body := f.do(t, "PUT", path, tok, strings.NewReader(tc.body), tc.hdr...)
			if res.StatusCode != tc.status || tc.code != "" && !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("%d %s, want %d %s", res.StatusCode, body, tc.status, tc.code)
			}
			if tc.status != 200 {
				if f.upLog.count() != before {
					t.Fatal("a refused request reached the store")
				}
				return
			}
			up, got := f.upLog.last()
			if tc.fwdHdr != "" && up.Header.Get("X-Amz-Tagging") != tc.fwdHdr {
				t.Errorf("store got x-amz-tagging %q, want %q", up.Header.Get("X-Amz-Tagging"), tc.fwdHdr)
			}
			if tc.fwdDoc != "" {
				if !strings.Contains(string(got), tc.fwdDoc) || up.Header.Get("Content-Md5") != md5B64(got) ||
					up.Header.Get("X-Amz-Content-Sha256") != sha256Hex(got) {
					t.Errorf("store got %q with Content-MD5 %s and payload hash %s", got, up.Header.Get("Content-Md5"), up.Header.Get("X-Amz-Content-Sha256"))
				}
			} else if string(got) != tc.body {
				t.Errorf("store got body %q", got)
			}
		})
	}
}

// The object-lock keys come from PutObject's headers and from the
// PutObjectRetention and PutObjectLegalHold documents; the location
// constraint from the CreateBucket document.
func TestObjectLockAndLocationKeys(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectRetention","s3:PutObjectLegalHold","s3:CreateBucket"],"Resource":"*"},
	 {"Sid":"MinRetention","Effect":"Deny","Action":["s3:PutObject","s3:PutObjectRetention"],"Resource":"*",
	  "Condition":{"NumericLessThan":{"s3:object-lock-remaining-retention-days":"30"}}},
	 {"Sid":"ComplianceOnly","Effect":"Deny","Action":["s3:PutObject","s3:PutObjectRetention"],"Resource":"*",
	  "Condition":{"StringNotEquals":{"s3:object-lock-mode":"COMPLIANCE"},"Null":{"s3:object-lock-mode":"false"}}},
	 {"Sid":"NoRelease","Effect":"Deny","Action":"s3:PutObjectLegalHold","Resource":"*",
	  "Condition":{"StringEquals":{"s3:object-lock-legal-hold":"OFF"}}},
	 {"Sid":"EUOnly","Effect":"Deny","Action":"s3:CreateBucket","Resource":"*",
	  "Condition":{"StringNotEquals":{"s3:locationconstraint":"eu-central-1"}}}]}`)
	tok := f.token(t, "alice", "staff")
	// Dates relative to the request, so the test does not depend on today.
	days := func(n int) string {
		return time.Now().Add(time.Duration(n) * 24 * time.Hour).UTC().Format(time.RFC3339)
	}
	retention := func(mode, until string) string {
		return "<Retention><Mode>" + mode + "</Mode><RetainUntilDate>" + until + "</RetainUntilDate></Retention>"
	}
	cases := []struct {
		name   string
		path   string
		hdr    []string
		body   string
		status int
		sid    string
	}{
		{"long compliance retention", "/bkt/k", []string{"X-Amz-Object-Lock-Mode", "compliance", "X-Amz-Object-Lock-Retain-Until-Date", days(400)}, "x", 200, ""},
		{"short retention", "/bkt/k", []string{"X-Amz-Object-Lock-Mode", "COMPLIANCE", "X-Amz-Object-Lock-Retain-Until-Date", days(10)}, "x", 403, "MinRetention"},
		{"governance", "/bkt/k", []string{"X-Amz-Object-Lock-Mode", "GOVERNANCE", "X-Amz-Object-Lock-Retain-Until-Date", days(400)}, "x", 403, "ComplianceOnly"},
		{"no lock", "/bkt/k", nil, "x", 200, ""},
		{"retention document", "/bkt/k?retention", nil, retention("COMPLIANCE", days(90)), 200, ""},
		{"short retention document", "/bkt/k?retention", nil, retention("COMPLIANCE", days(2)), 403, "MinRetention"},
		{"governance document", "/bkt/k?retention", nil, retention("GOVERNANCE", days(90)), 403, "ComplianceOnly"},
		{"legal hold on", "/bkt/k?legal-hold", nil, "<LegalHold><Status>ON</Status></LegalHold>", 200, ""},
		{"legal hold off", "/bkt/k?legal-hold", nil, "<LegalHold><Status>OFF</Status></LegalHold>", 403, "NoRelease"},
		{"bucket in the EU", "/eu-bucket", nil, "<CreateBucketConfiguration><LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>", 200, ""},
		{"bucket elsewhere", "/us-bucket", nil, "<CreateBucketConfiguration><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>", 403, "EUOnly"},
		{"bucket without a location", "/default-bucket", nil, "", 403, "EUOnly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			res, body := f.do(t, "PUT", tc.path, tok, strings.NewReader(tc.body), tc.hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, body, tc.status)
			}
			if ev := f.lastEvent(t); ev.Sid != tc.sid && tc.sid != "" {
				t.Errorf("decided by %q, want %q", ev.Sid, tc.sid)
			}
			if tc.status == 200 && f.upLog.count() != before+1 || tc.status != 200 && f.upLog.count() != before {
				t.Errorf("store received %d requests", f.upLog.count()-before)
			}
		})
	}
	// The documents are forwarded as parsed.
	if res, _ := f.do(t, "PUT", "/bkt/k?retention", tok, strings.NewReader(" "+retention("COMPLIANCE", "2099-01-01T00:00:00.000Z"))); res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
	if _, got := f.upLog.last(); !strings.Contains(string(got), "<Mode>COMPLIANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate>") {
		t.Errorf("store got %q", got)
	}
}

// s3:signatureversion and s3:authType say how the request was
// authenticated (absent for bearer tokens); s3:x-amz-content-sha256 is the
// payload hash the signature covers; s3:TlsVersion the TLS version of the
// connection; aws:Referer the Referer header.
func TestAuthenticationConditionKeys(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/header/*","Condition":{"StringEquals":{"s3:authType":"REST-HEADER","s3:signatureversion":"AWS4-HMAC-SHA256"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/query/*","Condition":{"StringEquals":{"s3:authType":"REST-QUERY-STRING"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/bearer/*","Condition":{"Null":{"s3:authType":"true","s3:signatureversion":"true"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/signed-payload/*","Condition":{"StringNotEquals":{"s3:x-amz-content-sha256":"UNSIGNED-PAYLOAD"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/tls/*","Condition":{"NumericGreaterThanEquals":{"s3:TlsVersion":"1.2"}}},
	 {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/portal/*","Condition":{"StringLike":{"aws:Referer":"https://portal.example.com/*"}}}]}`)
	tok := f.token(t, "alice", "staff")
	creds := aws.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "alice-secret"}
	send := func(mode, path string, client *http.Client, base string, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		switch mode {
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+tok)
		case "sigv4", "sigv4-unsigned":
			hash := sha256Hex(nil)
			if mode == "sigv4-unsigned" {
				hash = "UNSIGNED-PAYLOAD"
			}
			req.Header.Set("X-Amz-Content-Sha256", hash)
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		case "presigned":
			q := url.Values{"X-Amz-Expires": {"60"}}
			req.URL.RawQuery = q.Encode()
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			req, _ = http.NewRequest("GET", u, nil)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	plain := http.DefaultClient
	srv := httptestTLSServer(t, f.h)
	tls12 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, MaxVersion: tls.VersionTLS12}}}
	for _, tc := range []struct {
		mode, path string
		client     *http.Client
		base       string
		hdr        []string
		want       int
	}{
		{"sigv4", "/bkt/header/a", plain, f.srv.URL, nil, 200},
		{"presigned", "/bkt/header/a", plain, f.srv.URL, nil, 403},
		{"bearer", "/bkt/header/a", plain, f.srv.URL, nil, 403},
		{"presigned", "/bkt/query/a", plain, f.srv.URL, nil, 200},
		{"sigv4", "/bkt/query/a", plain, f.srv.URL, nil, 403},
		{"bearer", "/bkt/bearer/a", plain, f.srv.URL, nil, 200},
		{"sigv4", "/bkt/bearer/a", plain, f.srv.URL, nil, 403},
		{"sigv4", "/bkt/signed-payload/a", plain, f.srv.URL, nil, 200},
		{"sigv4-unsigned", "/bkt/signed-payload/a", plain, f.srv.URL, nil, 403},
		{"presigned", "/bkt/signed-payload/a", plain, f.srv.URL, nil, 403},
		// A bearer request's own x-amz-content-sha256 header is what the store checks.
		{"bearer", "/bkt/signed-payload/a", plain, f.srv.URL, []string{"X-Amz-Content-Sha256", sha256Hex(nil)}, 200},
		{"bearer", "/bkt/signed-payload/a", plain, f.srv.URL, nil, 200},
		{"bearer", "/bkt/tls/a", plain, f.srv.URL, nil, 403},
		{"bearer", "/bkt/tls/a", srv.Client(), srv.URL, nil, 200},
		{"bearer", "/bkt/tls/a", tls12, srv.URL, nil, 200},
		{"bearer", "/bkt/portal/a", plain, f.srv.URL, []string{"Referer", "https://portal.example.com/app"}, 200},
		{"bearer", "/bkt/portal/a", plain, f.srv.URL, []string{"Referer", "https://elsewhere.example.net/"}, 403},
		{"bearer", "/bkt/portal/a", plain, f.srv.URL, nil, 403},
	} {
		if got := send(tc.mode, tc.path, tc.client, tc.base, tc.hdr...); got != tc.want {
			t.Errorf("%s %s %v via %s: %d, want %d", tc.mode, tc.path, tc.hdr, tc.base, got, tc.want)
		}
	}
	// TLS 1.1 clients are refused by the server itself; the key still
	// distinguishes 1.2 from 1.3.
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericGreaterThan":{"s3:TlsVersion":"1.2"}}}]}`)
	if got := send("bearer", "/bkt/x", tls12, srv.URL); got != 403 {
		t.Errorf("TLS 1.2 against NumericGreaterThan 1.2: %d", got)
	}
	if got := send("bearer", "/bkt/x", srv.Client(), srv.URL); got != 200 {
		t.Errorf("TLS 1.3 against NumericGreaterThan 1.2: %d", got)
	}
}

// A browser form upload is s3:authType POST; its tagging field is an XML
// Tagging document whose tags are s3:RequestObjectTag, forwarded as parsed.
func TestPostObjectConditionKeys(t *testing.T) {
	f, st := newPostFixture(t)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::bkt/*",
	  "Condition":{"StringEquals":{"s3:authType":"POST","s3:signatureversion":"AWS4-HMAC-SHA256","s3:RequestObjectTag/classification":"public"}}}]}`)
	form := func(key, tagging string) *browserForm {
		return newBrowserForm(key, []byte("x"), map[string]string{"tagging": tagging}, []any{"starts-with", "$key", "up/"}).add("tagging", tagging)
	}
	res, body := f.post(t, form("up/public", "<Tagging><TagSet><Tag><Key>classification</Key><Value>public</Value></Tag></TagSet></Tagging>"))
	if res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if _, fields, _ := st.object("bkt/up/public"); !strings.Contains(fields["tagging"], "<Tag><Key>classification</Key><Value>public</Value></Tag>") {
		t.Fatalf("forwarded tagging %q", fields["tagging"])
	}
	if res, body := f.post(t, form("up/secret", "<Tagging><TagSet><Tag><Key>classification</Key><Value>secret</Value></Tag></TagSet></Tagging>")); res.StatusCode != 403 {
		t.Fatalf("secret tag: %d %s", res.StatusCode, body)
	}
	if res, body := f.post(t, form("up/bad", "<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>")); res.StatusCode != 400 || !strings.Contains(body, "InvalidTag") {
		t.Fatalf("duplicate tag: %d %s", res.StatusCode, body)
	}
	// The acl field is s3:x-amz-acl.
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectAcl"],"Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-read"}}}]}`)
	acl := func(key, v string) *browserForm {
		return newBrowserForm(key, []byte("x"), map[string]string{"acl": v}, []any{"starts-with", "$key", "up/"}).add("acl", v)
	}
	if res, body := f.post(t, acl("up/acl1", "bucket-owner-read")); res.StatusCode != 204 {
		t.Fatalf("acl bucket-owner-read: %d %s", res.StatusCode, body)
	}
	if res, body := f.post(t, acl("up/acl2", "public-read")); res.StatusCode != 403 {
		t.Fatalf("acl public-read: %d %s", res.StatusCode, body)
	}
}

// The request-header keys (ACL, grants, storage class …) read the header
// the store gets, whether the client sent it as a header or as a query
// parameter of a presigned URL.
func TestHeaderConditionKeys(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectAcl"],"Resource":"arn:aws:s3:::bkt/*",
	  "Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"},"StringEqualsIfExists":{"s3:x-amz-storage-class":"STANDARD"}}}]}`)
	tok := f.token(t, "alice", "staff")
	for _, tc := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/bkt/a", []string{"X-Amz-Acl", "bucket-owner-full-control"}, 200},
		{"/bkt/a?x-amz-acl=bucket-owner-full-control", nil, 200},
		{"/bkt/a", []string{"X-Amz-Acl", "bucket-owner-full-control", "X-Amz-Storage-Class", "GLACIER"}, 403},
		{"/bkt/a?x-amz-storage-class=GLACIER", []string{"X-Amz-Acl", "bucket-owner-full-control"}, 403},
		{"/bkt/a", []string{"X-Amz-Acl", "public-read"}, 403},
		{"/bkt/a", nil, 403},
	} {
		before := f.upLog.count()
		res, body := f.do(t, "PUT", tc.path, tok, strings.NewReader("x"), tc.hdr...)
		if res.StatusCode != tc.want {
			t.Errorf("%s %v: %d %s, want %d", tc.path, tc.hdr, res.StatusCode, body, tc.want)
			continue
		}
		if tc.want == 200 {
			if up, _ := f.upLog.last(); up.Header.Get("X-Amz-Acl") != "bucket-owner-full-control" {
				t.Errorf("%s: the store got x-amz-acl %q", tc.path, up.Header.Get("X-Amz-Acl"))
			}
		} else if f.upLog.count() != before {
			t.Errorf("%s: refused request reached the store", tc.path)
		}
	}
}
