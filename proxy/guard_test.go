package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/state"
)

// The semantics of the guards: every guarded operation under every
// setting and versioning status.
func TestJudgeTable(t *testing.T) {
	type row struct {
		op        s3req.Operation
		versionID bool
		mode      GuardMode
		// outcomes with versioning off, suspended, enabled
		off, suspended, enabled Outcome
	}
	const A, R, C = Allow, Refuse, Conditional
	rows := []row{
		{s3req.OpDeleteObject, false, GuardOff, A, A, A},
		{s3req.OpDeleteObject, false, GuardDeny, R, R, R},
		{s3req.OpDeleteObject, false, GuardVersionedOnly, R, R, A},
		{s3req.OpDeleteObject, true, GuardOff, A, A, A},
		{s3req.OpDeleteObject, true, GuardDeny, R, R, R},
		{s3req.OpDeleteObject, true, GuardVersionedOnly, R, R, R},
		{s3req.OpDeleteObjects, false, GuardDeny, R, R, R},
		{s3req.OpDeleteObjects, false, GuardVersionedOnly, R, R, A},
		{s3req.OpDeleteObjects, true, GuardVersionedOnly, R, R, R},
		{s3req.OpDeleteBucket, false, GuardOff, A, A, A},
		{s3req.OpDeleteBucket, false, GuardDeny, R, R, R},
		{s3req.OpDeleteBucket, false, GuardVersionedOnly, R, R, R},
		{s3req.OpPutBucketLifecycleConfiguration, false, GuardDeny, R, R, R},
		{s3req.OpPutBucketLifecycleConfiguration, false, GuardVersionedOnly, R, R, R},
		{s3req.OpAbortMultipartUpload, false, GuardDeny, A, A, A},
		{s3req.OpDeleteObjectTagging, false, GuardDeny, A, A, A},
		{s3req.OpPutBucketVersioning, false, GuardDeny, R, R, R},
		{s3req.OpPutBucketVersioning, false, GuardVersionedOnly, R, R, R},
		{s3req.OpGetObject, false, GuardDeny, A, A, A},
	}
	for _, r := range rows {
		for i, v := range []Versioning{VersioningOff, VersioningSuspended, VersioningEnabled} {
			want := []Outcome{r.off, r.suspended, r.enabled}[i]
			if got, _ := Judge(r.op, r.versionID, r.mode, GuardOff, v); got != want {
				t.Errorf("delete=%q %s versionID=%v versioning=%d: %v, want %v", r.mode, r.op, r.versionID, v, got, want)
			}
		}
	}
	overwrites := []row{
		{s3req.OpPutObject, false, GuardOff, A, A, A},
		{s3req.OpPutObject, false, GuardDeny, C, C, C},
		{s3req.OpPutObject, false, GuardVersionedOnly, C, C, A},
		{s3req.OpCompleteMultipartUpload, false, GuardDeny, C, C, C},
		{s3req.OpCompleteMultipartUpload, false, GuardVersionedOnly, C, C, A},
		{s3req.OpCopyObject, false, GuardDeny, R, R, R},
		{s3req.OpCopyObject, false, GuardVersionedOnly, R, R, A},
		{s3req.OpPostObject, false, GuardDeny, R, R, R},
		{s3req.OpPostObject, false, GuardVersionedOnly, R, R, A},
		{s3req.OpUploadPart, false, GuardDeny, A, A, A},
		{s3req.OpCreateMultipartUpload, false, GuardDeny, A, A, A},
		{s3req.OpPutObjectTagging, false, GuardDeny, A, A, A},
		{s3req.OpPutBucketVersioning, false, GuardDeny, R, R, R},
		{s3req.OpDeleteObject, false, GuardDeny, A, A, A}, // the delete guard's business
	}
	for _, r := range overwrites {
		for i, v := range []Versioning{VersioningOff, VersioningSuspended, VersioningEnabled} {
			want := []Outcome{r.off, r.suspended, r.enabled}[i]
			if got, _ := Judge(r.op, r.versionID, GuardOff, r.mode, v); got != want {
				t.Errorf("overwrite=%q %s versioning=%d: %v, want %v", r.mode, r.op, v, got, want)
			}
		}
	}
	// NeedsVersioning is true exactly where the status changes the answer.
	for _, op := range []s3req.Operation{s3req.OpDeleteObject, s3req.OpDeleteObjects, s3req.OpDeleteBucket, s3req.OpPutObject,
		s3req.OpCopyObject, s3req.OpCompleteMultipartUpload, s3req.OpPostObject, s3req.OpPutBucketVersioning, s3req.OpGetObject} {
		for _, vid := range []bool{false, true} {
			for _, d := range []GuardMode{GuardOff, GuardDeny, GuardVersionedOnly} {
				for _, o := range []GuardMode{GuardOff, GuardDeny, GuardVersionedOnly} {
					a, _ := Judge(op, vid, d, o, VersioningOff)
					b, _ := Judge(op, vid, d, o, VersioningEnabled)
					if (a != b) != NeedsVersioning(op, vid, d, o) {
						t.Errorf("%s vid=%v delete=%q overwrite=%q: NeedsVersioning %v, outcomes %v/%v", op, vid, d, o, NeedsVersioning(op, vid, d, o), a, b)
					}
				}
			}
		}
	}
}

