package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/sigv4"
)

// postStore is an httptest store that handles POST Object the way MinIO
// does: it checks the form's policy and signature with the store's secret
// ("s", see newFixture) and keeps the object only when the whole form
// arrived.
type postStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	fields  map[string]sigv4.PostForm
	lengths []int64 // declared Content-Length of each request
}

func (s *postStore) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.lengths = append(s.lengths, r.ContentLength)
		s.mu.Unlock()
		if r.ContentLength <= 0 {
			http.Error(w, "EmptyRequestBody", 400)
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		form := sigv4.PostForm{}
		var data []byte
		for {
			p, err := mr.NextPart()
			if err != nil {
				http.Error(w, "no file: "+err.Error(), 400)
				return
			}
			if p.FormName() == "file" {
				if data, err = io.ReadAll(p); err != nil {
					http.Error(w, "file: "+err.Error(), 400)
					return
				}
				break
			}
			v, _ := io.ReadAll(p)
			form[strings.ToLower(p.FormName())] = string(v)
		}
		a, e := sigv4.ParsePostAuth(form, "us-east-1")
		if e != nil || a.AccessKeyID != "AKUP" {
			http.Error(w, fmt.Sprintf("auth %v", e), http.StatusForbidden)
			return
		}
		if e := sigv4.VerifyPostSignature(a, form["policy"], "s"); e != nil {
			http.Error(w, "signature", http.StatusForbidden)
			return
		}
		p, e := sigv4.ParsePostPolicy(form["policy"])
		if e != nil {
			http.Error(w, "policy", 400)
			return
		}
		bucket := strings.Trim(r.URL.Path, "/")
		if e := p.Check(form, bucket, time.Now()); e != nil {
			http.Error(w, e.Message, http.StatusForbidden)
			return
		}
		if e := p.CheckLength(int64(len(data)), true); e != nil {
			http.Error(w, e.Code, 400)
			return
		}
		s.mu.Lock()
		s.objects[bucket+"/"+form["key"]] = data
		s.fields[bucket+"/"+form["key"]] = form
		s.mu.Unlock()
		switch form["success_action_status"] {
		case "201":
			w.WriteHeader(201)
			fmt.Fprintf(w, "<PostResponse><Bucket>%s</Bucket><Key>%s</Key></PostResponse>", bucket, form["key"])
		case "200":
			w.WriteHeader(200)
		default:
			w.WriteHeader(204)
		}
	}
}

func (s *postStore) object(key string) ([]byte, sigv4.PostForm, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	return b, s.fields[key], ok
}

