package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration loaded with UnresolvedSecrets needs none of its env: and
// file: secrets: iamgate audit report reads it on a reviewer's machine.
func TestUnresolvedSecrets(t *testing.T) {
	data, err := os.ReadFile("testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The file's secret files are not next to this copy, and no variable
	// is set.
	dir := t.TempDir()
	for _, sub := range []string{"policies", "tls"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join("testdata/good", sub))); err != nil {
			t.Fatal(err)
		}
	}
	// A signing key, which is otherwise checked to be an Ed25519 key.
	doc := strings.Replace(string(data), "  fingerprint_key: env:FP_KEY\n", "  fingerprint_key: env:FP_KEY\n  signing_key: env:AUDIT_SIGNING_KEY\n", 1)
	path := filepath.Join(dir, "iamgate.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, _, err := parseWith(path, []byte(doc), dir, nil, LoadOptions{Now: testNow}); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Fatalf("resolving: want an unset variable, got %v", err)
	}
	f, _, err := parseWith(path, []byte(doc), dir, nil, LoadOptions{Now: testNow, UnresolvedSecrets: true})
	if err != nil {
		t.Fatalf("unresolved: %v", err)
	}
	if len(f.Roles) == 0 || len(f.ServiceCredentials) == 0 {
		t.Fatalf("roles and service credentials not loaded: %d, %d", len(f.Roles), len(f.ServiceCredentials))
	}
	for name, s := range map[string]Secret{
		"service credential secret": f.ServiceCredentials[0].SecretAccessKey,
		"fingerprint key":           *f.Audit.FingerprintKey,
		"signing key":               *f.Audit.SigningKey,
	} {
		if s.Resolved() || s.Reveal() != "" || !strings.HasPrefix(s.Source(), "env:") && !strings.HasPrefix(s.Source(), "file:") {
			t.Errorf("%s: resolved %v, source %q, value length %d", name, s.Resolved(), s.Source(), len(s.Reveal()))
		}
	}

	// LoadWith reads the file the same way.
	if _, _, err := LoadWith(path, LoadOptions{UnresolvedSecrets: true}); err != nil {
		t.Fatalf("LoadWith: %v", err)
	}

	// A malformed reference is still an error.
	bad := strings.Replace(doc, "env:FP_KEY\n  signing_key", "env:1BAD\n  signing_key", 1)
	if _, _, err := parseWith(path, []byte(bad), dir, nil, LoadOptions{Now: testNow, UnresolvedSecrets: true}); err == nil || !strings.Contains(err.Error(), "invalid environment variable name") {
		t.Fatalf("malformed reference: %v", err)
	}
}
