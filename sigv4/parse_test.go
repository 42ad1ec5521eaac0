package sigv4

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/iamgate/iamgate/s3err"
)

var testWhen = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

const testSecret = "test secret"

// signed returns a request signed by the SDK at when, as the server sees it.
func signed(t testing.TB, method, target string, h http.Header, payload string, when time.Time, token string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		r.Header[k] = v
	}
	if payload != "" {
		r.Header.Set("X-Amz-Content-Sha256", payload)
	} else {
		payload = emptySHA256
	}
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: testSecret, SessionToken: token}
	if err := sdkSigner.SignHTTP(t.Context(), creds, r, payload, "s3", exampleRegion, when); err != nil {
		t.Fatal(err)
	}
	return overWire(t, r)
}

func presigned(t testing.TB, method, target string, expires string, when time.Time, token string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := r.URL.Query()
	q.Set("X-Amz-Expires", expires)
	r.URL.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: testSecret, SessionToken: token}
	u, _, err := sdkSigner.PresignHTTP(t.Context(), creds, r, UnsignedPayload, "s3", exampleRegion, when)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return overWire(t, out)
}

func wantErr(t *testing.T, e *s3err.Error, status int, code string) {
	t.Helper()
	if e == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.Code, e.Message, status, code)
	}
}

func extra(e *s3err.Error, name string) string {
	for _, kv := range e.Extra {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

const base = "https://s3.example.test/bkt/key"

func TestParseDetection(t *testing.T) {
	good := signed(t, "GET", base, nil, "", testWhen, "")
	authz := good.Header.Get("Authorization")
	tests := []struct {
		name   string
		mutate func(r *http.Request)
		status int
		code   string
	}{
		{"header and presigned", func(r *http.Request) { r.URL.RawQuery = "X-Amz-Credential=x" }, 400, "InvalidRequest"},
		{"header and SigV2 query", func(r *http.Request) { r.URL.RawQuery = "AWSAccessKeyId=x&Signature=y" }, 400, "InvalidRequest"},
		{"SigV2 header", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKID:abc=") }, 400, "InvalidRequest"},
		{"SigV2 query", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "AWSAccessKeyId=AKID&Expires=1&Signature=abc"
		}, 400, "InvalidRequest"},
		{"SigV4a header", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(authz, algorithm, algorithmECDSA, 1))
		}, 501, "NotImplemented"},
		{"SigV4a presigned", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=a%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("a", 64)
		}, 501, "NotImplemented"},
		{"Bearer and presigned", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer eyJ")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
		}, 400, "InvalidRequest"},
		{"unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }, 400, "InvalidArgument"},
		{"two Authorization headers", func(r *http.Request) { r.Header.Add("Authorization", authz) }, 400, "InvalidArgument"},
		{"semicolon in query", func(r *http.Request) { r.URL.RawQuery = "a=1;b=2" }, 400, "InvalidArgument"},
		{"semicolon in anonymous query", func(r *http.Request) { r.Header.Del("Authorization"); r.URL.RawQuery = "a=1;b=2" }, 400, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good.Clone(t.Context())
			tt.mutate(r)
			a, e := ParseRequest(r, exampleRegion, testWhen)
			if a != nil {
				t.Fatalf("parsed %+v", a)
			}
			wantErr(t, e, tt.status, tt.code)
		})
	}
	for name, h := range map[string]string{"anonymous": "", "bearer": "Bearer eyJhbGciOi"} {
		r := good.Clone(t.Context())
		r.Header.Del("Authorization")
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if a, e := ParseRequest(r, exampleRegion, testWhen); a != nil || e != nil {
			t.Errorf("%s: got %v, %v; want nil, nil", name, a, e)
		}
	}
}

