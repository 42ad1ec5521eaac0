package sigv4

import (
	"bufio"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func FuzzParseV2Header(f *testing.F) {
	for _, v := range awsV2Vectors {
		for _, l := range strings.Split(v.raw, "\n") {
			if k, val, ok := strings.Cut(l, ": "); ok && k == "Authorization" {
				f.Add(val, "Tue, 10 Mar 2026 12:00:00 GMT", "")
			}
		}
	}
	f.Add("AWS AKID:c2ln", "20260310T120000Z", "tok")
	f.Add("AWS :", "Tue, 10 Mar 2026 12:00:00 +0000", "")
	f.Add("AWS a:b:c", "Tue Mar 10 12:00:00 2026", "")
	f.Add("AWS4-HMAC-SHA256 x", "", "")
	f.Fuzz(func(t *testing.T, authz, date, token string) {
		r, _ := http.NewRequest("GET", "http://s3.example.com/bkt/key", nil)
		r.Header.Set("Authorization", authz)
		r.Header.Set("Date", date)
		if token != "" {
			r.Header.Set("X-Amz-Security-Token", token)
		}
		a, e := ParseV2Request(r, v2Now)
		if a == nil {
			if e == nil {
				t.Fatal("neither an Auth nor an error")
			}
			return
		}
		if e != nil {
			t.Fatal("both an Auth and an error")
		}
		if a.Type != AuthHeader || a.AccessKeyID == "" || a.Signature == "" || strings.ContainsAny(a.AccessKeyID, ": ") ||
			authz != "AWS "+a.AccessKeyID+":"+a.Signature || a.SecurityToken != token {
			t.Fatalf("accepted %q as %+v", authz, a)
		}
		if d := v2Now.Sub(a.Date); d > MaxSkew || d < -MaxSkew {
			t.Fatalf("accepted a request time %v", a.Date)
		}
		_ = VerifyV2Signature(r, a, exampleSecret, "")
	})
}

func FuzzParseV2Query(f *testing.F) {
	f.Add("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1775139620")
	f.Add("AWSAccessKeyId=a&Signature=b&Expires=0")
	f.Add("AWSAccessKeyId=a&Signature=b&Expires=99999999999&x-amz-security-token=t&versionId=v&acl")
	f.Add("Signature=b&Expires=1.5")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r, _ := http.NewRequest("GET", "http://s3.example.com/bkt/key", nil)
		r.URL.RawQuery = rawQuery
		a, e := ParseV2Request(r, v2Now)
		if a == nil {
			if e == nil {
				t.Fatal("neither an Auth nor an error")
			}
			return
		}
		if e != nil {
			t.Fatal("both an Auth and an error")
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("accepted an unparsable query %q", rawQuery)
		}
		if a.Type != AuthPresigned || len(q[V2AccessKeyParam]) != 1 || len(q[V2SignatureParam]) != 1 || len(q[V2ExpiresParam]) != 1 ||
			a.AccessKeyID != q.Get(V2AccessKeyParam) || a.Signature != q.Get(V2SignatureParam) {
			t.Fatalf("accepted %q as %+v", rawQuery, a)
		}
		if a.Expires.Before(v2Now.Truncate(1e9)) {
			t.Fatalf("accepted an expired URL: %v", a.Expires)
		}
		_ = VerifyV2Signature(r, a, exampleSecret, "")
	})
}

// The string to sign is built from what the request is classified by: its
// resource decodes to the request's path, and its sub-resources are the
// known ones, sorted, each once.
func FuzzV2StringToSign(f *testing.F) {
	f.Add("GET", "/bkt/k?acl&versionId=1", "X-Amz-Meta-A", "1", "bkt")
	f.Add("PUT", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re?x-amz-meta-b=2&uploads=", "Content-Type", "text/plain", "")
	f.Add("DELETE", "http://h/b/%2F%2e%2e?response-content-type=a%2Fb&delete", "x-amz-date", "Tue, 10 Mar 2026 12:00:00 GMT", "")
	f.Add("GET", "*", "Date", "x", "")
	f.Fuzz(func(t *testing.T, method, target, name, value, bucket string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: s3.example.com\r\n" + name + ": " + value + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		a := &V2Auth{Type: AuthHeader}
		c, e := newV2Canon(r, a, bucket)
		if e != nil {
			return
		}
		sts := c.stringToSign(c.resources[0], c.subs, false)
		if !strings.HasPrefix(sts, r.Method+"\n") {
			t.Fatalf("string to sign %q for method %q", sts, r.Method)
		}
		want := r.URL.Path
		if want == "" {
			want = "/"
		}
		for _, res := range c.resources {
			if bucket != "" {
				if len(c.resources) != 1 || !strings.HasPrefix(res, "/"+bucket+"/") {
					t.Fatalf("resources %q for bucket %q", c.resources, bucket)
				}
				res = res[len(bucket)+1:]
			}
			// Only a bucket's own path may differ, and only by its final
			// slash, and never when the path is escaped.
			dec, err := url.PathUnescape(res)
			if err != nil || dec != want && (len(c.resources) == 1 || strings.Count(want, "/") > 2 ||
				strings.ContainsRune(res, '%') || strings.TrimSuffix(dec, "/") != strings.TrimSuffix(want, "/")) {
				t.Fatalf("resource %q decodes to %q, the request path is %q", res, dec, want)
			}
		}
		keys := make([]string, len(c.subs))
		for i, s := range c.subs {
			keys[i] = s.k
			if !isV2Subresource(s.k) || i > 0 && keys[i-1] == s.k {
				t.Fatalf("sub-resources %v", keys)
			}
		}
		if !slices.IsSorted(keys) {
			t.Fatalf("sub-resources not sorted: %v", keys)
		}
		if again, _ := v2StringToSign(r, a, bucket); again != sts {
			t.Fatal("the string to sign is not deterministic")
		}
	})
}
