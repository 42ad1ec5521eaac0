package proxy

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/s3req"
)

// xmlDeleteResult reads a DeleteResult as a client does.
type xmlDeleteResult struct {
	XMLName xml.Name `xml:"DeleteResult"`
	Deleted []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Deleted"`
	Errors []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
	} `xml:"Error"`
}

func (r xmlDeleteResult) deleted() []string {
	var out []string
	for _, d := range r.Deleted {
		out = append(out, d.Key+versionSuffix(d.VersionID))
	}
	return out
}

func (r xmlDeleteResult) errors() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Key+versionSuffix(e.VersionID)+" "+e.Code)
	}
	return out
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "@" + v
}

// storeDelete is a store's DeleteObjects: it deletes every key it is sent
// (a <Deleted> each, unless the request is quiet) except those in fail,
// which get an InternalError, and lists the errors after the deletions,
// as MinIO does.
func storeDelete(fail ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		del, serr := s3req.ParseDeleteObjects(body)
		if serr != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, "<Error><Code>MalformedXML</Code><RequestId>UPSTREAM1</RequestId></Error>")
			return
		}
		var ok, bad strings.Builder
		for _, o := range del.Objects {
			v := ""
			if o.VersionID != "" {
				v = "<VersionId>" + o.VersionID + "</VersionId>"
			}
			if fails(fail, o.Key) {
				fmt.Fprintf(&bad, "<Error><Code>InternalError</Code><Message>disk on fire</Message><Key>%s</Key>%s</Error>", o.Key, v)
			} else if !del.Quiet {
				fmt.Fprintf(&ok, "<Deleted><Key>%s</Key>%s</Deleted>", o.Key, v)
			}
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s%s</DeleteResult>`, ok.String(), bad.String())
	}
}

func fails(list []string, k string) bool {
	for _, f := range list {
		if f == k {
			return true
		}
	}
	return false
}

func deleteBody(quiet bool, keys ...string) string {
	var b strings.Builder
	b.WriteString(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	if quiet {
		b.WriteString("<Quiet>true</Quiet>")
	}
	for _, k := range keys {
		key, v, _ := strings.Cut(k, "@")
		b.WriteString("<Object><Key>" + key + "</Key>")
		if v != "" {
			b.WriteString("<VersionId>" + v + "</VersionId>")
		}
		b.WriteString("</Object>")
	}
	b.WriteString("</Delete>")
	return b.String()
}

func decodeDeleteResult(t *testing.T, body string) xmlDeleteResult {
	t.Helper()
	var r xmlDeleteResult
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("DeleteResult %q: %v", body, err)
	}
	return r
}

// forwardedKeys returns the keys of the last DeleteObjects the store got,
// after checking that its digests are iamgate's, over the body sent.
func forwardedKeys(t *testing.T, f *fixture) (keys []string, quiet bool) {
	t.Helper()
	up, body := f.upLog.last()
	if up.Header.Get("Content-Md5") != md5B64(body) || up.Header.Get("X-Amz-Content-Sha256") != sha256Hex(body) {
		t.Fatalf("digests of the forwarded body not recomputed: %v", up.Header)
	}
	for k := range up.Header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") || k == "X-Amz-Sdk-Checksum-Algorithm" {
			t.Fatalf("%s forwarded with a re-serialized body", k)
		}
	}
	del, serr := s3req.ParseDeleteObjects(body)
	if serr != nil {
		t.Fatalf("forwarded body %q: %v", body, serr)
	}
	for _, o := range del.Objects {
		keys = append(keys, o.Key+versionSuffix(o.VersionID))
	}
	return keys, del.Quiet
}

// DeleteObjects is authorized key by key, as S3 does: the allowed keys
// are forwarded, each denied key gets an AccessDenied in the result, in
// request order, merged with the store's own errors; the audit event
// lists every key and the decision on each denied one.
func TestDeleteObjectsPerKey(t *testing.T) {
	f := newFixture(t, storeDelete("home/alice/5"), nil)
	alice := f.token(t, "alice", "staff")
	keys := []string{"home/alice/1", "home/bob/2", "home/alice/3@v1", "shared/secret/x", "home/alice/4", "home/alice/5"}
	body := deleteBody(false, keys...)
	res, got := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	if fwd, quiet := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"home/alice/1", "home/alice/4", "home/alice/5"}) || quiet {
		t.Fatalf("forwarded %v (quiet %v)", fwd, quiet)
	}
	dr := decodeDeleteResult(t, got)
	if d := dr.deleted(); !reflect.DeepEqual(d, []string{"home/alice/1", "home/alice/4"}) {
		t.Errorf("Deleted %v", d)
	}
	wantErrs := []string{"home/bob/2 AccessDenied", "home/alice/3@v1 AccessDenied", "shared/secret/x AccessDenied", "home/alice/5 InternalError"}
	if e := dr.errors(); !reflect.DeepEqual(e, wantErrs) {
		t.Errorf("Errors %v, want %v", e, wantErrs)
	}
	if dr.Errors[0].Message != "Access Denied" || dr.Errors[3].Message != "disk on fire" {
		t.Errorf("messages %q, %q", dr.Errors[0].Message, dr.Errors[3].Message)
	}
	if !strings.Contains(got, "<Error><Key>home/bob/2</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>") ||
		!strings.Contains(got, "<Error><Key>home/alice/3</Key><VersionId>v1</VersionId><Code>AccessDenied</Code>") {
		t.Errorf("per-key errors are not S3's: %s", got)
	}
	ev := f.lastEvent(t)
	if ev.Decision != "allow" || ev.Reason != "partially_allowed" || ev.Status != 200 || ev.ErrorCode != "" || ev.Action != "s3:DeleteObject" {
		t.Errorf("event %+v", ev)
	}
	if len(ev.Keys) != len(keys) {
		t.Errorf("event keys %v", ev.Keys)
	}
	wantDenied := []audit.DeniedKey{
		{Key: "home/bob/2", Action: "s3:DeleteObject", Reason: "no_allow"},
		{Key: "home/alice/3", VersionID: "v1", Action: "s3:DeleteObjectVersion", Reason: "no_allow"},
		{Key: "shared/secret/x", Action: "s3:DeleteObject", Reason: "explicit_deny", Role: "member", Policy: "p", Sid: "NoSecrets"},
	}
	if !reflect.DeepEqual(ev.DeniedKeys, wantDenied) {
		t.Errorf("denied keys %+v, want %+v", ev.DeniedKeys, wantDenied)
	}
}

// A quiet request lists only errors; iamgate's denials are errors.
func TestDeleteObjectsQuiet(t *testing.T) {
	f := newFixture(t, storeDelete("home/alice/3"), nil)
	alice := f.token(t, "alice", "staff")
	body := deleteBody(true, "home/alice/1", "home/bob/2", "home/alice/3")
	res, got := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	if fwd, quiet := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"home/alice/1", "home/alice/3"}) || !quiet {
		t.Fatalf("forwarded %v (quiet %v)", fwd, quiet)
	}
	dr := decodeDeleteResult(t, got)
	if len(dr.Deleted) != 0 || !reflect.DeepEqual(dr.errors(), []string{"home/bob/2 AccessDenied", "home/alice/3 InternalError"}) {
		t.Fatalf("quiet result %s", got)
	}
}

// A request whose every key is denied is answered 200 with an error per
// key, as S3 does, and never reaches the store.
func TestDeleteObjectsAllDenied(t *testing.T) {
	f := newFixture(t, storeDelete(), nil)
	alice := f.token(t, "alice", "staff")
	for _, quiet := range []bool{false, true} {
		body := deleteBody(quiet, "home/bob/1", "shared/secret/2", "home/alice/3@v9")
		res, got := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
		if res.StatusCode != 200 || f.upLog.count() != 0 {
			t.Fatalf("%d, store saw %d requests: %s", res.StatusCode, f.upLog.count(), got)
		}
		want := []string{"home/bob/1 AccessDenied", "shared/secret/2 AccessDenied", "home/alice/3@v9 AccessDenied"}
		if dr := decodeDeleteResult(t, got); len(dr.Deleted) != 0 || !reflect.DeepEqual(dr.errors(), want) {
			t.Fatalf("result %s", got)
		}
		if res.Header.Get("X-Amz-Request-Id") == "" {
			t.Error("no request id")
		}
		ev := f.lastEvent(t)
		if ev.Decision != "deny" || ev.Reason != "no_allow" || ev.ErrorCode != "AccessDenied" || ev.Status != 200 ||
			len(ev.DeniedKeys) != 3 || ev.Action != "s3:DeleteObject" || !strings.Contains(ev.Message, "home/bob/1") {
			t.Fatalf("event %+v", ev)
		}
	}
}

// Every key allowed: the store's answer reaches the client byte for byte.
func TestDeleteObjectsAllAllowedPassesResult(t *testing.T) {
	const answer = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>home/alice/1</Key></Deleted></DeleteResult>`
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, answer) }, nil)
	body := deleteBody(false, "home/alice/1")
	res, got := f.do(t, "POST", "/bkt?delete", f.token(t, "alice", "staff"), strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 || got != answer {
		t.Fatalf("%d %q", res.StatusCode, got)
	}
	if ev := f.lastEvent(t); ev.Decision != "allow" || ev.Reason != "allowed" || len(ev.DeniedKeys) != 0 {
		t.Fatalf("event %+v", ev)
	}
}

