package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// The integration tests run iamgate in-process against a real MinIO and a
// real Ory Hydra, with real JWT access tokens carrying custom claims.

const itPolicies = `
policies:
  backups: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/backups/*"},
      {"Sid": "EncryptedOnly", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/encrypted/*",
       "Condition": {"StringEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}]}
  home: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ListHome", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
       "Condition": {"StringLike": {"s3:prefix": "home/${jwt:preferred_username}/*"}}},
      {"Sid": "RWHome", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
       "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"}]}
  teams: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ReadTeams", "Effect": "Allow", "Action": "s3:GetObject",
       "Resource": "arn:aws:s3:::data/teams/${jwt:groups}/*"}]}
  shared: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ReadShared", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/shared/*"},
      {"Sid": "DenySecret", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::data/shared/secret/*"}]}
`

type itEnv struct {
	minio *testenv.MinIO
	hydra *testenv.Hydra
	dir   string
	cfg   string // config path
	audit string // audit file path
	app   *app
	url   string

	alice, bob, outsider string // tokens
	aliceClient          *testenv.HydraClient
}

// testUpstreamClient is upstream.client in the integration tests' configuration:
// the default, or IAMGATE_TEST_UPSTREAM_CLIENT (lean or std) to run them with
// either client.
func testUpstreamClient() string {
	if c := os.Getenv("IAMGATE_TEST_UPSTREAM_CLIENT"); c != "" {
		return "\n  client: " + c
	}
	return ""
}

