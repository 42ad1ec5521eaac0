package s3req

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
)

func FuzzClassify(f *testing.F) {
	seeds := []struct{ method, host, path, query, copySource, contentType, tagging string }{
		{"GET", "s3.local", "/", "", "", "", ""},
		{"GET", "s3.local", "/bkt/k", "x-id=GetObject", "", "", ""},
		{"GET", "my.dotted.bkt.s3.local:8443", "/a/b", "versionId=1", "", "", ""},
		{"GET", "x.s3.local.evil.com", "/bkt", "list-type=2&prefix=a/&delimiter=/", "", "", ""},
		{"PUT", "s3.local", "/bkt/k", "", "src/a%2Bb?versionId=v", "", "a=b"},
		{"PUT", "s3.local", "/bkt/k", "", "bkt//home/alice/../bob/secret", "", ""},
		{"PUT", "s3.local", "/bkt/k", "partNumber=1&uploadId=U", "/src/k", "", ""},
		{"PUT", "s3.local", "/bkt/k", "partNumber=1", "", "", ""},
		{"POST", "s3.local", "/bkt", "delete", "", "", ""},
		{"POST", "s3.local", "/bkt", "", "", "multipart/form-data; boundary=x", ""},
		{"POST", "s3.local", "/", "Action=AssumeRole", "", "", ""},
		{"GET", "s3.local", "/minio/admin/v3/info", "", "", "", ""},
		{"GET", "s3.local", "/bkt//k", "a=1;b=2", "", "", ""},
		{"DELETE", "s3.local", "/bkt/k", "tagging&versionId=v", "", "", ""},
		{"GET", "s3.local", "/bkt/?versionId", "prefix=a&prefix=b", "", "", ""},
		{"PUT", "s3.local", "/bkt", "lifecycle", "", "", ""},
		{"GET", "bkt.s3.local", "//", "", "", "", ""},
		{"HEAD", "[::1]:9000", "/bkt/a\\..\\b", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.host, s.path, s.query, s.copySource, s.contentType, s.tagging)
	}
	cfg := Config{VirtualHostDomains: []string{"s3.local"}}
	f.Fuzz(func(t *testing.T, method, host, path, query, copySource, contentType, tagging string) {
		r := newReq(method, host, path, query)
		if copySource != "" {
			r.Header[hCopySource] = []string{copySource}
		}
		if contentType != "" {
			r.Header[hContentType] = []string{contentType}
		}
		if tagging != "" {
			r.Header[hTagging] = []string{tagging}
		}
		req, err := Classify(r, cfg)
		if err != nil {
			if req != nil {
				t.Fatalf("request and error both returned")
			}
			if err.Status < 400 || err.Code == "" || err.Message == "" {
				t.Fatalf("malformed error %+v", err)
			}
			return
		}
		if msg := checkInvariants(req); msg != "" {
			t.Fatalf("%s: %+v", msg, req)
		}
		if !strings.HasPrefix(req.UpstreamPath, "/"+req.Bucket) {
			t.Fatalf("UpstreamPath %q does not start with /%s", req.UpstreamPath, req.Bucket)
		}
		// What goes upstream in the query is a subset of what the client
		// sent, value for value, and never an x-amz-* parameter.
		if msg := checkUpstreamQuery(req.UpstreamQuery, query); msg != "" {
			t.Fatalf("%s (query %q, upstream %q)", msg, query, req.UpstreamQuery)
		}
		// The same request must classify the same way.
		again, err2 := Classify(r, cfg)
		if err2 != nil || !reflect.DeepEqual(again.Checks, req.Checks) || again.Op != req.Op {
			t.Fatalf("classification is not deterministic")
		}
	})
}

