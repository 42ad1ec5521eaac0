package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The forwarder streams what the store sends: a response of unknown length
// reaches the client piece by piece, before the store has finished.
func TestForwardStreamsUnknownLength(t *testing.T) {
	release := make(chan struct{})
	var waited atomic.Bool // the store gave up waiting for the client to see the first piece
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			waited.Store(true)
		}
		io.WriteString(w, "second\n")
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Fatalf("first piece: %q %v", line, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" || waited.Load() {
		t.Fatalf("rest %q; the first piece arrived only after the store finished: %v", rest, waited.Load())
	}
	if res.Header.Get("X-Amz-Request-Id") == "UPSTREAM1" || res.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("request id %q", res.Header.Get("X-Amz-Request-Id"))
	}
}

// Trailers of the store's response are passed on.
func TestForwardPassesTrailers(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Amz-Checksum-Crc32")
		io.WriteString(w, "body")
		w.Header().Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
		t.Fatalf("body %q trailer %v", b, res.Trailer)
	}
}

// A response the store breaks off midway is broken off toward the client
// too (never completed as if it were whole), and audited as aborted.
func TestForwardAbortsBrokenResponse(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/shared/x", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "alice", "staff"))
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("a broken-off response reached the client as complete")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		evs := f.events(t)
		if len(evs) > 0 {
			if ev := evs[len(evs)-1]; ev.ErrorCode != "ResponseAborted" {
				t.Fatalf("audit error code %q", ev.ErrorCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit event")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawGet sends a bearer GET on a new connection and returns the response
// head as it was written on the wire, and the body.
func rawGet(t *testing.T, f *fixture, path, token string) (head, body string) {
	t.Helper()
	c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: s3.local\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", path, token)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, _ := io.ReadAll(c)
	head, body, _ = strings.Cut(string(raw), "\r\n\r\n")
	return head, body
}

// User metadata names reach the client in lower case, as S3 and MinIO send
// them: clients read them case-sensitively (boto3's Metadata['key1']).
func TestForwardMetadataNamesLowerCase(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["x-amz-meta-key1"] = []string{"v1"}
		w.Header()["x-amz-meta-mixedcase"] = []string{"m"}
		w.Header().Set("ETag", `"e"`)
		io.WriteString(w, "object body")
	}, nil)
	head, body := rawGet(t, f, "/bkt/shared/x", f.token(t, "alice", "staff"))
	if body != "object body" {
		t.Fatalf("body %q", body)
	}
	for _, want := range []string{"\r\nx-amz-meta-key1: v1\r\n", "\r\nx-amz-meta-mixedcase: m\r\n", "\r\nEtag: \"e\"\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("response head lacks %q:\n%s", want, head)
		}
	}
	if strings.Contains(head, "X-Amz-Meta-") {
		t.Errorf("canonicalized metadata name:\n%s", head)
	}
}

// The store's error document names the request by iamgate's ID, like the
// x-amz-request-id header; the store's ID is in the audit event.
func TestForwardErrorRequestID(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>shared/x</Key><BucketName>bkt</BucketName><Resource>/bkt/shared/x</Resource><RequestId>UPSTREAM1</RequestId><HostId>h</HostId></Error>`
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Id-2", "h")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			io.WriteString(w, doc)
		}
	}, nil)
	alice := f.token(t, "alice", "staff")
	res, body := f.do(t, "GET", "/bkt/shared/x", alice, nil)
	rid := res.Header.Get("X-Amz-Request-Id")
	want := strings.Replace(doc, "<RequestId>UPSTREAM1</RequestId>", "<RequestId>"+rid+"</RequestId>", 1)
	if res.StatusCode != 404 || rid == "" || rid == "UPSTREAM1" || body != want {
		t.Fatalf("%d %q\n%s\nwant\n%s", res.StatusCode, rid, body, want)
	}
	if res.ContentLength != int64(len(want)) || res.Header.Get("X-Amz-Id-2") != "" {
		t.Fatalf("Content-Length %d, x-amz-id-2 %q", res.ContentLength, res.Header.Get("X-Amz-Id-2"))
	}
	if ev := f.lastEvent(t); ev.RequestID != rid || ev.UpstreamRequestID != "UPSTREAM1" || ev.Status != 404 {
		t.Fatalf("event %+v", ev)
	}
	res, body = f.do(t, "HEAD", "/bkt/shared/x", alice, nil)
	if res.StatusCode != 404 || body != "" {
		t.Fatalf("HEAD %d %q", res.StatusCode, body)
	}
}

// GetPublicAccessBlock is authorized with s3:GetBucketPublicAccessBlock
// and answered by the store. Put/DeletePublicAccessBlock are never
// forwarded: MinIO runs them as CreateBucket and DeleteBucket.
func TestPublicAccessBlock(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotImplemented)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message><BucketName>bkt</BucketName><Resource>/bkt</Resource><RequestId>UPSTREAM1</RequestId></Error>`)
	}, nil)
	alice := f.token(t, "alice", "staff")
	res, body := f.do(t, "GET", "/bkt?publicAccessBlock", alice, nil)
	if res.StatusCode != 403 || !strings.Contains(body, "s3:GetBucketPublicAccessBlock") || f.upLog.count() != 0 {
		t.Fatalf("not granted: %d %s", res.StatusCode, body)
	}
	withPolicy(t, f, `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetBucketPublicAccessBlock","s3:PutBucketPublicAccessBlock"],"Resource":"arn:aws:s3:::bkt"}]}`)
	res, body = f.do(t, "GET", "/bkt?publicAccessBlock", alice, nil)
	up, _ := f.upLog.last()
	if res.StatusCode != 501 || !strings.Contains(body, "functionality that is not implemented") || up == nil || up.URL.RawQuery != "publicAccessBlock=" {
		t.Fatalf("%d %s (store saw %v)", res.StatusCode, body, up)
	}
	if ev := f.lastEvent(t); ev.Operation != "GetPublicAccessBlock" || ev.Decision != "allow" || ev.Action != "s3:GetBucketPublicAccessBlock" {
		t.Fatalf("event %+v", ev)
	}
	before := f.upLog.count()
	for _, m := range []string{"PUT", "DELETE"} {
		res, body := f.do(t, m, "/bkt?publicAccessBlock", alice, strings.NewReader(""))
		if res.StatusCode != 501 || !strings.Contains(body, "would run it as") {
			t.Fatalf("%s: %d %s", m, res.StatusCode, body)
		}
	}
	if f.upLog.count() != before {
		t.Fatal("Put/DeletePublicAccessBlock reached the store")
	}
}
