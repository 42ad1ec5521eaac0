package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iamgate/iamgate/authz"
)

// ssePolicy allows writes in bkt/enc/ only with SSE-S3 (AES256), and
// everything else a test needs in bkt.
const ssePolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"EncryptedOnly","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/enc/*",
  "Condition":{"StringEquals":{"s3:x-amz-server-side-encryption":"AES256"}}},
 {"Sid":"Plain","Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::bkt/plain/*"},
 {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"}]}`

// withPolicy makes policy the only policy of role member (trusting group
// staff) and gives it the service credential AKALICE / alice-secret.
func withPolicy(t testing.TB, f *fixture, policy string) {
	t.Helper()
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "p", JSON: []byte(policy)}},
		Roles: []authz.RoleConfig{{Name: "member", Kind: "human", Policies: []string{"p"},
			Trust: []authz.TrustRule{{Issuer: "dev", Claims: map[string]any{"groups": "staff"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	gen := *f.h.Current()
	gen.principals = nil
	gen.Engine = engine
	gen.Services = map[string]*ServiceCredential{"AKALICE": {Name: "alice", AccessKeyID: "AKALICE",
		SecretAccessKey: "alice-secret", Role: "member", Expires: time.Now().Add(time.Hour)}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
}

// rawResponse is one response read off a raw connection.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawExchange writes raw (HTTP/1.1 requests, possibly hostile) on a new
// connection to addr and reads n responses. With probe it then reads on:
// any further response is returned too, and closed reports whether the
// server closed the connection (a connection still open after 10 s counts
// as open).
func rawExchange(t *testing.T, addr, raw string, n int, probe bool) (resps []rawResponse, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < n || probe; i++ {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return resps, false
			}
			return resps, true // EOF: the server closed the connection
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		resps = append(resps, rawResponse{res.StatusCode, res.Header, string(b)})
	}
	return resps, false
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func md5B64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func sha256B64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// signedRequest returns the raw text of a PUT signed with SigV4 (header
// auth) by the AWS SDK's signer for AKALICE, over body signedBody, with
// the extra headers (all signed), carrying body sentBody and Connection
// conn (unsigned, as a hostile client adds it).
func signedRequest(t *testing.T, host, path string, signedBody, sentBody []byte, conn string, extra ...string) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", "http://"+host+path, bytes.NewReader(signedBody))
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	hash := sha256Hex(signedBody)
	req.Header.Set("X-Amz-Content-Sha256", hash)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "alice-secret"},
		req, hash, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), host)
	for k, vv := range req.Header {
		for _, v := range vv {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if conn != "" {
		fmt.Fprintf(&b, "Connection: %s\r\n", conn)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(sentBody), sentBody)
	return b.String()
}

// A header the client names in Connection is hop-by-hop: it is removed
// before verification, classification and conditions see the request, so
// it cannot be removed after them. A signature or a condition that
// depended on it fails; the store receives nothing.
func TestConnectionCannotRemoveCheckedHeaders(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, ssePolicy)
	host := strings.TrimPrefix(f.srv.URL, "http://")
	bodyA, bodyB := []byte("authorized body A"), []byte("tampered body B!!")
	tok := f.token(t, "alice", "staff")

	cases := []struct {
		name   string
		raw    string
		status int
		code   string
	}{
		{"payload hash", signedRequest(t, host, "/bkt/plain/a", bodyA, bodyB, "X-Amz-Content-Sha256"), 400, "InvalidRequest"},
		{"payload hash, mixed case", signedRequest(t, host, "/bkt/plain/a", bodyA, bodyB, "keep-alive, x-AMZ-content-sha256"), 400, "InvalidRequest"},
		{"content-md5", signedRequest(t, host, "/bkt/plain/a", bodyA, bodyB, "Content-MD5", "Content-Md5", md5B64(bodyA)), 400, "InvalidRequest"},
		{"checksum", signedRequest(t, host, "/bkt/plain/a", bodyA, bodyB, "X-Amz-Checksum-Sha256",
			"X-Amz-Checksum-Sha256", sha256B64(bodyA)), 400, "InvalidRequest"},
		{"signed SSE header", signedRequest(t, host, "/bkt/enc/a", bodyA, bodyA, "X-Amz-Server-Side-Encryption",
			"X-Amz-Server-Side-Encryption", "AES256"), 400, "InvalidRequest"},
		{"bearer SSE condition", "PUT /bkt/enc/a HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + tok +
			"\r\nX-Amz-Server-Side-Encryption: AES256\r\nConnection: X-Amz-Server-Side-Encryption\r\nContent-Length: 4\r\n\r\nbody", 403, "AccessDenied"},
		{"bearer credentials named", "GET /bkt/plain/a HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + tok +
			"\r\nConnection: Authorization\r\n\r\n", 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			resps, _ := rawExchange(t, host, tc.raw, 1, false)
			if len(resps) != 1 || resps[0].status != tc.status || !strings.Contains(resps[0].body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("responses %+v, want one %d %s", resps, tc.status, tc.code)
			}
			if f.upLog.count() != before {
				up, body := f.upLog.last()
				t.Fatalf("the store received %s %s %v body %q", up.Method, up.URL, up.Header, body)
			}
		})
	}

	// Controls: the same requests without the Connection header go through
	// with what was signed and checked.
	before := f.upLog.count()
	if resps, _ := rawExchange(t, host, signedRequest(t, host, "/bkt/plain/a", bodyA, bodyA, "",
		"Content-Md5", md5B64(bodyA)), 1, false); len(resps) != 1 || resps[0].status != 200 {
		t.Fatalf("signed control: %+v", resps)
	}
	up, body := f.upLog.last()
	if f.upLog.count() != before+1 || string(body) != string(bodyA) || up.Header.Get("X-Amz-Content-Sha256") != sha256Hex(bodyA) ||
		up.Header.Get("Content-Md5") != md5B64(bodyA) {
		t.Fatalf("signed control reached the store as %v %q", up.Header, body)
	}
	res, _ := f.do(t, "PUT", "/bkt/enc/a", tok, strings.NewReader("body"), "X-Amz-Server-Side-Encryption", "AES256")
	if up, _ := f.upLog.last(); res.StatusCode != 200 || up.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" {
		t.Fatalf("bearer control: %d, store saw %v", res.StatusCode, up.Header)
	}

	// Hop-by-hop headers that change nothing checked work as before and
	// never reach the store; a header named in Connection does not either.
	raw := "PUT /bkt/plain/b HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + tok +
		"\r\nConnection: keep-alive, Upgrade, HTTP2-Settings, X-Amz-Meta-Note\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA" +
		"\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Amz-Meta-Note: dropped\r\nX-Amz-Meta-Kept: yes\r\nContent-Length: 3\r\n\r\nabc"
	if resps, _ := rawExchange(t, host, raw, 1, false); len(resps) != 1 || resps[0].status != 200 {
		t.Fatalf("hop-by-hop control: %+v", resps)
	}
	up, body = f.upLog.last()
	for _, k := range []string{"Upgrade", "Http2-Settings", "Keep-Alive", "Te", "X-Amz-Meta-Note"} {
		if _, ok := up.Header[k]; ok {
			t.Errorf("%s reached the store", k)
		}
	}
	if up.Header.Get("X-Amz-Meta-Kept") != "yes" || string(body) != "abc" {
		t.Errorf("store saw %v %q", up.Header, body)
	}
	var failures int
	for _, ev := range f.events(t) {
		if ev.Reason == "hop_by_hop_signed" {
			failures++
		}
	}
	if failures != 5 {
		t.Errorf("%d audit events with reason hop_by_hop_signed, want 5", failures)
	}
}