func TestParseVersioning(t *testing.T) {
	cases := []struct {
		in   string
		want Versioning
		err  bool
	}{
		{`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`, VersioningOff, false},
		{`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`, VersioningEnabled, false},
		{`<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`, VersioningSuspended, false},
		{`<VersioningConfiguration><Status>Enabled</Status><ExcludedPrefixes><Prefix>tmp/</Prefix></ExcludedPrefixes></VersioningConfiguration>`, VersioningOff, false},
		{`<VersioningConfiguration><Status>Enabled</Status><ExcludeFolders>true</ExcludeFolders></VersioningConfiguration>`, VersioningOff, false},
		{`<VersioningConfiguration><Status>Enabled</Status><ExcludeFolders>false</ExcludeFolders></VersioningConfiguration>`, VersioningEnabled, false},
		{`<VersioningConfiguration><Status>Enabled</Status><Status>Suspended</Status></VersioningConfiguration>`, VersioningOff, true},
		{`<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>`, VersioningOff, true},
		{`<Error><Code>AccessDenied</Code></Error>`, VersioningOff, true},
		{``, VersioningOff, true},
		{`<VersioningConfiguration><Status>Enabled`, VersioningOff, true},
		{strings.Repeat(" ", MaxVersioningAnswer+1), VersioningOff, true},
	}
	for _, c := range cases {
		got, err := ParseVersioning([]byte(c.in))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%.80q: %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrVersioningAnswer) {
			t.Errorf("%.80q: error %v is not ErrVersioningAnswer", c.in, err)
		}
	}
}

