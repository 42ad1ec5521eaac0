package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
)

// TestDemoSmoke runs the README's first command in its --smoke mode: it
// starts MinIO and `iamgate dev`, runs the curl commands it prints and
// checks their results (allowed, listed, denied with a reason, audited,
// explained).
func TestDemoSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs MinIO")
	}
	testenv.RequireMinIO(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required by the demo")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "iamgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command("bash", "scripts/demo.sh", "--smoke")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "IAMGATE_BIN="+bin, "IAMGATE_DEMO_DIR="+filepath.Join(dir, "demo"),
		"IAMGATE_PORT="+freePort(t), "METRICS_PORT="+freePort(t), "MINIO_PORT="+freePort(t),
		"MINIO_CONSOLE_PORT="+freePort(t), "ISSUER_PORT="+freePort(t))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("demo did not finish:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "demo smoke: OK") {
		t.Fatalf("demo smoke failed: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
