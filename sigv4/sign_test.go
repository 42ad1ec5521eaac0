package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signBoth signs two copies of a request, one with the SDK signer and one
// with the outbound signer, and fails unless they agree on every header,
// the host and the query they send.
func signBoth(t testing.TB, mk func() *http.Request, c Credentials, payload, region string, when time.Time) {
	t.Helper()
	want, got := mk(), mk()
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	// A fresh SDK signer: its key cache is keyed by access key ID and day,
	// not by secret, so a shared one would sign a rotated secret with the
	// old key.
	sdk := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := sdk.SignHTTP(t.Context(), creds, want, payload, "s3", region, when); err != nil {
		t.Fatal(err)
	}
	var s outboundSigner
	// Twice: the second signature uses the cached key and date.
	for range 2 {
		got = mk()
		s.sign(got, &c, payload, region, when)
	}
	if g, w := got.Header.Get("Authorization"), want.Header.Get("Authorization"); g != w {
		t.Fatalf("Authorization\n got %s\nwant %s\n%s %q %q %v", g, w, want.Method, want.URL.EscapedPath(), want.URL.RawQuery, want.Header)
	}
	for k, w := range want.Header {
		if g := got.Header[k]; strings.Join(g, "\x00") != strings.Join(w, "\x00") {
			t.Fatalf("header %s = %q, want %q", k, g, w)
		}
	}
	if len(got.Header) != len(want.Header) {
		t.Fatalf("headers %v, want %v", got.Header, want.Header)
	}
	if got.Host != want.Host || got.URL.RawQuery != want.URL.RawQuery || got.URL.String() != want.URL.String() {
		t.Fatalf("sent %s %s, want %s %s", got.Host, got.URL, want.Host, want.URL)
	}
}

func TestOutboundSignMatchesSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	hosts := []string{"127.0.0.1:9000", "minio.internal", "minio.internal:80", "minio.internal:443", "[::1]:9000", "[::1]:80"}
	odd := []string{"", " ", "a  b", "  lead", "trail  ", "\ttab\t", "x\u00a0", "a , b", "v1,v2"}
	for i := range 3000 {
		c := randomCase(rng)
		if rng.IntN(4) == 0 {
			c.path = "/" // ListBuckets
		}
		scheme := []string{"http", "https"}[rng.IntN(2)]
		host := hosts[rng.IntN(len(hosts))]
		raw := c.query.Encode()
		switch rng.IntN(6) {
		case 0:
			raw += "&bad=%zz&;x=1&=empty&k" // dropped or kept as url.URL.Query does
		case 1:
			raw = strings.ReplaceAll(raw, "%20", "+")
		}
		extra := http.Header{}
		for n := rng.IntN(4); n > 0; n-- {
			k := []string{"Expect", "X-Amz-Checksum-Crc32", "Content-Md5", "X-Amz-Meta-Odd", "If-None-Match", "Transfer-Encoding", "Authorization", "X-Amz-Date"}[rng.IntN(8)]
			extra.Add(k, odd[rng.IntN(len(odd))])
		}
		length := int64(len(c.body))
		if rng.IntN(5) == 0 {
			length = -1
		}
		payload := []string{UnsignedPayload, StreamingUnsignedTrail, emptySHA256}[rng.IntN(3)]
		if rng.IntN(2) == 0 {
			sum := sha256.Sum256(c.body)
			payload = hex.EncodeToString(sum[:])
		}
		creds := Credentials{AccessKeyID: "AKID" + strconv.Itoa(i%7), SecretAccessKey: "secret/" + strconv.Itoa(i%5), SessionToken: c.token}
		region := []string{"us-east-1", "eu-central-1"}[rng.IntN(2)]
		at := when.Add(time.Duration(rng.IntN(3)) * 24 * time.Hour)
		mk := func() *http.Request {
			r := &http.Request{Method: c.method, Host: host, Header: http.Header{}, ContentLength: length,
				URL: &url.URL{Scheme: scheme, Host: host, Path: c.path, RawPath: EncodePath(c.path), RawQuery: raw}}
			if rng := i % 3; rng == 0 {
				r.URL.RawPath = "" // EscapedPath encodes
			} else if rng == 1 {
				r.Host = ""
			}
			if c.body != nil {
				r.Body = nopCloser{bytes.NewReader(c.body)}
			}
			for k, v := range c.headers {
				r.Header[k] = append([]string(nil), v...)
			}
			for k, v := range extra {
				r.Header[k] = append(r.Header[k], v...)
			}
			r.Header.Set("X-Amz-Content-Sha256", payload)
			return r
		}
		signBoth(t, mk, creds, payload, region, at)
	}
}

func TestOutboundSignKeyFollowsCredentialsAndDay(t *testing.T) {
	mk := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1:9000/b/k", nil)
		return r
	}
	var s outboundSigner
	a := &Credentials{AccessKeyID: "AK", SecretAccessKey: "one"}
	b := &Credentials{AccessKeyID: "AK", SecretAccessKey: "two"}
	day := time.Date(2026, 11, 27, 23, 59, 59, 0, time.UTC)
	sig := func(c *Credentials, at time.Time) string {
		r := mk()
		s.sign(r, c, emptySHA256, "us-east-1", at)
		return r.Header.Get("Authorization")
	}
	first := sig(a, day)
	if sig(b, day) == first {
		t.Fatal("rotated secret signed like the old one")
	}
	if sig(a, day) != first {
		t.Fatal("not deterministic")
	}
	next := sig(a, day.Add(time.Second))
	if !strings.Contains(next, "/20261128/") {
		t.Fatalf("next day: %s", next)
	}
	// Each agrees with the SDK.
	for _, c := range []*Credentials{a, b} {
		for _, at := range []time.Time{day, day.Add(time.Second)} {
			signBoth(t, mk, *c, emptySHA256, "us-east-1", at)
		}
	}
}

func FuzzOutboundSign(f *testing.F) {
	f.Add("GET", "/bkt/a b+c(1).txt", "x-id=GetObject&prefix=a%20b", "Range", "bytes=0-1", "127.0.0.1:9000", int64(0), "tok")
	f.Add("PUT", "/bkt/日本/ü", "uploadId=1&partNumber=2", "X-Amz-Meta-A", "  a   b  ", "minio:80", int64(5), "")
	f.Add("DELETE", "/", "a=1&a=0&b", "Content-Type", "\ttext/plain\u0085", "[::1]:443", int64(-1), "")
	f.Fuzz(func(t *testing.T, method, path, rawQuery, hk, hv, host string, length int64, token string) {
		if method == "" || strings.ContainsAny(method, " \r\n") || strings.EqualFold(hk, "host") ||
			strings.EqualFold(hk, "x-amz-content-sha256") || strings.EqualFold(hk, "x-amz-date") ||
			strings.EqualFold(hk, "x-amz-security-token") || strings.EqualFold(hk, "authorization") {
			return
		}
		mk := func() *http.Request {
			r := &http.Request{Method: method, Host: host, Header: http.Header{}, ContentLength: length,
				URL: &url.URL{Scheme: "http", Host: host, Path: path, RawPath: EncodePath(path), RawQuery: rawQuery}}
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			if hk != "" {
				r.Header[hk] = []string{hv}
			}
			return r
		}
		signBoth(t, mk, Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: token}, UnsignedPayload, "us-east-1",
			time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	})
}
