package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// recordingTransport is an in-memory store: it records the request it is
// sent (body read in full) and answers 200.
type recordingTransport struct {
	mu   sync.Mutex
	req  *http.Request
	body []byte
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		var err error
		if b, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	t.mu.Lock()
	t.req, t.body = r, b
	t.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: r}, nil
}

func (t *recordingTransport) take() (*http.Request, []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, b := t.req, t.body
	t.req, t.body = nil, nil
	return r, b
}

// FuzzForward sends arbitrary requests (method, path, query, header
// lines, Connection, body) through the handler, authenticated and allowed
// everything in the test buckets, to an in-memory store. Whatever reaches
// the store is what the client asked for in the form it was checked: the
// method, the path the audit event authorized, no x-amz-* or unknown query
// parameter, only forwardable headers with the client's effective values
// (never one it declared hop-by-hop), and the client's body.
func FuzzForward(f *testing.F) {
	for _, s := range []struct{ method, path, query, hdr, conn, body string }{
		{"GET", "/bkt/k", "versionId=1&response-content-type=a", "Range: bytes=0-1", "", ""},
		{"PUT", "/bkt/k", "x-amz-server-side-encryption=AES256", "X-Amz-Meta-A: 1\nX-Amz-Tagging: a=b", "x-amz-meta-a", "body"},
		{"PUT", "/bkt/k", "", "X-Amz-Copy-Source: src/a\nX-Amz-Server-Side-Encryption: AES256\nx-amz-server-side-encryption: aws:kms", "", ""},
		{"POST", "/bkt", "delete", "Content-Md5: aFPqFnlCon58cZ4Qt7zwvQ==", "", "<Delete><Object><Key>a</Key></Object></Delete>"},
		{"POST", "/bkt", "delete", "", "", "<Delete><Object><Key>a</Key></Object><Object><Key>denied/b</Key></Object></Delete>"},
		{"PUT", "/bkt/k", "uploadId=u&partNumber=1&x-amz-checksum-crc32=AAAAAA%3D%3D", "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD", "X-Amz-Content-Sha256", "x"},
		{"GET", "/bkt", "list-type=2&prefix=a&x-id=ListObjectsV2&X-Amz-Foo=1", "", "keep-alive, Upgrade", ""},
		{"DELETE", "/bkt/k", "versionId=v", "X-Amz-Bypass-Governance-Retention: true", "", ""},
	} {
		f.Add(s.method, s.path, s.query, s.hdr, s.conn, []byte(s.body))
	}
	store := &recordingTransport{}
	fx := newFixture(f, nil, store)
	withPolicy(f, fx, allowAll)
	tok := fx.token(f, "alice", "staff")
	f.Fuzz(func(t *testing.T, method, path, query, hdr, conn string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method+path, " \r\n") || method == "" {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		r.Method = method
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.RequestURI = path
		r.Host = "s3.local"
		r.ContentLength = int64(len(body))
		for line := range strings.SplitSeq(hdr, "\n") {
			k, v, ok := strings.Cut(line, ":")
			// As net/http's server reads them: valid names, canonicalized.
			if ok && validToken(k) {
				r.Header.Add(k, strings.TrimSpace(v))
			}
		}
		if conn != "" {
			r.Header.Set("Connection", conn)
		}
		sent := r.Header.Clone()
		r.Header.Set("Authorization", "Bearer "+tok)
		delete(r.Header, "X-Amz-Security-Token")
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		up, upBody := store.take()
		if up == nil {
			// Only a DeleteObjects whose every key is denied is answered
			// 200 (an error per key) without the store.
			if ev := fx.lastEvent(t); w.Code < 400 && !(w.Code == 200 && ev.Operation == "DeleteObjects" &&
				ev.Decision == "deny" && len(ev.DeniedKeys) == len(ev.Keys)) {
				t.Fatalf("%d without reaching the store", w.Code)
			}
			return
		}
		if up.Method != method {
			t.Fatalf("store got method %q", up.Method)
		}
		ev := fx.lastEvent(t)
		want := "/" + ev.Bucket
		if ev.Key != "" {
			want += "/" + ev.Key
		}
		// A DeleteObjects whose answer cannot be merged (this store says
		// "ok") is an error after forwarding.
		if ev.Decision != "allow" && !(ev.Operation == "DeleteObjects" && ev.Decision == "error") ||
			(ev.Bucket != "" && up.URL.Path != want) {
			t.Fatalf("audit %s %s, store got %s", ev.Decision, want, up.URL.Path)
		}
		q, err := url.ParseQuery(up.URL.RawQuery)
		if err != nil {
			t.Fatalf("upstream query %q: %v", up.URL.RawQuery, err)
		}
		sentQuery, _ := url.ParseQuery(query)
		for k, vv := range q {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-") || len(sentQuery[k]) != 1 || sentQuery[k][0] != vv[0] {
				t.Fatalf("upstream query %s=%q, client sent %q", k, vv, sentQuery[k])
			}
		}
		eff, _ := effective(sent, query, conn)
		doc := documentOf(ev.Operation)
		// DeleteObjects and condition documents are forwarded as parsed,
		// with their digests recomputed.
		rewritten := ev.Operation == "DeleteObjects" || doc != s3req.BodyNone
		for k, vv := range up.Header {
			switch {
			case k == "Authorization" || k == "X-Amz-Date" || k == "X-Amz-Content-Sha256" || k == "User-Agent":
			case sigv4.ProxyHeaders[k]:
			case !sigv4.AllowedHeader(k):
				t.Fatalf("header %s reached the store", k)
			case k == "X-Amz-Copy-Source":
				if src, _ := url.PathUnescape(vv[0]); strings.TrimPrefix(src, "/") != strings.TrimPrefix(eff[k], "/") &&
					!strings.Contains(eff[k], "?") {
					t.Fatalf("copy source %q, client sent %q", vv[0], eff[k])
				}
			case rewritten && (k == "Content-Md5" || strings.HasPrefix(k, "X-Amz-Checksum-")):
			case eff[k] != vv[0] || len(vv) != 1:
				t.Fatalf("header %s=%q, client sent %q (Connection %q)", k, vv, eff[k], conn)
			}
		}
		switch {
		case doc != s3req.BodyNone:
			// The store reads the values the client's document gave.
			fwd, client := &s3req.Request{Body: doc}, &s3req.Request{Body: doc}
			_, err1 := fwd.ApplyBody(upBody)
			_, err2 := client.ApplyBody(body)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(fwd.S3, client.S3) {
				t.Fatalf("%s document %q, client sent %q", ev.Operation, upBody, body)
			}
		case !rewritten && !bytes.Equal(upBody, body):
			t.Fatalf("store got body %q, client sent %q", upBody, body)
		}
	})
}

