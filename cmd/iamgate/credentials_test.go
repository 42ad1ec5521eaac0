package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/sts"
)

// credentialsSTS is an in-process iamgate STS that counts its calls.
type credentialsSTS struct {
	iss   *devissuer.Issuer
	keys  *identity.KeyRing
	url   string
	calls atomic.Int32
}

func newCredentialsSTS(t *testing.T) *credentialsSTS {
	t.Helper()
	e := &credentialsSTS{iss: devissuer.StartTest(t)}
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.IssuerConfig{{Name: "corp", URL: e.iss.URL(), Audiences: []string{"iamgate"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	eng, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
		Roles: []authz.RoleConfig{
			{Name: "analyst", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}}},
			{Name: "admin", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "admins"}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.keys, err = identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sts.New(sts.Config{Engine: eng, Verifier: v, Keys: e.keys,
		Roles: map[string]sts.RoleSettings{"analyst": {MaxSession: 2 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// mint returns a token of alice, in group staff, valid for ttl.
func (e *credentialsSTS) mint(t *testing.T, ttl time.Duration) string {
	t.Helper()
	tok, err := e.iss.Mint(map[string]any{"sub": "alice", "aud": "iamgate", "groups": []string{"staff"}}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenFile writes a token of alice to a file, with a trailing newline as
// token files usually have.
func (e *credentialsSTS) tokenFile(t *testing.T, ttl time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(e.mint(t, ttl)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearCredentialsEnv removes the environment defaults of the command, so
// that each test states what it uses.
func clearCredentialsEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
}

// parseProcessCredentials checks the credential_process document and
// returns it.
func parseProcessCredentials(t *testing.T, stdout string) processCredentials {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"} {
		if _, ok := got[k]; !ok {
			t.Errorf("field %s missing from %s", k, stdout)
		}
	}
	if len(got) != 5 {
		t.Errorf("got %d fields, want 5: %s", len(got), stdout)
	}
	var c processCredentials
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatal(err)
	}
	if c.Version != 1 {
		t.Errorf("Version = %d, want 1", c.Version)
	}
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Errorf("incomplete credentials: %+v", c)
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || !strings.HasSuffix(c.Expiration, "Z") {
		t.Errorf("Expiration %q is not RFC 3339 UTC", c.Expiration)
	} else if !exp.After(time.Now()) {
		t.Errorf("Expiration %v is in the past", exp)
	}
	return c
}

func TestCredentialsSuccess(t *testing.T) {
	clearCredentialsEnv(t)
	e := newCredentialsSTS(t)
	code, stdout, stderr := runCLI(t, "credentials", "--endpoint", e.url, "--role", "arn:aws:iam::iamgate:role/analyst",
		"--token-file", e.tokenFile(t, 2*time.Hour), "--duration", "90m", "--cache-dir", t.TempDir())
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, `{"Version":1,"AccessKeyId":"ASIA`) || !strings.HasSuffix(stdout, "}\n") {
		t.Errorf("stdout is not the credential_process document: %s", stdout)
	}
	c := parseProcessCredentials(t, stdout)
	exp, _ := time.Parse(time.RFC3339, c.Expiration)
	if d := time.Until(exp); d < 85*time.Minute || d > 91*time.Minute {
		t.Errorf("session lasts %v, want the 90m asked for", d)
	}
	sess, err := e.keys.Open(c.SessionToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.Roles) != 1 || sess.Roles[0] != "analyst" || sess.Subject != "alice" {
		t.Errorf("session is for %v/%s, want analyst/alice", sess.Roles, sess.Subject)
	}
	if !strings.HasPrefix(sess.RoleSessionName, "iamgate-credentials-") {
		t.Errorf("RoleSessionName = %q, want the iamgate-credentials-<user> default", sess.RoleSessionName)
	}
	if sess.AccessKeyID != c.AccessKeyID || sess.SecretAccessKey != c.SecretAccessKey {
		t.Error("the keys printed are not those of the session token")
	}
}

func TestCredentialsSessionPolicy(t *testing.T) {
	clearCredentialsEnv(t)
	e := newCredentialsSTS(t)
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "credentials", "--endpoint", e.url, "--role", "analyst", "--session-name", "nightly-job",
		"--token-file", e.tokenFile(t, time.Hour), "--policy-file", policy, "--no-cache")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sess, err := e.keys.Open(parseProcessCredentials(t, stdout).SessionToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sess.RoleSessionName != "nightly-job" {
		t.Errorf("RoleSessionName = %q, want nightly-job", sess.RoleSessionName)
	}
	if want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}`; string(sess.SessionPolicy) != want {
		t.Errorf("session policy = %s, want %s", sess.SessionPolicy, want)
	}
}

func TestCredentialsTokenSources(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the arguments after "credentials" and sets the
		// environment.
		setup func(t *testing.T, e *credentialsSTS) []string
	}{
		{"token-file", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-file", e.tokenFile(t, time.Hour)}
		}},
		{"token-env", func(t *testing.T, e *credentialsSTS) []string {
			t.Setenv("MY_OIDC_TOKEN", e.mint(t, time.Hour))
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-env", "MY_OIDC_TOKEN"}
		}},
		{"token-command", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-command", "echo fetching >&2; cat '" + e.tokenFile(t, time.Hour) + "'"}
		}},
		{"AWS environment", func(t *testing.T, e *credentialsSTS) []string {
			t.Setenv("AWS_ENDPOINT_URL_STS", e.url)
			t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // the STS-specific one wins
			t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::iamgate:role/analyst")
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", e.tokenFile(t, time.Hour))
			return nil
		}},
		{"AWS_ENDPOINT_URL", func(t *testing.T, e *credentialsSTS) []string {
			t.Setenv("AWS_ENDPOINT_URL", e.url)
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", e.tokenFile(t, time.Hour))
			return []string{"--role", "analyst"}
		}},
		{"token-env beats AWS_WEB_IDENTITY_TOKEN_FILE", func(t *testing.T, e *credentialsSTS) []string {
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", filepath.Join(t.TempDir(), "absent"))
			t.Setenv("MY_OIDC_TOKEN", e.mint(t, time.Hour))
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-env", "MY_OIDC_TOKEN"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCredentialsEnv(t)
			e := newCredentialsSTS(t)
			args := append([]string{"credentials", "--no-cache"}, tt.setup(t, e)...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			parseProcessCredentials(t, stdout)
			if n := e.calls.Load(); n != 1 {
				t.Errorf("%d STS calls, want 1", n)
			}
			if tt.name == "token-command" && stderr != "fetching\n" {
				t.Errorf("stderr = %q, want the command's stderr passed through", stderr)
			}
		})
	}
}

func TestCredentialsCache(t *testing.T) {
	clearCredentialsEnv(t)
	e := newCredentialsSTS(t)
	cacheRoot := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheRoot) // the default cache directory
	cacheDir := filepath.Join(cacheRoot, "iamgate")
	tokenFile := e.tokenFile(t, time.Hour)
	args := []string{"credentials", "--endpoint", e.url, "--role", "analyst", "--token-file", tokenFile}

	_, first, _ := runCLI(t, args...)
	c1 := parseProcessCredentials(t, first)
	code, second, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if second != first {
		t.Errorf("second call printed other credentials:\n%s\n%s", first, second)
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("%d STS calls for two invocations, want 1 (a cache hit)", n)
	}

	fi, err := os.Stat(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, want 0700", fi.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	fi, err = os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}

	// Another session name, duration or policy is another cache entry.
	runCLI(t, append(args, "--session-name", "other")...)
	runCLI(t, append(args, "--duration", "30m")...)
	if n := e.calls.Load(); n != 3 {
		t.Errorf("%d STS calls, want 3: other parameters must not hit the cache", n)
	}
	// --no-cache neither reads nor writes.
	_, out, _ := runCLI(t, append(args, "--no-cache")...)
	if n := e.calls.Load(); n != 4 {
		t.Errorf("%d STS calls, want 4 with --no-cache", n)
	}
	if parseProcessCredentials(t, out).AccessKeyID == c1.AccessKeyID {
		t.Error("--no-cache returned the cached credentials")
	}
	if files, _ := filepath.Glob(filepath.Join(cacheDir, "*")); len(files) != 3 {
		t.Errorf("cache holds %d files, want 3", len(files))
	}
}

func TestCredentialsCacheRefresh(t *testing.T) {
	clearCredentialsEnv(t)
	e := newCredentialsSTS(t)
	cacheDir := t.TempDir()

	// Without --duration the session ends with the token: 4 minutes is
	// within the refresh margin, so the cached credentials are not reused.
	args := []string{"credentials", "--endpoint", e.url, "--role", "analyst", "--cache-dir", cacheDir}
	short := append(args, "--token-file", e.tokenFile(t, 4*time.Minute))
	_, out1, _ := runCLI(t, short...)
	_, out2, _ := runCLI(t, short...)
	c1, c2 := parseProcessCredentials(t, out1), parseProcessCredentials(t, out2)
	if n := e.calls.Load(); n != 2 {
		t.Errorf("%d STS calls, want 2: credentials expiring within 5 minutes must be refreshed", n)
	}
	if c1.AccessKeyID == c2.AccessKeyID {
		t.Error("the credentials were not refreshed")
	}

	// A cache entry that has expired is replaced by fresh credentials.
	long := append(args, "--token-file", e.tokenFile(t, time.Hour))
	runCLI(t, long...)
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*.json"))
	var stale string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var c processCredentials
		json.Unmarshal(b, &c)
		if exp, _ := time.Parse(time.RFC3339, c.Expiration); time.Until(exp) > 30*time.Minute {
			stale = f
			c.Expiration = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			b, _ = json.Marshal(c)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stale == "" {
		t.Fatalf("no cache entry for the one-hour session among %v", files)
	}
	before := e.calls.Load()
	_, out3, _ := runCLI(t, long...)
	c3 := parseProcessCredentials(t, out3)
	if e.calls.Load() != before+1 {
		t.Error("an expired cache entry was used")
	}
	b, _ := os.ReadFile(stale)
	var cached processCredentials
	json.Unmarshal(b, &cached)
	if cached.Expiration != c3.Expiration || cached.AccessKeyID != c3.AccessKeyID {
		t.Error("the expired cache entry was not replaced")
	}
}

func TestCredentialsErrors(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T, e *credentialsSTS) []string
		want string // in stderr
	}{
		{"role does not trust the token", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "admin", "--token-file", e.tokenFile(t, time.Hour)}
		}, `iamgate credentials: STS refused: IDPRejectedClaim: Not authorized to perform sts:AssumeRoleWithWebIdentity: role "admin" does not trust this token`},
		{"expired token", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-file", e.tokenFile(t, -time.Hour)}
		}, "iamgate credentials: STS refused: ExpiredTokenException: "},
		{"no such role", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "nobody", "--token-file", e.tokenFile(t, time.Hour)}
		}, `iamgate credentials: STS refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity: role "nobody" does not exist`},
		{"duration above the role maximum", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--duration", "3h", "--token-file", e.tokenFile(t, time.Hour)}
		}, "iamgate credentials: STS refused: ValidationError: DurationSeconds 10800 exceeds the maximum session duration"},
		{"not a JWT", func(t *testing.T, e *credentialsSTS) []string {
			t.Setenv("MY_OIDC_TOKEN", "not-a-jwt")
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-env", "MY_OIDC_TOKEN"}
		}, "iamgate credentials: STS refused: InvalidIdentityToken: "},
		{"unreachable endpoint", func(t *testing.T, e *credentialsSTS) []string {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return []string{"--endpoint", srv.URL, "--role", "analyst", "--token-file", e.tokenFile(t, time.Hour)}
		}, "iamgate credentials: cannot reach the STS at http://127.0.0.1:"},
		{"not an STS", func(t *testing.T, e *credentialsSTS) []string {
			srv := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			return []string{"--endpoint", srv.URL, "--role", "analyst", "--token-file", e.tokenFile(t, time.Hour)}
		}, "answered 404 Not Found, not an STS error document"},
		{"missing token file", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-file", filepath.Join(t.TempDir(), "absent")}
		}, "iamgate credentials: reading the token: open "},
		{"empty token variable", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-env", "MY_OIDC_TOKEN"}
		}, "iamgate credentials: the token variable MY_OIDC_TOKEN is empty or not set"},
		{"failing token command", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-command", "echo no session >&2; exit 3"}
		}, "no session\niamgate credentials: the token command failed: exit status 3"},
		{"token command prints nothing", func(t *testing.T, e *credentialsSTS) []string {
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-command", "true"}
		}, "iamgate credentials: the token (command true) is empty"},
		{"policy file is not JSON", func(t *testing.T, e *credentialsSTS) []string {
			p := filepath.Join(t.TempDir(), "policy.json")
			os.WriteFile(p, []byte("{nope"), 0o600)
			return []string{"--endpoint", e.url, "--role", "analyst", "--token-file", e.tokenFile(t, time.Hour), "--policy-file", p}
		}, "is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCredentialsEnv(t)
			t.Setenv("MY_OIDC_TOKEN", "")
			e := newCredentialsSTS(t)
			cacheDir := filepath.Join(t.TempDir(), "cache")
			args := append([]string{"credentials", "--cache-dir", cacheDir}, tt.args(t, e)...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
			if last := strings.TrimSuffix(stderr, "\n"); strings.Contains(last[strings.LastIndexByte(last, '\n')+1:], "\n") || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr %q does not end in one line", stderr)
			}
			if strings.Contains(stderr, "eyJ") {
				t.Error("stderr holds a token")
			}
			if files, _ := filepath.Glob(filepath.Join(cacheDir, "*")); len(files) != 0 {
				t.Errorf("a failure was cached: %v", files)
			}
		})
	}
}

func TestCredentialsUsage(t *testing.T) {
	clearCredentialsEnv(t)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "") // no default token source
	ok := []string{"--endpoint", "http://127.0.0.1:1", "--role", "analyst", "--token-file", "/dev/null"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint", []string{"--role", "analyst", "--token-file", "/dev/null"}, "--endpoint is required (or set AWS_ENDPOINT_URL_STS)"},
		{"no role", []string{"--endpoint", "http://127.0.0.1:1", "--token-file", "/dev/null"}, "--role is required (or set AWS_ROLE_ARN)"},
		{"no token source", []string{"--endpoint", "http://127.0.0.1:1", "--role", "analyst"}, "a token source is required"},
		{"two token sources", append(ok, "--token-env", "T"), "give exactly one of --token-file, --token-env and --token-command"},
		{"empty token command", []string{"--endpoint", "http://127.0.0.1:1", "--role", "analyst", "--token-command", ""}, "--token-command must not be empty"},
		{"bad endpoint", []string{"--endpoint", "127.0.0.1:8080", "--role", "analyst", "--token-file", "/dev/null"}, `--endpoint "127.0.0.1:8080" is not an http or https URL`},
		{"short duration", append(ok, "--duration", "5m"), "--duration must be at least 15m"},
		{"bad duration", append(ok, "--duration", "1 hour"), `invalid value "1 hour" for flag -duration`},
		{"cache-dir and no-cache", append(ok, "--cache-dir", "/tmp/x", "--no-cache"), "give --cache-dir or --no-cache, not both"},
		{"unknown flag", append(ok, "--region", "us-east-1"), "flag provided but not defined: -region"},
		{"argument", append(ok, "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"credentials"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "iamgate credentials: ") || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "iamgate credentials -h") {
				t.Errorf("stderr = %q, want a usage error with %q", stderr, tt.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "credentials", "-h")
		if code != 0 || stderr != "" || !strings.Contains(stdout, "credential_process") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
}
