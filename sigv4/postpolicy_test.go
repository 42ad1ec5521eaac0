package sigv4

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example of the AWS documentation "Example: Browser-Based Upload
// using HTTP POST (Using AWS Signature Version 4)".
const (
	awsPostPolicy    = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	awsPostSignature = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
	awsPostSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func awsPostForm() PostForm {
	return PostForm{
		"key":                          "user/user1/${filename}",
		"acl":                          "public-read",
		"success_action_redirect":      "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
		"content-type":                 "image/jpeg",
		"x-amz-meta-uuid":              "14365123651274",
		"x-amz-server-side-encryption": "AES256",
		"x-amz-credential":             "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
		"x-amz-algorithm":              "AWS4-HMAC-SHA256",
		"x-amz-date":                   "20151229T000000Z",
		"x-amz-meta-tag":               "",
		"policy":                       awsPostPolicy,
		"x-amz-signature":              awsPostSignature,
	}
}

var awsPostNow = time.Date(2015, 12, 29, 12, 0, 0, 0, time.UTC)

func TestPostPolicyAWSExample(t *testing.T) {
	form := awsPostForm()
	a, e := ParsePostAuth(form, "us-east-1")
	if e != nil {
		t.Fatal(e)
	}
	if a.Type != AuthPost || a.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || a.ScopeDate != "20151229" || a.SecurityToken != "" {
		t.Fatalf("auth %+v", a)
	}
	if e := VerifyPostSignature(a, form["policy"], awsPostSecret); e != nil {
		t.Fatalf("AWS example signature: %v", e)
	}
	if e := VerifyPostSignature(a, form["policy"], awsPostSecret+"x"); e == nil || e.Code != "SignatureDoesNotMatch" || e.Status != 403 {
		t.Fatalf("wrong secret: %v", e)
	}
	upper := *a
	upper.Signature = strings.ToUpper(a.Signature)
	if e := VerifyPostSignature(&upper, form["policy"], awsPostSecret); e == nil {
		t.Fatal("an upper-case signature matched")
	}
	p, e := ParsePostPolicy(form["policy"])
	if e != nil {
		t.Fatal(e)
	}
	form["key"] = "user/user1/photo.jpg"
	if e := p.Check(form, "sigv4examplebucket", awsPostNow); e != nil {
		t.Fatalf("AWS example form: %v", e)
	}
	if p.HasLengthRange || p.MaxLength != MaxPostObjectSize {
		t.Fatalf("length range %+v", p)
	}
}

func TestParsePostAuth(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(PostForm)
		code   string
		status int
	}{
		{"anonymous", func(f PostForm) {
			for _, k := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
				delete(f, k)
			}
		}, "AccessDenied", 403},
		{"missing signature", func(f PostForm) { delete(f, "x-amz-signature") }, "InvalidArgument", 400},
		{"missing policy", func(f PostForm) { delete(f, "policy") }, "InvalidArgument", 400},
		{"sigv2", func(f PostForm) { f["awsaccesskeyid"] = "AK" }, "InvalidRequest", 400},
		{"sigv4a", func(f PostForm) { f["x-amz-algorithm"] = "AWS4-ECDSA-P256-SHA256" }, "NotImplemented", 501},
		{"other algorithm", func(f PostForm) { f["x-amz-algorithm"] = "HMAC-SHA256" }, "InvalidArgument", 400},
		{"wrong region", func(f PostForm) {
			f["x-amz-credential"] = "AKIAIOSFODNN7EXAMPLE/20151229/eu-west-1/s3/aws4_request"
		}, "InvalidArgument", 400},
		{"wrong service", func(f PostForm) {
			f["x-amz-credential"] = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/iam/aws4_request"
		}, "InvalidArgument", 400},
		{"wrong terminal", func(f PostForm) {
			f["x-amz-credential"] = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4"
		}, "InvalidArgument", 400},
		{"short credential", func(f PostForm) { f["x-amz-credential"] = "AKIAIOSFODNN7EXAMPLE/20151229" }, "InvalidArgument", 400},
		{"bad date", func(f PostForm) { f["x-amz-date"] = "2015-12-29T00:00:00Z" }, "InvalidArgument", 400},
		{"date not scope date", func(f PostForm) { f["x-amz-date"] = "20151230T000000Z" }, "InvalidArgument", 400},
		{"short signature", func(f PostForm) { f["x-amz-signature"] = "abc" }, "InvalidArgument", 400},
		{"empty token", func(f PostForm) { f["x-amz-security-token"] = "" }, "InvalidToken", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := awsPostForm()
			tc.edit(f)
			a, e := ParsePostAuth(f, "us-east-1")
			if e == nil || a != nil {
				t.Fatalf("accepted: %+v", a)
			}
			if e.Code != tc.code || e.Status != tc.status {
				t.Fatalf("got %d %s %q, want %d %s", e.Status, e.Code, e.Message, tc.status, tc.code)
			}
		})
	}
	f := awsPostForm()
	f["x-amz-security-token"] = "tok"
	if a, e := ParsePostAuth(f, "us-east-1"); e != nil || a.SecurityToken != "tok" {
		t.Fatalf("token: %+v %v", a, e)
	}
}