func FuzzParseDeleteObjects(f *testing.F) {
	for _, s := range []string{
		`<Delete><Object><Key>a</Key></Object></Delete>`,
		`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a &amp; b</Key><VersionId>v</VersionId></Object></Delete>`,
		`<!DOCTYPE x [<!ENTITY e "b">]><Delete><Object><Key>&e;</Key></Object></Delete>`,
		`<Delete><Object><Key>a&#xD;&#9;b</Key></Object></Delete>`,
		`<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>`,
		`<Delete><Object><Key>/a/../b</Key></Object></Delete>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDeleteObjects(body)
		if err != nil {
			if d != nil || err.Code != "MalformedXML" {
				t.Fatalf("bad error result: %v", err)
			}
			return
		}
		if len(d.Objects) == 0 || len(d.Objects) > MaxDeleteObjects {
			t.Fatalf("%d objects", len(d.Objects))
		}
		for _, o := range d.Objects {
			if e := checkKey(o.Key); e != nil {
				t.Fatalf("accepted invalid key %q: %v", o.Key, e)
			}
		}
		out := d.Marshal()
		d2, err := ParseDeleteObjects(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the document: %+v != %+v", d, d2)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	r := newReq(http.MethodGet, "s3.local:9000", "/bucket/home/alice/photos/2025/img-0001.jpg", "x-id=GetObject")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=...")
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	cfg := Config{VirtualHostDomains: []string{"s3.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Classify(r, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseTagging: the tagging parser never panics, refuses with S3's
// codes, and what it accepts re-serializes to a document that parses to
// the same tags (what is forwarded is what was authorized).
func FuzzParseTagging(f *testing.F) {
	for _, s := range []string{
		`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`,
		`<?xml version="1.0"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>k &amp; l</Key></Tag></TagSet></Tagging>`,
		`<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>`,
		`<Tagging><TagSet>x<Tag/></TagSet></Tagging>`,
		`<Tagging><TagSet><Tag><Key>&#xD;</Key></Tag></TagSet></Tagging>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (authz.TagSet, *s3err.Error){ParseTagging, ParseStoredTagging} {
			tags, err := parse(body)
			if err != nil {
				if err.Code != "MalformedXML" && err.Code != "InvalidTag" {
					t.Fatalf("error code %s", err.Code)
				}
				continue
			}
			if len(tags.Keys) != len(tags.Values) {
				t.Fatalf("keys and values differ in length")
			}
			again, err := parse(MarshalTagging(tags))
			if err != nil {
				t.Fatalf("MarshalTagging output does not parse: %v", err)
			}
			if again.Len() != tags.Len() || tags.Len() > 0 && !reflect.DeepEqual(again, tags) {
				t.Fatalf("round trip changed the tags: %+v != %+v", again, tags)
			}
		}
	})
}

// FuzzParseTaggingHeader: the x-amz-tagging parser never panics and
// TaggingHeader renders what it accepted so that it parses back the same.
func FuzzParseTaggingHeader(f *testing.F) {
	for _, s := range []string{"a=b", "a=b&c", "&&a=%20+b=", "a=1&a=2", "%zz=1", "caf%C3%A9=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tags, err := ParseTaggingHeader(v)
		if err != nil {
			if err.Code != "InvalidTag" && err.Code != "InvalidArgument" {
				t.Fatalf("error code %s", err.Code)
			}
			return
		}
		if tags.Len() > MaxObjectTags {
			t.Fatalf("%d tags", tags.Len())
		}
		again, err := ParseTaggingHeader(TaggingHeader(tags))
		if err != nil || again.Len() != tags.Len() || tags.Len() > 0 && !reflect.DeepEqual(again, tags) {
			t.Fatalf("round trip of %q: %+v (%v) != %+v", v, again, err, tags)
		}
	})
}

// FuzzApplyBody: the condition-body documents (tagging, retention, legal
// hold, bucket configuration) never panic, and the document forwarded in
// place of the client's yields the same condition values.
func FuzzApplyBody(f *testing.F) {
	for _, s := range []struct {
		k    byte
		body string
	}{
		{byte(BodyTagging), `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`},
		{byte(BodyRetention), `<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>`},
		{byte(BodyLegalHold), `<LegalHold><Status>OFF</Status></LegalHold>`},
		{byte(BodyCreateBucket), `<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`},
		{byte(BodyCreateBucket), ``},
	} {
		f.Add(s.k, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, k byte, body []byte) {
		kind := BodyKind(k % 5)
		r := &Request{Body: kind}
		out, err := r.ApplyBody(body)
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d", err.Status)
			}
			return
		}
		if kind == BodyNone || out == nil {
			return
		}
		again := &Request{Body: kind}
		if _, err := again.ApplyBody(out); err != nil {
			t.Fatalf("forwarded document does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again.S3, r.S3) {
			t.Fatalf("forwarded document reads %+v, authorized %+v", again.S3, r.S3)
		}
	})
}
