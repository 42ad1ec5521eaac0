package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// Pieces random keys and query values are built from: reserved and
// unreserved ASCII, a literal "%2F", non-ASCII, empty segments.
var keyPieces = []string{"a", "Z", "0", "-", "_", ".", "~", " ", "+", "%", "%2F", "(", ")", "!", "$", "&", "'",
	"*", ",", ";", "=", ":", "@", "/", "é", "日本", "😀", "?", "#", "[", "]", "\\", "^", "`", "{", "}", "|", "\"", "<", ">"}

func randString(rng *rand.Rand, max int) string {
	var b strings.Builder
	for n := rng.IntN(max + 1); n > 0; n-- {
		b.WriteString(keyPieces[rng.IntN(len(keyPieces))])
	}
	return b.String()
}

type sdkCase struct {
	method  string
	path    string // decoded
	query   url.Values
	headers http.Header
	body    []byte
	token   string
}

func randomCase(rng *rand.Rand) sdkCase {
	c := sdkCase{
		method:  []string{"GET", "PUT", "HEAD", "DELETE", "POST"}[rng.IntN(5)],
		path:    "/bkt/" + randString(rng, 8),
		query:   url.Values{},
		headers: http.Header{},
	}
	if rng.IntN(4) == 0 {
		c.path = "/bkt"
	}
	for n := rng.IntN(4); n > 0; n-- {
		k := []string{"prefix", "x-id", "list-type", "delimiter", "uploads", "versionId", "response-content-disposition", randString(rng, 3) + "k"}[rng.IntN(8)]
		c.query.Add(k, randString(rng, 5)) // often empty
	}
	if rng.IntN(3) == 0 {
		c.query.Set("x-id", "GetObject")
	}
	for n := rng.IntN(5); n > 0; n-- {
		k := []string{"X-Amz-Meta-A", "X-Amz-Meta-Owner", "Content-Type", "Range", "X-Amz-Tagging", "If-Match", "X-Custom"}[rng.IntN(7)]
		v := strings.TrimSpace(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return 'x'
			}
			return r
		}, randString(rng, 4)+"  v  w"))
		c.headers.Add(k, v) // Add: duplicate headers happen
	}
	if c.method == "PUT" || c.method == "POST" {
		c.body = []byte(randString(rng, 30))
	}
	if rng.IntN(2) == 0 {
		c.token = strings.TrimSpace("tok+/=" + randString(rng, 6))
	}
	return c
}

