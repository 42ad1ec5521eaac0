package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// HAProxy accepts the configuration (haproxy -c).
func TestHAProxyConfigIsValid(t *testing.T) {
	bin := requireHAProxy(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(HAProxyConfig("127.0.0.1:18080", "127.0.0.1:18404",
		[]string{"r1 127.0.0.1:18081", "r2 127.0.0.1:18082"})), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
