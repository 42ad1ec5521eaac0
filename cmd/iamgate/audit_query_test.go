package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
)

// queryLog writes a log in dir: a rotated, compressed file and the
// current one. It returns the lines, oldest first.
func queryLog(t *testing.T, dir string) []string {
	t.Helper()
	var buf bytes.Buffer
	l := audit.NewLogger(audit.WriterSink{W: &buf})
	t0 := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{Time: t0, Kind: "s3", Issuer: "corp", Subject: "u-alice", Username: "alice", Roles: []string{"analyst"}, RoleKind: "human",
			AuthMethod: "bearer", Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: "home/alice/a.txt",
			Decision: "allow", SourceIP: "10.1.2.3", Claims: map[string]any{"groups": []any{"eng", "ops"}}},
		{Time: t0.Add(time.Hour), Kind: "s3", Issuer: "corp", Subject: "u-bob", Username: "bob", Roles: []string{"analyst"}, RoleKind: "human",
			AuthMethod: "sigv4", Operation: "PutObject", Action: "s3:PutObject", Bucket: "data", Key: "home/alice/b.txt",
			Decision: "deny", Reason: "no_allow", SourceIP: "192.0.2.7"},
		{Time: t0.Add(48 * time.Hour), Kind: "s3", Issuer: "agents", Subject: "agent-1", Roles: []string{"agent-reader"}, RoleKind: "agent",
			AuthMethod: "bearer", Operation: "ListObjectsV2", Action: "s3:ListBucket", Bucket: "outputs", Prefix: "r-42/",
			Decision: "allow", SourceIP: "2001:db8::1", Claims: map[string]any{"agent_run": "r-42"}},
		{Time: t0.Add(49 * time.Hour), Kind: "sts", Issuer: "ci", Subject: "repo:x", Roles: []string{"deployer"}, RoleKind: "machine",
			AuthMethod: "web_identity", Operation: "AssumeRoleWithWebIdentity", Decision: "allow", SourceIP: "10.9.9.9"},
	}
	for i := range events {
		if err := l.Log(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	lines = lines[:len(lines)-1]
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Join(lines[:2], "")))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "audit.log."+t0.Add(24*time.Hour).Format(audit.RotatedTimeFormat)), gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The current file, with a line that is not an event.
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(lines[2]+"garbage\n"+lines[3]), 0o600); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestAuditQuery(t *testing.T) {
	dir := t.TempDir()
	lines := queryLog(t, dir)
	now := time.Date(2027, 3, 3, 12, 0, 0, 0, time.UTC)
	queryNow = func() time.Time { return now }
	t.Cleanup(func() { queryNow = time.Now })

	tests := []struct {
		args []string
		want []int // indexes into lines
	}{
		{nil, []int{0, 1, 2, 3}},
		{[]string{"--bucket", "data"}, []int{0, 1}},
		{[]string{"--bucket", "data", "--bucket", "outputs"}, []int{0, 1, 2}},
		{[]string{"--prefix", "home/alice/"}, []int{0, 1}},
		{[]string{"--subject", "u-bob"}, []int{1}},
		{[]string{"--issuer", "ci"}, []int{3}},
		{[]string{"--claim", "groups=ops"}, []int{0}},
		{[]string{"--run", "r-42"}, []int{2}},
		{[]string{"--role", "analyst", "--decision", "allow"}, []int{0}},
		{[]string{"--role-kind", "agent"}, []int{2}},
		{[]string{"--action", "s3:PutObject"}, []int{1}},
		{[]string{"--action", "AssumeRoleWithWebIdentity"}, []int{3}},
		{[]string{"--decision", "deny"}, []int{1}},
		{[]string{"--auth-method", "sigv4"}, []int{1}},
		{[]string{"--source", "10.0.0.0/8"}, []int{0, 3}},
		{[]string{"--source", "2001:db8::1"}, []int{2}},
		{[]string{"--kind", "sts"}, []int{3}},
		{[]string{"--since", "2027-03-02"}, []int{2, 3}},
		{[]string{"--until", "2027-03-01"}, []int{0, 1}}, // a date until is inclusive
		{[]string{"--since", "2d"}, []int{2, 3}},         // back from the injected now
		{[]string{"--since", "2027-03-01T00:30:00Z", "--until", "11h30m"}, []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(append([]string{"audit", "query", "--format", "json"}, tt.args...), dir)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var want string
			for _, i := range tt.want {
				want += lines[i]
			}
			if stdout != want {
				t.Errorf("got\n%swant\n%s", stdout, want)
			}
			// The line that is not an event, with its file and line.
			if wantErr := filepath.Join(dir, "audit.log") + ":2: skipped: "; !strings.HasPrefix(stderr, wantErr) {
				t.Errorf("stderr %q, want %q…", stderr, wantErr)
			}
		})
	}

	t.Run("table and csv", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "audit", "query", "--bucket", "data", dir)
		if code != 0 || !strings.Contains(stdout, "TIME") || !strings.Contains(stdout, "corp:u-bob (bob)") ||
			!strings.Contains(stdout, "data/home/alice/b.txt") || strings.Count(stdout, "\n") != 3 {
			t.Errorf("table: exit %d\n%s", code, stdout)
		}
		code, stdout, _ = runCLI(t, "audit", "query", "--format", "csv", "--run", "r-42", filepath.Join(dir, "audit.log"))
		if code != 0 || !strings.HasPrefix(stdout, "time,kind,decision,") || !strings.Contains(stdout, `"{""agent_run"":""r-42""}"`) {
			t.Errorf("csv: exit %d\n%s", code, stdout)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		for _, tc := range []struct{ args, want string }{
			{"--decision maybe", `--decision "maybe": give allow, deny or error`},
			{"--since yesterday", `--since "yesterday": give an RFC 3339 time`},
			{"--source 10.0.0.300", `--source "10.0.0.300": give an IP address or a CIDR`},
			{"--claim groups", `--claim "groups": give name=value`},
			{"--format xml", `--format "xml": give table, json or csv`},
			{"--role-kind robot", `--role-kind "robot"`},
			{"--since 2027-03-02 --until 2027-03-01T00:00:00Z", "is not before --until"},
		} {
			code, stdout, stderr := runCLI(t, append(append([]string{"audit", "query"}, strings.Fields(tc.args)...), dir)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
			}
		}
		if code, _, stderr := runCLI(t, "audit", "query"); code != 2 || !strings.Contains(stderr, "give at least one") {
			t.Errorf("no files: exit %d, %q", code, stderr)
		}
		if code, _, _ := runCLI(t, "audit", "query", filepath.Join(dir, "missing.log")); code != 1 {
			t.Errorf("missing file: exit %d", code)
		}
	})
}

