package s3req

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/authz"
)

func TestParseDeleteObjects(t *testing.T) {
	obj := func(k string) string { return "<Object><Key>" + k + "</Key></Object>" }
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("<Delete>")
		for i := range n {
			b.WriteString(obj("k" + strconv.Itoa(i)))
		}
		b.WriteString("</Delete>")
		return b.String()
	}
	cases := []struct {
		name  string
		body  string
		want  *DeleteObjects
		error string // substring of the message; "" means success
	}{
		{name: "minimal", body: `<Delete><Object><Key>a</Key></Object></Delete>`,
			want: &DeleteObjects{Objects: []ObjectRef{{Key: "a"}}}},
		{name: "full", body: `<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <Object><Key>home/alice/a</Key></Object>
  <Object><Key>a &amp; b &lt;c&gt;</Key><VersionId>v1</VersionId></Object>
</Delete>
`, want: &DeleteObjects{Quiet: true, Objects: []ObjectRef{{Key: "home/alice/a"}, {Key: "a & b <c>", VersionID: "v1"}}}},
		{name: "quiet false, version first", body: `<Delete><Object><VersionId>v</VersionId><Key> sp </Key></Object><Quiet>false</Quiet></Delete>`,
			want: &DeleteObjects{Objects: []ObjectRef{{Key: " sp ", VersionID: "v"}}}},
		{name: "char refs", body: `<Delete><Object><Key>a&#xD;b&#9;c</Key></Object></Delete>`,
			want: &DeleteObjects{Objects: []ObjectRef{{Key: "a\rb\tc"}}}},
		{name: "1000 keys", body: many(1000)},

		{name: "doctype entity attack", body: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "home/bob/b">]><Delete><Object><Key>&e;</Key></Object></Delete>`, error: "DOCTYPE"},
		{name: "undefined entity", body: `<Delete><Object><Key>&e;</Key></Object></Delete>`, error: "entity"},
		{name: "1001 keys", body: many(1001), error: "more than 1000"},
		{name: "two keys in one object", body: `<Delete><Object><Key>home/alice/a</Key><Key>home/bob/b</Key></Object></Delete>`, error: "more than once"},
		{name: "missing key", body: `<Delete><Object><VersionId>v</VersionId></Object></Delete>`, error: "missing"},
		{name: "duplicate version", body: `<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId></Object></Delete>`, error: "more than once"},
		{name: "empty version", body: `<Delete><Object><Key>a</Key><VersionId></VersionId></Object></Delete>`, error: "empty"},
		{name: "duplicate quiet", body: `<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>`, error: "more than once"},
		{name: "bad quiet", body: `<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>`, error: "Quiet"},
		{name: "cdata", body: `<Delete><Object><Key><![CDATA[a]]></Key></Object></Delete>`, error: "CDATA"},
		{name: "comment", body: `<Delete><!-- x --><Object><Key>a</Key></Object></Delete>`, error: "comments"},
		{name: "processing instruction", body: `<Delete><?php x?><Object><Key>a</Key></Object></Delete>`, error: "processing"},
		{name: "late xml decl", body: ` <?xml version="1.0"?><Delete><Object><Key>a</Key></Object></Delete>`, error: ""},
		{name: "unknown element", body: `<Delete><Object><Key>a</Key><Bucket>x</Bucket></Object></Delete>`, error: "unexpected element"},
		{name: "unknown top element", body: `<Delete><Foo/><Object><Key>a</Key></Object></Delete>`, error: "unexpected element"},
		{name: "wrong root", body: `<Remove><Object><Key>a</Key></Object></Remove>`, error: "unexpected element"},
		{name: "nested in key", body: `<Delete><Object><Key><b>a</b></Key></Object></Delete>`, error: "only contain text"},
		{name: "text in delete", body: `<Delete>x<Object><Key>a</Key></Object></Delete>`, error: "text"},
		{name: "text in object", body: `<Delete><Object>x<Key>a</Key></Object></Delete>`, error: "text"},
		{name: "text after root", body: `<Delete><Object><Key>a</Key></Object></Delete>x`, error: "after"},
		{name: "second root", body: `<Delete><Object><Key>a</Key></Object></Delete><Delete/>`, error: "after"},
		{name: "no objects", body: `<Delete></Delete>`, error: "no <Object>"},
		{name: "empty body", body: ``, error: "no <Delete>"},
		{name: "truncated", body: `<Delete><Object><Key>a</Key>`, error: ""},
		{name: "mismatched tags", body: `<Delete><Object><Key>a</Object></Key></Delete>`, error: ""},
		{name: "other namespace", body: `<Delete xmlns="urn:x"><Object><Key>a</Key></Object></Delete>`, error: "namespace"},
		{name: "prefixed namespace", body: `<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Object><s3:Key>a</s3:Key></s3:Object></s3:Delete>`, error: "attribute"},
		{name: "attribute", body: `<Delete><Object id="1"><Key>a</Key></Object></Delete>`, error: "attribute"},
		{name: "key leading slash", body: `<Delete><Object><Key>/home/alice/../bob/b</Key></Object></Delete>`, error: "start with '/'"},
		{name: "key dotdot", body: `<Delete><Object><Key>home/alice/../bob/b</Key></Object></Delete>`, error: "'..'"},
		{name: "key double slash", body: `<Delete><Object><Key>a//b</Key></Object></Delete>`, error: "'//'"},
		{name: "key backslash", body: `<Delete><Object><Key>a\b</Key></Object></Delete>`, error: "'\\'"},
		{name: "key NUL", body: `<Delete><Object><Key>a&#0;b</Key></Object></Delete>`, error: ""},
		{name: "key control char", body: `<Delete><Object><Key>a&#1;b</Key></Object></Delete>`, error: ""},
		{name: "key empty", body: `<Delete><Object><Key></Key></Object></Delete>`, error: "empty"},
		{name: "key too long", body: `<Delete><Object><Key>` + strings.Repeat("a", 1025) + `</Key></Object></Delete>`, error: "too long"},
		{name: "invalid utf-8", body: "<Delete><Object><Key>a\xffb</Key></Object></Delete>", error: ""},
		{name: "other encoding", body: `<?xml version="1.0" encoding="ISO-8859-1"?><Delete><Object><Key>a</Key></Object></Delete>`, error: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDeleteObjects([]byte(tc.body))
			wantErr := tc.error != "" || tc.want == nil && !strings.HasPrefix(tc.name, "1000")
			if !wantErr {
				if err != nil {
					t.Fatalf("ParseDeleteObjects: %v", err)
				}
				if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				again, err := ParseDeleteObjects(got.Marshal())
				if err != nil || !reflect.DeepEqual(again, got) {
					t.Fatalf("Marshal does not round-trip: %v, %+v\n%s", err, again, got.Marshal())
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDeleteObjects = %+v, want error containing %q", got, tc.error)
			}
			if err.Code != "MalformedXML" || err.Status != 400 {
				t.Fatalf("error %v, want 400 MalformedXML", err)
			}
			if !strings.Contains(err.Message, tc.error) {
				t.Fatalf("error message %q does not contain %q", err.Message, tc.error)
			}
		})
	}
}