func (c sdkCase) request(t testing.TB) *http.Request {
	u := &url.URL{Scheme: "https", Host: "s3.example.test:8443", Path: c.path,
		RawPath: httpbinding.EscapePath(c.path, false), RawQuery: c.query.Encode()}
	var body *bytes.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequest(c.method, u.String(), body)
	} else {
		r, err = http.NewRequest(c.method, u.String(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.URL = u // keep RawPath exactly
	for k, v := range c.headers {
		r.Header[k] = append([]string(nil), v...)
	}
	r.Header.Set("User-Agent", "sdk-test/1.0") // unsigned by the SDK
	return r
}

var sdkSigner = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

func TestSDKSignHTTPCrossCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range 500 {
		c := randomCase(rng)
		secret := "s3cr3t/" + strconv.Itoa(i)
		creds := aws.Credentials{AccessKeyID: "AKID" + strconv.Itoa(i), SecretAccessKey: secret, SessionToken: c.token}
		r := c.request(t)
		hash := UnsignedPayload
		if rng.IntN(2) == 0 || c.body == nil {
			sum := sha256.Sum256(c.body)
			hash = hex.EncodeToString(sum[:])
		}
		r.Header.Set("X-Amz-Content-Sha256", hash)
		if err := sdkSigner.SignHTTP(t.Context(), creds, r, hash, "s3", exampleRegion, when); err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Forwarded-For", "10.1.2.3") // unsigned, not x-amz: allowed
		in := overWire(t, r)
		a, err := parseAndVerify(in, secret, when.Add(time.Minute))
		if err != nil {
			t.Fatalf("case %d: SDK-signed request rejected: %v\n%s %s", i, err, c.method, in.URL.RequestURI())
		}
		if a.SecurityToken != c.token || a.PayloadHash != hash || a.AccessKeyID != creds.AccessKeyID {
			t.Fatalf("case %d: parsed %+v", i, a)
		}
		for name, mutate := range requestMutations(rng, a) {
			m := overWire(t, r)
			mutate(m)
			if _, err := parseAndVerify(m, secret, when); err == nil {
				t.Fatalf("case %d: mutation %q verified: %s %s", i, name, m.Method, m.URL.RequestURI())
			}
		}
	}
}

func TestSDKPresignHTTPCrossCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range 500 {
		c := randomCase(rng)
		secret := "presign secret " + strconv.Itoa(i)
		creds := aws.Credentials{AccessKeyID: "AKIDP" + strconv.Itoa(i), SecretAccessKey: secret, SessionToken: c.token}
		r := c.request(t)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(1+rng.IntN(604800)))
		r.URL.RawQuery = q.Encode()
		if rng.IntN(3) == 0 {
			r.Header.Set("X-Amz-Acl", "private") // hoisted into the query
		}
		signed, hdr, err := sdkSigner.PresignHTTP(t.Context(), creds, r, UnsignedPayload, "s3", exampleRegion, when)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		u.RawPath = httpbinding.EscapePath(c.path, false)
		p := &http.Request{Method: c.method, URL: u, Host: u.Host, Header: http.Header{}, ContentLength: int64(len(c.body))}
		for k, v := range hdr {
			if k != "Host" {
				p.Header[k] = v
			}
		}
		if c.body != nil {
			p.Body = nopCloser{bytes.NewReader(c.body)}
			p.GetBody = func() (io.ReadCloser, error) { return nopCloser{bytes.NewReader(c.body)}, nil }
		}
		p.Header.Set("User-Agent", "browser") // unsigned: allowed
		in := overWire(t, p)
		a, err := parseAndVerify(in, secret, when.Add(time.Second))
		if err != nil {
			t.Fatalf("case %d: SDK-presigned request rejected: %v\n%s %s\n%v", i, err, c.method, in.URL.RequestURI(), in.Header)
		}
		if a.Type != AuthPresigned || a.SecurityToken != c.token || a.PayloadHash != UnsignedPayload {
			t.Fatalf("case %d: parsed %+v", i, a)
		}
		for name, mutate := range requestMutations(rng, a) {
			m := overWire(t, p)
			mutate(m)
			if _, err := parseAndVerify(m, secret, when); err == nil {
				t.Fatalf("case %d: mutation %q verified: %s %s", i, name, m.Method, m.URL.RequestURI())
			}
		}
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// requestMutations returns changes to a server-side request that must each
// make verification fail.
func requestMutations(rng *rand.Rand, a *Auth) map[string]func(*http.Request) {
	m := map[string]func(*http.Request){
		"method": func(r *http.Request) {
			if r.Method == "GET" {
				r.Method = "HEAD"
			} else {
				r.Method = "GET"
			}
		},
		"path": func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" },
		"path encoding": func(r *http.Request) {
			// "+" and "%2B" decode differently: a key with a space must not
			// verify as a key with a plus.
			r.URL.Path = strings.Replace(r.URL.Path+" ", " ", "+", 1)
			r.URL.RawPath = ""
		},
		"query added": func(r *http.Request) { r.URL.RawQuery += "&versionId=1" },
		"unsigned x-amz header": func(r *http.Request) {
			r.Header.Set("X-Amz-Copy-Source", "/other/secret")
		},
		"host": func(r *http.Request) { r.Host = "evil.test:8443" },
	}
	if r := rawQueryValueMutation(rng); r != nil && a.Type == AuthHeader {
		m["query value"] = r
	}
	for _, h := range a.SignedHeaders {
		switch h {
		case "host", "content-length", "x-amz-date":
			continue
		}
		m["signed header "+h] = func(r *http.Request) {
			k := http.CanonicalHeaderKey(h)
			vs := r.Header[k]
			if len(vs) > 0 {
				vs = append([]string(nil), vs...)
				vs[len(vs)-1] += "x"
				r.Header[k] = vs
			}
		}
		break
	}
	return m
}

func rawQueryValueMutation(rng *rand.Rand) func(*http.Request) {
	return func(r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		for k := range q {
			if k == "X-Amz-Signature" || k == "X-Amz-Security-Token" {
				continue
			}
			q[k][0] += "1"
			r.URL.RawQuery = q.Encode()
			return
		}
		r.URL.RawQuery = "extra="
	}
}