// A reviewer's machine does not hold iamgate's secrets: report reads the
// configuration without them, and verify does given --public-key.
func TestAuditToolsWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := `upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: env:IAMGATE_TEST_ABSENT_KEY
  secret_access_key: file:/nonexistent/minio-secret
issuers:
  - name: corp
    url: https://id.example.com
    audiences: [iamgate]
roles:
  - name: analyst
    kind: human
    trust: {issuer: corp, claims: {groups: eng}}
    policies: [read]
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}'
audit:
  file: audit.log
  signing_key: env:IAMGATE_TEST_ABSENT_SIGNING_KEY
`
	os.WriteFile(filepath.Join(dir, "iamgate.yaml"), []byte(cfg), 0o600)
	queryLog(t, dir)
	conf := filepath.Join(dir, "iamgate.yaml")
	code, stdout, stderr := runCLI(t, "audit", "report", "--config", conf, "--as-of", "2027-03-05T00:00:00Z", filepath.Join(dir, "audit.log"))
	if code != 0 || !strings.Contains(stdout, "analyst") {
		t.Errorf("report without the secrets: exit %d\n%s%s", code, stdout, stderr)
	}
	// verify derives the key from the signing key: that needs the secret.
	code, _, stderr = runCLI(t, "audit", "verify", "--config", conf, filepath.Join(dir, "audit.log"))
	if code == 0 || !strings.Contains(stderr, "IAMGATE_TEST_ABSENT_SIGNING_KEY is not set") {
		t.Errorf("verify --config without the signing key: exit %d, %s", code, stderr)
	}
}