func TestParseAuthorizationHeader(t *testing.T) {
	const cred = "Credential=AKIDTEST/20250101/us-east-1/s3/aws4_request"
	const sh = "SignedHeaders=host;x-amz-content-sha256;x-amz-date"
	sig := "Signature=" + strings.Repeat("0", 64)
	tests := []struct {
		name   string
		authz  string
		status int
		code   string
	}{
		{"no spaces", algorithm + " " + cred + "," + sh + "," + sig, 0, ""},
		{"any order", algorithm + " " + sig + ", " + cred + ",  " + sh, 0, ""},
		{"incorrect service", algorithm + " Credential=AKIDTEST/20250101/us-east-1/s4/aws4_request, " + sh + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"incorrect terminal", algorithm + " Credential=AKIDTEST/20250101/us-east-1/s3/aws4_requests, " + sh + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"four-part credential", algorithm + " Credential=AKIDTEST/20250101/us-east-1/s3, " + sh + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"bad credential date", algorithm + " Credential=AKIDTEST/2025011/us-east-1/s3/aws4_request, " + sh + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"empty access key", algorithm + " Credential=/20250101/us-east-1/s3/aws4_request, " + sh + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"SignedHeaders missing", algorithm + " " + cred + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"SignedHeaders empty", algorithm + " " + cred + ", SignedHeaders=, " + sig, 400, "AuthorizationHeaderMalformed"},
		{"SignedHeaders upper-case", algorithm + " " + cred + ", SignedHeaders=Host;x-amz-date, " + sig, 400, "AuthorizationHeaderMalformed"},
		{"SignedHeaders duplicate", algorithm + " " + cred + ", SignedHeaders=host;host, " + sig, 400, "AuthorizationHeaderMalformed"},
		{"host not signed", algorithm + " " + cred + ", SignedHeaders=x-amz-content-sha256;x-amz-date, " + sig, 403, "AccessDenied"},
		{"Signature empty", algorithm + " " + cred + ", " + sh + ", Signature=", 400, "AuthorizationHeaderMalformed"},
		{"Signature short", algorithm + " " + cred + ", " + sh + ", Signature=abc", 400, "AuthorizationHeaderMalformed"},
		{"component twice", algorithm + " " + cred + ", " + cred + ", " + sig, 400, "AuthorizationHeaderMalformed"},
		{"four components", algorithm + " " + cred + ", " + sh + ", " + sig + ", Foo=bar", 400, "AuthorizationHeaderMalformed"},
		{"no space after algorithm", algorithm + cred + ", " + sh + ", " + sig, 400, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", base, nil)
			r.Header.Set("Authorization", tt.authz)
			r.Header.Set("X-Amz-Date", "20250101T120000Z")
			a, e := ParseRequest(r, exampleRegion, testWhen)
			if tt.code == "" {
				if e != nil || a == nil {
					t.Fatalf("rejected: %v", e)
				}
				return
			}
			wantErr(t, e, tt.status, tt.code)
		})
	}
	t.Run("host not signed names host", func(t *testing.T) {
		r, _ := http.NewRequest("GET", base, nil)
		r.Header.Set("Authorization", algorithm+" "+cred+", SignedHeaders=x-amz-date, "+sig)
		r.Header.Set("X-Amz-Date", "20250101T120000Z")
		_, e := ParseRequest(r, exampleRegion, testWhen)
		if extra(e, "HeadersNotSigned") != "host" {
			t.Fatalf("extras %v", e.Extra)
		}
	})
}

func TestParseRegion(t *testing.T) {
	r := signed(t, "GET", base, nil, "", testWhen, "")
	_, e := ParseRequest(r, "eu-west-1", testWhen)
	wantErr(t, e, 400, "AuthorizationHeaderMalformed")
	if extra(e, "Region") != "eu-west-1" {
		t.Fatalf("Region extra = %q, want the expected region", extra(e, "Region"))
	}
	p := presigned(t, "GET", base, "60", testWhen, "")
	_, e = ParseRequest(p, "eu-west-1", testWhen)
	wantErr(t, e, 400, "AuthorizationQueryParametersError")
	if extra(e, "Region") != "eu-west-1" {
		t.Fatalf("Region extra = %q", extra(e, "Region"))
	}
}

