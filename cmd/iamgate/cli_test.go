package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n%s\n--- want ---\n%s", path, got, want)
	}
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheck(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	tests := []struct {
		file   string
		code   int
		golden string
	}{
		{"testdata/explain.yaml", 0, "check_ok.golden"},
		{"testdata/bad.yaml", 1, "check_bad.golden"},
		{"testdata/policyerr.yaml", 1, "check_policyerr.golden"},
		{"testdata/policywarn.yaml", 0, "check_policywarn.golden"},
		{"testdata/missing.yaml", 1, "check_missing.golden"},
		// Realistic MinIO policies with the S3 condition keys (object tags,
		// aws:Referer, object lock, signature) load unchanged.
		{"testdata/tags.yaml", 0, "check_tags.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "check", "--config", tt.file)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			golden(t, tt.golden, []byte(stdout+stderr))
		})
	}
}

// A delegated session is explained as served: the identity's roles and
// the actor's must both allow; the actor comes from an act claim or from
// the actor flags (a token exchange).
func TestExplainDelegation(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	for _, tt := range []struct {
		name string
		code int
		args []string
	}{
		{"explain_act_allow", 0, []string{"--claims", "testdata/erin-act.json", "GET", "/eng-data/report.csv"}},
		{"explain_act_actor_denies", 1, []string{"--claims", "testdata/erin-act.json", "GET", "/eng-data/secret/keys"}},
		{"explain_exchange_actor_no_allow", 1, []string{"--claims", "testdata/erin.json", "--actor-claims", "testdata/report-bot.json", "GET", "/home/erin/notes"}},
		{"explain_exchange_person_no_allow", 1, []string{"--claims", "testdata/erin.json", "--actor-claims", "testdata/report-bot.json", "GET", "/models/m.bin"}},
		{"explain_exchange_actor_role", 1, []string{"--claims", "testdata/erin.json", "--actor-claims", "testdata/report-bot.json", "--actor-role", "engineering", "GET", "/eng-data/report.csv"}},
		{"explain_act_guard", 0, []string{"--claims", "testdata/erin-act.json", "DELETE", "/eng-data/old.csv"}},
		{"explain_act_json", 1, []string{"--claims", "testdata/erin-act.json", "--json", "GET", "/eng-data/secret/keys"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", "testdata/explain-delegation.yaml"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.code || stderr != "" {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			golden(t, tt.name+".golden", []byte(stdout))
		})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--claims", "testdata/erin-act-unknown.json", "GET", "/eng-data/x"}, `the actor's issuer "https://elsewhere.example.com" (act.iss) is not a configured issuer; name one with --actor-issuer`},
		{[]string{"--claims", "testdata/erin.json", "--actor-role", "report-agent", "GET", "/eng-data/x"}, "--actor-role needs an actor"},
		{[]string{"--claims", "testdata/erin.json", "--actor-claims", "testdata/nope.json", "GET", "/eng-data/x"}, "actor: open testdata/nope.json"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"explain", "--config", "testdata/explain-delegation.yaml"}, tt.args...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d\n%s%s", tt.args, code, stdout, stderr)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	// Exit status 0 is ALLOW, 1 is DENY, as for a check; nothing goes to
	// stderr either way.
	const allow, deny = 0, 1
	tests := []struct {
		name string
		code int
		args []string
	}{
		{"explain_allow", allow, []string{"--claims", "testdata/alice.json", "GET", "/data/home/alice/notes.txt"}},
		{"explain_deny", deny, []string{"--claims", "testdata/alice.json", "GET", "/data/home/bob/notes.txt"}},
		{"explain_explicit", deny, []string{"--claims", "testdata/alice.json", "--op", "GetObject", "--bucket", "data", "--key", "datasets/pii/people.csv"}},
		{"explain_list", deny, []string{"--claims", "testdata/alice.json", "--op", "ListObjectsV2", "--bucket", "data", "--prefix", "home/"}},
		{"explain_copy", allow, []string{"--claims", "testdata/alice.json", "--op", "CopyObject", "--bucket", "data", "--key", "home/alice/x", "--copy-source", "data/datasets/a.csv"}},
		{"explain_role", deny, []string{"--claims", "testdata/alice.json", "--role", "admin", "GET", "/data/x"}},
		{"explain_badkey", deny, []string{"--claims", "testdata/alice.json", "GET", "/data/a/../b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", "testdata/explain.yaml"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.code || stderr != "" {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			golden(t, tt.name+".golden", []byte(stdout))
		})
	}
	for _, tt := range []struct {
		name string
		code int
		args []string
	}{
		{"explain_tags_allow", allow, []string{"--claims", "testdata/alice.json", "--object-tags", "classification=internal&owner=bob", "GET", "/projects/report.pdf"}},
		{"explain_tags_deny", deny, []string{"--claims", "testdata/alice.json", "--object-tags", "classification=restricted", "GET", "/projects/report.pdf"}},
		{"explain_tags_untagged", deny, []string{"--claims", "testdata/alice.json", "GET", "/projects/report.pdf"}},
		{"explain_tags_upload", allow, []string{"--claims", "testdata/alice.json", "PUT", "/projects/new.csv", "-H", "x-amz-tagging: classification=public&owner=alice"}},
		{"explain_tags_document", allow, []string{"--claims", "testdata/alice.json", "--object-tags", "owner=alice", "--body", "testdata/tagging.xml", "PUT", "/projects/new.csv?tagging"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", "testdata/tags.yaml"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.code || stderr != "" {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			golden(t, tt.name+".golden", []byte(stdout))
		})
	}
	code, stdout, _ := runCLI(t, "explain", "--config", "testdata/explain.yaml", "--claims", "testdata/alice.json", "--json", "GET", "/data/home/bob/x")
	if code != deny || !strings.Contains(stdout, `"allowed": false`) || !strings.Contains(stdout, `"reason": "no_allow"`) {
		t.Fatalf("--json: %d %s", code, stdout)
	}
	// Usage errors: exit 2 with one line that says what is wrong.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--claims", "testdata/alice.json"}, "give the request: METHOD PATH"},
		{[]string{"--claims", "testdata/alice.json", "GET /data/x"}, `"GET /data/x" is one argument; give METHOD and PATH as two: GET '/data/x'`},
		{[]string{"GET", "/data/x"}, "give the identity: --token, --token-file or --claims"},
		{[]string{"--claims", "testdata/alice.json", "--op", "GetObject", "GET", "/data/x"}, "give METHOD PATH or --op, not both"},
		{[]string{"--claims", "testdata/alice.json", "GET", "/data/x", "extra"}, `unexpected argument "extra" after METHOD PATH`},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"explain", "--config", "testdata/explain.yaml"}, tt.args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestUsage(t *testing.T) {
	if code, _, stderr := runCLI(t); code != 2 || !strings.Contains(stderr, "give a command") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("%d %s", code, stderr)
	}
	code, stdout, _ := runCLI(t, "-h")
	if code != 0 || !strings.HasPrefix(stdout, "iamgate — identity-aware S3 reverse proxy\n\nusage: iamgate COMMAND") {
		t.Fatalf("-h: exit %d\n%s", code, stdout)
	}
	// The overview names every command, the audit ones included.
	for _, c := range helpCommands {
		if !strings.Contains(stdout, "  "+c.Name+" ") {
			t.Errorf("iamgate -h does not list %q:\n%s", c.Name, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("%d %s", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(stdout, "iamgate ") {
		t.Fatalf("%d %s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "dev", "--issuer-listen", "0.0.0.0:0"); code != 1 || !strings.Contains(stderr, "not a loopback") {
		t.Fatalf("dev on a public address: %d %s", code, stderr)
	}
}

// check --compat minio lists every statement of testdata/compat/quirks.json,
// one per difference from MinIO, and none of same.json.
func TestCheckCompatMinIO(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	code, stdout, _ := runCLI(t, "check", "--config", "testdata/compat/iamgate.yaml", "--compat", "minio")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	golden(t, "compat/check.golden", []byte(stdout))
	for _, q := range authz.Quirks {
		if !strings.Contains(stdout, "): "+string(q)+": ") {
			t.Errorf("no statement of testdata/compat shows %s", q)
		}
	}
	if strings.Contains(stdout, "same.json") {
		t.Errorf("a statement MinIO decides like AWS is listed:\n%s", stdout)
	}
	code, _, stderr := runCLI(t, "check", "--config", "testdata/compat/iamgate.yaml", "--compat", "minio", "--strict")
	if code != 1 || !strings.Contains(stderr, "findings decided differently by MinIO (--strict)") {
		t.Errorf("--strict: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "check", "--config", "testdata/compat/iamgate.yaml", "--compat", "ceph")
	if code != 2 || !strings.Contains(stderr, "the only value is minio") {
		t.Errorf("--compat ceph: exit %d, %s", code, stderr)
	}
}

func TestImportUsage(t *testing.T) {
	code, stdout, _ := runCLI(t, "import", "-h")
	if code != 0 || !strings.HasPrefix(stdout, "usage: iamgate import minio") || !strings.Contains(stdout, "examples:") || !strings.Contains(stdout, "-service-credentials-expire") {
		t.Errorf("import -h: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "import", "minio", "-h")
	if code != 0 || !strings.HasPrefix(stdout, "usage: iamgate import minio") {
		t.Errorf("import minio -h: exit %d\n%s", code, stdout)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "iamgate import: the source must be minio: iamgate import minio --export FILE -o FILE (see 'iamgate import -h')\n"},
		{[]string{"import", "ceph"}, "iamgate import: the source must be minio: iamgate import minio --export FILE -o FILE (see 'iamgate import -h')\n"},
		{[]string{"import", "minio", "--export", "x.zip"}, "iamgate import minio: -o FILE is required (see 'iamgate import minio -h')\n"},
		{[]string{"import", "minio", "-o", "x.yaml"}, "iamgate import minio: give --export FILE, --idp-config FILE or both (see 'iamgate import minio -h')\n"},
		{[]string{"import", "minio", "-o", "x.yaml", "--export", "x", "extra"}, "iamgate import minio: unexpected argument \"extra\" (see 'iamgate import minio -h')\n"},
		{[]string{"import", "minio", "--bogus"}, "iamgate import minio: flag provided but not defined: -bogus (see 'iamgate import minio -h')\n"},
		{[]string{"import", "minio", "-o", "x", "--export", "x", "--service-credentials-expire", "soon"},
			"iamgate import minio: invalid value \"soon\" for flag -service-credentials-expire: parse error (see 'iamgate import minio -h')\n"},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		if code != 2 || stderr != tt.want {
			t.Errorf("%v: exit %d, %q; want 2, %q", tt.args, code, stderr, tt.want)
		}
	}
}

// import writes a configuration that iamgate check accepts, secrets in
// files of mode 0600, and refuses to overwrite it.
func TestImportThenCheck(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conf", "iamgate.yaml")
	idp := "../../internal/minioimport/testdata/idp.txt"
	var stdout, stderr bytes.Buffer
	err := importAt([]string{"minio", "--export", "../../internal/minioimport/testdata/export", "--idp-config", idp,
		"--service-credentials-expire", "720h", "-o", out, "--json"}, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var rep struct {
		Items  []map[string]any
		Compat []map[string]any
		Env    []string
	}
	if err := json.Unmarshal(stderr.Bytes(), &rep); err != nil || len(rep.Items) == 0 || len(rep.Compat) == 0 {
		t.Fatalf("JSON report: %v\n%s", err, stderr.String())
	}
	fi, err := os.Stat(filepath.Join(filepath.Dir(out), "secrets", "aliceaccesskey01"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v %v", fi, err)
	}
	cfg, _ := os.ReadFile(out)
	if !strings.Contains(string(cfg), "expires: 2026-03-31T00:00:00Z") || strings.Contains(string(cfg), "alicesecret") {
		t.Errorf("configuration:\n%s", cfg)
	}
	t.Setenv("IAMGATE_UPSTREAM_ACCESS_KEY_ID", "k")
	t.Setenv("IAMGATE_UPSTREAM_SECRET_ACCESS_KEY", "s")
	t.Setenv("IAMGATE_LDAP_LOOKUP_PASSWORD", "p")
	t.Setenv("IAMGATE_SESSION_KEY", strings.Repeat("k", 64))
	code, stdout2, stderr2 := runCLI(t, "check", "--config", out, "--compat", "minio")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, stdout2, stderr2)
	}
	// Warnings are about the MinIO policies themselves (and the credentials'
	// expiry, which depends on today's date), never about the import.
	for l := range strings.SplitSeq(strings.TrimSpace(stderr2), "\n") {
		if l != "" && !strings.Contains(l, "service_credentials[") && !strings.Contains(l, `policy "read-reports": statement 1 (Sid "List"): Action "s3:ListBucket" applies to buckets`) {
			t.Errorf("check warns: %s", l)
		}
	}
	// The findings are those of the report.
	if n := strings.Count(stdout2, "\nminio: ") - 1; n != len(rep.Compat) {
		t.Errorf("check lists %d findings, the report %d:\n%s", n, len(rep.Compat), stdout2)
	}
	err = importAt([]string{"minio", "--export", "../../internal/minioimport/testdata/export", "-o", out}, time.Now(), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "exists; remove it or give --force") {
		t.Errorf("overwrite: %v", err)
	}
}
