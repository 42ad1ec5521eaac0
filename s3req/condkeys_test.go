package s3req

import (
	"reflect"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/authz"
)

func tags(kv ...string) authz.TagSet {
	var t authz.TagSet
	for i := 0; i+1 < len(kv); i += 2 {
		t.Add(kv[i], kv[i+1])
	}
	return t
}

// The classifier reads the condition values from the headers that will
// be forwarded, refuses values the store would refuse, and says which
// body holds more of them and whose existing tags each check reads.
func TestClassifyConditionKeys(t *testing.T) {
	src := &ObjectRef{Bucket: "src", Key: "a b", VersionID: "v9"}
	obj := &ObjectRef{Bucket: "bkt", Key: "k"}
	cases := []struct {
		name    string
		method  string
		path    string
		query   string
		hdr     []string
		s3      authz.S3Context
		body    BodyKind
		tagging []string
		tagsOf  []*ObjectRef // per check
		errCode string
	}{
		{name: "PutObject tags and payload hash", method: "PUT", path: "/bkt/k",
			hdr:     []string{"X-Amz-Tagging", "b=2&a=x+y&&c", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"},
			s3:      authz.S3Context{RequestTags: tags("b", "2", "a", "x y", "c", ""), ContentSHA256: authz.V("UNSIGNED-PAYLOAD")},
			tagging: []string{"b=2&a=x+y&c="}, tagsOf: []*ObjectRef{nil, nil}},
		{name: "CreateMultipartUpload tags", method: "POST", path: "/bkt/k", query: "uploads", hdr: []string{"X-Amz-Tagging", "k%20=v%2Fw"},
			s3: authz.S3Context{RequestTags: tags("k ", "v/w")}, tagging: []string{"k+=v%2Fw"}, tagsOf: []*ObjectRef{nil, nil}},
		{name: "PutObject empty tagging", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", ""},
			tagging: []string{""}, tagsOf: []*ObjectRef{nil, nil}},
		{name: "CopyObject REPLACE tags", method: "PUT", path: "/bkt/k",
			hdr: []string{"X-Amz-Copy-Source", "/src/a%20b?versionId=v9", "X-Amz-Tagging", "a=b", "X-Amz-Tagging-Directive", "REPLACE"},
			s3:  authz.S3Context{CopySource: authz.V("src/a b"), RequestTags: tags("a", "b")}, tagging: []string{"a=b"},
			tagsOf: []*ObjectRef{nil, src, nil}},
		{name: "CopyObject keeps the source's tags without REPLACE", method: "PUT", path: "/bkt/k",
			hdr: []string{"X-Amz-Copy-Source", "/src/a%20b?versionId=v9", "X-Amz-Tagging", "a=%zz"},
			s3:  authz.S3Context{CopySource: authz.V("src/a b")}, tagsOf: []*ObjectRef{nil, src, nil}},
		{name: "duplicate tag", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", "a=1&a=2"}, errCode: "InvalidTag"},
		{name: "eleven tags", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1"}, errCode: "InvalidTag"},
		{name: "bad escape", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", "a=%zz"}, errCode: "InvalidArgument"},
		{name: "bad tag character", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", "a=%3Cb%3E"}, errCode: "InvalidTag"},
		{name: "empty tag key", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Tagging", "=v"}, errCode: "InvalidTag"},
		{name: "object lock headers", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Object-Lock-Mode", "compliance",
			"X-Amz-Object-Lock-Retain-Until-Date", "2030-01-02T03:04:05.123+02:00", "X-Amz-Object-Lock-Legal-Hold", "off"},
			s3: authz.S3Context{ObjectLockMode: authz.V("COMPLIANCE"), ObjectLockRetainUntilDate: authz.V("2030-01-02T01:04:05.123Z"),
				ObjectLockLegalHold: authz.V("OFF")}, tagsOf: []*ObjectRef{nil, nil, nil}},
		{name: "bad lock mode", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Object-Lock-Mode", "FOREVER"}, errCode: "InvalidArgument"},
		{name: "bad retain-until date", method: "POST", path: "/bkt/k", query: "uploads", hdr: []string{"X-Amz-Object-Lock-Retain-Until-Date", "2030-01-01"}, errCode: "InvalidArgument"},
		{name: "bad legal hold", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Object-Lock-Legal-Hold", "yes"}, errCode: "InvalidArgument"},
		{name: "GetObject reads the object's tags", method: "GET", path: "/bkt/k", tagsOf: []*ObjectRef{obj}},
		{name: "HeadObject of a version", method: "HEAD", path: "/bkt/k", query: "versionId=v1",
			s3: authz.S3Context{VersionID: authz.V("v1")}, tagsOf: []*ObjectRef{{Bucket: "bkt", Key: "k", VersionID: "v1"}}},
		{name: "GetObjectAcl", method: "GET", path: "/bkt/k", query: "acl", tagsOf: []*ObjectRef{obj}},
		{name: "PutObjectAcl", method: "PUT", path: "/bkt/k", query: "acl", tagsOf: []*ObjectRef{obj}},
		{name: "GetObjectAttributes", method: "GET", path: "/bkt/k", query: "attributes", tagsOf: []*ObjectRef{obj}},
		{name: "GetObjectTagging", method: "GET", path: "/bkt/k", query: "tagging", tagsOf: []*ObjectRef{obj}},
		{name: "DeleteObjectTagging", method: "DELETE", path: "/bkt/k", query: "tagging", tagsOf: []*ObjectRef{obj}},
		{name: "PutObjectTagging body", method: "PUT", path: "/bkt/k", query: "tagging", body: BodyTagging, tagsOf: []*ObjectRef{obj}},
		{name: "PutObjectRetention body", method: "PUT", path: "/bkt/k", query: "retention", body: BodyRetention, tagsOf: []*ObjectRef{nil}},
		{name: "PutObjectLegalHold body", method: "PUT", path: "/bkt/k", query: "legal-hold", body: BodyLegalHold, tagsOf: []*ObjectRef{nil}},
		{name: "CreateBucket body", method: "PUT", path: "/bkt", body: BodyCreateBucket, tagsOf: []*ObjectRef{nil}},
		{name: "PutObject does not read existing tags", method: "PUT", path: "/bkt/k", tagsOf: []*ObjectRef{nil}},
		{name: "DeleteObject does not read existing tags", method: "DELETE", path: "/bkt/k", tagsOf: []*ObjectRef{nil}},
		{name: "PutObject header keys", method: "PUT", path: "/bkt/k", hdr: []string{"X-Amz-Acl", "bucket-owner-full-control",
			"X-Amz-Grant-Full-Control", "id=a", "X-Amz-Grant-Read", "id=b", "X-Amz-Grant-Read-Acp", "id=c", "X-Amz-Grant-Write", "id=d",
			"X-Amz-Grant-Write-Acp", "id=e", "X-Amz-Storage-Class", "STANDARD_IA", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "arn:aws:kms:k",
			"X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256", "X-Amz-Website-Redirect-Location", "/other", "If-None-Match", "*",
			"X-Amz-Metadata-Directive", "REPLACE"},
			s3: authz.S3Context{ACL: authz.V("bucket-owner-full-control"), GrantFullControl: authz.V("id=a"), GrantRead: authz.V("id=b"),
				GrantReadACP: authz.V("id=c"), GrantWrite: authz.V("id=d"), GrantWriteACP: authz.V("id=e"), StorageClass: authz.V("STANDARD_IA"),
				SSEKMSKeyID: authz.V("arn:aws:kms:k"), SSECustomerAlgorithm: authz.V("AES256"), WebsiteRedirectLocation: authz.V("/other"),
				IfNoneMatch: authz.V("*")},
			tagsOf: []*ObjectRef{nil, nil}},
		{name: "CopyObject metadata directive", method: "PUT", path: "/bkt/k",
			hdr:    []string{"X-Amz-Copy-Source", "/src/a%20b?versionId=v9", "X-Amz-Metadata-Directive", "REPLACE", "If-Match", `"e"`},
			s3:     authz.S3Context{CopySource: authz.V("src/a b"), MetadataDirective: authz.V("REPLACE"), IfMatch: authz.V(`"e"`)},
			tagsOf: []*ObjectRef{nil, src}},
		{name: "GetObject conditional", method: "GET", path: "/bkt/k", hdr: []string{"If-Match", `"e1"`, "If-None-Match", `"e2"`, "X-Amz-Acl", "public-read"},
			s3: authz.S3Context{IfMatch: authz.V(`"e1"`), IfNoneMatch: authz.V(`"e2"`)}, tagsOf: []*ObjectRef{obj}},
		{name: "PutObjectAcl", method: "PUT", path: "/bkt/k", query: "acl", hdr: []string{"X-Amz-Acl", "public-read", "X-Amz-Grant-Read", "id=x"},
			s3: authz.S3Context{ACL: authz.V("public-read"), GrantRead: authz.V("id=x")}, tagsOf: []*ObjectRef{obj}},
		{name: "PutBucketAcl", method: "PUT", path: "/bkt", query: "acl", hdr: []string{"X-Amz-Acl", "private", "X-Amz-Object-Ownership", "ObjectWriter"},
			s3: authz.S3Context{ACL: authz.V("private")}, tagsOf: []*ObjectRef{nil}},
		{name: "CreateBucket ownership", method: "PUT", path: "/bkt", hdr: []string{"X-Amz-Object-Ownership", "BucketOwnerEnforced"},
			s3: authz.S3Context{ObjectOwnership: authz.V("BucketOwnerEnforced")}, body: BodyCreateBucket, tagsOf: []*ObjectRef{nil, nil}},
		{name: "payload hash on a list", method: "GET", path: "/bkt", hdr: []string{"X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
			s3: authz.S3Context{ContentSHA256: authz.V("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")}, tagsOf: []*ObjectRef{nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Classify(newReq(tc.method, "", tc.path, tc.query, tc.hdr...), Config{})
			if tc.errCode != "" {
				if err == nil || err.Code != tc.errCode || err.Status != 400 {
					t.Fatalf("got %v, want %s", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.S3, tc.s3) {
				t.Errorf("S3 = %+v\nwant %+v", req.S3, tc.s3)
			}
			if req.Body != tc.body || !reflect.DeepEqual(req.TaggingHeader, tc.tagging) {
				t.Errorf("Body %v, TaggingHeader %q; want %v, %q", req.Body, req.TaggingHeader, tc.body, tc.tagging)
			}
			if len(req.Checks) != len(tc.tagsOf) {
				t.Fatalf("checks %v, want %d", req.Checks, len(tc.tagsOf))
			}
			for i, c := range req.Checks {
				if got := req.ExistingTagsOf(c); !reflect.DeepEqual(got, tc.tagsOf[i]) {
					t.Errorf("ExistingTagsOf(%v) = %+v, want %+v", c, got, tc.tagsOf[i])
				}
			}
		})
	}
}

func TestParseTagging(t *testing.T) {
	ns := `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	ok := []struct {
		body string
		want authz.TagSet
	}{
		{`<Tagging><TagSet/></Tagging>`, authz.TagSet{}},
		{`<Tagging/>`, authz.TagSet{}},
		{`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Tagging ` + ns + `><TagSet><Tag><Key>classification</Key><Value>secret</Value></Tag>` +
			"\n  " + `<Tag><Key>Team Name</Key><Value>blue/green: a+b=c @x</Value></Tag><Tag><Key>empty</Key></Tag></TagSet></Tagging>`,
			tags("classification", "secret", "Team Name", "blue/green: a+b=c @x", "empty", "")},
		{`<Tagging><TagSet><Tag><Value>v</Value><Key>Straße</Key></Tag></TagSet></Tagging>`, tags("Straße", "v")},
	}
	for _, tc := range ok {
		got, err := ParseTagging([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if got.Len() != tc.want.Len() || got.Len() > 0 && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.body, got, tc.want)
		}
		again, err := ParseTagging(MarshalTagging(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%s: round trip %+v, %v", tc.body, again, err)
		}
	}
	bad := []struct{ body, code, msg string }{
		{``, "MalformedXML", "no <Tagging>"},
		{`<Tags><TagSet/></Tags>`, "MalformedXML", "root element"},
		{`<Tagging><TagSet/><TagSet/></Tagging>`, "MalformedXML", "more than once"},
		{`<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>`, "MalformedXML", "more than once"},
		{`<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>`, "MalformedXML", "<Key> is missing"},
		{`<Tagging><TagSet><Tag><Key>a</Key><Owner>b</Owner></Tag></TagSet></Tagging>`, "MalformedXML", "unexpected element"},
		{`<Tagging><TagSet>text<Tag><Key>a</Key></Tag></TagSet></Tagging>`, "MalformedXML", "mixes text"},
		{`<Tagging><TagSet>text</TagSet></Tagging>`, "MalformedXML", "only contain"},
		{`<Tagging><TagSet><Tag><Key><b>a</b></Key></Tag></TagSet></Tagging>`, "MalformedXML", "only contain text"},
		{`<Tagging><TagSet><Tag><Key><![CDATA[a]]></Key></Tag></TagSet></Tagging>`, "MalformedXML", "CDATA"},
		{`<!DOCTYPE t [<!ENTITY e "x">]><Tagging><TagSet><Tag><Key>&e;</Key></Tag></TagSet></Tagging>`, "MalformedXML", "DOCTYPE"},
		{`<Tagging><?pi x?><TagSet/></Tagging>`, "MalformedXML", "processing instructions"},
		{`<Tagging id="1"><TagSet/></Tagging>`, "MalformedXML", "attribute"},
		{`<t:Tagging xmlns:t="urn:x"><t:TagSet/></t:Tagging>`, "MalformedXML", "namespace"},
		{`<Tagging><TagSet/></Tagging><Tagging/>`, "MalformedXML", "after"},
		{`<Tagging><TagSet/></Tagging>junk`, "MalformedXML", "outside"},
		{`<Tagging><TagSet>`, "MalformedXML", "line"},
		{`<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>`, "InvalidTag", "same key"},
		{`<Tagging><TagSet><Tag><Key>a&lt;</Key></Tag></TagSet></Tagging>`, "InvalidTag", "TagKey"},
		{`<Tagging><TagSet><Tag><Key>a</Key><Value>` + strings.Repeat("v", 257) + `</Value></Tag></TagSet></Tagging>`, "InvalidTag", "TagValue"},
		{`<Tagging><TagSet><Tag><Key>` + strings.Repeat("k", 129) + `</Key></Tag></TagSet></Tagging>`, "InvalidTag", "TagKey"},
		{`<Tagging><TagSet>` + strings.Repeat(`<Tag><Key>a</Key></Tag>`, 1) + func() string {
			var b strings.Builder
			for i := 0; i < 10; i++ {
				b.WriteString("<Tag><Key>k" + string(rune('a'+i)) + "</Key></Tag>")
			}
			return b.String()
		}() + `</TagSet></Tagging>`, "InvalidTag", "greater than 10"},
		{`<Tagging><TagSet>` + strings.Repeat(`<Tag><Key>a</Key></Tag>`, 300) + `</TagSet></Tagging>`, "MalformedXML", "too many elements"},
		{strings.Repeat("<Tagging>", 7) + strings.Repeat("</Tagging>", 7), "MalformedXML", "nested"},
	}
	for _, tc := range bad {
		_, err := ParseTagging([]byte(tc.body))
		if err == nil || err.Code != tc.code || err.Status != 400 || !strings.Contains(err.Message, tc.msg) {
			t.Errorf("%.80s: got %v, want %s containing %q", tc.body, err, tc.code, tc.msg)
		}
	}
	// The store's answer is read as it is, but never ambiguously.
	stored, err := ParseStoredTagging([]byte(`<Tagging><TagSet><Tag><Key>a&lt;b</Key><Value>x</Value></Tag></TagSet></Tagging>`))
	if err != nil || !reflect.DeepEqual(stored, tags("a<b", "x")) {
		t.Errorf("stored tags: %+v %v", stored, err)
	}
	if _, err := ParseStoredTagging([]byte(`<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>`)); err == nil {
		t.Error("stored duplicate keys accepted")
	}
}

func TestParseTaggingHeader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want authz.TagSet
		out  string
	}{
		{"", authz.TagSet{}, ""},
		{"a=b", tags("a", "b"), "a=b"},
		{"&a=1&&b&", tags("a", "1", "b", ""), "a=1&b="},
		{"sp+ace=%2B%20=", tags("sp ace", "+ ="), "sp+ace=%2B+%3D"},
		{"caf%C3%A9=na%C3%AFve", tags("café", "naïve"), "caf%C3%A9=na%C3%AFve"},
	} {
		got, err := ParseTaggingHeader(tc.in)
		if err != nil || got.Len() != tc.want.Len() || got.Len() > 0 && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
			continue
		}
		if h := TaggingHeader(got); h != tc.out {
			t.Errorf("%q: TaggingHeader %q, want %q", tc.in, h, tc.out)
		}
	}
}

func TestApplyBody(t *testing.T) {
	ns := `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	cases := []struct {
		kind    BodyKind
		body    string
		s3      authz.S3Context
		out     string // substring of the forwarded document; "" for no body
		errCode string
	}{
		{BodyTagging, `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`,
			authz.S3Context{RequestTags: tags("a", "b")}, `<Tag><Key>a</Key><Value>b</Value></Tag>`, ""},
		{BodyTagging, `<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>`, authz.S3Context{}, "", "InvalidTag"},
		{BodyRetention, `<Retention ` + ns + `><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.000Z</RetainUntilDate></Retention>`,
			authz.S3Context{ObjectLockMode: authz.V("GOVERNANCE"), ObjectLockRetainUntilDate: authz.V("2030-01-01T00:00:00Z")},
			`<Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>`, ""},
		{BodyRetention, `<Retention></Retention>`, authz.S3Context{}, `<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></Retention>`, ""},
		{BodyRetention, `<Retention><Mode>governance</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>`, authz.S3Context{}, "", "MalformedXML"},
		{BodyRetention, `<Retention><Mode>COMPLIANCE</Mode></Retention>`, authz.S3Context{}, "", "MalformedXML"},
		{BodyRetention, `<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>soon</RetainUntilDate></Retention>`, authz.S3Context{}, "", "InvalidRequest"},
		{BodyLegalHold, `<LegalHold><Status>ON</Status></LegalHold>`, authz.S3Context{ObjectLockLegalHold: authz.V("ON")}, `<Status>ON</Status>`, ""},
		{BodyLegalHold, `<LegalHold><Status>on</Status></LegalHold>`, authz.S3Context{}, "", "MalformedXML"},
		{BodyLegalHold, `<LegalHold/>`, authz.S3Context{}, "", "MalformedXML"},
		{BodyCreateBucket, ``, authz.S3Context{}, "", ""},
		{BodyCreateBucket, " \n", authz.S3Context{}, "", ""},
		{BodyCreateBucket, `<CreateBucketConfiguration ` + ns + `/>`, authz.S3Context{}, "", ""},
		{BodyCreateBucket, `<CreateBucketConfiguration><LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>`,
			authz.S3Context{LocationConstraint: authz.V("eu-central-1")}, `<LocationConstraint>eu-central-1</LocationConstraint>`, ""},
		{BodyCreateBucket, `<CreateBucketConfiguration><LocationConstraint> eu</LocationConstraint></CreateBucketConfiguration>`, authz.S3Context{}, "", "InvalidLocationConstraint"},
		{BodyCreateBucket, `<CreateBucketConfiguration><Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>`, authz.S3Context{}, "", "MalformedXML"},
	}
	for _, tc := range cases {
		r := &Request{Body: tc.kind}
		out, err := r.ApplyBody([]byte(tc.body))
		if tc.errCode != "" {
			if err == nil || err.Code != tc.errCode {
				t.Errorf("%v %q: got %v, want %s", tc.kind, tc.body, err, tc.errCode)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v %q: %v", tc.kind, tc.body, err)
			continue
		}
		if !reflect.DeepEqual(r.S3, tc.s3) {
			t.Errorf("%v %q: S3 %+v, want %+v", tc.kind, tc.body, r.S3, tc.s3)
		}
		if tc.out == "" && out != nil || tc.out != "" && !strings.Contains(string(out), tc.out) {
			t.Errorf("%v %q: forwards %q, want %q", tc.kind, tc.body, out, tc.out)
		}
		if out != nil {
			// What is forwarded reads back as what was authorized.
			again := &Request{Body: tc.kind}
			if _, err := again.ApplyBody(out); err != nil || !reflect.DeepEqual(again.S3, r.S3) {
				t.Errorf("%v: the forwarded document reads back as %+v (%v)", tc.kind, again.S3, err)
			}
		}
	}
}