func enc(doc string) string { return base64.StdEncoding.EncodeToString([]byte(doc)) }

func TestParsePostPolicyRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not base64":           "%%%",
		"not json":             enc("{"),
		"array":                enc(`[]`),
		"trailing data":        enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[]} {}`),
		"duplicate key":        enc(`{"expiration":"2030-01-01T00:00:00Z","expiration":"2031-01-01T00:00:00Z","conditions":[]}`),
		"duplicate in cond":    enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"key":"a","key":"b"}]}`),
		"unknown key":          enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[],"x":1}`),
		"no expiration":        enc(`{"conditions":[]}`),
		"bad expiration":       enc(`{"expiration":"tomorrow","conditions":[]}`),
		"no conditions":        enc(`{"expiration":"2030-01-01T00:00:00Z"}`),
		"conditions object":    enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":{}}`),
		"two elements":         enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","$key"]]}`),
		"unknown op":           enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["ends-with","$key","x"]]}`),
		"no dollar":            enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","key","x"]]}`),
		"number value":         enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"key":1}]}`),
		"negative length":      enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",-1,10]]}`),
		"inverted length":      enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",10,1]]}`),
		"fraction length":      enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,1.5]]}`),
		"starts-with bucket":   enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["starts-with","$bucket","b"]]}`),
		"starts-with cred":     enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["starts-with","$x-amz-credential",""]]}`),
		"deep":                 enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[[[[[[["eq"]]]]]]]}`),
		"scalar condition":     enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":["eq"]}`),
		"starts-with algo":     enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["STARTS-WITH","$X-Amz-Algorithm",""]]}`),
		"length strings wrong": enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range","a","1"]]}`),
	} {
		t.Run(name, func(t *testing.T) {
			p, e := ParsePostPolicy(doc)
			if e == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if e.Code != "InvalidPolicyDocument" || e.Status != 400 {
				t.Fatalf("got %d %s", e.Status, e.Code)
			}
		})
	}
}

