package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// writeKeyPEM writes a new PKCS#8 private key (ECDSA P-256, or RSA 2048
// with rsaKey) to dir/name and returns the path.
func writeKeyPEM(t *testing.T, dir, name string, rsaKey bool) string {
	t.Helper()
	var k any
	var err error
	if rsaKey {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	return path
}

// TestIntegrationFederation runs iamgate with no static key in front of a
// real MinIO that trusts iamgate as an OpenID provider (claim_name
// policy). iamgate obtains temporary credentials from MinIO's STS, serves
// allowed and denied requests as usual (bearer tokens, SigV4 with its own
// STS sessions, a browser form re-signed with the temporary credentials
// and their session token), and renews its credentials every
// few seconds (duration 15m, refresh_before 14m57s) while a load of
// concurrent uploads and downloads runs: no request fails, and several
// different access keys sign the requests. Midway the signing key is
// rotated (added, switched, old one removed) by reloading the
// configuration; credentials keep being renewed with tokens signed by the
// new key.
func TestIntegrationFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := testenv.StartMinIO(t)
	users := devissuer.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm, err := madmin.NewWithOptions(strings.TrimPrefix(m.Endpoint, "http://"),
		&madmin.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	// What iamgate may do in the store: objects and listing in "data".
	if err := adm.AddCannedPolicy(ctx, "iamgate-upstream", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"],
		 "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]}]}`)); err != nil {
		t.Fatal(err)
	}
	m.MakeBucket(t, "data")

	// iamgate's address must be in its own configuration (issuer_url).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	gate := "http://" + addr
	issuerURL := gate + "/_iamgate/oidc"

	dir := t.TempDir()
	k1 := writeKeyPEM(t, dir, "k1.pem", false)
	k2 := writeKeyPEM(t, dir, "k2.pem", true)
	cfg := filepath.Join(dir, "iamgate.yaml")
	auditPath := filepath.Join(dir, "audit.log")
	config := func(keys string) string {
		return fmt.Sprintf(`
listen: %s
upstream:
  endpoint: %s
  federation:
    issuer_url: %s
    audience: minio-store
    subject: iamgate-test
    claims: {policy: iamgate-upstream}
    duration: 15m
    refresh_before: 14m57s
    signing_keys: [%s]
sts: {session_keys: [{id: s1, secret: env:IT_SESSION_KEY}]}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles:
  - {name: writer, kind: machine, trust: {issuer: dev, claims: {groups: writers}}, policies: [data-rw]}
policies:
  data-rw: |
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/load/*"}]}
audit: {stdout: false, file: %q}
log: {level: warn, format: text}
`, addr, m.Endpoint, issuerURL, keys, users.URL(), auditPath)
	}
	keyEntry := func(id, path string) string { return fmt.Sprintf("{id: %s, private_key: %q}", id, "file:"+path) }
	writeFile(t, cfg, config(keyEntry("k1", k1)))
	if strings.Contains(config(""), "access_key_id") || strings.Contains(config(""), "secret_access_key") {
		t.Fatal("the configuration holds a static key")
	}

	t.Setenv("IT_SESSION_KEY", "federation-session-key-0123456789abcdef")
	mlisten := "127.0.0.1:0"
	actx, acancel := context.WithCancel(context.Background())
	a, err := newApp(actx, cfg, appOptions{Stdout: io.Discard, Stderr: testWriter{t}, MetricsListen: &mlisten,
		ReloadInterval: 200 * time.Millisecond, FederationMaxBackoff: time.Second, DrainDelay: noDrain})
	if err != nil {
		acancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() {
		acancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("iamgate did not shut down")
		}
	})

	writerTok, err := users.Mint(map[string]any{"sub": "u-writer", "groups": []any{"writers"}, "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	outsiderTok, err := users.Mint(map[string]any{"sub": "u-eve", "groups": []any{"visitors"}, "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Before MinIO trusts iamgate: not ready, with the reason; S3
	// requests are refused with a clear 503.
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	r := do(t, "GET", gate+"/_iamgate/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || json.Unmarshal([]byte(r.body), &ready) != nil ||
		!strings.Contains(ready.Checks["upstream_credentials"], "no upstream credentials yet") {
		t.Fatalf("readyz before MinIO trusts iamgate: %d %s", r.status, r.body)
	}
	expect(t, do(t, "PUT", gate+"/data/load/early.txt", writerTok, strings.NewReader("x")), http.StatusServiceUnavailable,
		"<Code>ServiceUnavailable</Code>", "no valid credentials for the storage service")

	// The OpenID documents MinIO reads.
	r = do(t, "GET", gate+"/_iamgate/oidc/.well-known/openid-configuration", "", nil)
	expect(t, r, 200, `"issuer":"`+issuerURL+`"`, `"jwks_uri":"`+issuerURL+`/jwks.json"`, `"ES256"`)

	// MinIO trusts iamgate's issuer; the policy comes from the token's
	// policy claim. A client secret is set so that no one can forge an
	// HS256 token under the client id with an empty key.
	if restart, err := adm.SetConfigKV(ctx, "identity_openid config_url="+issuerURL+
		"/.well-known/openid-configuration client_id=minio-store client_secret=unused-hmac-secret-0123456789abcdef claim_name=policy"); err != nil {
		t.Fatalf("MinIO's OpenID settings: %v", err)
	} else if restart {
		if err := adm.ServiceRestartV2(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r = do(t, "GET", gate+"/_iamgate/readyz", "", nil)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("iamgate obtained no credentials from MinIO: %s", r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	first := a.signer.Credentials()
	if first.SessionToken == "" || first.Expires.IsZero() || first.AccessKeyID == m.AccessKey {
		t.Fatalf("credentials in use are not temporary ones: key %q, expires %v", first.AccessKeyID, first.Expires)
	}

	// Allowed and denied requests, as usual.
	expect(t, do(t, "PUT", gate+"/data/load/hello.txt", writerTok, strings.NewReader("hello")), 200)
	if got := string(m.GetObject(t, "data", "load/hello.txt")); got != "hello" {
		t.Fatalf("stored %q", got)
	}
	expect(t, do(t, "GET", gate+"/data/load/hello.txt", outsiderTok, nil), 403, "<Code>AccessDenied</Code>")
	expect(t, do(t, "PUT", gate+"/data/other.txt", writerTok, strings.NewReader("x")), 403, "<Code>AccessDenied</Code>")

	// SigV4 with iamgate's own STS credentials, and a browser form
	// (re-signed toward the store with the temporary credentials and
	// their session token).
	stsc := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(gate)})
	out, err := stsc.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/writer"),
		RoleSessionName: aws.String("fed"), WebIdentityToken: aws.String(writerTok)})
	if err != nil {
		t.Fatal(err)
	}
	sess := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
		SessionToken: *out.Credentials.SessionToken}
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(gate), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return sess, nil })})
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("load/sigv4.txt"),
		Body: strings.NewReader("signed by an SDK")}); err != nil {
		t.Fatalf("SigV4 PutObject: %v", err)
	}
	if got := string(m.GetObject(t, "data", "load/sigv4.txt")); got != "signed by an SDK" {
		t.Fatalf("stored %q", got)
	}
	form, ct, n := (&postForm{key: "load/form.txt", conditions: []any{[]any{"starts-with", "$key", "load/"}},
		file: strings.NewReader("posted by a browser")}).build(t, sess)
	freq, _ := http.NewRequest("POST", gate+"/data", form)
	freq.ContentLength = n
	freq.Header.Set("Content-Type", ct)
	fres, err := http.DefaultClient.Do(freq)
	if err != nil {
		t.Fatal(err)
	}
	fbody, _ := io.ReadAll(fres.Body)
	fres.Body.Close()
	if fres.StatusCode != 204 || string(m.GetObject(t, "data", "load/form.txt")) != "posted by a browser" {
		t.Fatalf("browser form: %d %s", fres.StatusCode, fbody)
	}

	// Load across several renewals, with a signing key rotation midway.
	var (
		keysMu   sync.Mutex
		keys     = map[string]bool{first.AccessKeyID: true}
		secrets  = []string{first.SecretAccessKey, first.SessionToken}
		afterK2  = map[string]bool{}
		rotated  atomic.Bool
		requests atomic.Int64
		failed   atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // watches the credentials in use
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			c := a.signer.Credentials()
			keysMu.Lock()
			if !keys[c.AccessKeyID] {
				keys[c.AccessKeyID] = true
				secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
				if rotated.Load() {
					afterK2[c.AccessKeyID] = true
				}
			}
			keysMu.Unlock()
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("%s/data/load/w%d-%d.txt", gate, w, i%20)
				body := fmt.Sprintf("worker %d object %d", w, i)
				for _, step := range []struct{ method, body string }{{"PUT", body}, {"GET", ""}} {
					req, _ := http.NewRequest(step.method, key, strings.NewReader(step.body))
					if step.body == "" {
						req.Body = nil
					}
					req.Header.Set("Authorization", "Bearer "+writerTok)
					res, err := client.Do(req)
					requests.Add(1)
					if err != nil {
						failed.Add(1)
						t.Errorf("%s %s: %v", step.method, key, err)
						continue
					}
					got, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || step.method == "GET" && string(got) != body {
						failed.Add(1)
						t.Errorf("%s %s: %d %s", step.method, key, res.StatusCode, got)
					}
				}
			}
		}()
	}

	// Renewals under load (every few seconds), then the rotation: add
	// k2, switch to it, remove k1, each with renewals in between.
	seen := func(m map[string]bool) func() int {
		return func() int { keysMu.Lock(); defer keysMu.Unlock(); return len(m) }
	}
	waitCount(t, "access keys", seen(keys), 3)
	writeFile(t, cfg, config(keyEntry("k1", k1)+", "+keyEntry("k2", k2)))
	waitFor(t, func() bool { return len(a.fed.issuer.Keys().Algorithms()) == 2 })
	r = do(t, "GET", gate+"/_iamgate/oidc/jwks.json", "", nil)
	expect(t, r, 200, `"kid":"k1"`, `"kid":"k2"`, `"kty":"EC"`, `"kty":"RSA"`)
	writeFile(t, cfg, config(keyEntry("k2", k2)+", "+keyEntry("k1", k1)))
	waitFor(t, func() bool { return a.fed.issuer.Keys().SigningKeyID() == "k2" })
	rotated.Store(true)
	waitCount(t, "access keys after the switch to k2", seen(afterK2), 2)
	writeFile(t, cfg, config(keyEntry("k2", k2)))
	waitFor(t, func() bool { return len(a.fed.issuer.Keys().Algorithms()) == 1 })
	waitCount(t, "access keys after the switch to k2", seen(afterK2), 3)
	close(stop)
	wg.Wait()

	keysMu.Lock()
	defer keysMu.Unlock()
	t.Logf("%d requests, %d failed; %d access keys used, %d of them obtained with k2's tokens", requests.Load(), failed.Load(), len(keys), len(afterK2))
	if failed.Load() != 0 || requests.Load() < 50 {
		t.Fatalf("%d of %d requests failed", failed.Load(), requests.Load())
	}
	if len(keys) < 5 || len(afterK2) < 3 {
		t.Fatalf("credentials were not renewed during the load: %d access keys, %d after the switch to k2", len(keys), len(afterK2))
	}
	if strings.Contains(do(t, "GET", gate+"/_iamgate/oidc/jwks.json", "", nil).body, `"kid":"k1"`) {
		t.Fatal("k1 still published after its removal")
	}

	// Metrics: the expiry of the credentials in use, and the failed
	// attempts before MinIO trusted iamgate.
	mr := do(t, "GET", "http://"+a.MetricsAddr()+"/metrics", "", nil)
	for _, want := range []string{"iamgate_upstream_credentials_expiry_timestamp_seconds ", "iamgate_upstream_credentials_refresh_failures_total "} {
		if !strings.Contains(mr.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(mr.body, "iamgate_upstream_credentials_refresh_failures_total 0\n") {
		t.Error("no refresh failure counted before MinIO trusted iamgate")
	}
	// No temporary secret or session token reached a log or the audit file.
	assertNoSecrets(t, secrets, auditPath)
}

// waitCount waits (up to a minute) until count() reaches n.
func waitCount(t *testing.T, what string, count func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d within a minute, want %d", what, count(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
