package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAuditSigningKey(t *testing.T) {
	seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AUDIT_KEY": base64.StdEncoding.EncodeToString(seed), "AUDIT_KEY_RAW": base64.RawStdEncoding.EncodeToString(seed)}
	for _, ref := range []string{"env:AUDIT_KEY", "env:AUDIT_KEY_RAW", "file:audit.pem"} {
		t.Run(ref, func(t *testing.T) {
			cfg := minimal + "audit:\n  signing_key: " + ref + "\n  checkpoint_interval: 500\n  checkpoint_every: 30s\n"
			f, warns, err := Parse(filepath.Join(dir, "c.yaml"), []byte(cfg), dir, func(name string) (string, bool) {
				if v, ok := env[name]; ok {
					return v, true
				}
				return lookup(name)
			})
			if err != nil || len(warns) != 0 {
				t.Fatalf("err %v, warnings %v", err, warns)
			}
			a := f.Audit
			if a.SigningKey == nil || a.SigningKey.Reveal() != string(seed) || a.SigningKey.Source()[:5] != ref[:5] {
				t.Errorf("signing key %v from %q", a.SigningKey, a.SigningKey.Source())
			}
			if a.CheckpointInterval != 500 || a.CheckpointEvery != 30*time.Second {
				t.Errorf("checkpoints every %d events, %v", a.CheckpointInterval, a.CheckpointEvery)
			}
		})
	}
	f, _, err := Parse("min.yaml", []byte(minimal), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if f.Audit.SigningKey != nil || f.Audit.CheckpointInterval != 0 || f.Audit.CheckpointEvery != 0 {
		t.Errorf("audit without checkpoint settings: %+v", f.Audit)
	}
}