func TestPostPolicyCheck(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func() PostForm {
		return PostForm{"key": "home/alice/a.txt", "x-amz-algorithm": "AWS4-HMAC-SHA256", "policy": "p", "x-amz-signature": "s"}
	}
	tests := []struct {
		name   string
		policy string
		edit   func(PostForm)
		want   string // "" allowed; otherwise a substring of the message
	}{
		{"allowed", `[["starts-with","$key","home/alice/"],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`, nil, ""},
		{"key outside prefix", `[["starts-with","$key","home/alice/"],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`,
			func(f PostForm) { f["key"] = "home/bob/a.txt" }, `Policy Condition failed: ["starts-with", "$key", "home/alice/"]`},
		{"no key condition", `[{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`, nil, "Extra input fields: key"},
		{"extra field", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`,
			func(f PostForm) { f["x-amz-meta-x"] = "1" }, "Extra input fields: x-amz-meta-x"},
		{"x-ignore field", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`,
			func(f PostForm) { f["x-ignore-submit"] = "Upload" }, ""},
		{"condition names are case-insensitive", `[["EQ","$Key","home/alice/a.txt"],{"X-Amz-Algorithm":"AWS4-HMAC-SHA256"}]`, nil, ""},
		{"eq exact", `[["eq","$key","home/alice/a.txt "],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`, nil, "Policy Condition failed"},
		{"condition on an absent field", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"acl":"private"}]`,
			nil, `Policy Condition failed: ["eq", "$acl", "private"]`},
		{"absent field starts-with empty", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"},["starts-with","$acl",""]]`, nil, ""},
		{"bucket matches", `[{"bucket":"data"},["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`, nil, ""},
		{"bucket differs", `[{"bucket":"other"},["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`,
			nil, `["eq", "$bucket", "other"]`},
		{"bucket field is the request's", `[{"bucket":"other"},["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`,
			func(f PostForm) { f["bucket"] = "other" }, `["eq", "$bucket", "other"]`},
		{"content-type list", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"},["starts-with","$Content-Type","image/"]]`,
			func(f PostForm) { f["content-type"] = "image/jpg, image/png,image/gif" }, ""},
		{"content-type list with a stranger", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"},["starts-with","$Content-Type","image/"]]`,
			func(f PostForm) { f["content-type"] = "image/jpg,text/plain" }, "Policy Condition failed"},
		{"expired", `[["starts-with","$key",""],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]`, nil, "Policy expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := "2026-01-01T01:00:00.000Z"
			if tc.name == "expired" {
				exp = "2026-01-01T00:00:00Z"
			}
			p, e := ParsePostPolicy(enc(`{"expiration":"` + exp + `","conditions":` + tc.policy + `}`))
			if e != nil {
				t.Fatal(e)
			}
			f := base()
			if tc.edit != nil {
				tc.edit(f)
			}
			e = p.Check(f, "data", now)
			switch {
			case tc.want == "" && e != nil:
				t.Fatalf("denied: %v", e)
			case tc.want != "" && e == nil:
				t.Fatal("allowed")
			case tc.want != "" && (e.Code != "AccessDenied" || e.Status != 403 || !strings.Contains(e.Message, tc.want) ||
				!strings.HasPrefix(e.Message, "Invalid according to Policy: ")):
				t.Fatalf("got %d %s %q, want %q", e.Status, e.Code, e.Message, tc.want)
			}
		})
	}
}

func TestPostPolicyLengthRange(t *testing.T) {
	p, e := ParsePostPolicy(enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",1,"10"],["content-length-range",0,8]]}`))
	if e != nil {
		t.Fatal(e)
	}
	if !p.HasLengthRange || p.MinLength != 1 || p.MaxLength != 8 {
		t.Fatalf("range %d..%d", p.MinLength, p.MaxLength)
	}
	for _, tc := range []struct {
		n     int64
		final bool
		code  string
	}{
		{0, false, ""}, {0, true, "EntityTooSmall"}, {1, true, ""}, {8, true, ""}, {9, false, "EntityTooLarge"}, {9, true, "EntityTooLarge"},
	} {
		e := p.CheckLength(tc.n, tc.final)
		got := ""
		if e != nil {
			got = e.Code
			if e.Status != 400 {
				t.Fatalf("status %d", e.Status)
			}
		}
		if got != tc.code {
			t.Fatalf("CheckLength(%d, %v) = %q, want %q", tc.n, tc.final, got, tc.code)
		}
	}
}

// A policy signed by SignPostPolicy verifies, and its conditions accept
// exactly the form it was written for.
func TestSignPostPolicyRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	creds := Credentials{AccessKeyID: "AKUP", SecretAccessKey: "upstream-secret", SessionToken: "sess"}
	fields := PostForm{"key": "home/alice/x", "content-type": "text/plain", "x-amz-meta-a": `quote " and <html>`}
	auth := SignPostPolicy(fields, "data", 0, 100, now.Add(15*time.Minute), creds, "us-east-1", now)
	form := PostForm{}
	for _, set := range []PostForm{fields, auth} {
		for k, v := range set {
			form[k] = v
		}
	}
	if auth[FieldSecurityToken] != "sess" || auth[FieldDate] != "20260301T100000Z" ||
		auth[FieldCredential] != "AKUP/20260301/us-east-1/s3/aws4_request" {
		t.Fatalf("auth fields %v", auth)
	}
	a, e := ParsePostAuth(form, "us-east-1")
	if e != nil {
		t.Fatal(e)
	}
	if e := VerifyPostSignature(a, form[FieldPolicy], creds.SecretAccessKey); e != nil {
		t.Fatal(e)
	}
	p, e := ParsePostPolicy(form[FieldPolicy])
	if e != nil {
		t.Fatal(e)
	}
	if !p.HasLengthRange || p.MinLength != 0 || p.MaxLength != 100 {
		t.Fatalf("range %+v", p)
	}
	if e := p.Check(form, "data", now); e != nil {
		t.Fatal(e)
	}
	if e := p.Check(form, "other", now); e == nil {
		t.Fatal("another bucket accepted")
	}
	form["key"] = "home/alice/y"
	if e := p.Check(form, "data", now); e == nil {
		t.Fatal("another key accepted")
	}
	form["key"] = "home/alice/x"
	form["acl"] = "public-read"
	if e := p.Check(form, "data", now); e == nil {
		t.Fatal("an added field accepted")
	}
	if e := p.Check(fields, "data", now.Add(16*time.Minute)); e == nil {
		t.Fatal("accepted after expiry")
	}
}

