package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/sigv2test"
	"github.com/iamgate/iamgate/sigv4"
)

const eventsConfig = `
listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:EV_KEY, secret_access_key: env:EV_KEY}
server: {shutdown_grace: 2s}
sts:
  session_keys: [{id: k1, secret: env:EV_SESSION_KEY}]
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles:
  - {name: member, kind: human, trust: {issuer: dev, claims: {sub: "u-*"}}, policies: [home]}
  - {name: admin, kind: human, trust: {issuer: dev, claims: {sub: root}}, policies: [home]}
  - {name: backup, kind: machine, trust: {issuer: dev, claims: {sub: nobody}}, policies: [home]}
policies:
  home: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bkt/home/*"}]}'
service_credentials:
  - {name: nightly, access_key_id: IAMGATENIGHTLY01, secret_access_key: env:EV_SERVICE_SECRET, role: backup, expires: %s}
  - {name: retired, access_key_id: IAMGATERETIRED01, secret_access_key: env:EV_SERVICE_SECRET, role: backup, expires: %s}
revocations:
  - {subject: %s, issued_before: %s}
audit: {file: %q, claims: [email]}
log: {level: error}
`

// TestEveryEventVariantValidates runs iamgate against a stand-in store and
// makes one request of every kind and authentication method the proxy
// records (the console's events are validated by package web's tests),
// reloads, stops, and then validates every line of the audit file against
// the schema and checks that each variant is there.
func TestEveryEventVariantValidates(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.WriteString(w, "x")
	}))
	defer up.Close()
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfgPath, auditPath := filepath.Join(dir, "iamgate.yaml"), filepath.Join(dir, "audit.log")
	t.Setenv("EV_KEY", "upstream-key")
	t.Setenv("EV_SESSION_KEY", strings.Repeat("5e", 32))
	t.Setenv("EV_SERVICE_SECRET", "service-secret-0123456789")
	// iamgate runs on the real clock here: expiries are relative to it.
	at := func(d time.Duration) string {
		return time.Now().Add(d).UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	config := func(revoked string) string {
		return fmt.Sprintf(eventsConfig, up.URL, iss.URL(), at(time.Hour), at(-time.Hour), revoked, at(-time.Hour), auditPath)
	}
	writeFile(t, cfgPath, config("u-gone"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfgPath, appOptions{Stdout: io.Discard, Stderr: io.Discard, ReloadInterval: time.Hour, DrainDelay: noDrain})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + a.Addr()

	mint := func(claims map[string]any) string {
		claims["aud"] = "iamgate"
		tok, err := iss.Mint(claims, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := mint(map[string]any{"sub": "u-alice", "email": "alice@example.com"})
	send := func(req *http.Request) {
		t.Helper()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get := func(path string, hdr ...string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		send(req)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	signed := func(creds aws.Credentials, path string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		send(req)
	}
	assume := func(token, role string) (aws.Credentials, error) {
		c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), RetryMaxAttempts: 1})
		out, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::000000000000:role/" + role), RoleSessionName: aws.String("events"), WebIdentityToken: aws.String(token)})
		if err != nil {
			return aws.Credentials{}, err
		}
		cr := out.Credentials
		return aws.Credentials{AccessKeyID: *cr.AccessKeyId, SecretAccessKey: *cr.SecretAccessKey, SessionToken: *cr.SessionToken}, nil
	}

	// Bearer tokens: allowed, denied, no role, expired.
	get("/bkt/home/a", "Authorization", "Bearer "+alice)
	get("/bkt/other", "Authorization", "Bearer "+alice)
	get("/bkt/home/a", "Authorization", "Bearer "+mint(map[string]any{"sub": "x-stranger"}))
	expired := mint(map[string]any{"sub": "u-alice", "exp": time.Now().Add(-2 * time.Hour).Unix(), "iat": time.Now().Add(-3 * time.Hour).Unix()})
	get("/bkt/home/a", "Authorization", "Bearer "+expired)
	// No credentials, unsupported ones, two at once.
	get("/bkt/home/a")
	get("/bkt/home/a", "Authorization", "AWS4-ECDSA-P256-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request")
	get("/bkt/home/a?X-Amz-Credential=x", "Authorization", "Bearer "+alice)

	// STS: issued and refused.
	session, err := assume(alice, "member")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assume(alice, "admin"); err == nil {
		t.Fatal("admin assumed by a member")
	}
	// SigV4: session credentials in the header and presigned, a service
	// credential, an expired one, an unknown key.
	signed(session, "/bkt/home/a")
	preq, _ := http.NewRequest("GET", base+"/bkt/home/a?X-Amz-Expires=300", nil)
	presigned, _, err := signer.PresignHTTP(ctx, session, preq, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", presigned, nil)
	send(req)
	signed(aws.Credentials{AccessKeyID: "IAMGATENIGHTLY01", SecretAccessKey: "service-secret-0123456789"}, "/bkt/home/a")
	signed(aws.Credentials{AccessKeyID: "IAMGATERETIRED01", SecretAccessKey: "service-secret-0123456789"}, "/bkt/home/a")
	signed(aws.Credentials{AccessKeyID: "IAMGATENOSUCHKEY", SecretAccessKey: "x"}, "/bkt/home/a")
	// A browser form upload signed with the session credentials.
	fields := sigv4.PostForm{"key": "home/form.txt"}
	now := time.Now()
	auth := sigv4.SignPostPolicy(fields, "bkt", 0, 100, now.Add(10*time.Minute),
		sigv4.Credentials{AccessKeyID: session.AccessKeyID, SecretAccessKey: session.SecretAccessKey, SessionToken: session.SessionToken}, "us-east-1", now)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("key", fields["key"])
	for _, k := range slices.Sorted(maps.Keys(auth)) {
		mw.WriteField(k, auth[k])
	}
	fw, _ := mw.CreateFormFile("file", "form.txt")
	fw.Write([]byte("form body"))
	mw.Close()
	req, _ = http.NewRequest("POST", base+"/bkt", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	send(req)

	// Signature Version 2: session credentials in the header, presigned
	// and in a form; a service credential; a malformed header; an expired
	// URL.
	v2 := sigv2test.Credentials{AccessKeyID: session.AccessKeyID, SecretAccessKey: session.SecretAccessKey, SessionToken: session.SessionToken}
	req, _ = http.NewRequest("GET", base+"/bkt/home/a", nil)
	sigv2test.Sign(req, v2, time.Now(), "")
	send(req)
	req, _ = http.NewRequest("GET", base+"/bkt/home/a", nil)
	req, _ = http.NewRequest("GET", sigv2test.Presign(req, v2, time.Now().Add(time.Minute), ""), nil)
	send(req)
	req, _ = http.NewRequest("GET", base+"/bkt/home/a", nil)
	sigv2test.Sign(req, sigv2test.Credentials{AccessKeyID: "IAMGATENIGHTLY01", SecretAccessKey: "service-secret-0123456789"}, time.Now(), "")
	send(req)
	get("/bkt/home/a", "Authorization", "AWS AKID:c2ln")
	req, _ = http.NewRequest("GET", base+"/bkt/home/a", nil)
	req, _ = http.NewRequest("GET", sigv2test.Presign(req, v2, time.Now().Add(-time.Minute), ""), nil)
	send(req)
	policy := fmt.Sprintf(`{"expiration":%q,"conditions":[{"bucket":"bkt"},{"key":"home/form2.txt"},{"x-amz-security-token":%q}]}`,
		time.Now().Add(10*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z"), session.SessionToken)
	form.Reset()
	mw = multipart.NewWriter(&form)
	mw.WriteField("key", "home/form2.txt")
	fields2 := sigv2test.PostFields([]byte(policy), v2)
	for _, k := range slices.Sorted(maps.Keys(fields2)) {
		mw.WriteField(k, fields2[k])
	}
	fw, _ = mw.CreateFormFile("file", "form.txt")
	fw.Write([]byte("form body"))
	mw.Close()
	req, _ = http.NewRequest("POST", base+"/bkt", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	send(req)

	// Reloads: the revocation rule changes, then a broken file is rejected.
	if err := a.reload(ctx, "signal"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, config("u-other"))
	if err := a.reload(ctx, "file_change"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, "roles: [\n")
	if err := a.reload(ctx, "signal"); err == nil {
		t.Fatal("a broken configuration reloaded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	kinds, err := auditschema.File(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(auditPath)
	seen := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Join([]string{ev.Kind, ev.AuthMethod, ev.Decision, ev.Reason}, " ")] = true
		if ev.SignatureVersion != "" {
			seen[strings.Join([]string{ev.Kind, ev.AuthMethod, ev.SignatureVersion, ev.Decision}, " ")] = true
		}
		if bytes.Contains(line, []byte(alice)) || bytes.Contains(line, []byte(session.SessionToken)) ||
			bytes.Contains(line, []byte(session.SecretAccessKey)) || bytes.Contains(line, []byte("service-secret-0123456789")) {
			t.Errorf("a token or secret reached the audit log: %s", line)
		}
	}
	for _, want := range []string{
		"start  allow ", "revocation  allow in_effect", "revocation  allow added", "revocation  allow removed",
		"config_reload  allow signal", "config_reload  allow file_change", "config_reload  deny signal",
		"s3 bearer allow allowed", "s3 bearer deny no_allow", "s3 bearer deny no_role", "auth_failure bearer deny expired",
		"s3 none deny anonymous", "s3 none deny unsupported_auth", "s3 none deny multiple_auth",
		"sts web_identity allow issued", "sts web_identity deny sts_refused",
		"s3 sigv4 allow allowed", "s3 sigv4-presigned allow allowed", "s3 service-credential allow allowed",
		"auth_failure service-credential deny expired", "auth_failure sigv4 deny unknown_access_key",
		"s3 sigv4-post allow allowed",
		"s3 sigv2 allow allowed", "s3 sigv2-presigned allow allowed", "s3 sigv2-post allow allowed",
		"auth_failure sigv2 deny malformed_signature", "auth_failure sigv2-presigned deny expired",
		"s3 service-credential SigV2 allow",
		"stop  allow ", "checkpoint  allow close",
	} {
		if !seen[want] {
			t.Errorf("no event %q", want)
		}
	}
	if t.Failed() {
		t.Logf("kinds %v; events:\n%s", kinds, raw)
	}
}
