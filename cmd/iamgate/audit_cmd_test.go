package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
)

var auditTestSeed = bytes.Repeat([]byte{5}, ed25519.SeedSize)

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// auditTestLog writes a closed stream of 6 events with a checkpoint every
// 3 to path: lines 1-3 events, 4 checkpoint, 5-7 events, 8 checkpoint,
// 9 closing checkpoint. It returns the lines.
func auditTestLog(t *testing.T, path string) []string {
	t.Helper()
	fsink, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	l, err := audit.NewChainedLogger(audit.ChainConfig{
		SigningKey:         ed25519.NewKeyFromSeed(auditTestSeed),
		CheckpointInterval: 3,
		Now:                func() time.Time { now = now.Add(time.Second); return now },
		Rand:               constReader(0xab),
	}, fsink)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		l.Log(&audit.Event{Kind: "s3", RequestID: fmt.Sprintf("req-%d", i), Username: "alice", Operation: "GetObject",
			Bucket: "data", Key: "home/alice/a.txt", Decision: "allow", Status: 200})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	return lines[:len(lines)-1]
}

func TestAuditVerify(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(auditTestSeed).Public().(ed25519.PublicKey)
	pubB64 := base64.StdEncoding.EncodeToString(pub)
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubFile := filepath.Join(dir, "audit.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)

	lines := auditTestLog(t, filepath.Join(dir, "orig.log"))
	write := func(name string, ls ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Rotation: lines 1-5 went to audit.log.1, the rest to audit.log.
	rotated := write("audit.log.1", lines[:5]...)
	current := write("audit.log", lines[5:]...)
	modified := append([]string(nil), lines...)
	modified[1] = strings.Replace(modified[1], `"alice"`, `"mallory"`, 1)
	modified = append(modified[:4], modified[5:]...) // remove event seq 5
	tampered := write("tampered.log", modified...)
	truncated := write("truncated.log", lines[:6]...)

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"audit_verify_ok", []string{"--public-key", pubB64, current, rotated}, 0},
		{"audit_verify_pemkey", []string{"--public-key", pubFile, rotated, current}, 0},
		{"audit_verify_tampered", []string{"--public-key", pubB64, tampered}, 1},
		{"audit_verify_tampered_json", []string{"--public-key", pubB64, "--json", tampered}, 1},
		{"audit_verify_truncated", []string{"--public-key", pubB64, truncated}, 0},
		{"audit_verify_truncated_strict", []string{"--public-key", pubB64, "--strict", truncated}, 1},
		{"audit_verify_nokey", []string{rotated, current}, 0},
		{"audit_verify_wrongkey", []string{"--public-key", base64.StdEncoding.EncodeToString(make([]byte, 32)), current}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"audit", "verify"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			out := strings.ReplaceAll(stdout+stderr, dir+string(filepath.Separator), "")
			golden(t, tt.name+".golden", []byte(out))
		})
	}
}

func TestAuditVerifyConfig(t *testing.T) {
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(auditTestSeed))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	cfg := filepath.Join(dir, "iamgate.yaml")
	os.WriteFile(cfg, []byte(`upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: env:IAMGATE_TEST_KEY
  secret_access_key: env:IAMGATE_TEST_KEY
audit:
  file: audit.log
  signing_key: file:signing.pem
`), 0o600)
	t.Setenv("IAMGATE_TEST_KEY", "k")
	auditTestLog(t, filepath.Join(dir, "audit.log"))

	code, stdout, stderr := runCLI(t, "audit", "verify", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	golden(t, "audit_verify_config.golden", []byte(strings.ReplaceAll(stdout+stderr, dir+string(filepath.Separator), "")))

	code, stdout, stderr = runCLI(t, "audit", "public-key", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	golden(t, "audit_public_key.golden", []byte(stdout+stderr))
	// What public-key prints is what verify takes.
	pubFile := filepath.Join(dir, "audit.pub")
	os.WriteFile(pubFile, []byte(stdout), 0o600)
	if code, stdout, stderr := runCLI(t, "audit", "verify", "--public-key", pubFile, filepath.Join(dir, "audit.log")); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestAuditUsage(t *testing.T) {
	for _, args := range [][]string{{"audit"}, {"audit", "nope"}, {"audit", "verify"}, {"audit", "verify", "--public-key", "bad", "x.log"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code == 0 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
}

func TestAuditSchema(t *testing.T) {
	code, stdout, stderr := runCLI(t, "audit", "schema")
	if code != 0 || stderr != "" || stdout != string(audit.Schema) {
		t.Fatalf("exit %d\n%.200s%s", code, stdout, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc["$schema"] == nil {
		t.Fatalf("not a JSON Schema: %v", err)
	}
	if code, _, stderr := runCLI(t, "audit", "schema", "extra"); code == 0 || stderr == "" {
		t.Errorf("extra argument accepted")
	}
}
