package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
