package sigv4

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTransportFiltersAndSigns(t *testing.T) {
	var got *http.Request
	var gotBody string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(r.Context())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)

	tr := NewTransport(http.DefaultTransport, Credentials{AccessKeyID: "AKUPSTREAM", SecretAccessKey: "secret"}, "us-east-1")
	tr.Now = func() time.Time { return time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC) }

	req, _ := http.NewRequest("PUT", up.URL, strings.NewReader("hello"))
	req.URL.Path = "/b/a b+c(1).txt"
	req.URL.RawPath = "/b/a%20b%2Bc%281%29.txt"
	req.Host = u.Host
	h := req.Header
	h.Set("Authorization", "Bearer client-token")
	h.Set("X-Amz-Security-Token", "client-session")
	h.Set("Cookie", "session=1")
	h.Set("X-Forwarded-For", "10.0.0.1")
	h.Set("X-Iamgate-Role", "admin")
	h.Set("X-Amz-Unknown", "smuggled")
	h.Set("Connection", "X-Hop")
	h.Set("X-Hop", "1")
	h.Set("Content-Type", "text/plain")
	h.Set("X-Amz-Meta-Owner", "alice")
	h.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	h.Set("Content-Length", "5")
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	if req.Header.Get("Authorization") != "Bearer client-token" {
		t.Fatal("RoundTrip modified the caller's request")
	}
	for _, name := range []string{"X-Amz-Security-Token", "Cookie", "X-Iamgate-Role", "X-Amz-Unknown", "X-Hop", "Connection"} {
		if v := got.Header.Get(name); v != "" {
			t.Errorf("%s reached the store: %q", name, v)
		}
	}
	// X-Forwarded-For is the proxy's own (ProxyHeaders): kept and signed.
	for name, want := range map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Owner": "alice", "X-Forwarded-For": "10.0.0.1",
		"X-Amz-Checksum-Crc32": "AAAAAA==", "X-Amz-Content-Sha256": UnsignedPayload, "X-Amz-Date": "20261127T010203Z"} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	auth := got.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKUPSTREAM/20261127/us-east-1/s3/aws4_request, SignedHeaders=") {
		t.Fatalf("Authorization = %q", auth)
	}
	signed := auth[strings.Index(auth, "SignedHeaders=")+14 : strings.Index(auth, ", Signature=")]
	for _, want := range []string{"content-length", "content-type", "host", "x-amz-checksum-crc32", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-owner", "x-forwarded-for"} {
		if !strings.Contains(";"+signed+";", ";"+want+";") {
			t.Errorf("%s is not signed: %s", want, signed)
		}
	}
	if got.RequestURI != "/b/a%20b%2Bc%281%29.txt" {
		t.Errorf("path on the wire = %q", got.RequestURI)
	}
	if gotBody != "hello" || got.ContentLength != 5 {
		t.Errorf("body %q length %d", gotBody, got.ContentLength)
	}
}

func TestPayloadHash(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		header string
		body   bool
		want   string
		err    bool
	}{
		{"", false, emptySHA256, false},
		{"", true, UnsignedPayload, false},
		{UnsignedPayload, true, UnsignedPayload, false},
		{StreamingUnsignedTrail, true, StreamingUnsignedTrail, false},
		{hex, true, hex, false},
		{strings.ToUpper(hex), true, "", true},
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", true, "", true},
		{"garbage", true, "", true},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("PUT", "http://x/b/k", nil)
		if tt.body {
			req.Body = io.NopCloser(strings.NewReader("x"))
			req.ContentLength = 1
		}
		if tt.header != "" {
			req.Header.Set("X-Amz-Content-Sha256", tt.header)
		}
		got, err := payloadHash(req)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("payloadHash(%q, body=%v) = %q, %v; want %q, err=%v", tt.header, tt.body, got, err, tt.want, tt.err)
		}
	}
}

func TestAllowedHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Content-Type": true, "Range": true, "X-Amz-Meta-A": true, "X-Amz-Copy-Source": true,
		"X-Amz-Server-Side-Encryption-Customer-Key": true, "X-Amz-Object-Lock-Mode": true,
		"Authorization": false, "X-Amz-Security-Token": false, "X-Amz-Date": false, "Cookie": false,
		"X-Forwarded-For": false, "Transfer-Encoding": false, "X-Amz-Foo": false, "User-Agent": false,
		"X-Iamgate-Role": false, "Host": false, "Content-Length": false,
	} {
		if AllowedHeader(name) != want {
			t.Errorf("AllowedHeader(%q) = %v", name, !want)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	tr := NewTransport(http.DefaultTransport, Credentials{AccessKeyID: "AK", SecretAccessKey: "secret"}, "us-east-1")
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:9000/bucket/some/key.txt", nil)
		req.Header.Set("Range", "bytes=0-99")
		if err := tr.Sign(req.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTransportTemporaryCredentials: without credentials, and from the
// moment temporary ones expire, nothing is signed or sent; a swap applies
// to the next request, with its session token signed.
func TestTransportTemporaryCredentials(t *testing.T) {
	var got []*http.Request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.Clone(r.Context())) }))
	defer up.Close()
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := NewTransportWithoutCredentials(http.DefaultTransport, "us-east-1")
	tr.Now = func() time.Time { return now }
	send := func() error {
		req, _ := http.NewRequest("GET", up.URL+"/b/k", nil)
		req.Header.Set("X-Amz-Security-Token", "client-token")
		res, err := tr.RoundTrip(req)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := send(); err != ErrNoCredentials || len(got) != 0 {
		t.Fatalf("no credentials: %v, %d sent", err, len(got))
	}
	tr.SetCredentials(Credentials{AccessKeyID: "ASIAONE", SecretAccessKey: "s1", SessionToken: "token-one", Expires: now.Add(time.Minute)})
	if err := send(); err != nil {
		t.Fatal(err)
	}
	tr.SetCredentials(Credentials{AccessKeyID: "ASIATWO", SecretAccessKey: "s2", SessionToken: "token-two", Expires: now.Add(time.Minute)})
	if err := send(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ key, token string }{{"ASIAONE", "token-one"}, {"ASIATWO", "token-two"}} {
		h := got[i].Header
		if h.Get("X-Amz-Security-Token") != want.token || !strings.Contains(h.Get("Authorization"), "Credential="+want.key+"/") ||
			!strings.Contains(h.Get("Authorization"), "x-amz-security-token") {
			t.Fatalf("request %d: token %q, authorization %q", i, h.Get("X-Amz-Security-Token"), h.Get("Authorization"))
		}
	}
	now = now.Add(time.Minute)
	if err := send(); err != ErrNoCredentials || len(got) != 2 {
		t.Fatalf("expired: %v, %d sent", err, len(got))
	}
}