func configYAML(e *itEnv, extra string, policies string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
upstream:
  endpoint: %s
  access_key_id: env:IT_MINIO_USER
  secret_access_key: env:IT_MINIO_PASSWORD%s
server:
  shutdown_grace: 2s
sts:
  session_keys: [{id: k1, secret: env:IT_SESSION_KEY}]
issuers:
  - name: hydra
    url: %s
    audiences: [iamgate]
    clock_skew: 1s
roles:
  - name: member
    kind: machine
    trust: {issuer: hydra, claims: {groups: members}}
    policies: [home, teams, shared]
  - name: backup
    kind: machine
    trust: {issuer: hydra, claims: {groups: backup-operators}}
    policies: [backups]
service_credentials:
  - {name: nightly-backup, access_key_id: IAMGATEBACKUP001, secret_access_key: env:IT_SERVICE_SECRET, role: backup, expires: %s}
  - {name: retired-job, access_key_id: IAMGATERETIRED01, secret_access_key: env:IT_SERVICE_SECRET, role: backup, expires: %s}
audit:
  stdout: false
  file: %s
log: {level: warn, format: text}
%s
%s`, e.minio.Endpoint, testUpstreamClient(), e.hydra.IssuerURL, itExpiry(30*24*time.Hour), itExpiry(-30*24*time.Hour), e.audit, extra, policies)
}

// itExpiry is a service credential expiry d from now: the integration
// tests run against a real store and issuer, on the real clock.
func itExpiry(d time.Duration) string {
	return time.Now().Add(d).UTC().Truncate(time.Second).Format(time.RFC3339)
}

// startApp runs an iamgate for cfgPath until the test ends.
func startApp(t *testing.T, cfgPath string) (*app, string) {
	t.Helper()
	listen := "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfgPath, appOptions{Stdout: io.Discard, Stderr: testWriter{t}, Listen: &listen,
		ReloadInterval: 200 * time.Millisecond, DrainDelay: noDrain})
	if err != nil {
		cancel()
		t.Fatalf("start iamgate: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("iamgate did not shut down")
		}
	})
	scheme := "http"
	if a.file.TLS != nil {
		scheme = "https"
	}
	return a, scheme + "://" + a.Addr()
}

// testWriter shows iamgate's log in the test output and keeps all of it,
// so tests can check that no secret ever reached a log line.
type testWriter struct{ t *testing.T }

var (
	appLogMu sync.Mutex
	appLog   bytes.Buffer
)

func (w testWriter) Write(p []byte) (int, error) {
	appLogMu.Lock()
	appLog.Write(p)
	appLogMu.Unlock()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// assertNoSecrets fails if any of the secrets appears in iamgate's log so
// far or in one of the files.
func assertNoSecrets(t *testing.T, secrets []string, files ...string) {
	t.Helper()
	appLogMu.Lock()
	logs := appLog.String()
	appLogMu.Unlock()
	for _, sec := range secrets {
		if len(sec) < 8 {
			t.Fatalf("refusing to scan for a short secret %q", sec)
		}
		if strings.Contains(logs, sec) {
			t.Fatalf("a secret (%d chars, starts %q) reached iamgate's log", len(sec), sec[:4])
		}
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			if bytes.Contains(raw, []byte(sec)) {
				t.Fatalf("a secret (%d chars, starts %q) reached %s", len(sec), sec[:4], f)
			}
		}
	}
}

func setupIntegration(t *testing.T) *itEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO and Hydra")
	}
	e := &itEnv{dir: t.TempDir()}
	e.minio = testenv.StartMinIO(t)
	e.hydra = testenv.StartHydra(t)
	t.Setenv("IT_MINIO_USER", e.minio.AccessKey)
	t.Setenv("IT_MINIO_PASSWORD", e.minio.SecretKey)
	t.Setenv("IT_SESSION_KEY", "integration-session-key-0123456789abcdef")
	t.Setenv("IT_SERVICE_SECRET", "service-secret-0123456789")
	e.audit = filepath.Join(e.dir, "audit.log")
	e.cfg = filepath.Join(e.dir, "iamgate.yaml")
	writeFile(t, e.cfg, configYAML(e, "", itPolicies))
	e.app, e.url = startApp(t, e.cfg)

	e.minio.MakeBucket(t, "data")
	e.aliceClient = e.hydra.Client(t, map[string]any{"preferred_username": "alice", "groups": []any{"members", "red", "blue"}}, "iamgate", "other")
	e.alice = e.hydra.Token(t, e.aliceClient, "iamgate")
	e.bob = e.hydra.Token(t, e.hydra.Client(t, map[string]any{"preferred_username": "bob", "groups": []any{"members"}}, "iamgate"), "iamgate")
	e.outsider = e.hydra.Token(t, e.hydra.Client(t, map[string]any{"preferred_username": "eve", "groups": []any{"visitors"}}, "iamgate"), "iamgate")
	return e
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, method, url, token string, body io.Reader, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

func expect(t *testing.T, r resp, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	for _, c := range contains {
		if !strings.Contains(r.body, c) {
			t.Fatalf("body does not contain %q: %s", c, r.body)
		}
	}
}

func TestIntegration(t *testing.T) {
	e := setupIntegration(t)
	u := e.url

	t.Run("own home read write list delete", func(t *testing.T) {
		expect(t, do(t, "PUT", u+"/data/home/alice/a.txt", e.alice, strings.NewReader("hello")), 200)
		if got := string(e.minio.GetObject(t, "data", "home/alice/a.txt")); got != "hello" {
			t.Fatalf("MinIO has %q", got)
		}
		expect(t, do(t, "GET", u+"/data/home/alice/a.txt", e.alice, nil), 200, "hello")
		expect(t, do(t, "GET", u+"/data?list-type=2&prefix=home/alice/", e.alice, nil), 200, "<Key>home/alice/a.txt</Key>")
		expect(t, do(t, "DELETE", u+"/data/home/alice/a.txt", e.alice, nil), 204)
		if e.minio.ObjectExists(t, "data", "home/alice/a.txt") {
			t.Fatal("object still exists after DELETE")
		}
	})

	t.Run("other home denied", func(t *testing.T) {
		r := do(t, "PUT", u+"/data/home/bob/x.txt", e.alice, strings.NewReader("intrusion"))
		expect(t, r, 403, "<Code>AccessDenied</Code>", "assumed-role/member/", "not authorized to perform: s3:PutObject on resource: arn:aws:s3:::data/home/bob/x.txt", "no policy of its roles allows")
		if e.minio.ObjectExists(t, "data", "home/bob/x.txt") {
			t.Fatal("denied PUT wrote an object")
		}
		e.minio.PutObject(t, "data", "home/bob/private.txt", []byte("bob"))
		expect(t, do(t, "GET", u+"/data/home/bob/private.txt", e.alice, nil), 403, "AccessDenied")
		expect(t, do(t, "DELETE", u+"/data/home/bob/private.txt", e.alice, nil), 403)
		if !e.minio.ObjectExists(t, "data", "home/bob/private.txt") {
			t.Fatal("denied DELETE removed the object")
		}
		expect(t, do(t, "GET", u+"/data/home/bob/private.txt", e.bob, nil), 200, "bob")
	})

	t.Run("list outside prefix denied", func(t *testing.T) {
		expect(t, do(t, "GET", u+"/data?list-type=2&prefix=home/bob/", e.alice, nil), 403, "AccessDenied")
		expect(t, do(t, "GET", u+"/data?list-type=2", e.alice, nil), 403, "AccessDenied")
		expect(t, do(t, "GET", u+"/data?list-type=2&prefix=home/alice", e.alice, nil), 403, "AccessDenied")
		expect(t, do(t, "GET", u+"/", e.alice, nil), 403, "AccessDenied")
	})

	t.Run("multi-valued groups variable", func(t *testing.T) {
		for _, team := range []string{"red", "blue", "green"} {
			e.minio.PutObject(t, "data", "teams/"+team+"/plan.txt", []byte(team))
		}
		expect(t, do(t, "GET", u+"/data/teams/red/plan.txt", e.alice, nil), 200, "red")
		expect(t, do(t, "GET", u+"/data/teams/blue/plan.txt", e.alice, nil), 200, "blue")
		expect(t, do(t, "GET", u+"/data/teams/green/plan.txt", e.alice, nil), 403)
		expect(t, do(t, "GET", u+"/data/teams/visitors/plan.txt", e.alice, nil), 403)
		expect(t, do(t, "GET", u+"/data/teams/red/plan.txt", e.bob, nil), 403)
	})

	t.Run("explicit deny wins", func(t *testing.T) {
		e.minio.PutObject(t, "data", "shared/public.txt", []byte("public"))
		e.minio.PutObject(t, "data", "shared/secret/keys.txt", []byte("secret"))
		expect(t, do(t, "GET", u+"/data/shared/public.txt", e.alice, nil), 200, "public")
		expect(t, do(t, "GET", u+"/data/shared/secret/keys.txt", e.alice, nil), 403, "explicit deny", "DenySecret")
	})

	t.Run("DeleteObjects deletes the allowed keys only", func(t *testing.T) {
		e.minio.PutObject(t, "data", "home/alice/d1.txt", []byte("1"))
		e.minio.PutObject(t, "data", "home/bob/b1.txt", []byte("2"))
		body := `<Delete><Object><Key>home/alice/d1.txt</Key></Object><Object><Key>home/bob/b1.txt</Key></Object></Delete>`
		expect(t, do(t, "POST", u+"/data?delete", e.alice, strings.NewReader(body), "Content-Md5", md5b64(body)), 200,
			"<Deleted><Key>home/alice/d1.txt</Key></Deleted>",
			"<Error><Key>home/bob/b1.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
		if e.minio.ObjectExists(t, "data", "home/alice/d1.txt") || !e.minio.ObjectExists(t, "data", "home/bob/b1.txt") {
			t.Fatal("DeleteObjects did not delete exactly the allowed key")
		}
		only := `<Delete><Object><Key>home/bob/b1.txt</Key></Object></Delete>`
		expect(t, do(t, "POST", u+"/data?delete", e.alice, strings.NewReader(only), "Content-Md5", md5b64(only)), 200,
			"<Error><Key>home/bob/b1.txt</Key><Code>AccessDenied</Code>")
		if !e.minio.ObjectExists(t, "data", "home/bob/b1.txt") {
			t.Fatal("a denied key was deleted")
		}
		evil := `<Delete><Object><Key>/home/alice/../bob/b1.txt</Key></Object></Delete>`
		expect(t, do(t, "POST", u+"/data?delete", e.alice, strings.NewReader(evil), "Content-Md5", md5b64(evil)), 400)
		if !e.minio.ObjectExists(t, "data", "home/bob/b1.txt") {
			t.Fatal("path trick deleted bob's object")
		}
	})

	t.Run("CopyObject from a denied source", func(t *testing.T) {
		e.minio.PutObject(t, "data", "home/bob/src.txt", []byte("bob's"))
		expect(t, do(t, "PUT", u+"/data/home/alice/stolen.txt", e.alice, nil, "X-Amz-Copy-Source", "/data/home/bob/src.txt"), 403, "AccessDenied")
		expect(t, do(t, "PUT", u+"/data/home/alice/stolen.txt", e.alice, nil, "X-Amz-Copy-Source", "data//home/alice/../bob/src.txt"), 400)
		if e.minio.ObjectExists(t, "data", "home/alice/stolen.txt") {
			t.Fatal("denied copy created the destination")
		}
		expect(t, do(t, "PUT", u+"/data/home/alice/copy.txt", e.alice, nil, "X-Amz-Copy-Source", "/data/shared/public.txt"), 200, "CopyObjectResult")
		if got := string(e.minio.GetObject(t, "data", "home/alice/copy.txt")); got != "public" {
			t.Fatalf("copy has %q", got)
		}
	})

	t.Run("no role trusts the identity", func(t *testing.T) {
		expect(t, do(t, "GET", u+"/data/shared/public.txt", e.outsider, nil), 403, "No role trusts this identity")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", e.alice, nil, "X-Iamgate-Role", "nosuchrole"), 403, "does not exist")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", e.alice, nil, "X-Iamgate-Role", "member"), 200)
	})

	t.Run("token failures", func(t *testing.T) {
		short := e.hydra.TokenWithTTL(t, e.aliceClient, time.Second, "iamgate")
		wrongAud := e.hydra.Token(t, e.aliceClient, "other")
		foreign := devissuer.StartTest(t)
		unknown, err := foreign.Mint(map[string]any{"sub": "x", "aud": "iamgate"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(e.alice, ".")
		sig := []byte(parts[2])
		sig[5] ^= 1
		tampered := parts[0] + "." + parts[1] + "." + string(sig)
		expect(t, do(t, "GET", u+"/data/shared/public.txt", wrongAud, nil), 401, "InvalidToken", "audience")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", unknown, nil), 401, "InvalidToken")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", tampered, nil), 401, "InvalidToken")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", "not-a-jwt", nil), 401, "InvalidToken")
		expect(t, do(t, "GET", u+"/data/shared/public.txt", "", nil), 403, "Anonymous")
		time.Sleep(2500 * time.Millisecond) // past exp + the 1s clock skew
		expect(t, do(t, "GET", u+"/data/shared/public.txt", short, nil), 401, "ExpiredToken")
	})

	t.Run("reserved and unknown paths are never forwarded", func(t *testing.T) {
		expect(t, do(t, "GET", u+"/minio/admin/v3/info", e.alice, nil), 403)
		expect(t, do(t, "GET", u+"/data?foo", e.alice, nil), 501)
		expect(t, do(t, "GET", u+"/data/home/alice/%2E%2E/bob/private.txt", e.alice, nil), 400)
	})

	t.Run("keys with special characters", func(t *testing.T) {
		for _, key := range []string{"a b+c.txt", "日本/ü.txt", "~x/(1)!$&'*,;=:@.txt", "per%cent.txt"} {
			path := u + "/data/home/alice/" + escapeKey(key)
			expect(t, do(t, "PUT", path, e.alice, strings.NewReader(key)), 200)
			if got := string(e.minio.GetObject(t, "data", "home/alice/"+key)); got != key {
				t.Fatalf("MinIO has %q for key %q", got, key)
			}
			expect(t, do(t, "GET", path, e.alice, nil), 200, key)
		}
	})

	t.Run("STS issues session credentials for a Hydra token", func(t *testing.T) {
		form := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/member" +
			"&RoleSessionName=it&DurationSeconds=900&WebIdentityToken=" + e.alice
		r := do(t, "POST", u+"/", "", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded")
		expect(t, r, 200, "<AccessKeyId>ASIA", "<SessionToken>v1.k1.", "assumed-role/member/it", "<SubjectFromWebIdentityToken>")
		r = do(t, "POST", u+"/", "", strings.NewReader(strings.Replace(form, "role/member", "role/nobody", 1)),
			"Content-Type", "application/x-www-form-urlencoded")
		expect(t, r, 403, "<Code>AccessDenied</Code>")
		r = do(t, "POST", u+"/", "", strings.NewReader(strings.Replace(form, e.alice, e.outsider, 1)),
			"Content-Type", "application/x-www-form-urlencoded")
		expect(t, r, 403, "<Code>IDPRejectedClaim</Code>", "groups")
		if strings.Contains(r.body, e.outsider) {
			t.Fatal("token echoed in an STS error")
		}
	})

	t.Run("1 GiB streamed up and down with a flat heap", func(t *testing.T) { largeStream(t, e) })

	t.Run("reload rejects a broken file and keeps serving", func(t *testing.T) {
		good, _ := os.ReadFile(e.cfg)
		t.Cleanup(func() { os.WriteFile(e.cfg, good, 0o600); e.app.reload(context.Background(), "test") })
		writeFile(t, e.cfg, string(good)+"\nnot_a_key: [\n")
		if err := e.app.reload(context.Background(), "test"); err == nil {
			t.Fatal("broken configuration was accepted")
		}
		expect(t, do(t, "GET", u+"/data/shared/public.txt", e.alice, nil), 200)
		// A valid change applies: without the shared policy, shared/ is denied.
		changed := strings.Replace(string(good), "policies: [home, teams, shared]", "policies: [home, teams]", 1)
		writeFile(t, e.cfg, changed)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := do(t, "GET", u+"/data/shared/public.txt", e.alice, nil)
			if r.status == 403 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("configuration change was not picked up by the file watcher")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("audit has one event per request and no tokens", func(t *testing.T) {
		raw, err := os.ReadFile(e.audit)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, []string{e.alice, e.bob, e.outsider, e.minio.SecretKey, "integration-session-key-0123456789abcdef",
			"service-secret-0123456789"}, e.audit)
		kinds, err := auditschema.File(e.audit)
		if err != nil {
			t.Fatalf("audit file does not match the schema: %v", err)
		}
		if kinds["start"] != 1 || kinds["sts"] == 0 || kinds["config_reload"] == 0 {
			t.Errorf("event kinds %v", kinds)
		}
		var denies, allows, failures int
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatalf("audit line: %v: %s", err, line)
			}
			switch {
			case ev.Kind == "auth_failure":
				failures++
			case ev.Decision == "deny":
				denies++
				if ev.Reason == "" {
					t.Fatalf("deny without reason: %s", line)
				}
			case ev.Decision == "allow" && ev.Kind == "s3":
				allows++
				if ev.Policy == "" || ev.UpstreamRequestID == "" || ev.IssuerURL == "" || ev.RoleKind == "" {
					t.Fatalf("allow without matched policy, upstream id, issuer URL or role kind: %s", line)
				}
			}
		}
		if allows < 10 || denies < 10 || failures < 4 {
			t.Fatalf("audit counts allow=%d deny=%d auth_failure=%d", allows, denies, failures)
		}
		// The live file's hash chain verifies (the stream is still open: a warning only).
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"audit", "verify", e.audit}, &out, &errOut); code != 0 {
			t.Fatalf("audit verify: exit %d\n%s%s", code, out.String(), errOut.String())
		}
	})
}

func escapeKey(k string) string {
	var b strings.Builder
	for _, c := range []byte(k) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestIntegrationUpstreamDown: with the store gone, requests fail fast
// with a 503 S3 error, never hang.
func TestIntegrationUpstreamDown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	iss := devissuer.StartTest(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("IT_KEY", "k")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream: {endpoint: "http://%s", access_key_id: env:IT_KEY, secret_access_key: env:IT_KEY}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles: [{name: all, kind: machine, trust: {issuer: dev, claims: {}}, policies: [all]}]
policies:
  all: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
audit: {file: %q}
`, dead, iss.URL(), filepath.Join(dir, "audit.log")))
	_, u := startApp(t, cfg)
	tok, err := iss.Mint(map[string]any{"sub": "x", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expect(t, do(t, "GET", u+"/bkt/k", tok, nil), 503, "<Code>ServiceUnavailable</Code>")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	r := do(t, "GET", u+"/_iamgate/readyz", "", nil)
	expect(t, r, 503, `"upstream"`)
}

// TestIntegrationVirtualHostTLS: bucket.s3.test over HTTPS reaches the
// bucket path-style upstream.
func TestIntegrationVirtualHostTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "vbucket")
	m.PutObject(t, "vbucket", "dir/file.txt", []byte("virtual"))
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	pool := writeCert(t, dir, "*.s3.test", "s3.test")
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("IT_MINIO_USER", m.AccessKey)
	t.Setenv("IT_MINIO_PASSWORD", m.SecretKey)
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
tls: {cert_file: %s, key_file: %s}
virtual_host_domains: [s3.test]
upstream: {endpoint: %q, access_key_id: env:IT_MINIO_USER, secret_access_key: env:IT_MINIO_PASSWORD}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles: [{name: reader, kind: agent, trust: {issuer: dev, claims: {sub: "agent-*"}}, policies: [read]}]
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::vbucket","arn:aws:s3:::vbucket/*"]}]}'
audit: {file: %q}
`, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), m.Endpoint, iss.URL(), filepath.Join(dir, "audit.log")))
	a, _ := startApp(t, cfg)
	addr := a.Addr()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	tok, _ := iss.Mint(map[string]any{"sub": "agent-7", "aud": "iamgate"}, time.Hour)
	req, _ := http.NewRequest("GET", "https://vbucket.s3.test/dir/file.txt", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "virtual" {
		t.Fatalf("virtual-hosted GET: %d %s", res.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", "https://vbucket.s3.test/?list-type=2", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "<Key>dir/file.txt</Key>") {
		t.Fatalf("virtual-hosted list: %d %s", res.StatusCode, body)
	}
}

func writeCert(t *testing.T, dir string, names ...string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		x := r.off + int64(i)
		p[i] = byte(x*2654435761>>13) ^ byte(x>>20)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// largeStream moves 1 GiB up and down through iamgate and checks that the
// process heap stays flat: bodies are streamed.
func largeStream(t *testing.T, e *itEnv) {
	const size = 1 << 30
	// Start from a collected heap, so that garbage left by earlier tests
	// (and the GC goal it set) does not count.
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	want := sha256.New()
	io.Copy(want, &patternReader{n: size})

	req, _ := http.NewRequest("PUT", e.url+"/data/home/alice/big.bin", &patternReader{n: size})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+e.alice)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT 1 GiB: %d", res.StatusCode)
	}
	req, _ = http.NewRequest("GET", e.url+"/data/home/alice/big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+e.alice)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, res.Body)
	res.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("GET 1 GiB: %d bytes, err %v, digest match %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	t.Logf("peak heap in use during 2 GiB of transfers: %.1f MiB", float64(peak.Load())/(1<<20))
	if peak.Load() > 96<<20 {
		t.Fatalf("heap grew to %.1f MiB: a body was buffered", float64(peak.Load())/(1<<20))
	}
}

func md5b64(s string) string { return contentMD5ForTest([]byte(s)) }