// A condition reads a value from where the store honours it, in the form
// the store sees: an x-amz-* query parameter that names a forwardable
// header is forwarded as that header, and one that does not is neither
// read nor forwarded.
func TestQueryHeaderAliases(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, ssePolicy)
	tok := f.token(t, "alice", "staff")

	res, body := f.do(t, "PUT", "/bkt/enc/a?x-amz-server-side-encryption=AES256", tok, strings.NewReader("x"))
	up, _ := f.upLog.last()
	if res.StatusCode != 200 || up.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" || up.URL.RawQuery != "" {
		t.Fatalf("query SSE: %d %s; store saw %s %v", res.StatusCode, body, up.URL, up.Header)
	}

	before := f.upLog.count()
	for _, tc := range []struct {
		name, path string
		hdr        []string
		status     int
	}{
		{"query and header disagree", "/bkt/enc/a?x-amz-server-side-encryption=AES256", []string{"X-Amz-Server-Side-Encryption", "aws:kms"}, 400},
		{"query without the condition's value", "/bkt/enc/a?x-amz-server-side-encryption=aws%3Akms", nil, 403},
		{"query tagging needs PutObjectTagging", "/bkt/plain/a?x-amz-tagging=k%3Dv", nil, 403},
		{"query ACL needs PutObjectAcl", "/bkt/plain/a?x-amz-acl=public-read", nil, 403},
		{"query retention needs PutObjectRetention", "/bkt/plain/a?X-Amz-Object-Lock-Mode=GOVERNANCE", nil, 403},
		{"query copy source", "/bkt/plain/a?x-amz-copy-source=bkt%2Fplain%2Fb", nil, 400},
		{"header value with a line break", "/bkt/plain/a?x-amz-meta-a=1%0D%0AX-Injected:%201", nil, 400},
	} {
		res, body := f.do(t, "PUT", tc.path, tok, strings.NewReader("x"), tc.hdr...)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, body, tc.status)
		}
	}
	if f.upLog.count() != before {
		t.Fatalf("refused requests reached the store")
	}

	// The store honours x-amz-meta-* and x-amz-storage-class from the
	// query too; they arrive as headers. A parameter that is not a
	// forwardable header (here one the store would read as replication
	// state) and x-id are dropped.
	res, _ = f.do(t, "PUT", "/bkt/plain/a?X-Amz-Meta-Color=blue&x-amz-storage-class=STANDARD&x-amz-replication-status=COMPLETED&x-id=PutObject&x-amz-content-sha256=abc", tok, strings.NewReader("x"))
	up, _ = f.upLog.last()
	if res.StatusCode != 200 || up.Header.Get("X-Amz-Meta-Color") != "blue" || up.Header.Get("X-Amz-Storage-Class") != "STANDARD" ||
		up.Header.Get("X-Amz-Replication-Status") != "" || up.URL.RawQuery != "" || up.Header.Get("X-Amz-Content-Sha256") == "abc" {
		t.Fatalf("%d; store saw %s %v", res.StatusCode, up.URL, up.Header)
	}

	// A presigned URL carries headers as parameters: hoisted SSE arrives
	// at the store as the header the condition read.
	req, _ := http.NewRequest("PUT", f.srv.URL+"/bkt/enc/p?X-Amz-Expires=300&x-amz-server-side-encryption=AES256", nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKALICE", SecretAccessKey: "alice-secret"},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	preq, _ := http.NewRequest("PUT", signed, strings.NewReader("presigned"))
	pres, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(pres.Body)
	pres.Body.Close()
	up, _ = f.upLog.last()
	if pres.StatusCode != 200 || up.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" || strings.Contains(strings.ToLower(up.URL.RawQuery), "x-amz") {
		t.Fatalf("presigned: %d %s; store saw %s %v", pres.StatusCode, pbody, up.URL, up.Header)
	}
	f.events(t) // every event matches the schema
}