func TestDeleteObjectsChecks(t *testing.T) {
	d := &DeleteObjects{Objects: []ObjectRef{{Key: "home/alice/a"}, {Key: "home/bob/b", VersionID: "v"}}}
	want := []Check{
		{authz.DeleteObject, "arn:aws:s3:::bkt/home/alice/a"},
		{authz.DeleteObjectVersion, "arn:aws:s3:::bkt/home/bob/b"},
	}
	if got := d.Checks("bkt"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Checks = %v, want %v", got, want)
	}
	bypass := []Check{
		{authz.DeleteObjectVersion, "arn:aws:s3:::bkt/home/bob/b"},
		{authz.BypassGovernanceRetention, "arn:aws:s3:::bkt/home/bob/b"},
	}
	if got := d.ObjectChecks("bkt", 1, true); !reflect.DeepEqual(got, bypass) {
		t.Fatalf("ObjectChecks with bypass = %v, want %v", got, bypass)
	}
	if got := d.ObjectChecks("bkt", 0, false); !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("ObjectChecks = %v, want %v", got, want[:1])
	}
}

func TestDeleteObjectsMarshalObjects(t *testing.T) {
	d := &DeleteObjects{Quiet: true, Objects: []ObjectRef{{Key: "a"}, {Key: "b", VersionID: "v"}, {Key: "c"}}}
	got, err := ParseDeleteObjects(d.MarshalObjects([]int{2, 1}))
	if err != nil {
		t.Fatal(err)
	}
	want := &DeleteObjects{Quiet: true, Objects: []ObjectRef{{Key: "c"}, {Key: "b", VersionID: "v"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MarshalObjects round trip = %+v, want %+v", got, want)
	}
}

func TestDeleteObjectsMarshal(t *testing.T) {
	d := &DeleteObjects{Quiet: true, Objects: []ObjectRef{{Key: "a<b>&\"c'\n"}, {Key: "k", VersionID: "v&1"}}}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>` +
		`<Object><Key>a&lt;b&gt;&amp;&#34;c&#39;&#xA;</Key></Object>` +
		`<Object><Key>k</Key><VersionId>v&amp;1</VersionId></Object></Delete>`
	if got := string(d.Marshal()); got != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", got, want)
	}
}