// An error of the whole request from the store is the answer; an answer
// that cannot be merged is a bad gateway, never a made-up success.
func TestDeleteObjectsStoreAnswers(t *testing.T) {
	alice := func(f *fixture) string { return f.token(t, "alice", "staff") }
	body := deleteBody(false, "home/alice/1", "home/bob/2")
	t.Run("whole request error", func(t *testing.T) {
		const noBucket = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>bkt</BucketName><Resource>/bkt</Resource><RequestId>UPSTREAM1</RequestId></Error>`
		f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(404)
			io.WriteString(w, noBucket)
		}, nil)
		res, got := f.do(t, "POST", "/bkt?delete", alice(f), strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
		if res.StatusCode != 404 || !strings.Contains(got, "<Code>NoSuchBucket</Code>") {
			t.Fatalf("%d %s", res.StatusCode, got)
		}
		if ev := f.lastEvent(t); ev.Status != 404 || ev.UpstreamRequestID != "UPSTREAM1" {
			t.Fatalf("event %+v", ev)
		}
	})
	for name, answer := range map[string]string{
		"not xml":         "<DeleteResult><Deleted>",
		"entity":          `<!DOCTYPE d [<!ENTITY e "x">]><DeleteResult><Deleted><Key>&e;</Key></Deleted></DeleteResult>`,
		"unknown element": `<DeleteResult><Deleted><Key>home/alice/1</Key><Owner>x</Owner></Deleted></DeleteResult>`,
		"too many":        `<DeleteResult><Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key></Deleted></DeleteResult>`,
		"other root":      `<Error><Code>InternalError</Code></Error>`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, answer) }, nil)
			res, got := f.do(t, "POST", "/bkt?delete", alice(f), strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
			if res.StatusCode != 502 || !strings.Contains(got, "<Code>InternalError</Code>") {
				t.Fatalf("%d %s", res.StatusCode, got)
			}
			if ev := f.lastEvent(t); ev.Decision != "error" || ev.ErrorCode != "InternalError" || len(ev.DeniedKeys) != 1 {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

// The client's digests cover the client's body: iamgate checks them
// before it re-serializes the body, and sends its own.
func TestDeleteObjectsClientDigests(t *testing.T) {
	f := newFixture(t, storeDelete(), nil)
	alice := f.token(t, "alice", "staff")
	body := deleteBody(false, "home/alice/1", "home/bob/2")
	crc := func(s string) string {
		var b [4]byte
		v := crc32.ChecksumIEEE([]byte(s))
		b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		return base64.StdEncoding.EncodeToString(b[:])
	}
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		code   string
	}{
		{"md5", []string{"Content-Md5", md5B64([]byte(body))}, 200, ""},
		{"crc32 as boto3 sends it", []string{"X-Amz-Checksum-Crc32", crc(body), "X-Amz-Sdk-Checksum-Algorithm", "CRC32"}, 200, ""},
		{"sha256", []string{"X-Amz-Checksum-Sha256", sha256B64([]byte(body))}, 200, ""},
		{"wrong md5", []string{"Content-Md5", md5B64([]byte(body + " "))}, 400, "BadDigest"},
		{"wrong crc32", []string{"X-Amz-Checksum-Crc32", crc(body + " ")}, 400, "BadDigest"},
		{"unknown checksum", []string{"X-Amz-Checksum-Xxhash", "AAAA"}, 400, "InvalidRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			res, got := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), tc.hdr...)
			if res.StatusCode != tc.status || !strings.Contains(got, tc.code) {
				t.Fatalf("%d %s", res.StatusCode, got)
			}
			if tc.status != 200 {
				if f.upLog.count() != before {
					t.Fatal("a body whose digest does not match reached the store")
				}
				return
			}
			if fwd, _ := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"home/alice/1"}) {
				t.Fatalf("forwarded %v", fwd)
			}
		})
	}
}

// With x-amz-bypass-governance-retention, each key also needs
// s3:BypassGovernanceRetention on it; a key without it is denied, the
// others are forwarded with the header.
func TestDeleteObjectsBypassGovernancePerKey(t *testing.T) {
	f := newFixture(t, storeDelete(), nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::bkt/*"},
 {"Effect":"Allow","Action":"s3:BypassGovernanceRetention","Resource":"arn:aws:s3:::bkt/scratch/*"}]}`)
	alice := f.token(t, "alice", "staff")
	body := deleteBody(false, "scratch/a@v1", "keep/b@v2", "scratch/c")
	res, got := f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body),
		"Content-Md5", md5B64([]byte(body)), "X-Amz-Bypass-Governance-Retention", "true")
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	up, _ := f.upLog.last()
	if fwd, _ := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"scratch/a@v1", "scratch/c"}) || up.Header.Get("X-Amz-Bypass-Governance-Retention") != "true" {
		t.Fatalf("forwarded %v with bypass %q", fwd, up.Header.Get("X-Amz-Bypass-Governance-Retention"))
	}
	if e := decodeDeleteResult(t, got).errors(); !reflect.DeepEqual(e, []string{"keep/b@v2 AccessDenied"}) {
		t.Fatalf("errors %v", e)
	}
	ev := f.lastEvent(t)
	if len(ev.DeniedKeys) != 1 || ev.DeniedKeys[0].Action != "s3:BypassGovernanceRetention" || ev.DeniedKeys[0].VersionID != "v2" {
		t.Fatalf("denied keys %+v", ev.DeniedKeys)
	}
	// Without the header the same keys need no bypass permission.
	res, got = f.do(t, "POST", "/bkt?delete", alice, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if e := decodeDeleteResult(t, got).errors(); res.StatusCode != 200 || len(e) != 0 {
		t.Fatalf("%d errors %v", res.StatusCode, e)
	}
}

