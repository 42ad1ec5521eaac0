package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// testEnv is the environment the golden and round-trip tests see.
var testEnv = map[string]string{
	"MINIO_KEY":     "minio-access-key-value",
	"MINIO_SECRET":  "minio-secret-key-value",
	"FP_KEY":        "0123456789abcdef0123456789abcdef-fingerprint",
	"EMPTY_VAR":     "",
	"SESSION_KEY_A": "session-key-a-0123456789abcdef0123456789",
	"SESSION_KEY_B": "session-key-b-0123456789abcdef0123456789",
	"SHORT_KEY":     "too-short-session-key",
	"BACKUP_SECRET": "backup-secret-access-key-value",
}

// testNow is the time the golden and round-trip tests are parsed at.
var testNow = time.Date(2027, time.January, 1, 12, 0, 0, 0, time.UTC)

func lookup(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

func parseFile(t *testing.T, path string) (*File, []Warning, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parse(path, data, filepath.Dir(path), lookup, testNow)
}

// render gives the text a golden file holds: the errors, then the warnings.
func render(err error, warns []Warning) string {
	var b strings.Builder
	if err != nil {
		b.WriteString(err.Error())
		b.WriteString("\n")
	}
	for _, w := range warns {
		b.WriteString("warning: " + w.String() + "\n")
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 bad configurations, got %d (%v)", len(files), err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			f, warns, err := parseFile(t, path)
			if err == nil {
				t.Fatalf("no error for a bad configuration (got %+v)", f)
			}
			if f != nil {
				t.Error("a File returned with an error")
			}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *Error
				if !errors.As(e, &ce) || ce.Pos.File == "" {
					t.Errorf("error without position: %v", e)
				}
			}
			got := render(err, warns)
			for _, v := range testEnv {
				if v != "" && strings.Contains(got, v) {
					t.Errorf("output reveals a secret value %q", v)
				}
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestFull(t *testing.T) {
	f, warns, err := parseFile(t, "testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("unexpected warnings: %v", warns)
	}
	dir := filepath.Join("testdata", "good")
	got := *f
	if got.Digest == "" || got.Path != "testdata/good/full.yaml" {
		t.Errorf("Path %q Digest %q", got.Path, got.Digest)
	}
	wantFiles := []string{
		filepath.Join("testdata", "secrets", "minio-secret"),
		filepath.Join(dir, "policies", "read-datasets.json"),
		filepath.Join("testdata", "secrets", "session-key-old"),
	}
	if !reflect.DeepEqual(got.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", got.Files, wantFiles)
	}
	if got.Upstream.AccessKeyID.Reveal() != "minio-access-key-value" || got.Upstream.AccessKeyID.Source() != "env:MINIO_KEY" {
		t.Errorf("access key %q from %q", got.Upstream.AccessKeyID.Reveal(), got.Upstream.AccessKeyID.Source())
	}
	if got.Upstream.SecretAccessKey.Reveal() != "minio-secret-from-file" {
		t.Errorf("secret key %q", got.Upstream.SecretAccessKey.Reveal())
	}
	if got.Audit.FingerprintKey == nil || got.Audit.FingerprintKey.Reveal() != testEnv["FP_KEY"] {
		t.Errorf("fingerprint key %v", got.Audit.FingerprintKey)
	}
	if got.STS == nil || len(got.STS.SessionKeys) != 2 {
		t.Fatalf("STS = %+v", got.STS)
	}
	for i, want := range []struct{ value, source string }{
		{testEnv["SESSION_KEY_A"], "env:SESSION_KEY_A"},
		{"previous-session-key-0123456789abcdef", "file:" + filepath.Join("testdata", "secrets", "session-key-old")},
	} {
		if s := got.STS.SessionKeys[i].Secret; s.Reveal() != want.value || s.Source() != want.source {
			t.Errorf("session key %d: %q from %q", i, s.Reveal(), s.Source())
		}
	}
	if len(got.ServiceCredentials) != 2 {
		t.Fatalf("ServiceCredentials = %+v", got.ServiceCredentials)
	}
	for i, sc := range got.ServiceCredentials {
		if sc.SecretAccessKey.Reveal() != testEnv["BACKUP_SECRET"] || sc.SecretAccessKey.Source() != "env:BACKUP_SECRET" {
			t.Errorf("service credential %d: %q from %q", i, sc.SecretAccessKey.Reveal(), sc.SecretAccessKey.Source())
		}
	}
	readDatasets, _ := os.ReadFile(filepath.Join(dir, "policies", "read-datasets.json"))
	ownHome := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}]}` + "\n"
	name := "testdata/good/full.yaml"
	// Compare the rest field by field, secrets aside.
	got.Upstream.AccessKeyID, got.Upstream.SecretAccessKey, got.Audit.FingerprintKey = Secret{}, Secret{}, nil
	sts := *got.STS
	sts.SessionKeys = slices.Clone(sts.SessionKeys)
	for i := range sts.SessionKeys {
		sts.SessionKeys[i].Secret = Secret{}
	}
	got.STS = &sts
	got.ServiceCredentials = slices.Clone(got.ServiceCredentials)
	for i := range got.ServiceCredentials {
		got.ServiceCredentials[i].SecretAccessKey = Secret{}
	}
	if r := got.State.Redis; r == nil || r.Password == nil || r.Password.Reveal() != testEnv["MINIO_SECRET"] {
		t.Fatalf("state.redis = %+v", r)
	}
	if got.Admin == nil || got.Admin.Token == nil || got.Admin.Token.Reveal() != testEnv["FP_KEY"] {
		t.Fatalf("admin = %+v", got.Admin)
	}
	redis, admin := *got.State.Redis, *got.Admin
	redis.Password, admin.Token = nil, nil
	got.State.Redis, got.Admin = &redis, &admin
	got.Digest, got.Files = "", nil
	want := File{
		Listen:             "0.0.0.0:8443",
		MetricsListen:      "127.0.0.1:9091",
		TLS:                &TLS{CertFile: filepath.Join(dir, "tls", "cert.pem"), KeyFile: filepath.Join(dir, "tls", "key.pem")},
		VirtualHostDomains: []string{"s3.example.com", "s3.internal"},
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.1.10/32")},
		SigV2:              true,
		Server: Server{
			ReadHeaderTimeout:     5 * time.Second,
			IdleTimeout:           time.Minute,
			MaxHeaderBytes:        32768,
			DrainDelay:            3 * time.Second,
			ShutdownGrace:         10 * time.Second,
			DeleteObjectsMaxBytes: 1 << 20,
		},
		Upstream: Upstream{
			Endpoint:              "https://minio.internal:9000",
			Region:                "eu-west-1",
			CAFile:                filepath.Join(dir, "tls", "ca.pem"),
			DialTimeout:           2 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       45 * time.Second,
			MaxIdleConnsPerHost:   64,
			Client:                "lean",
		},
		Issuers: []Issuer{{
			Name:           "corp",
			URL:            "https://sso.example.com/realms/corp",
			Audiences:      []string{"iamgate", "account"},
			ClockSkew:      30 * time.Second,
			RequiredClaims: []string{"email", "realm_access.roles"},
			Algorithms:     []string{"RS256", "ES256"},
			Pos:            Pos{name, 24, 5},
		}, {
			Name:             "dev",
			URL:              "http://localhost:4444/",
			AllowAnyAudience: true,
			ClockSkew:        DefaultClockSkew,
			JWKSURL:          "http://127.0.0.1:4444/.well-known/jwks.json",
			Pos:              Pos{name, 30, 5},
		}},
		Roles: []Role{{
			Name:        "analyst",
			Kind:        KindHuman,
			Description: "Data analysts read datasets and own a home prefix.",
			Trust: []TrustRule{{
				Issuer: "corp",
				Claims: map[string]any{
					"groups":             "data-analysts",
					"realm_access.roles": []any{"admin", "ops"},
					"email_verified":     true,
					"level":              int64(3),
					"score":              0.5,
				},
				Pos: Pos{name, 39, 7},
			}},
			Policies:   []string{"read-datasets", "own-home"},
			MaxSession: 8 * time.Hour,
			Pos:        Pos{name, 35, 5},
		}, {
			Name: "ci",
			Kind: KindMachine,
			Trust: []TrustRule{
				{Issuer: "dev", Claims: map[string]any{"sub": "ci-*"}, Pos: Pos{name, 46, 9}},
				{Issuer: "corp", Claims: map[string]any{"azp": "ci"}, Pos: Pos{name, 47, 9}},
			},
			Policies:               []string{"read-datasets"},
			MaxSession:             DefaultMaxSession,
			SessionMayOutliveToken: true,
			Pos:                    Pos{name, 43, 5},
		}},
		Policies: []Policy{
			{Name: "own-home", JSON: []byte(ownHome), Pos: Pos{name, 52, 13}, Block: Pos{name, 53, 5}},
			{Name: "read-datasets", JSON: readDatasets, Source: filepath.Join(dir, "policies", "read-datasets.json"), Pos: Pos{name, 54, 18}},
		},
		STS: &STS{
			SessionKeys: []SessionKey{
				{ID: "k2026b", Pos: Pos{name, 57, 7}},
				{ID: "k2026a", Pos: Pos{name, 59, 7}},
			},
			MaxPolicySize: 4096,
			Pos:           Pos{name, 56, 3},
		},
		Revocations: []Revocation{
			{Subject: "alice", Issuer: "corp", IssuedBefore: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), Reason: "laptop stolen", Pos: Pos{name, 63, 5}},
			{Role: "ci", IssuedBefore: time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC), Pos: Pos{name, 67, 5}},
			{SessionID: "7f3c9a", IssuedBefore: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), Pos: Pos{name, 69, 5}},
		},
		ServiceCredentials: []ServiceCredential{{
			Name:        "backup-job",
			AccessKeyID: "IAMGATEBACKUP001",
			Role:        "analyst",
			Expires:     time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
			Description: "Nightly backup tool without OIDC support.",
			Pos:         Pos{name, 72, 5},
		}, {
			Name:        "s3-tests",
			AccessKeyID: "IAMGATECONFORMANCE01",
			Role:        "ci",
			Expires:     time.Date(2027, 1, 31, 18, 0, 0, 0, time.UTC),
			Pos:         Pos{name, 78, 5},
		}},
		Audit: Audit{File: filepath.Join(dir, "audit", "audit.log")},
		Log:   Log{Level: "debug", Format: "text"},
		State: State{Redis: &Redis{URL: "rediss://redis.example.com:6380/2", Username: "iamgate", KeyPrefix: "prod:iamgate:",
			DialTimeout: 2 * time.Second, Timeout: 150 * time.Millisecond, PoolSize: 64, Pos: Pos{name, 91, 5}},
			CountersOnError: "open"},
		Admin: &Admin{Roles: []string{"analyst"}, Pos: Pos{name, 99, 3}},
		Path:  name,
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

const minimal = `
upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: env:MINIO_KEY
  secret_access_key: env:MINIO_SECRET
`

func TestDefaults(t *testing.T) {
	f, warns, err := Parse("min.yaml", []byte(minimal), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := File{
		Listen: DefaultListen,
		SigV2:  true,
		Server: Server{
			ReadHeaderTimeout:     10 * time.Second,
			IdleTimeout:           120 * time.Second,
			MaxHeaderBytes:        65536,
			DrainDelay:            5 * time.Second,
			ShutdownGrace:         30 * time.Second,
			DeleteObjectsMaxBytes: 2097152,
		},
		Upstream: Upstream{
			Endpoint:              "http://127.0.0.1:9000",
			Region:                "us-east-1",
			AccessKeyID:           f.Upstream.AccessKeyID,
			SecretAccessKey:       f.Upstream.SecretAccessKey,
			DialTimeout:           5 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   256,
			Client:                "lean",
		},
		Audit:  Audit{Stdout: true},
		Log:    Log{Level: "info", Format: "json"},
		State:  State{CountersOnError: "closed"},
		Path:   "min.yaml",
		Digest: f.Digest,
	}
	if !reflect.DeepEqual(*f, want) {
		t.Errorf("got %+v\nwant %+v", *f, want)
	}

	// Defaults inside list entries, and audit.stdout following audit.file.
	f, _, err = Parse("min.yaml", []byte(minimal+`
issuers: [{name: corp, url: "https://sso.example.com", audiences: [a]}]
roles: [{name: r, kind: agent, trust: {issuer: corp, claims: {sub: x}}, policies: [p]}]
policies: {p: '{}'}
audit: {file: /var/log/iamgate/audit.log}
`), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if f.Issuers[0].ClockSkew != time.Minute || f.Roles[0].MaxSession != time.Hour {
		t.Errorf("clock skew %v, max session %v", f.Issuers[0].ClockSkew, f.Roles[0].MaxSession)
	}
	if f.Audit.Stdout || f.Audit.File != "/var/log/iamgate/audit.log" {
		t.Errorf("audit %+v", f.Audit)
	}
	if f.Roles[0].SessionMayOutliveToken || f.STS != nil || f.Revocations != nil || f.ServiceCredentials != nil {
		t.Errorf("session may outlive token %v, STS %+v, revocations %v, service credentials %v",
			f.Roles[0].SessionMayOutliveToken, f.STS, f.Revocations, f.ServiceCredentials)
	}

	// An sts section with only its required key; empty sections count as absent.
	f, _, err = Parse("min.yaml", []byte(minimal+`
sts: {session_keys: [{id: k1, secret: env:SESSION_KEY_A}]}
revocations:
service_credentials: ~
`), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	wantSTS := &STS{
		SessionKeys:   []SessionKey{{ID: "k1", Secret: f.STS.SessionKeys[0].Secret, Pos: Pos{"min.yaml", 7, 22}}},
		MaxPolicySize: DefaultMaxPolicySize,
		Pos:           Pos{"min.yaml", 7, 6},
	}
	if !reflect.DeepEqual(f.STS, wantSTS) || f.STS.MaxPolicySize != 2048 {
		t.Errorf("STS = %+v, want %+v", f.STS, wantSTS)
	}
	if f.Revocations != nil || f.ServiceCredentials != nil {
		t.Errorf("revocations %v, service credentials %v", f.Revocations, f.ServiceCredentials)
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `
upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: file:key
  secret_access_key: literal-secret-value
`
	f, warns, err := Parse(filepath.Join(dir, "c.yaml"), []byte(cfg), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Upstream.AccessKeyID.Reveal(); got != "from-file" {
		t.Errorf("file secret = %q", got)
	}
	if got := f.Upstream.SecretAccessKey.Reveal(); got != "literal-secret-value" {
		t.Errorf("literal secret = %q", got)
	}
	if len(warns) != 1 || !strings.HasSuffix(warns[0].String(), "c.yaml:5:22: upstream.secret_access_key: literal secret in config file; prefer env: or file:") {
		t.Errorf("warnings = %v", warns)
	}
	if strings.Contains(fmt.Sprint(warns), "literal-secret-value") {
		t.Error("warning reveals the secret")
	}
}

func TestSecretRedaction(t *testing.T) {
	s := Secret{value: "hunter2", source: "env:X"}
	u := Upstream{AccessKeyID: s, SecretAccessKey: s}
	a := Audit{FingerprintKey: &s}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("cfg", "secret", s, "ptr", &s, "upstream", u)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "secret", s)
	sts := &STS{SessionKeys: []SessionKey{{ID: "k1", Secret: s}}}
	sc := ServiceCredential{Name: "backup", SecretAccessKey: s}
	j, err := json.Marshal(struct {
		U   Upstream
		A   Audit
		STS *STS
		SC  []ServiceCredential
	}{u, a, sts, []ServiceCredential{sc}})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s),
		//lint:ignore S1025 the test is about what the %s verb prints
		"%s":    fmt.Sprintf("%s", s),
		"%q":    fmt.Sprintf("%q", s),
		"%+v":   fmt.Sprintf("%+v", u),
		"%#v":   fmt.Sprintf("%#v", u),
		"ptr":   fmt.Sprintf("%v %+v", &s, a),
		"sts":   fmt.Sprintf("%v %+v %#v", sts, *sts, sc),
		"slog":  buf.String(),
		"json":  string(j),
		"error": fmt.Errorf("wrapped %v", s).Error(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("%s reveals the secret: %s", name, out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%s does not say redacted: %s", name, out)
		}
	}
	if got, want := fmt.Sprintf("%x", s), fmt.Sprintf("%x", "[redacted]"); got != want {
		t.Errorf("%%x = %s, want %s", got, want)
	}
	if s.Reveal() != "hunter2" || s.Source() != "env:X" {
		t.Error("Reveal or Source lost the value")
	}
}

func TestLoadExample(t *testing.T) {
	t.Setenv("MINIO_ACCESS_KEY", "example-access-key")
	t.Setenv("MINIO_SECRET_KEY", "example-secret-key")
	t.Setenv("IAMGATE_FINGERPRINT_KEY", strings.Repeat("k", 64))
	t.Setenv("IAMGATE_SESSION_KEY", strings.Repeat("s", 64))
	f, warns, err := Load("../deploy/examples/iamgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	if len(f.Issuers) == 0 || len(f.Roles) == 0 || len(f.Policies) == 0 || f.STS == nil {
		t.Errorf("example is too thin: %d issuers, %d roles, %d policies, STS %v", len(f.Issuers), len(f.Roles), len(f.Policies), f.STS)
	}

	// The commented-out revocations and service_credentials must load once
	// uncommented.
	data, err := os.ReadFile("../deploy/examples/iamgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	uncomment := false
	for line := range strings.SplitSeq(string(data), "\n") {
		switch {
		case line == "# revocations:" || line == "# service_credentials:":
			uncomment = true
		case !strings.HasPrefix(line, "# "):
			uncomment = false
		}
		if uncomment {
			line = strings.TrimPrefix(line, "# ")
		}
		lines = append(lines, line)
	}
	t.Setenv("BACKUP_SECRET_KEY", strings.Repeat("b", 40))
	now := time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)
	f, warns, err = parse("iamgate.yaml", []byte(strings.Join(lines, "\n")), "../deploy/examples", os.LookupEnv, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	if len(f.Revocations) != 3 || len(f.ServiceCredentials) != 1 {
		t.Errorf("uncommented example: %d revocations, %d service credentials", len(f.Revocations), len(f.ServiceCredentials))
	}
}

func TestLoadErrors(t *testing.T) {
	_, _, err := Load("testdata/no-such-file.yaml")
	var ce *Error
	if !errors.As(err, &ce) || ce.Error() != "testdata/no-such-file.yaml: cannot read configuration: no such file" {
		t.Errorf("err = %v", err)
	}
}

func TestIssuerURLs(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://sso.example.com":         true,
		"http://localhost:8080/realms/x":  true,
		"http://127.0.0.53/":              true,
		"http://[::1]:4444":               true,
		"http://sso.example.com":          false,
		"http://127.0.0.1.nip.io":         false,
		"http://[::ffff:10.0.0.1]":        false,
		"ftp://sso.example.com":           false,
		"https://user:pw@sso.example.com": false,
		"https://sso.example.com/?x=1":    false,
		"sso.example.com":                 false,
	} {
		cfg := minimal + "issuers: [{name: a, url: \"" + url + "\", allow_any_audience: true}]\n"
		_, _, err := Parse("c.yaml", []byte(cfg), "", lookup)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", url, err, ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range append(must(filepath.Glob("testdata/*.yaml")), "testdata/good/full.yaml") {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a\n  b: *a\nupstream: *a\n"))
	f.Add([]byte("roles: [{trust: &t [*t]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _, err := Parse("fuzz.yaml", data, "testdata", lookup)
		if (file == nil) == (err == nil) {
			t.Fatalf("file %v, err %v", file, err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Policy.Locate maps a line and column of a policy document onto the file
// that holds it, so that messages about a statement point at it.
func TestPolicyLocate(t *testing.T) {
	doc := minimal + `policies:
  block: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
  quoted: '{"Version": "2012-10-17", "Statement": []}'
  file: {file: policies/read-datasets.json}
`
	f, _, err := parse("c.yaml", []byte(doc), "testdata", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Policy{}
	for i := range f.Policies {
		byName[f.Policies[i].Name] = &f.Policies[i]
	}
	blockLine := strings.Count(doc[:strings.Index(doc, "block: |")], "\n") + 2
	tests := []struct {
		policy    string
		line, col int
		want      Pos
		ok        bool
	}{
		{"block", 1, 1, Pos{"c.yaml", blockLine, 5}, true},
		{"block", 2, 3, Pos{"c.yaml", blockLine + 1, 7}, true},
		{"file", 7, 5, Pos{filepath.Join("testdata", "policies", "read-datasets.json"), 7, 5}, true},
		{"quoted", 1, 1, Pos{}, false},
		{"block", 0, 0, Pos{}, false},
	}
	for _, tt := range tests {
		got, ok := byName[tt.policy].Locate(tt.line, tt.col)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s.Locate(%d, %d) = %v, %v; want %v, %v", tt.policy, tt.line, tt.col, got, ok, tt.want, tt.ok)
		}
	}
	// The first content line of the block is that line of the file.
	lines := strings.Split(doc, "\n")
	if l := lines[blockLine-1]; !strings.HasPrefix(strings.TrimSpace(l), `{"Version"`) || strings.Index(l, "{") != 4 {
		t.Errorf("line %d is %q", blockLine, l)
	}
}

// The digest covers the policy files the configuration names: editing one
// changes it. Without policy files it is the SHA-256 of the file.
func TestDigestCoversPolicyFiles(t *testing.T) {
	dir := t.TempDir()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *File {
		t.Helper()
		path := filepath.Join(dir, "c.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, _, err := parse(path, data, dir, lookup, testNow)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	inline := minimal + "policies:\n  read: '" + policy + "'\n"
	write("c.yaml", inline)
	sum := sha256.Sum256([]byte(inline))
	if got := load().Digest; got != hex.EncodeToString(sum[:]) {
		t.Errorf("inline policies: digest %s, want the file's SHA-256", got)
	}

	write("c.yaml", minimal+"policies:\n  read: {file: read.json}\n  write: {file: write.json}\n")
	write("read.json", policy)
	write("write.json", strings.Replace(policy, "GetObject", "PutObject", 1))
	first := load().Digest
	if first == hex.EncodeToString(sum[:]) || len(first) != 64 {
		t.Fatalf("digest %q", first)
	}
	if again := load().Digest; again != first {
		t.Errorf("same files, digest %s then %s", first, again)
	}
	write("write.json", strings.Replace(policy, "GetObject", "DeleteObject", 1))
	edited := load().Digest
	if edited == first {
		t.Error("editing a policy file left the digest unchanged")
	}
	// The same documents under each other's names are another configuration.
	write("read.json", strings.Replace(policy, "GetObject", "DeleteObject", 1))
	write("write.json", policy)
	if swapped := load().Digest; swapped == edited || swapped == first {
		t.Error("policy documents swapped between names, digest unchanged")
	}
}

// An access key ID is an identifier: given literally it is not warned about,
// while the secrets beside it are.
func TestLiteralSecretWarnings(t *testing.T) {
	cfg := `
upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: minio-user
  secret_access_key: minio-password
sts:
  session_keys:
    - {id: k1, secret: a-session-key-of-some-length-0123456789}
`
	_, warns, err := Parse("c.yaml", []byte(cfg), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		"c.yaml:5:22: upstream.secret_access_key: literal secret in config file; prefer env: or file:",
		"c.yaml:8:24: sts.session_keys[0].secret: literal secret in config file; prefer env: or file:",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUpstreamClient(t *testing.T) {
	for _, tc := range []struct{ value, want, err string }{
		{"lean", "lean", ""},
		{"std", "std", ""},
		{"fast", "", `upstream.client: "fast" is not one of lean, std`},
	} {
		f, _, err := Parse("min.yaml", []byte(minimal+"  client: "+tc.value+"\n"), "", lookup)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), "upstream.client") {
				t.Errorf("%s: got %v, want an error about upstream.client", tc.value, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Upstream.Client != tc.want {
			t.Errorf("%s: got %q", tc.value, f.Upstream.Client)
		}
	}
}