func TestTransportCredentials(t *testing.T) {
	tr := NewTransport(nil, Credentials{AccessKeyID: "a", SecretAccessKey: "b"}, "us-east-1")
	tr.SetCredentials(Credentials{AccessKeyID: "c", SecretAccessKey: "d"})
	if c := tr.Credentials(); c.AccessKeyID != "c" || c.SecretAccessKey != "d" {
		t.Fatalf("credentials %+v", c)
	}
	if c := (&Transport{}).Credentials(); c.AccessKeyID != "" {
		t.Fatal("zero transport has credentials")
	}
}

func FuzzPostPolicy(f *testing.F) {
	f.Add(awsPostPolicy, "user/user1/a.jpg", "image/png")
	f.Add(enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,10],{"key":"k"}]}`), "k", "")
	f.Add(enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["starts-with","$Content-Type","a,b"]]}`), "", "a,b,c")
	f.Add(enc(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"a":"1","a":"2"}]}`), "", "")
	f.Add(enc(`[[[[[[[[[[`), "", "")
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, policy, key, contentType string) {
		p, e := ParsePostPolicy(policy)
		if (p == nil) == (e == nil) {
			t.Fatalf("policy %v and error %v", p, e)
		}
		if e != nil {
			if e.Code != "InvalidPolicyDocument" {
				t.Fatalf("code %s", e.Code)
			}
			return
		}
		if p.MinLength < 0 || p.MaxLength < 0 {
			t.Fatalf("range %d..%d", p.MinLength, p.MaxLength)
		}
		for _, c := range p.Conditions {
			if c.Op != CondEq && c.Op != CondStartsWith || c.Field != strings.ToLower(c.Field) || c.Field == "" {
				t.Fatalf("condition %+v", c)
			}
		}
		form := PostForm{"key": key, "content-type": contentType}
		if e := p.Check(form, "bucket", now); e != nil && e.Code != "AccessDenied" {
			t.Fatalf("check code %s", e.Code)
		} else if e == nil {
			// Every field was covered and every condition held.
			covered := map[string]bool{}
			for _, c := range p.Conditions {
				covered[c.Field] = true
			}
			if !covered["key"] || !covered["content-type"] || !p.Expiration.After(now) {
				t.Fatalf("allowed without coverage: %+v", p)
			}
		}
	})
}

func TestFormTransportSendsOnlyForms(t *testing.T) {
	var got *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})
	ft := NewTransport(base, Credentials{AccessKeyID: "a", SecretAccessKey: "b"}, "us-east-1").FormTransport()
	req, _ := http.NewRequest("POST", "http://store/bkt", strings.NewReader("x"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.Header.Set("Authorization", "Bearer client")
	req.Header.Set("Cookie", "c=1")
	if _, err := ft.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("Authorization") != "" || got.Header.Get("Cookie") != "" || got.Header.Get("Content-Type") == "" {
		t.Fatalf("forwarded headers %v", got.Header)
	}
	for _, r := range []*http.Request{
		httptestRequest("GET", "multipart/form-data; boundary=b"),
		httptestRequest("POST", "application/xml"),
		httptestRequest("PUT", "multipart/form-data; boundary=b"),
	} {
		if _, err := ft.RoundTrip(r); !errors.Is(err, ErrNotForm) {
			t.Fatalf("%s %s: %v", r.Method, r.Header.Get("Content-Type"), err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func httptestRequest(method, ct string) *http.Request {
	r, _ := http.NewRequest(method, "http://store/bkt", nil)
	r.Header.Set("Content-Type", ct)
	return r
}
