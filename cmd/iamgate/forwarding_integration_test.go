package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawRequest sends raw on a new connection and reads the responses until
// the server closes the connection (or after n responses when n > 0).
func rawRequest(t *testing.T, addr, raw string, n int) (statuses []int, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	for n <= 0 || len(statuses) < n {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, bodies, true
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		statuses, bodies = append(statuses, res.StatusCode), append(bodies, string(b))
	}
	return statuses, bodies, false
}

// sigv4Raw is the raw text of a request signed with SigV4 (header auth)
// by the AWS SDK's signer for the nightly-backup service credential; the
// signature covers signedBody's hash and the extra headers; the request
// carries sentBody and, unsigned, Connection: conn.
func sigv4Raw(t *testing.T, host, method, path string, signedBody, sentBody []byte, conn string, extra ...string) string {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+host+path, strings.NewReader(string(signedBody)))
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	sum := sha256.Sum256(signedBody)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: "IAMGATEBACKUP001", SecretAccessKey: "service-secret-0123456789"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, req.URL.RequestURI(), host)
	for k, vv := range req.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, vv[0])
	}
	if conn != "" {
		fmt.Fprintf(&b, "Connection: %s\r\n", conn)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(sentBody), sentBody)
	return b.String()
}

// The store executes exactly what iamgate authorized: each way a hostile
// client found to change a request after the check fails closed with a
// clear error and leaves MinIO unchanged; the honest variants work.
func TestIntegrationForwardingInvariant(t *testing.T) {
	e := setupIntegration(t)
	host := strings.TrimPrefix(e.url, "http://")
	ops := e.hydra.Token(t, e.hydra.Client(t, map[string]any{"preferred_username": "ops", "groups": []any{"backup-operators"}}, "iamgate"), "iamgate")
	bodyA, bodyB := []byte("the body that was signed"), []byte("a different body, stored")
	md5A := func() string { s := md5.Sum(bodyA); return base64.StdEncoding.EncodeToString(s[:]) }()
	shaA := func() string { s := sha256.Sum256(bodyA); return base64.StdEncoding.EncodeToString(s[:]) }()

	for _, tc := range []struct {
		name, key, raw, code string
		status               int
	}{
		{"signed payload hash dropped by Connection", "backups/hash", sigv4Raw(t, host, "PUT", "/data/backups/hash", bodyA, bodyB, "X-Amz-Content-Sha256"), "InvalidRequest", 400},
		{"signed Content-MD5 dropped by Connection", "backups/md5", sigv4Raw(t, host, "PUT", "/data/backups/md5", bodyA, bodyB, "Content-MD5", "Content-MD5", md5A), "InvalidRequest", 400},
		{"signed checksum dropped by Connection", "backups/sum", sigv4Raw(t, host, "PUT", "/data/backups/sum", bodyA, bodyB, "X-Amz-Checksum-Sha256",
			"X-Amz-Checksum-Sha256", shaA, "X-Amz-Sdk-Checksum-Algorithm", "SHA256"), "InvalidRequest", 400},
		{"SSE condition header dropped by Connection", "encrypted/conn", "PUT /data/encrypted/conn HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + ops +
			"\r\nX-Amz-Server-Side-Encryption: AES256\r\nConnection: X-Amz-Server-Side-Encryption\r\nContent-Length: 5\r\n\r\nplain", "AccessDenied", 403},
		{"SSE header given twice", "encrypted/twice", "PUT /data/encrypted/twice HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + ops +
			"\r\nX-Amz-Server-Side-Encryption: AES256\r\nx-amz-server-side-encryption: aws:kms\r\nContent-Length: 5\r\n\r\nplain", "InvalidArgument", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			statuses, bodies, _ := rawRequest(t, host, tc.raw, 1)
			if len(statuses) != 1 || statuses[0] != tc.status || !strings.Contains(bodies[0], "<Code>"+tc.code+"</Code>") {
				t.Fatalf("got %v %v, want %d %s", statuses, bodies, tc.status, tc.code)
			}
			if e.minio.ObjectExists(t, "data", tc.key) {
				t.Fatalf("data/%s exists in MinIO", tc.key)
			}
		})
	}

	t.Run("presigned URL pinning Content-MD5", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", e.url+"/data/backups/presigned-md5?X-Amz-Expires=300", nil)
		req.Header.Set("Content-MD5", md5A)
		creds := aws.Credentials{AccessKeyID: "IAMGATEBACKUP001", SecretAccessKey: "service-secret-0123456789"}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		target := strings.TrimPrefix(u, e.url)
		send := func(body []byte, conn string) ([]int, []string) {
			raw := "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-MD5: " + md5A + "\r\n"
			if conn != "" {
				raw += "Connection: " + conn + "\r\n"
			}
			s, b, _ := rawRequest(t, host, raw+fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body), 1)
			return s, b
		}
		if s, b := send(bodyB, "Content-MD5"); len(s) != 1 || s[0] != 400 || !strings.Contains(b[0], "InvalidRequest") {
			t.Fatalf("Connection: Content-MD5: %v %v", s, b)
		}
		if s, _ := send(bodyB, ""); len(s) != 1 || s[0] != 400 {
			t.Fatalf("another body under the pinned MD5: %v", s)
		}
		if e.minio.ObjectExists(t, "data", "backups/presigned-md5") {
			t.Fatal("an object other than the pinned one was stored")
		}
		if s, b := send(bodyA, ""); len(s) != 1 || s[0] != 200 || string(e.minio.GetObject(t, "data", "backups/presigned-md5")) != string(bodyA) {
			t.Fatalf("the pinned body: %v %v", s, b)
		}
	})

	t.Run("SSE condition: header and query alias both reach MinIO as the header", func(t *testing.T) {
		expect(t, do(t, "PUT", e.url+"/data/encrypted/header", ops, strings.NewReader("secret"), "X-Amz-Server-Side-Encryption", "AES256"), 200)
		expect(t, do(t, "PUT", e.url+"/data/encrypted/query?x-amz-server-side-encryption=AES256", ops, strings.NewReader("secret")), 200)
		for _, k := range []string{"encrypted/header", "encrypted/query"} {
			if got := e.minio.ObjectEncryption(t, "data", k); got != "AES256" {
				t.Errorf("data/%s stored with encryption %q, want AES256", k, got)
			}
		}
		expect(t, do(t, "PUT", e.url+"/data/encrypted/plain", ops, strings.NewReader("plain")), 403, "AccessDenied")
		expect(t, do(t, "PUT", e.url+"/data/encrypted/conflict?x-amz-server-side-encryption=AES256", ops, strings.NewReader("x"),
			"X-Amz-Server-Side-Encryption", "aws:kms"), 400, "InvalidArgument")
		if e.minio.ObjectExists(t, "data", "encrypted/plain") || e.minio.ObjectExists(t, "data", "encrypted/conflict") {
			t.Fatal("a refused upload reached MinIO")
		}
	})

	t.Run("Transfer-Encoding with Content-Length", func(t *testing.T) {
		// The smuggled request would be allowed on its own.
		smuggled := "PUT /data/backups/smuggled HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + ops + "\r\nContent-Length: 2\r\n\r\nhi"
		raw := "PUT /data/backups/framed HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + ops +
			"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
		statuses, bodies, closed := rawRequest(t, host, raw, 0)
		if len(statuses) != 1 || statuses[0] != 400 || !closed || !strings.Contains(bodies[0], "Transfer-Encoding and Content-Length") {
			t.Fatalf("statuses %v closed %v bodies %v", statuses, closed, bodies)
		}
		if e.minio.ObjectExists(t, "data", "backups/smuggled") || e.minio.ObjectExists(t, "data", "backups/framed") {
			t.Fatal("MinIO changed")
		}
	})
}