func FuzzParseVersioning(f *testing.F) {
	f.Add([]byte(`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration><Status>Enabled</Status><ExcludedPrefixes><Prefix>a</Prefix></ExcludedPrefixes></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVersioning(b)
		if err != nil && v != VersioningOff {
			t.Fatalf("error %v with status %v", err, v)
		}
		if v2, err2 := ParseVersioning(b); v2 != v || (err2 == nil) != (err == nil) {
			t.Fatalf("not deterministic: %v %v, then %v %v", v, err, v2, err2)
		}
	})
}

// guardStore is a store for the guard tests: objects that exist, the
// bucket's versioning answer, conditional writes as MinIO does them
// (PutObject, CompleteMultipartUpload), and DeleteObjects.
type guardStore struct {
	mu          sync.Mutex
	exists      map[string]bool
	versioning  string // the GetBucketVersioning body; "" answers 500
	versionGets atomic.Int32
}

func (s *guardStore) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Query().Has("versioning") && r.Method == "GET":
		s.versionGets.Add(1)
		if s.versioning == "" {
			w.WriteHeader(500)
			return
		}
		fmt.Fprint(w, s.versioning)
	case r.URL.Query().Has("delete"):
		storeDelete()(w, r)
	case r.Method == "PUT", r.Method == "POST":
		if r.Header.Get("If-None-Match") == "*" && s.exists[r.URL.Path] {
			w.WriteHeader(http.StatusPreconditionFailed)
			fmt.Fprint(w, `<Error><Code>PreconditionFailed</Code><RequestId>UPSTREAM1</RequestId></Error>`)
			return
		}
		s.exists[r.URL.Path] = true
	case r.Method == "DELETE":
		delete(s.exists, r.URL.Path)
		w.WriteHeader(204)
	}
}

func (s *guardStore) setVersioning(status string) {
	s.mu.Lock()
	s.versioning = `<VersioningConfiguration>` + status + `</VersioningConfiguration>`
	s.mu.Unlock()
}

const guardPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:DeleteObjectVersion","s3:DeleteBucket","s3:PutBucketVersioning","s3:PutLifecycleConfiguration","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}]}`

// newGuardFixture serves role "agent" with protect p from a guardStore,
// on a clock the test moves.
func newGuardFixture(t *testing.T, p Protect) (*fixture, *guardStore, *atomic.Int64) {
	t.Helper()
	store := &guardStore{exists: map[string]bool{}}
	f := newFixture(t, store.serve, nil)
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "rw", JSON: []byte(guardPolicy)}},
		Roles: []authz.RoleConfig{{Name: "agent", Kind: "agent", Policies: []string{"rw"},
			Trust: []authz.TrustRule{{Issuer: "dev", Claims: map[string]any{"groups": "agents"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	f.h.cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	f.h.counters = state.NewCounterMemory(f.h.cfg.Now)
	gen := &Generation{Engine: engine, Verifier: f.h.Current().Verifier, Protect: map[string]Protect{"agent": p}}
	if err := f.h.Swap(gen); err != nil {
		t.Fatal(err)
	}
	return f, store, &clock
}

func TestGuardDeleteVersionedOnly(t *testing.T) {
	f, store, clock := newGuardFixture(t, Protect{Delete: GuardVersionedOnly})
	tok := f.token(t, "bot", "agents")
	store.setVersioning("")
	store.exists["/bkt/k"] = true

	res, body := f.do(t, "DELETE", "/bkt/k", tok, nil)
	if res.StatusCode != 403 || !strings.Contains(body, "delete guard") || !strings.Contains(body, "versioning enabled") {
		t.Fatalf("unversioned: %d %s", res.StatusCode, body)
	}
	if n := f.upLog.count(); n != 1 { // GetBucketVersioning only
		t.Fatalf("store got %d requests, want the versioning lookup alone", n)
	}
	ev := f.lastEvent(t)
	if ev.Decision != "deny" || ev.Reason != ReasonProtectedDelete || ev.ErrorCode != "AccessDenied" || !strings.Contains(ev.Message, "delete guard") {
		t.Errorf("event %+v", ev)
	}
	if got := testutil.ToFloat64(f.m.GuardRefusals.WithLabelValues("delete", "agent")); got != 1 {
		t.Errorf("guard refusals %v", got)
	}

	// Versioning enabled at the store: seen once the cached answer expires.
	store.setVersioning("<Status>Enabled</Status>")
	if res, _ := f.do(t, "DELETE", "/bkt/k", tok, nil); res.StatusCode != 403 {
		t.Fatalf("within the cache time: %d", res.StatusCode)
	}
	clock.Add(int64(DefaultVersioningCache))
	if res, body := f.do(t, "DELETE", "/bkt/k", tok, nil); res.StatusCode != 204 {
		t.Fatalf("versioned: %d %s", res.StatusCode, body)
	}
	if store.exists["/bkt/k"] {
		t.Error("not deleted")
	}
	// A specific version: refused whatever the versioning.
	if res, body := f.do(t, "DELETE", "/bkt/k?versionId=v1", tok, nil); res.StatusCode != 403 || !strings.Contains(body, "specific object version") {
		t.Fatalf("version delete: %d %s", res.StatusCode, body)
	}
	// Suspending versioning is seen after the (shorter) Enabled cache time.
	store.setVersioning("<Status>Suspended</Status>")
	clock.Add(int64(DefaultVersioningCacheEnabled))
	if res, _ := f.do(t, "DELETE", "/bkt/k", tok, nil); res.StatusCode != 403 {
		t.Fatalf("suspended: %d", res.StatusCode)
	}
	// The guarded role cannot change versioning itself.
	if res, body := f.do(t, "PUT", "/bkt?versioning", tok, strings.NewReader("<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>")); res.StatusCode != 403 || !strings.Contains(body, "versioning") {
		t.Fatalf("PutBucketVersioning: %d %s", res.StatusCode, body)
	}
	// An unreadable status refuses (fail closed), with 503.
	store.mu.Lock()
	store.versioning = ""
	store.mu.Unlock()
	clock.Add(int64(DefaultVersioningCache))
	res, body = f.do(t, "DELETE", "/bkt/k", tok, nil)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "versioning status could not be read") {
		t.Fatalf("unreadable: %d %s", res.StatusCode, body)
	}
	if ev := f.lastEvent(t); ev.Decision != "error" || ev.Reason != ReasonVersioningUnavailable {
		t.Errorf("event %+v", ev)
	}
	// Aborting an upload is not destructive.
	if res, _ := f.do(t, "DELETE", "/bkt/k?uploadId=u1", tok, nil); res.StatusCode != 204 {
		t.Fatalf("AbortMultipartUpload: %d", res.StatusCode)
	}
}

func TestGuardDeleteDeny(t *testing.T) {
	f, _, _ := newGuardFixture(t, Protect{Delete: GuardDeny})
	tok := f.token(t, "bot", "agents")
	for _, path := range []string{"/bkt/k", "/bkt/k?versionId=v1", "/bkt"} {
		if res, body := f.do(t, "DELETE", path, tok, nil); res.StatusCode != 403 || !strings.Contains(body, "protect.delete: deny") {
			t.Errorf("DELETE %s: %d %s", path, res.StatusCode, body)
		}
	}
	if res, _ := f.do(t, "PUT", "/bkt?lifecycle", tok, strings.NewReader(`<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`)); res.StatusCode != 403 {
		t.Errorf("PutBucketLifecycleConfiguration: %d", res.StatusCode)
	}
	if n := f.upLog.count(); n != 0 {
		t.Errorf("refused requests reached the store (%d), or deny read the versioning", n)
	}
}

func TestGuardOverwriteDeny(t *testing.T) {
	f, store, _ := newGuardFixture(t, Protect{Overwrite: GuardDeny})
	tok := f.token(t, "bot", "agents")
	store.exists["/bkt/old"] = true

	res, body := f.do(t, "PUT", "/bkt/new", tok, strings.NewReader("data"))
	if res.StatusCode != 200 {
		t.Fatalf("new key: %d %s", res.StatusCode, body)
	}
	up, _ := f.upLog.last()
	if up.Header.Get("If-None-Match") != "*" {
		t.Fatalf("If-None-Match not added: %v", up.Header)
	}
	res, body = f.do(t, "PUT", "/bkt/old", tok, strings.NewReader("data"))
	if res.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "overwrite guard") || !strings.Contains(body, "the key exists") {
		t.Fatalf("existing key: %d %s", res.StatusCode, body)
	}
	ev := f.lastEvent(t)
	if ev.Decision != "deny" || ev.Reason != ReasonProtectedOverwrite || ev.Status != 403 || ev.UpstreamRequestID != "UPSTREAM1" {
		t.Errorf("event %+v", ev)
	}
	// The client's own If-None-Match: * keeps the store's 412.
	if res, _ := f.do(t, "PUT", "/bkt/old", tok, strings.NewReader("data"), "If-None-Match", "*"); res.StatusCode != 412 {
		t.Errorf("client's conditional write: %d", res.StatusCode)
	}
	n := f.upLog.count()
	// If-Match targets an existing object; CopyObject cannot be made
	// conditional at the store: refused before the store.
	if res, _ := f.do(t, "PUT", "/bkt/old", tok, strings.NewReader("data"), "If-Match", `"e"`); res.StatusCode != 403 {
		t.Errorf("If-Match: %d", res.StatusCode)
	}
	if res, _ := f.do(t, "PUT", "/bkt/old", tok, strings.NewReader("data"), "If-None-Match", `"e"`); res.StatusCode != 403 {
		t.Errorf("If-None-Match etag: %d", res.StatusCode)
	}
	if res, body := f.do(t, "PUT", "/bkt/copy", tok, nil, "X-Amz-Copy-Source", "/bkt/old"); res.StatusCode != 403 || !strings.Contains(body, "cannot refuse it atomically") {
		t.Errorf("CopyObject: %d %s", res.StatusCode, body)
	}
	if f.upLog.count() != n {
		t.Errorf("refused requests reached the store")
	}
	// CompleteMultipartUpload is conditional too.
	res, body = f.do(t, "POST", "/bkt/old?uploadId=u1", tok, strings.NewReader(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part></CompleteMultipartUpload>`))
	if up, _ := f.upLog.last(); res.StatusCode != 403 || up.Header.Get("If-None-Match") != "*" {
		t.Errorf("CompleteMultipartUpload: %d %s, If-None-Match %q", res.StatusCode, body, up.Header.Get("If-None-Match"))
	}
	if got := testutil.ToFloat64(f.m.GuardRefusals.WithLabelValues("overwrite", "agent")); got != 5 {
		t.Errorf("guard refusals %v, want 5", got)
	}
}

func TestGuardOverwriteVersionedOnly(t *testing.T) {
	f, store, _ := newGuardFixture(t, Protect{Overwrite: GuardVersionedOnly})
	tok := f.token(t, "bot", "agents")
	store.exists["/bkt/old"] = true
	store.setVersioning("<Status>Enabled</Status>")
	if res, _ := f.do(t, "PUT", "/bkt/old", tok, strings.NewReader("data")); res.StatusCode != 200 {
		t.Fatalf("versioned overwrite: %d", res.StatusCode)
	}
	if up, _ := f.upLog.last(); up.Header.Get("If-None-Match") != "" {
		t.Errorf("If-None-Match added on a versioned bucket")
	}
	if res, _ := f.do(t, "PUT", "/bkt/copy", tok, nil, "X-Amz-Copy-Source", "/bkt/old"); res.StatusCode != 200 {
		t.Errorf("versioned CopyObject: %d", res.StatusCode)
	}
	if n := store.versionGets.Load(); n != 1 {
		t.Errorf("versioning read %d times, want once (cached)", n)
	}
}

func TestGuardDeleteObjects(t *testing.T) {
	f, store, _ := newGuardFixture(t, Protect{Delete: GuardVersionedOnly})
	tok := f.token(t, "bot", "agents")
	store.setVersioning("<Status>Enabled</Status>")
	body := deleteBody(false, "a", "b@v1", "c")
	res, got := f.do(t, "POST", "/bkt?delete", tok, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	if fwd, _ := forwardedKeys(t, f); !reflect.DeepEqual(fwd, []string{"a", "c"}) {
		t.Fatalf("forwarded %v", fwd)
	}
	dr := decodeDeleteResult(t, got)
	if e := dr.errors(); !reflect.DeepEqual(e, []string{"b@v1 AccessDenied"}) {
		t.Errorf("errors %v", e)
	}
	ev := f.lastEvent(t)
	want := []audit.DeniedKey{{Key: "b", VersionID: "v1", Action: "s3:DeleteObjectVersion", Reason: ReasonProtectedDelete}}
	if ev.Reason != "partially_allowed" || !reflect.DeepEqual(ev.DeniedKeys, want) {
		t.Errorf("event %+v", ev)
	}

	// Unversioned: every key refused, the store never asked to delete.
	store.setVersioning("")
	f.h.versions = newTTLCache[string, Versioning](10)
	n := f.upLog.count()
	res, got = f.do(t, "POST", "/bkt?delete", tok, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 200 || f.upLog.count() != n+1 { // the versioning lookup only
		t.Fatalf("%d %s (%d store requests)", res.StatusCode, got, f.upLog.count()-n)
	}
	if e := decodeDeleteResult(t, got).errors(); len(e) != 3 {
		t.Errorf("errors %v", e)
	}
	if ev := f.lastEvent(t); ev.Decision != "deny" || ev.Reason != ReasonProtectedDelete || !strings.Contains(ev.Message, "delete guard") {
		t.Errorf("event %+v", ev)
	}
}

func TestGuardBulkDelete(t *testing.T) {
	f, store, clock := newGuardFixture(t, Protect{BulkDeleteMaxKeys: 3, BulkDeleteWindow: 10 * time.Minute})
	tok := f.token(t, "bot", "agents")
	other := f.token(t, "bot2", "agents")
	_ = store
	body := deleteBody(true, "a", "b")
	if res, got := f.do(t, "POST", "/bkt?delete", tok, strings.NewReader(body), "Content-Md5", md5B64([]byte(body))); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, got)
	}
	if res, _ := f.do(t, "DELETE", "/bkt/c", tok, nil); res.StatusCode != 204 {
		t.Fatalf("third key: %d", res.StatusCode)
	}
	n := f.upLog.count()
	res, got := f.do(t, "DELETE", "/bkt/d", tok, nil)
	if res.StatusCode != 403 || !strings.Contains(got, "bulk_delete guard") || !strings.Contains(got, "resets at 2026-01-02T03:14:05Z") {
		t.Fatalf("fourth key: %d %s", res.StatusCode, got)
	}
	if f.upLog.count() != n {
		t.Error("a refused delete reached the store")
	}
	ev := f.lastEvent(t)
	if ev.Decision != "deny" || ev.Reason != ReasonBulkDeleteLimit || !strings.Contains(ev.Message, `role "agent"`) {
		t.Errorf("event %+v", ev)
	}
	if got := testutil.ToFloat64(f.m.GuardRefusals.WithLabelValues("bulk_delete", "agent")); got != 1 {
		t.Errorf("guard refusals %v", got)
	}
	// Another session has its own count; the window ends.
	if res, _ := f.do(t, "DELETE", "/bkt/e", other, nil); res.StatusCode != 204 {
		t.Errorf("other session: %d", res.StatusCode)
	}
	clock.Add(int64(10 * time.Minute))
	if res, _ := f.do(t, "DELETE", "/bkt/d", tok, nil); res.StatusCode != 204 {
		t.Errorf("next window: %d", res.StatusCode)
	}
}

func TestDescribeGuards(t *testing.T) {
	p := Protect{Delete: GuardVersionedOnly, Overwrite: GuardDeny, BulkDeleteMaxKeys: 100, BulkDeleteWindow: 10 * time.Minute}
	got := DescribeGuards(s3req.OpDeleteObject, false, p)
	want := []string{"protect.bulk_delete: refused once this session deletes more than 100 keys within 10m0s",
		"protect.delete: versioned-only: with versioning Enabled on the bucket allowed; otherwise refused"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DeleteObject: %q", got)
	}
	if got := DescribeGuards(s3req.OpPutObject, false, p); !reflect.DeepEqual(got, []string{"protect.overwrite: deny: forwarded with If-None-Match: * (refused if the key exists)"}) {
		t.Errorf("PutObject: %q", got)
	}
	if got := DescribeGuards(s3req.OpGetObject, false, p); got != nil {
		t.Errorf("GetObject: %q", got)
	}
}

// A bulk_delete refusal is a limit hit: with the role's escalation, the
// session is then denied everything for the escalation window.
func TestGuardBulkDeleteEscalates(t *testing.T) {
	f, _, _ := newGuardFixture(t, Protect{BulkDeleteMaxKeys: 1, BulkDeleteWindow: 10 * time.Minute})
	f.h.cfg.Limiter = limits.New(f.h.counters, limits.Config{Now: f.h.cfg.Now})
	gen := *f.h.Current()
	gen.principals = nil
	gen.Limits = map[string]*RoleLimits{"agent": {Role: &limits.Policy{Role: "agent", Kind: "agent",
		Rules:      &limits.Rules{RequestsPerSecond: 1000, Burst: 1000, Per: []limits.Scope{limits.PerSession}},
		Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 1}}}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, "bot", "agents")
	if res, _ := f.do(t, "DELETE", "/bkt/a", tok, nil); res.StatusCode != 204 {
		t.Fatalf("first delete: %d", res.StatusCode)
	}
	if res, got := f.do(t, "DELETE", "/bkt/b", tok, nil); res.StatusCode != 403 || !strings.Contains(got, "bulk_delete guard") {
		t.Fatalf("second delete: %d %s", res.StatusCode, got)
	}
	res, got := f.do(t, "GET", "/bkt/a", tok, nil)
	if res.StatusCode != 403 {
		t.Fatalf("after the escalation a read is %d %s, want 403", res.StatusCode, got)
	}
	if ev := f.lastEvent(t); ev.Reason != "limit_"+string(limits.Denied) {
		t.Errorf("event reason %q, want the escalation's deny", ev.Reason)
	}
}