// A header given twice (in any letter case) is refused: the store and
// iamgate could read different copies.
func TestDuplicateHeadersRefused(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, ssePolicy)
	host := strings.TrimPrefix(f.srv.URL, "http://")
	tok := f.token(t, "alice", "staff")
	for _, dup := range []string{
		"X-Amz-Server-Side-Encryption: AES256\r\nX-Amz-Server-Side-Encryption: aws:kms\r\n",
		"x-amz-server-side-encryption: AES256\r\nX-AMZ-SERVER-SIDE-ENCRYPTION: aws:kms\r\n",
		"X-Amz-Server-Side-Encryption: AES256\r\nContent-Md5: a\r\ncontent-md5: b\r\n",
	} {
		before := f.upLog.count()
		raw := "PUT /bkt/enc/a HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + tok + "\r\n" + dup + "Content-Length: 1\r\n\r\nx"
		resps, _ := rawExchange(t, host, raw, 1, false)
		if len(resps) != 1 || resps[0].status != 400 || !strings.Contains(resps[0].body, "more than once") || f.upLog.count() != before {
			t.Errorf("%q: %+v", dup, resps)
		}
	}
	f.events(t) // each refusal is audited with an event that matches the schema
}

// A request with both Transfer-Encoding and Content-Length is refused and
// its connection closed (RFC 9112 §6.1): bytes after the chunked body are
// never served as a request. A chunked request is served, and its
// connection closed after the response.
func TestRequestFraming(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, ssePolicy)
	tok := f.token(t, "alice", "staff")
	srv := &http.Server{Handler: f.h, ConnContext: ConnContext, DisableGeneralOptionsHandler: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(FramingListener(ln))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	auth := "Authorization: Bearer " + tok + "\r\n"
	smuggled := "DELETE /bkt/plain/victim HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"

	for _, tc := range []struct{ name, raw string }{
		{"CL then TE", "PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE then CL", "PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "transfer-encoding: chunked\r\ncontent-length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{"after a good request", "GET /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" +
			"PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"after a body", "PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 12\r\n\r\nHTTP/1.1\r\n\r\n" +
			"PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			resps, closed := rawExchange(t, addr, tc.raw, 1, true)
			if !closed || len(resps) == 0 {
				t.Fatalf("closed %v, responses %+v", closed, resps)
			}
			last := resps[len(resps)-1]
			if last.status != 400 || !strings.Contains(last.body, "Transfer-Encoding and Content-Length") {
				t.Fatalf("responses %+v", resps)
			}
			for i := before; i < f.upLog.count(); i++ {
				if r := f.upLog.reqs[i]; r.Method != "GET" && !(r.Method == "PUT" && tc.name == "after a body") {
					t.Fatalf("the store received %s %s", r.Method, r.URL)
				}
			}
		})
	}

	// Chunked alone: served, then the connection ends; the bytes after the
	// body are not read as a request.
	before := f.upLog.count()
	resps, closed := rawExchange(t, addr, "PUT /bkt/plain/c HTTP/1.1\r\nHost: x\r\n"+auth+
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+smuggled, 1, true)
	if !closed || len(resps) != 1 || resps[0].status != 200 || f.upLog.count() != before+1 {
		t.Fatalf("chunked: closed %v responses %+v", closed, resps)
	}
	if up, body := f.upLog.last(); up.Method != "PUT" || string(body) != "abc" {
		t.Fatalf("store saw %s %q", up.Method, body)
	}
	// Keep-alive works for ordinary requests.
	resps, closed = rawExchange(t, addr, "GET /bkt/plain/a HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n"+
		"PUT /bkt/plain/a HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 2\r\n\r\nok"+
		"GET /bkt/plain/a HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n", 3, false)
	if closed || len(resps) != 3 || resps[0].status != 200 || resps[1].status != 200 || resps[2].status != 200 {
		t.Fatalf("keep-alive: closed %v responses %+v", closed, resps)
	}
	// OPTIONS * reaches the handler (and is refused) rather than being
	// answered by net/http on an open connection.
	resps, _ = rawExchange(t, addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
	if len(resps) != 1 || resps[0].status < 400 {
		t.Fatalf("OPTIONS *: %+v", resps)
	}
	// Every refusal is audited, and every event matches the schema.
	framing := 0
	for _, ev := range f.events(t) {
		if ev.Reason == "bad_framing" {
			framing++
		}
	}
	if framing != 4 {
		t.Errorf("%d audit events with reason bad_framing, want 4", framing)
	}
}

// Over TLS through FramingListener the handler still knows the request
// came over TLS (aws:SecureTransport).
func TestFramingKeepsTLS(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*",
	  "Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`)
	srv := httptestTLSServer(t, f.h)
	req, _ := http.NewRequest("GET", srv.URL+"/bkt/a", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
}

// The upstream query holds only the classified parameters.
func TestUpstreamQueryIsClassified(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, ssePolicy)
	tok := f.token(t, "alice", "staff")
	res, _ := f.do(t, "GET", "/bkt?list-type=2&prefix=plain%2F&x-id=ListObjectsV2&max-keys=2&marker=ignored&x-amz-meta-a=b", tok, nil)
	up, _ := f.upLog.last()
	if res.StatusCode != 200 || up.URL.RawQuery != "list-type=2&max-keys=2&prefix=plain%2F" {
		t.Fatalf("%d; store saw %q", res.StatusCode, up.URL.RawQuery)
	}
}

// tlsServer is h served over TLS through FramingListener, and a client
// that trusts it.
type tlsServer struct {
	URL    string
	client *http.Client
}

func (s *tlsServer) Client() *http.Client { return s.client }

func httptestTLSServer(t *testing.T, h http.Handler) *tlsServer {
	t.Helper()
	ref := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and client
	t.Cleanup(ref.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: ConnContext}
	go srv.Serve(FramingListener(tls.NewListener(ln, ref.TLS)))
	t.Cleanup(func() { srv.Close() })
	return &tlsServer{URL: "https://" + ln.Addr().String(), client: ref.Client()}
}
