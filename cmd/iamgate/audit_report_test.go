package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
)

func reportTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// reportTestEvents are the events of testdata/report_config.yaml's
// deployment: the first nine go to a rotated, gzipped file.
func reportTestEvents() []audit.Event {
	analyst := []string{"analyst"}
	return []audit.Event{
		{Time: reportTime("2027-04-02T09:00:00Z"), Kind: "sts", AuthMethod: "web_identity", Issuer: "corp", Subject: "u-alice",
			Roles: analyst, Role: "analyst", Operation: "AssumeRoleWithWebIdentity", Decision: "allow", Reason: "issued", Status: 200},
		{Time: reportTime("2027-04-02T09:05:00Z"), Kind: "s3", AuthMethod: "sigv4", Issuer: "corp", Subject: "u-alice", Username: "alice",
			Roles: analyst, Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: "home/alice/a.csv",
			Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 3 << 20},
		{Time: reportTime("2027-04-02T09:06:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-alice", Username: "alice",
			Roles: analyst, Operation: "PutObject", Action: "s3:PutObject", Bucket: "data", Key: "home/alice/b.csv",
			Decision: "allow", Reason: "allowed", Status: 200, BytesIn: 2048},
		{Time: reportTime("2027-04-03T10:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-alice", Username: "alice",
			Roles: analyst, Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: "home/bob/notes.txt",
			Decision: "deny", Reason: "no_allow", Status: 403, BytesOut: 351},
		{Time: reportTime("2027-04-05T08:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-bob", Username: "bob",
			Roles: analyst, Operation: "GetObject", Action: "s3:GetObject", Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 500},
		{Time: reportTime("2027-04-06T08:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-bob", Username: "bob",
			Roles: analyst, Operation: "DeleteObject", Action: "s3:DeleteObject", Decision: "deny", Reason: "explicit_deny", Status: 403},
		{Time: reportTime("2027-04-07T08:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-bob", Username: "bob",
			Roles: analyst, Operation: "ListObjectsV2", Action: "s3:ListBucket", Decision: "deny", Reason: "no_allow", Status: 403},
		{Time: reportTime("2027-04-10T02:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "github", Subject: "repo:acme/etl:ref:refs/heads/main",
			Roles: []string{"etl"}, Operation: "PutObject", Action: "s3:PutObject", Decision: "allow", Reason: "allowed", Status: 200, BytesIn: 10 << 20},
		{Time: reportTime("2027-04-11T03:00:00Z"), Kind: "s3", AuthMethod: "service-credential", Issuer: "service-credential", Subject: "backup-job",
			Username: "backup-job", AccessKeyID: "IAMGATEBACKUP001", Roles: []string{"backup"}, Operation: "PutObject", Action: "s3:PutObject",
			Decision: "allow", Reason: "allowed", Status: 200, BytesIn: 5000},

		{Time: reportTime("2027-04-12T10:00:00Z"), Kind: "auth_failure", AuthMethod: "bearer", Issuer: "corp", Operation: "GetObject",
			Decision: "deny", Reason: "expired", Status: 401},
		{Time: reportTime("2027-04-12T11:00:00Z"), Kind: "s3", AuthMethod: "none", Operation: "ListBuckets",
			Decision: "deny", Reason: "anonymous", Status: 403},
		{Time: reportTime("2027-04-13T12:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-mallory", Username: "mallory",
			Operation: "GetObject", Decision: "deny", Reason: "no_role", Status: 403},
		{Time: reportTime("2027-04-14T12:00:00Z"), Kind: "sts", AuthMethod: "web_identity", Issuer: "corp", Subject: "u-eve",
			Roles: []string{"admin"}, Role: "admin", Operation: "AssumeRoleWithWebIdentity", Decision: "deny", Reason: "sts_refused", Status: 403},
		{Time: reportTime("2027-03-28T12:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-alice", Username: "alice",
			Roles: analyst, Operation: "GetObject", Action: "s3:GetObject", Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 7},
		{Time: reportTime("2027-03-20T12:00:00Z"), Kind: "s3", AuthMethod: "service-credential", Issuer: "service-credential", Subject: "old-sync",
			Username: "old-sync", AccessKeyID: "IAMGATEOLDSYNC01", Roles: []string{"backup"}, Operation: "GetObject", Action: "s3:GetObject",
			Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 100},
		{Time: reportTime("2027-04-15T12:00:00Z"), Kind: "auth_failure", AuthMethod: "service-credential", AccessKeyID: "IAMGATEOLDSYNC01",
			Operation: "GetObject", Decision: "deny", Reason: "expired", Status: 403},
		{Time: reportTime("2027-04-16T12:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-carol", Username: "carol",
			Roles: []string{"legacy"}, Operation: "HeadObject", Action: "s3:GetObject", Decision: "allow", Reason: "allowed", Status: 200},
		{Time: reportTime("2027-04-01T00:00:00Z"), Kind: "start", Decision: "allow"},
		{Time: reportTime("2027-04-01T00:00:01Z"), Kind: "config_reload", Decision: "allow"},
		{Time: reportTime("2027-04-01T00:01:00Z"), Kind: "checkpoint", Decision: "allow"},
		{Time: reportTime("2027-04-30T00:00:00Z"), Kind: "s3", AuthMethod: "bearer", Issuer: "corp", Subject: "u-alice", Username: "alice",
			Roles: analyst, Operation: "GetObject", Action: "s3:GetObject", Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 9},
	}
}

// reportTestLogs writes the events as a Logger does: the first nine to
// audit.log.1.gz, the rest, with lines that are not events, to audit.log.
func reportTestLogs(t *testing.T, dir string) (gz, plain string) {
	t.Helper()
	var rotated, current bytes.Buffer
	events := reportTestEvents()
	for i := range events {
		w := &current
		if i < 9 {
			w = &rotated
		}
		if err := audit.NewLogger(audit.WriterSink{W: w}).Log(&events[i]); err != nil {
			t.Fatal(err)
		}
		if i == 12 {
			current.WriteString("not json at all\n")
			current.WriteString(`{"kind":"s3","decision":"allow"}` + "\n")
			current.WriteString("\n")
		}
	}
	current.WriteString(`{"version":"1","time":"2027-04-20T00:00:00Z","kind":"s3","subj`) // cut off mid-line
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(rotated.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gz, plain = filepath.Join(dir, "audit.log.1.gz"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(gz, zbuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, current.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return gz, plain
}

// reportWarnings is what loading testdata/report_config.yaml prints as of
// 2027-05-15.
const reportWarnings = "warning: testdata/report_config.yaml:53:14: service_credentials[2].expires: expired on 2027-04-15; requests with it are refused\n"

func TestAuditReport(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	t.Setenv("IAMGATE_TEST_SECRET", "0123456789abcdef0123")
	dir := t.TempDir()
	gz, plain := reportTestLogs(t, dir)
	base := []string{"audit", "report", "--config", "testdata/report_config.yaml", "--as-of", "2027-05-15T00:00:00Z"}
	period := []string{"--since", "2027-04-01", "--until", "2027-04-29"}

	tests := []struct {
		name string
		args []string
	}{
		{"report_text", append(append([]string{}, period...), gz, plain)},
		{"report_json", append(append([]string{"--json"}, period...), gz, plain)},
		{"report_all_top2", []string{"--top", "2", plain, gz}},
		{"report_until_rfc3339", []string{"--until", "2027-04-03T00:00:00Z", gz}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(append([]string{}, base...), tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			out := strings.ReplaceAll(stdout, dir+string(filepath.Separator), "")
			golden(t, tt.name+".golden", []byte(out))
			// The configuration's expiry warnings are judged at --as-of.
			if stderr != reportWarnings {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, reportWarnings)
			}
		})
	}

	// The JSON is one AccessReview.
	_, stdout, _ := runCLI(t, append(append(append([]string{}, base...), "--json"), gz, plain)...)
	var r audit.AccessReview
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Events != 18 || r.Skipped != 3 || r.Ignored != 3 {
		t.Errorf("events %d, skipped %d, ignored %d; want 18, 3, 3", r.Events, r.Skipped, r.Ignored)
	}
	// u-eve's refused AssumeRoleWithWebIdentity for admin is listed, and
	// does not make admin used or its trust rule matched.
	for _, ru := range r.Roles {
		if ru.Name == "admin" && (ru.Status != audit.RoleUnused || ru.Trust[0].Status != audit.TrustUnmatched ||
			len(ru.Refused) != 1 || ru.Refused[0].Subject != "u-eve" || ru.Refused[0].LastReason != "sts_refused") {
			t.Errorf("admin: %+v", ru)
		}
	}
}

func TestAuditReportUsage(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	t.Setenv("IAMGATE_TEST_SECRET", "0123456789abcdef0123")
	cfg := "testdata/report_config.yaml"
	for _, args := range [][]string{
		{"audit", "report"},
		{"audit", "report", "--config", cfg},
		{"audit", "report", "x.log"},
		{"audit", "report", "--config", cfg, "--top", "-1", "x.log"},
		{"audit", "report", "--config", cfg, "--since", "yesterday", "x.log"},
		{"audit", "report", "--config", cfg, "--since", "2027-05-01", "--until", "2027-04-01", "x.log"},
		{"audit", "report", "--config", cfg, filepath.Join(t.TempDir(), "missing.log")},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code == 0 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
}