// Keys are authorized with their own version: s3:VersionId is the key's.
func TestDeleteObjectsVersionCondition(t *testing.T) {
	f := newFixture(t, storeDelete(), nil)
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"s3:DeleteObjectVersion","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:VersionId":"v-ok"}}}]}`)
	body := deleteBody(false, "a@v-ok", "b@v-other")
	res, got := f.do(t, "POST", "/bkt?delete", f.token(t, "alice", "staff"), strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	if fwd, _ := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"a@v-ok"}) {
		t.Fatalf("forwarded %v", fwd)
	}
}

func TestParseDeleteResult(t *testing.T) {
	good := `<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>a</Key><VersionId>v</VersionId><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>m</DeleteMarkerVersionId></Deleted>
  <Error><Code>NoSuchVersion</Code><Message>gone &amp; away</Message><Key>b</Key><VersionId>x</VersionId></Error>
</DeleteResult>`
	r, err := parseDeleteResult([]byte(good), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := &deleteResult{
		deleted: []resultEntry{{{"Key", "a"}, {"VersionId", "v"}, {"DeleteMarker", "true"}, {"DeleteMarkerVersionId", "m"}}},
		errors:  []resultEntry{{{"Code", "NoSuchVersion"}, {"Message", "gone & away"}, {"Key", "b"}, {"VersionId", "x"}}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("parsed %+v", r)
	}
	again, err := parseDeleteResult(r.marshal(), 2)
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
	if _, err := parseDeleteResult([]byte("<DeleteResult/>"), 0); err != nil {
		t.Fatalf("empty result: %v", err)
	}
	for _, bad := range []string{
		``, `<DeleteResult>`, `<DeleteResult></DeleteResult><x/>`, `<DeleteResult>text</DeleteResult>`,
		`<DeleteResult a="1"></DeleteResult>`, `<DeleteResult xmlns="urn:other"></DeleteResult>`,
		`<DeleteResult><Deleted><Key>a</Key><Key>b</Key></Deleted></DeleteResult>`,
		`<DeleteResult><Deleted><Key><b/></Key></Deleted></DeleteResult>`,
		`<DeleteResult><Error><Code>x</Code><Extra/></Error></DeleteResult>`,
		`<DeleteResult><!-- c --></DeleteResult>`, `<DeleteResult><![CDATA[x]]></DeleteResult>`,
		`<DeleteResult><?pi x?></DeleteResult>`, `<DeleteResult><Deleted><Key>&#0;</Key></Deleted></DeleteResult>`,
		`<DeleteResult><Deleted/><Deleted/><Deleted/></DeleteResult>`,
	} {
		if _, err := parseDeleteResult([]byte(bad), 2); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