func TestParseDates(t *testing.T) {
	t.Run("16 minutes old", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen.Add(-16*time.Minute), "")
		_, e := ParseRequest(r, exampleRegion, testWhen)
		wantErr(t, e, 403, "RequestTimeTooSkewed")
		if extra(e, "MaxAllowedSkewMilliseconds") != "900000" || extra(e, "RequestTime") != "20250101T114400Z" ||
			extra(e, "ServerTime") != "2025-01-01T12:00:00Z" {
			t.Fatalf("extras %v", e.Extra)
		}
	})
	t.Run("14 minutes ahead", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen.Add(14*time.Minute), "")
		if _, err := parseAndVerify(r, testSecret, testWhen); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("16 minutes ahead", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen.Add(16*time.Minute), "")
		_, e := ParseRequest(r, exampleRegion, testWhen)
		wantErr(t, e, 403, "RequestTimeTooSkewed")
	})
	for _, payload := range []string{StreamingUnsignedTrail, StreamingSigned, StreamingSignedTrailer, UnsignedPayload} {
		t.Run("an hour old "+payload, func(t *testing.T) {
			r := signed(t, "PUT", base, nil, payload, testWhen.Add(-time.Hour), "")
			_, e := ParseRequest(r, exampleRegion, testWhen)
			wantErr(t, e, 403, "RequestTimeTooSkewed")
		})
	}
	t.Run("scope date differs", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen, "")
		r.Header.Set("X-Amz-Date", "20250102T000000Z")
		_, e := ParseRequest(r, exampleRegion, testWhen.Add(12*time.Hour))
		wantErr(t, e, 400, "AuthorizationHeaderMalformed")
	})
	for name, set := range map[string]func(h http.Header){
		"no date":            func(h http.Header) { h.Del("X-Amz-Date") },
		"RFC 1123 Date only": func(h http.Header) { h.Del("X-Amz-Date"); h.Set("Date", "Wed, 01 Jan 2025 12:00:00 GMT") },
		"malformed":          func(h http.Header) { h.Set("X-Amz-Date", "2025-01-01T12:00:00Z") },
		"no seconds":         func(h http.Header) { h.Set("X-Amz-Date", "20250101T1200Z") },
		"twice":              func(h http.Header) { h.Add("X-Amz-Date", "20250101T120000Z") },
	} {
		t.Run(name, func(t *testing.T) {
			r := signed(t, "GET", base, nil, "", testWhen, "")
			set(r.Header)
			_, e := ParseRequest(r, exampleRegion, testWhen)
			wantErr(t, e, 403, "AccessDenied")
		})
	}
	t.Run("ISO Date header instead of X-Amz-Date", func(t *testing.T) {
		r, _ := http.NewRequest("GET", base, nil)
		r.Header.Set("Date", "20250101T120000Z")
		a := &Auth{Type: AuthHeader, AccessKeyID: "AKIDTEST", ScopeDate: "20250101", Region: exampleRegion, Service: "s3",
			SignedHeaders: []string{"date", "host"}, PayloadHash: emptySHA256, Date: testWhen}
		creq, _, _ := canonicalRequest(r, a)
		a.Signature = signHex(signingKey(testSecret, a.ScopeDate, a.Region), stringToSign(a, creq))
		r.Header.Set("Authorization", algorithm+" Credential=AKIDTEST/20250101/us-east-1/s3/aws4_request, SignedHeaders=date;host, Signature="+a.Signature)
		if _, err := parseAndVerify(r, testSecret, testWhen); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParsePayloadHash(t *testing.T) {
	tests := []struct {
		name, method, value string
		status              int
		code                string
		want                string
	}{
		{"absent means empty", "GET", "", 0, "", emptySHA256},
		{"unsigned", "PUT", UnsignedPayload, 0, "", UnsignedPayload},
		{"hex", "PUT", strings.Repeat("ab", 32), 0, "", strings.Repeat("ab", 32)},
		{"upper-case hex", "PUT", strings.Repeat("AB", 32), 400, "InvalidArgument", ""},
		{"garbage", "PUT", "STREAMING-FOO", 400, "InvalidArgument", ""},
		{"streaming on POST", "POST", StreamingSigned, 400, "InvalidRequest", ""},
		{"unsigned trailer on GET", "GET", StreamingUnsignedTrail, 400, "InvalidRequest", ""},
		{"streaming on PUT", "PUT", StreamingSignedTrailer, 0, "", StreamingSignedTrailer},
		{"ECDSA streaming", "PUT", streamingECDSA, 501, "NotImplemented", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signed(t, tt.method, base, nil, tt.value, testWhen, "")
			a, e := ParseRequest(r, exampleRegion, testWhen)
			if tt.code != "" {
				wantErr(t, e, tt.status, tt.code)
				return
			}
			if e != nil || a.PayloadHash != tt.want {
				t.Fatalf("got %v %v", a, e)
			}
			if e := VerifySignature(r, a, testSecret); e != nil {
				t.Fatal(e)
			}
		})
	}
}

func TestVerifyHeaderRules(t *testing.T) {
	t.Run("unsigned x-amz headers", func(t *testing.T) {
		for _, h := range []string{"X-Amz-Meta-Foo", "X-Amz-Copy-Source", "X-Amz-Tagging", "X-Amz-Security-Token", "x-amz-foo"} {
			r := signed(t, "PUT", base, nil, UnsignedPayload, testWhen, "")
			r.Header.Set(h, "bar")
			a, e := ParseRequest(r, exampleRegion, testWhen)
			if e != nil {
				t.Fatal(e)
			}
			e = VerifySignature(r, a, testSecret)
			wantErr(t, e, 403, "AccessDenied")
			if extra(e, "HeadersNotSigned") != strings.ToLower(h) {
				t.Fatalf("HeadersNotSigned = %q", extra(e, "HeadersNotSigned"))
			}
		}
	})
	t.Run("unsigned non-x-amz headers are fine", func(t *testing.T) {
		r := signed(t, "PUT", base, nil, UnsignedPayload, testWhen, "")
		r.Header.Set("Content-Type", "text/plain")
		r.Header.Set("X-Custom-Header", "1")
		if _, err := parseAndVerify(r, testSecret, testWhen); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("security token signed", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen, "session-token")
		a, err := parseAndVerify(r, testSecret, testWhen)
		if err != nil || a.SecurityToken != "session-token" {
			t.Fatalf("%v %v", a, err)
		}
		r.Header.Set("X-Amz-Security-Token", "")
		_, e := ParseRequest(r, exampleRegion, testWhen)
		wantErr(t, e, 400, "InvalidToken")
	})
	t.Run("upper-case signature", func(t *testing.T) {
		r := signed(t, "GET", base, nil, "", testWhen, "")
		h := r.Header.Get("Authorization")
		i := strings.LastIndex(h, "=") + 1
		r.Header.Set("Authorization", h[:i]+strings.ToUpper(h[i:]))
		a, e := ParseRequest(r, exampleRegion, testWhen)
		if e != nil {
			t.Fatal(e)
		}
		wantErr(t, VerifySignature(r, a, testSecret), 403, "SignatureDoesNotMatch")
	})
	t.Run("signed header missing", func(t *testing.T) {
		r := signed(t, "GET", base, http.Header{"Range": {"bytes=0-1"}}, "", testWhen, "")
		r.Header.Del("Range")
		a, e := ParseRequest(r, exampleRegion, testWhen)
		if e != nil {
			t.Fatal(e)
		}
		wantErr(t, VerifySignature(r, a, testSecret), 403, "SignatureDoesNotMatch")
	})
}

func TestCanonicalRequest(t *testing.T) {
	r := readRequest(t, `
PUT /bkt/a%20b%2Bc/~user/%7Etilde/a//b/%E6%97%A5.txt?list-type=2&prefix=a%2Fb+c&delimiter=%2F&uploads&x-id=PutObject HTTP/1.1
Host: s3.example.test:8443
X-Amz-Meta-A:  x   y 
X-Amz-Meta-B: 1
X-Amz-Meta-B: 2
User-Agent: aws-sdk-java/1.12
Transfer-Encoding: chunked
X-Amz-Date: 20250101T120000Z

`, []byte("5\r\nhello\r\n0\r\n\r\n"))
	a := &Auth{Type: AuthHeader, ScopeDate: "20250101", Region: exampleRegion, Service: "s3", Date: testWhen,
		SignedHeaders: []string{"host", "x-amz-meta-a", "x-amz-meta-b", "user-agent", "transfer-encoding", "expect", "content-length"},
		PayloadHash:   UnsignedPayload}
	got, missing, err := canonicalRequest(r, a)
	if err != nil || missing != "" {
		t.Fatal(err, missing)
	}
	want := "PUT\n" +
		"/bkt/a%20b%2Bc/~user/~tilde/a//b/%E6%97%A5.txt\n" +
		"delimiter=%2F&list-type=2&prefix=a%2Fb%20c&uploads=&x-id=PutObject\n" +
		"content-length:-1\n" +
		"expect:100-continue\n" +
		"host:s3.example.test:8443\n" +
		"transfer-encoding:chunked\n" +
		"user-agent:aws-sdk-java/1.12\n" +
		"x-amz-meta-a:x y\n" +
		"x-amz-meta-b:1,2\n" +
		"\n" +
		"content-length;expect;host;transfer-encoding;user-agent;x-amz-meta-a;x-amz-meta-b\n" +
		"UNSIGNED-PAYLOAD"
	if got != want {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", got, want)
	}
	// A sloppy client's raw '+' in the path is canonicalized as %2B, like MinIO.
	p := readRequest(t, "GET /bkt/a+b HTTP/1.1\nHost: h\n\n", nil)
	if got := canonicalURI(p); got != "/bkt/a%2Bb" {
		t.Fatalf("canonical URI %s", got)
	}
	// A literal %2F in a key arrives as %252F and stays that way.
	p = readRequest(t, "GET /bkt/test%252F.txt HTTP/1.1\nHost: h\n\n", nil)
	if got := canonicalURI(p); got != "/bkt/test%252F.txt" {
		t.Fatalf("canonical URI %s", got)
	}
	p = readRequest(t, "GET /bkt/_%24folder%24/%281%29.jpg HTTP/1.1\nHost: h\n\n", nil)
	if got := canonicalURI(p); got != "/bkt/_%24folder%24/%281%29.jpg" {
		t.Fatalf("canonical URI %s", got)
	}
}

func TestParsePresigned(t *testing.T) {
	good := presigned(t, "GET", base+"?versionId=3", "60", testWhen, "tok")
	if a, err := parseAndVerify(good, testSecret, testWhen.Add(30*time.Second)); err != nil || a.SecurityToken != "tok" ||
		a.Expires != time.Minute || a.PayloadHash != UnsignedPayload {
		t.Fatalf("%+v %v", a, err)
	}
	set := func(k, v string) func(url.Values) { return func(q url.Values) { q.Set(k, v) } }
	tests := []struct {
		name   string
		mutate func(url.Values)
		now    time.Time
		status int
		code   string
	}{
		{"expires too large", set("X-Amz-Expires", "604801"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"expires negative", set("X-Amz-Expires", "-1"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"expires fraction", set("X-Amz-Expires", "1.5"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"expires zero", set("X-Amz-Expires", "0"), testWhen, 403, "AccessDenied"},
		{"expires plus sign", set("X-Amz-Expires", "+60"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"expires max", set("X-Amz-Expires", "604800"), testWhen, 403, "SignatureDoesNotMatch"},
		{"missing SignedHeaders", func(q url.Values) { q.Del("X-Amz-SignedHeaders") }, testWhen, 400, "AuthorizationQueryParametersError"},
		{"missing Date", func(q url.Values) { q.Del("X-Amz-Date") }, testWhen, 400, "AuthorizationQueryParametersError"},
		{"missing Expires", func(q url.Values) { q.Del("X-Amz-Expires") }, testWhen, 400, "AuthorizationQueryParametersError"},
		{"duplicate credential", func(q url.Values) { q.Add("X-Amz-Credential", q.Get("X-Amz-Credential")) }, testWhen, 400, "AuthorizationQueryParametersError"},
		{"bad algorithm", set("X-Amz-Algorithm", "HMAC"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"bad date", set("X-Amz-Date", "20250101"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"date mismatch", set("X-Amz-Date", "20250102T120000Z"), testWhen.Add(24 * time.Hour), 400, "AuthorizationQueryParametersError"},
		{"bad service", set("X-Amz-Credential", "AKIDTEST/20250101/us-east-1/iam/aws4_request"), testWhen, 400, "AuthorizationQueryParametersError"},
		{"expired", nil, testWhen.Add(61 * time.Second), 403, "AccessDenied"},
		{"not yet valid", nil, testWhen.Add(-time.Hour), 403, "AccessDenied"},
		{"token removed", func(q url.Values) { q.Del("X-Amz-Security-Token") }, testWhen, 403, "SignatureDoesNotMatch"},
		{"token empty", set("X-Amz-Security-Token", ""), testWhen, 400, "InvalidToken"},
		{"token changed", set("X-Amz-Security-Token", "other"), testWhen, 403, "SignatureDoesNotMatch"},
		{"streaming payload", set("X-Amz-Content-Sha256", StreamingSigned), testWhen, 400, "AuthorizationQueryParametersError"},
		{"signed payload hash", set("X-Amz-Content-Sha256", emptySHA256), testWhen, 403, "SignatureDoesNotMatch"},
		{"upper-case signature", func(q url.Values) { q.Set("X-Amz-Signature", strings.ToUpper(q.Get("X-Amz-Signature"))) }, testWhen, 403, "SignatureDoesNotMatch"},
		{"versionId changed", set("versionId", "4"), testWhen, 403, "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good.Clone(t.Context())
			if tt.mutate != nil {
				q := r.URL.Query()
				tt.mutate(q)
				r.URL.RawQuery = q.Encode()
			}
			a, e := ParseRequest(r, exampleRegion, tt.now)
			if e == nil {
				e = VerifySignature(r, a, testSecret)
			}
			wantErr(t, e, tt.status, tt.code)
			switch tt.name {
			case "expired":
				if extra(e, "X-Amz-Expires") != "60" || extra(e, "Expires") != "2025-01-01T12:01:00Z" || extra(e, "ServerTime") != "2025-01-01T12:01:01Z" {
					t.Fatalf("extras %v", e.Extra)
				}
				if e.Message != "Request has expired" {
					t.Fatal(e.Message)
				}
			case "expires zero":
				if e.Message != "Request has expired" || extra(e, "X-Amz-Expires") != "0" {
					t.Fatalf("%s %v", e.Message, e.Extra)
				}
			case "not yet valid":
				if e.Message != "Request is not valid yet" {
					t.Fatal(e.Message)
				}
			}
		})
	}
	t.Run("unsigned x-amz header", func(t *testing.T) {
		r := good.Clone(t.Context())
		r.Header.Set("X-Amz-Acl", "public-read")
		a, e := ParseRequest(r, exampleRegion, testWhen)
		if e != nil {
			t.Fatal(e)
		}
		wantErr(t, VerifySignature(r, a, testSecret), 403, "AccessDenied")
	})
}