// FuzzFramingTracker feeds arbitrary connection bytes to the framing
// tracker whole and in two pieces: it never panics, reads the same heads
// either way, and agrees with net/http on every request net/http reads
// before the first one with a transfer coding.
func FuzzFramingTracker(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\n\r\n",
		"POST /a HTTP/1.1\nContent-Length: 0\n\n\r\nGET /b HTTP/1.1\n\n",
		"PUT /a HTTP/1.1\r\nContent-Length: 4\r\n X: folded\r\n\r\nabcd",
		"PUT /a HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		var whole, parts framingTracker
		whole.feed(data)
		cut := int(split) % (len(data) + 1)
		parts.feed(data[:cut])
		parts.feed(data[cut:])
		if len(whole.heads) != len(parts.heads) {
			t.Fatalf("%d heads whole, %d in pieces", len(whole.heads), len(parts.heads))
		}
		for i := range whole.heads {
			if whole.heads[i] != parts.heads[i] {
				t.Fatalf("head %d: %+v whole, %+v in pieces", i, whole.heads[i], parts.heads[i])
			}
		}
		br := bufio.NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if i >= len(whole.heads) {
				if whole.stopped {
					return
				}
				t.Fatalf("net/http read request %d (%s %s), the tracker saw %d", i, req.Method, req.RequestURI, len(whole.heads))
			}
			h := whole.heads[i]
			if h.unsure {
				return
			}
			if h.method != req.Method || h.target != req.RequestURI {
				t.Fatalf("request %d: net/http %s %s, tracker %s %s", i, req.Method, req.RequestURI, h.method, h.target)
			}
			if len(req.TransferEncoding) > 0 || h.transferCoding {
				return
			}
			if h.contentLength != (req.ContentLength > 0 || req.Header.Get("Content-Length") != "") {
				t.Fatalf("request %d: Content-Length seen %v, net/http length %d", i, h.contentLength, req.ContentLength)
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
		}
	})
}

// FuzzDeleteResult feeds arbitrary store answers to the DeleteObjects
// merge: parsing never panics, a parsed answer has at most one entry per
// key sent, and the result iamgate writes parses back to the store's
// entries plus an AccessDenied for the denied key.
func FuzzDeleteResult(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>a</Key></Deleted><Error><Code>InternalError</Code><Message>m</Message><Key>c&lt;&amp;&gt;</Key></Error></DeleteResult>`,
		`<DeleteResult><Deleted><Key>a</Key><VersionId>1</VersionId><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>2</DeleteMarkerVersionId></Deleted></DeleteResult>`,
		`<DeleteResult/>`,
		`<DeleteResult><Deleted><Key>&#xD;x</Key></Deleted></DeleteResult>`,
		`<!DOCTYPE d><DeleteResult/>`,
	} {
		f.Add([]byte(s))
	}
	del := &s3req.DeleteObjects{Objects: []s3req.ObjectRef{{Key: "a"}, {Key: "b", VersionID: "v"}, {Key: "c<&>"}}}
	denied := []bool{false, true, false}
	f.Fuzz(func(t *testing.T, answer []byte) {
		res, err := parseDeleteResult(answer, 2)
		if err != nil {
			return
		}
		if n := len(res.deleted) + len(res.errors); n > 2 {
			t.Fatalf("%d entries for 2 keys", n)
		}
		merged := mergeDeleteResult(del, denied, res)
		if len(merged.deleted) != len(res.deleted) || len(merged.errors) != len(res.errors)+1 {
			t.Fatalf("merged %d+%d entries from %d+%d", len(merged.deleted), len(merged.errors), len(res.deleted), len(res.errors))
		}
		back, err := parseDeleteResult(merged.marshal(), 3)
		if err != nil {
			t.Fatalf("the merged result does not parse: %v\n%s", err, merged.marshal())
		}
		if !sameEntries(back.deleted, merged.deleted) || !sameEntries(back.errors, merged.errors) {
			t.Fatalf("round trip changed the result:\n%+v\n%+v", back, merged)
		}
		found := false
		for _, e := range back.errors {
			if e.get("Key") == "b" && e.get("VersionId") == "v" && e.get("Code") == "AccessDenied" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no AccessDenied for the denied key in %s", merged.marshal())
		}
	})
}

func sameEntries(a, b []resultEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// documentOf is the kind of condition document operation op carries.
func documentOf(op string) s3req.BodyKind {
	switch op {
	case string(s3req.OpPutObjectTagging):
		return s3req.BodyTagging
	case string(s3req.OpPutObjectRetention):
		return s3req.BodyRetention
	case string(s3req.OpPutObjectLegalHold):
		return s3req.BodyLegalHold
	case string(s3req.OpCreateBucket):
		return s3req.BodyCreateBucket
	}
	return s3req.BodyNone
}