// newPostFixture is a fixture whose store is a postStore and whose
// generation has a service credential for "alice" (role member: her home).
func newPostFixture(t *testing.T) (*fixture, *postStore) {
	st := &postStore{objects: map[string][]byte{}, fields: map[string]sigv4.PostForm{}}
	f := newFixture(t, st.handler(t), nil)
	gen := *f.h.Current()
	gen.principals = nil
	gen.Services = map[string]*ServiceCredential{"AKALICE": {Name: "alice", AccessKeyID: "AKALICE",
		SecretAccessKey: "alice-secret", Role: "member", Expires: time.Now().Add(time.Hour)}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	return f, st
}

// browserForm is a form as a browser sends it, with a policy signed the
// way AWS SDKs sign presigned posts.
type browserForm struct {
	fields     [][2]string // in order, before the file
	conditions []any
	expiration time.Time
	filename   string
	file       []byte
	after      [][2]string // fields after the file (ignored)
	secret     string
	tamper     bool
}

func newBrowserForm(key string, file []byte, conditions ...any) *browserForm {
	now := time.Now().UTC()
	cred := "AKALICE/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"
	b := &browserForm{
		fields: [][2]string{{"key", key}, {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"}, {"X-Amz-Credential", cred},
			{"X-Amz-Date", now.Format("20060102T150405Z")}},
		conditions: append([]any{map[string]string{"bucket": "bkt"}, map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
			map[string]string{"x-amz-credential": cred}, map[string]string{"x-amz-date": now.Format("20060102T150405Z")}}, conditions...),
		expiration: now.Add(time.Hour),
		filename:   "local.txt",
		file:       file,
		secret:     "alice-secret",
	}
	return b
}

func (b *browserForm) add(name, value string) *browserForm {
	b.fields = append(b.fields, [2]string{name, value})
	return b
}

func (b *browserForm) body() (io.Reader, string) {
	doc, _ := json.Marshal(map[string]any{"expiration": b.expiration.Format("2006-01-02T15:04:05.000Z"), "conditions": b.conditions})
	policy := base64.StdEncoding.EncodeToString(doc)
	var date string
	for _, f := range b.fields {
		if f[0] == "X-Amz-Date" {
			date = f[1][:8]
		}
	}
	key := hmacSHA([]byte("AWS4"+b.secret), date)
	for _, s := range []string{"us-east-1", "s3", "aws4_request"} {
		key = hmacSHA(key, s)
	}
	sig := hex.EncodeToString(hmacSHA(key, policy))
	if b.tamper {
		sig = strings.Repeat("0", 64)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range append(b.fields, [2]string{"Policy", policy}, [2]string{"X-Amz-Signature", sig}) {
		mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", b.filename)
	fw.Write(b.file)
	for _, f := range b.after {
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func hmacSHA(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func (f *fixture) post(t *testing.T, b *browserForm) (*http.Response, string) {
	t.Helper()
	body, ct := b.body()
	res, out := f.do(t, "POST", "/bkt", "", body, "Content-Type", ct)
	return res, html.UnescapeString(out)
}

func TestPostObjectUpload(t *testing.T) {
	f, st := newPostFixture(t)
	b := newBrowserForm("home/alice/${filename}", []byte("hello form"),
		[]any{"starts-with", "$key", "home/alice/"}, []any{"starts-with", "$Content-Type", "text/"},
		map[string]string{"x-amz-meta-project": "apollo"}, []any{"content-length-range", 1, 100},
		[]any{"starts-with", "$x-minio-fanout-list", ""})
	b.filename = "../../bob/notes.txt" // the directory part is dropped, as MinIO does
	b.add("Content-Type", "text/plain").add("x-amz-meta-project", "apollo").add("x-minio-fanout-list", `[{"key":"home/bob/x"}]`).
		add("x-ignore-submit", "Upload")
	b.after = [][2]string{{"key", "home/bob/late"}}
	res, body := f.post(t, b)
	if res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	data, fields, ok := st.object("bkt/home/alice/notes.txt")
	if !ok || string(data) != "hello form" {
		t.Fatalf("stored %q %v", data, ok)
	}
	if fields["content-type"] != "text/plain" || fields["x-amz-meta-project"] != "apollo" {
		t.Fatalf("fields %v", fields)
	}
	for _, k := range []string{"x-minio-fanout-list", "x-ignore-submit"} {
		if _, ok := fields[k]; ok {
			t.Errorf("%s forwarded", k)
		}
	}
	if !strings.HasPrefix(fields["x-amz-credential"], "AKUP/") || fields["x-amz-security-token"] != "" {
		t.Fatalf("the store got the client's credentials: %v", fields["x-amz-credential"])
	}
	p, _ := sigv4.ParsePostPolicy(fields["policy"])
	if !p.HasLengthRange || p.MinLength != 1 || p.MaxLength != 100 {
		t.Fatalf("forwarded range %d..%d", p.MinLength, p.MaxLength)
	}
	up, raw := f.upLog.last()
	if up.ContentLength != int64(len(raw)) || up.Header.Get("Transfer-Encoding") != "" {
		t.Fatalf("declared %d, sent %d", up.ContentLength, len(raw))
	}
	// The form authenticates itself: MinIO refuses a form that also has an Authorization header.
	if up.Header.Get("Authorization") != "" || up.Header.Get("X-Amz-Content-Sha256") != "" ||
		!strings.HasPrefix(up.Header.Get("Content-Type"), "multipart/form-data; boundary=") {
		t.Fatalf("upstream headers %v", up.Header)
	}
	evs := f.events(t)
	ev := evs[len(evs)-1]
	if ev.Operation != "PostObject" || ev.Key != "home/alice/notes.txt" || ev.Decision != "allow" ||
		ev.Action != "s3:PutObject" || ev.AccessKeyID != "AKALICE" || ev.Subject != "alice" || ev.Sid != "Home" {
		t.Fatalf("audit %+v", ev)
	}
}

func TestPostObjectSuccessActionStatus(t *testing.T) {
	f, _ := newPostFixture(t)
	for _, status := range []string{"200", "201", "204"} {
		b := newBrowserForm("home/alice/s"+status, []byte("x"), []any{"eq", "$key", "home/alice/s" + status},
			map[string]string{"success_action_status": status}).add("success_action_status", status)
		res, body := f.post(t, b)
		if fmt.Sprint(res.StatusCode) != status {
			t.Fatalf("status %d for %s: %s", res.StatusCode, status, body)
		}
		if status == "201" && !strings.Contains(body, "<Key>home/alice/s201</Key>") {
			t.Fatalf("201 body %s", body)
		}
	}
}

func TestPostObjectRejected(t *testing.T) {
	f, st := newPostFixture(t)
	allowKey := []any{"starts-with", "$key", "home/"}
	tests := []struct {
		name   string
		form   func() *browserForm
		status int
		code   string
		msg    string
		key    string // must not exist afterwards
	}{
		{"key outside the form policy", func() *browserForm {
			return newBrowserForm("home/alice/../x", []byte("x"), []any{"starts-with", "$key", "home/alice/sub/"})
		}, 403, "AccessDenied", "Invalid according to Policy: Policy Condition failed", ""},
		{"denied by the role", func() *browserForm {
			return newBrowserForm("home/bob/x", []byte("x"), allowKey)
		}, 403, "AccessDenied", "is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bkt/home/bob/x", "bkt/home/bob/x"},
		{"filename escaping the prefix", func() *browserForm {
			b := newBrowserForm("home/alice/${filename}", []byte("x"), allowKey)
			b.filename = ".."
			return b
		}, 400, "XMinioInvalidObjectName", "", ""},
		{"tagging needs PutObjectTagging", func() *browserForm {
			return newBrowserForm("home/alice/t", []byte("x"), allowKey, map[string]string{"tagging": "<Tagging/>"}).add("tagging", "<Tagging/>")
		}, 403, "AccessDenied", "s3:PutObjectTagging", "bkt/home/alice/t"},
		{"tampered signature", func() *browserForm {
			b := newBrowserForm("home/alice/sig", []byte("x"), allowKey)
			b.tamper = true
			return b
		}, 403, "SignatureDoesNotMatch", "", "bkt/home/alice/sig"},
		{"wrong secret", func() *browserForm {
			b := newBrowserForm("home/alice/sig", []byte("x"), allowKey)
			b.secret = "guess"
			return b
		}, 403, "SignatureDoesNotMatch", "", "bkt/home/alice/sig"},
		{"expired policy", func() *browserForm {
			b := newBrowserForm("home/alice/exp", []byte("x"), allowKey)
			b.expiration = time.Now().Add(-time.Second)
			return b
		}, 403, "AccessDenied", "Policy expired", "bkt/home/alice/exp"},
		{"no key condition", func() *browserForm {
			return newBrowserForm("home/alice/nokey", []byte("x"))
		}, 403, "AccessDenied", "Extra input fields: key", "bkt/home/alice/nokey"},
		{"field not in the policy", func() *browserForm {
			return newBrowserForm("home/alice/extra", []byte("x"), allowKey).add("acl", "public-read")
		}, 403, "AccessDenied", "Extra input fields: acl", "bkt/home/alice/extra"},
		{"unknown access key", func() *browserForm {
			b := newBrowserForm("home/alice/ak", []byte("x"), allowKey)
			b.fields[2][1] = strings.Replace(b.fields[2][1], "AKALICE", "AKNOBODY", 1)
			return b
		}, 403, "InvalidAccessKeyId", "", ""},
		{"too large", func() *browserForm {
			return newBrowserForm("home/alice/big", []byte("0123456789A"), allowKey, []any{"content-length-range", 0, 10})
		}, 400, "EntityTooLarge", "", "bkt/home/alice/big"},
		{"too small", func() *browserForm {
			return newBrowserForm("home/alice/small", []byte("01"), allowKey, []any{"content-length-range", 5, 10})
		}, 400, "EntityTooSmall", "", "bkt/home/alice/small"},
		{"duplicate field", func() *browserForm {
			return newBrowserForm("home/alice/dup", []byte("x"), allowKey).add("KEY", "home/alice/other")
		}, 400, "InvalidArgument", "more than once", "bkt/home/alice/dup"},
		{"field too large", func() *browserForm {
			big := strings.Repeat("a", postMaxFieldBytes+1)
			return newBrowserForm("home/alice/f", []byte("x"), allowKey, map[string]string{"x-amz-meta-a": big}).add("x-amz-meta-a", big)
		}, 400, "MaxPostPreDataLengthExceededError", "", "bkt/home/alice/f"},
		{"fields too large together", func() *browserForm {
			b := newBrowserForm("home/alice/f", []byte("x"), allowKey)
			for i := 0; i < 20; i++ {
				v := strings.Repeat("b", 60<<10)
				b.add(fmt.Sprintf("x-amz-meta-%d", i), v)
				b.conditions = append(b.conditions, []any{"starts-with", fmt.Sprintf("$x-amz-meta-%d", i), ""})
			}
			return b
		}, 400, "MaxPostPreDataLengthExceededError", "", "bkt/home/alice/f"},
		{"${filename} left after substitution", func() *browserForm {
			b := newBrowserForm("home/alice/${filename}", []byte("x"), allowKey)
			b.filename = "${filename}"
			return b
		}, 400, "InvalidArgument", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := f.post(t, tc.form())
			if res.StatusCode != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			if tc.key != "" {
				if _, _, ok := st.object(tc.key); ok {
					t.Fatal("the object was stored")
				}
			}
		})
	}
}

func TestPostObjectMalformed(t *testing.T) {
	f, _ := newPostFixture(t)
	b := newBrowserForm("home/alice/x", []byte("x"), []any{"starts-with", "$key", ""})
	body, ct := b.body()
	data, _ := io.ReadAll(body)
	var nf bytes.Buffer
	mw := multipart.NewWriter(&nf)
	mw.WriteField("key", "home/alice/x")
	mw.Close()
	noFile, noFileCT := &nf, mw.FormDataContentType()
	for _, tc := range []struct {
		name   string
		body   io.Reader
		ct     string
		hdr    []string
		status int
		code   string
	}{
		{"no file", noFile, noFileCT, nil, 400, "InvalidArgument"},
		{"truncated", bytes.NewReader(data[:len(data)/2]), ct, nil, 400, "MalformedPOSTRequest"},
		{"chunked", io.MultiReader(bytes.NewReader(data)), ct, nil, 411, "MissingContentLength"},
		{"with an Authorization header", bytes.NewReader(data), ct, []string{"Authorization", "Bearer x"}, 400, "InvalidRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upLog.count()
			res, out := f.do(t, "POST", "/bkt", "", tc.body, append([]string{"Content-Type", tc.ct}, tc.hdr...)...)
			if res.StatusCode != tc.status || !strings.Contains(out, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			if f.upLog.count() != before {
				t.Fatal("forwarded")
			}
		})
	}
}

// The re-issued body declares a length bounded by the client's, pads the
// rest after the closing boundary, and never forwards more file bytes
// than the policy allows.
func TestPostBodyPadding(t *testing.T) {
	p, e := sigv4.ParsePostPolicy(base64.StdEncoding.EncodeToString([]byte(
		`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,1000]]}`)))
	if e != nil {
		t.Fatal(e)
	}
	up := &postUpload{file: strings.NewReader("file body"), boundary: "b", before: 10}
	body, serr := up.reissue(sigv4.PostForm{"key": "k"}, "bkt", p, sigv4.Credentials{AccessKeyID: "A", SecretAccessKey: "S"},
		"us-east-1", time.Now(), 100)
	if serr != nil {
		t.Fatal(serr)
	}
	out, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != body.length {
		t.Fatalf("length %d, declared %d", len(out), body.length)
	}
	mr := multipart.NewReader(bytes.NewReader(out), strings.TrimPrefix(body.contentType, "multipart/form-data; boundary="))
	var file []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.FormName() == "file" {
			file, _ = io.ReadAll(part)
		}
	}
	if string(file) != "file body" {
		t.Fatalf("file %q", file)
	}
	if len(out) < 100 || strings.TrimRight(string(out), " ") == string(out) {
		t.Fatal("no padding")
	}
}
