package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIO is a running MinIO server with a temporary data directory.
type MinIO struct {
	// Endpoint is the S3 endpoint, "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root credentials (random per server).
	AccessKey, SecretKey string
	// Dir is the data directory, removed when the test ends.
	Dir string
	// Region is the region MinIO signs and answers for: "us-east-1".
	Region string

	proc *process
}

// StartMinIO starts a single-drive MinIO server with random root credentials
// and waits until /minio/health/ready answers. The server is killed when the
// test ends; its log tail is printed if the test failed.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := RequireMinIO(t)
	base := t.TempDir()
	m := &MinIO{
		AccessKey: "root" + RandomHex(t, 6),
		SecretKey: RandomHex(t, 20),
		Dir:       filepath.Join(base, "data"),
		Region:    "us-east-1",
	}
	env := []string{
		"MINIO_ROOT_USER=" + m.AccessKey,
		"MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"MINIO_SITE_REGION=" + m.Region,
		// A static key, so the store can encrypt objects (SSE-S3) and
		// tests can check what was stored encrypted.
		"MINIO_KMS_SECRET_KEY=iamgate-test-key:" + base64.StdEncoding.EncodeToString([]byte("iamgate-test-kms-key-32-bytes-xx")),
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		addr := HostPort(FreePort(t))
		args := []string{"server", m.Dir,
			"--address", addr,
			"--console-address", HostPort(FreePort(t)),
			"--certs-dir", filepath.Join(base, "certs"),
		}
		logPath := filepath.Join(base, fmt.Sprintf("minio-%d.log", attempt))
		p, err := startProcess("minio", bin, args, env, logPath)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(p.stop)
		registerLogDump(t, p)
		m.proc = p
		m.Endpoint = "http://" + addr
		err = p.waitReady(m.Endpoint+"/minio/health/ready", readyTimeout)
		if err == nil {
			// health/ready may answer before the object layer serves
			// requests ("Server not initialized yet"); wait for S3 too.
			client := m.Client(t)
			err = p.waitFor("ListBuckets", readyTimeout, func(ctx context.Context) error {
				_, err := client.ListBuckets(ctx)
				return err
			})
		}
		if err == nil {
			return m
		}
		lastErr = err
		p.stop()
		if !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatalf("testenv: start minio: %v", lastErr)
	return nil
}

// Stop kills the server now, e.g. to test behaviour with the upstream down.
// It is idempotent; the test cleanup calls it too.
func (m *MinIO) Stop() { m.proc.stop() }

// Client returns a minio-go client with the root credentials, for arranging
// and checking upstream state directly.
func (m *MinIO) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(m.Endpoint, "http://"), &minio.Options{
		Creds:      credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Secure:     false,
		Region:     m.Region,
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	return c
}

func opContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// MakeBucket creates a bucket, failing the test on error.
func (m *MinIO) MakeBucket(t testing.TB, name string) {
	t.Helper()
	if err := m.Client(t).MakeBucket(opContext(t), name, minio.MakeBucketOptions{Region: m.Region}); err != nil {
		t.Fatalf("testenv: make bucket %q: %v", name, err)
	}
}

// PutObject stores data at bucket/key, failing the test on error.
func (m *MinIO) PutObject(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	_, err := m.Client(t).PutObject(opContext(t), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("testenv: put %s/%s: %v", bucket, key, err)
	}
}

// GetObject returns the content of bucket/key, failing the test on error.
func (m *MinIO) GetObject(t testing.TB, bucket, key string) []byte {
	t.Helper()
	obj, err := m.Client(t).GetObject(opContext(t), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("testenv: get %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("testenv: get %s/%s: %v", bucket, key, err)
	}
	return b
}

// ObjectEncryption returns the server-side encryption bucket/key is stored
// with ("AES256", "aws:kms"), or "" for none.
func (m *MinIO) ObjectEncryption(t testing.TB, bucket, key string) string {
	t.Helper()
	info, err := m.Client(t).StatObject(opContext(t), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("testenv: stat %s/%s: %v", bucket, key, err)
	}
	return info.Metadata.Get("X-Amz-Server-Side-Encryption")
}

// ObjectExists reports whether bucket/key exists; any error other than
// "no such key/bucket" fails the test.
func (m *MinIO) ObjectExists(t testing.TB, bucket, key string) bool {
	t.Helper()
	_, err := m.Client(t).StatObject(opContext(t), bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true
	}
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, minio.NoSuchBucket:
		return false
	}
	t.Fatalf("testenv: stat %s/%s: %v", bucket, key, err)
	return false
}
