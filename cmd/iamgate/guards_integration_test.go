package main

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// TestIntegrationGuards runs a role with protect {delete: versioned-only,
// overwrite: deny, bulk_delete} in front of a real MinIO: a delete on an
// unversioned bucket is refused and the object stays; once versioning is
// enabled at MinIO the delete is allowed and the previous version can be
// restored; deleting a version stays refused; an overwrite is refused
// (MinIO's conditional write) and a new key written; DeleteObjects is
// decided key by key; more deletes than bulk_delete allows are refused.
func TestIntegrationGuards(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := testenv.StartMinIO(t)
	iss := devissuer.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.log")
	t.Setenv("IT_MINIO_USER", m.AccessKey)
	t.Setenv("IT_MINIO_PASSWORD", m.SecretKey)
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:IT_MINIO_USER, secret_access_key: env:IT_MINIO_PASSWORD}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
policies:
  rw: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::guarded", "arn:aws:s3:::guarded/*"]}]}'
roles:
  - name: agent
    kind: agent
    trust: {issuer: dev, claims: {groups: agents}}
    policies: [rw]
    protect: {delete: versioned-only, overwrite: deny, bulk_delete: {max_keys: 5, window: 10m}}
audit: {file: %q}
log: {level: warn, format: text}
`, m.Endpoint, iss.URL(), auditPath))
	// The versioning status is read from MinIO on every request (no
	// cache), so that enabling it is seen at once; the cache is tested
	// with an injected clock in package proxy.
	listen := "127.0.0.1:0"
	actx, acancel := context.WithCancel(context.Background())
	a, err := newApp(actx, cfg, appOptions{Stdout: io.Discard, Stderr: testWriter{t}, Listen: &listen,
		ReloadInterval: time.Hour, VersioningCache: -1, DrainDelay: noDrain})
	if err != nil {
		acancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = a.Run(actx); close(done) }()
	t.Cleanup(func() { acancel(); <-done })
	gate := "http://" + a.Addr()
	tok, err := iss.Mint(map[string]any{"sub": "agent-run-1", "groups": []any{"agents"}, "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	m.MakeBucket(t, "guarded")
	m.PutObject(t, "guarded", "keep.txt", []byte("original"))
	for _, k := range []string{"x", "b", "c", "d", "e"} {
		m.PutObject(t, "guarded", k, []byte(k))
	}

	// Unversioned: the delete is refused and the object stays.
	expect(t, do(t, "DELETE", gate+"/guarded/keep.txt", tok, nil), 403, "delete guard", "versioned-only")
	if !m.ObjectExists(t, "guarded", "keep.txt") {
		t.Fatal("refused delete removed the object")
	}

	// Overwrite: refused by MinIO's conditional write, object unchanged;
	// a new key is written.
	expect(t, do(t, "PUT", gate+"/guarded/keep.txt", tok, strings.NewReader("replaced")), 403, "overwrite guard", "the key exists")
	if got := string(m.GetObject(t, "guarded", "keep.txt")); got != "original" {
		t.Fatalf("object overwritten: %q", got)
	}
	expect(t, do(t, "PUT", gate+"/guarded/new.txt", tok, strings.NewReader("fresh")), 200)
	if got := string(m.GetObject(t, "guarded", "new.txt")); got != "fresh" {
		t.Fatalf("new key: %q", got)
	}
	// CopyObject cannot be made conditional at MinIO: refused.
	expect(t, do(t, "PUT", gate+"/guarded/copy.txt", tok, nil, "X-Amz-Copy-Source", "/guarded/keep.txt"), 403, "overwrite guard")
	if m.ObjectExists(t, "guarded", "copy.txt") {
		t.Fatal("refused copy reached MinIO")
	}

	// Versioning enabled directly at MinIO: the delete is allowed and
	// leaves a delete marker; the previous version is restorable.
	root := m.Client(t)
	if err := root.EnableVersioning(ctx, "guarded"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, "DELETE", gate+"/guarded/keep.txt", tok, nil), 204)
	if m.ObjectExists(t, "guarded", "keep.txt") {
		t.Fatal("allowed delete did not delete")
	}
	var prev string
	for o := range root.ListObjects(ctx, "guarded", minio.ListObjectsOptions{Prefix: "keep.txt", WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !o.IsDeleteMarker {
			prev = o.VersionID
		}
	}
	if prev == "" {
		t.Fatal("no previous version of keep.txt")
	}
	obj, err := root.GetObject(ctx, "guarded", "keep.txt", minio.GetObjectOptions{VersionID: prev})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != "original" {
		t.Fatalf("previous version: %q %v", b, err)
	}
	if _, err := root.CopyObject(ctx, minio.CopyDestOptions{Bucket: "guarded", Object: "keep.txt"},
		minio.CopySrcOptions{Bucket: "guarded", Object: "keep.txt", VersionID: prev}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// Deleting a version for good stays refused.
	expect(t, do(t, "DELETE", gate+"/guarded/keep.txt?versionId="+prev, tok, nil), 403, "specific object version")

	// DeleteObjects: a key is deleted, a version refused in the result.
	body := `<Delete><Object><Key>x</Key></Object><Object><Key>keep.txt</Key><VersionId>` + prev + `</VersionId></Object></Delete>`
	r := do(t, "POST", gate+"/guarded?delete", tok, strings.NewReader(body), "Content-MD5", md5Base64(body))
	expect(t, r, 200, "<DeleteMarker>true</DeleteMarker>", "<Key>x</Key></Deleted>", "<Key>keep.txt</Key><VersionId>"+prev+"</VersionId><Code>AccessDenied</Code>")
	if m.ObjectExists(t, "guarded", "x") {
		t.Fatal("x not deleted")
	}
	obj, err = root.GetObject(ctx, "guarded", "keep.txt", minio.GetObjectOptions{VersionID: prev})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != "original" {
		t.Fatalf("refused version delete: %q %v", b, err)
	}

	// bulk_delete: 2 keys deleted so far in this window; 4 more go over 5.
	body = `<Delete><Object><Key>b</Key></Object><Object><Key>c</Key></Object><Object><Key>d</Key></Object><Object><Key>e</Key></Object></Delete>`
	expect(t, do(t, "POST", gate+"/guarded?delete", tok, strings.NewReader(body), "Content-MD5", md5Base64(body)), 403,
		"bulk_delete guard", "resets at")
	for _, k := range []string{"b", "c", "d", "e"} {
		if !m.ObjectExists(t, "guarded", k) {
			t.Fatalf("%s deleted over the bulk_delete limit", k)
		}
	}

	// The audit events name the guards.
	acancel()
	<-done
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		ev, err := audit.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == "s3" {
			reasons[ev.Reason]++
		}
	}
	if reasons["protected_delete"] != 2 || reasons["protected_overwrite"] != 2 || reasons["bulk_delete_limit"] != 1 || reasons["partially_allowed"] != 1 {
		t.Errorf("audit reasons %v", reasons)
	}
}

func md5Base64(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}
