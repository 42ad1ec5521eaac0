// Package testenv starts real upstream components (MinIO, Ory Hydra) as local
// processes for integration tests, and mints real tokens from them.
//
// The binaries are not vendored: scripts/install-tools.sh builds the pinned
// versions into $IAMGATE_TOOLS/bin (default $HOME/.cache/iamgate-tools/bin).
// Every process is bound to 127.0.0.1, uses temporary state, and is killed by
// t.Cleanup. A missing binary fails the test unless -short is set, in which
// case the test is skipped.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// ErrToolNotFound reports that a required binary is not installed.
var ErrToolNotFound = errors.New("testenv: tool not found")

// ToolPath finds the binary name, looking in order at $IAMGATE_TOOLS/bin,
// $HOME/.cache/iamgate-tools/bin, then $PATH. The error wraps ErrToolNotFound.
func ToolPath(name string) (string, error) {
	var dirs []string
	if d := os.Getenv("IAMGATE_TOOLS"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "iamgate-tools", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s (searched %v and $PATH)", ErrToolNotFound, name, dirs)
}

// requireTool returns the path of a binary, skipping under -short and failing
// otherwise when the binary is missing.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s needs a real %s; skipped in -short mode", t.Name(), name)
	}
	p, err := ToolPath(name)
	if err != nil {
		t.Fatalf("%v\nrun scripts/install-tools.sh to build the pinned test tools (set IAMGATE_TOOLS to choose where)", err)
	}
	return p
}

// RequireMinIO fails the test if the minio binary is missing (skips under -short).
func RequireMinIO(t testing.TB) string { t.Helper(); return requireTool(t, "minio") }

// RequireHydra fails the test if the hydra binary is missing (skips under -short).
func RequireHydra(t testing.TB) string { t.Helper(); return requireTool(t, "hydra") }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Callers
// retry on a bind conflict, since another process may take it meanwhile.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: pick a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// HostPort is 127.0.0.1:port.
func HostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// RandomHex returns n random bytes, hex encoded.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// process is a child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has been reaped
	err     error         // Wait's result, valid after exited is closed
	once    sync.Once
}

// startProcess starts bin with args and env (added to a copy of the current
// environment), writing stdout and stderr to logPath.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop kills the process and waits for it to be reaped. It is idempotent.
func (p *process) stop() {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
}

// hasExited reports whether the process is gone.
func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// logTail returns the last n bytes of the process log.
func (p *process) logTail(n int) string { return TailFile(p.logPath, n) }

// TailFile returns about the last n bytes of the file at path, from the
// start of a line; a file that cannot be read gives a note saying so.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// errExited is returned by waitReady when the process died before becoming ready.
var errExited = errors.New("process exited")

// waitReady polls url until it answers 200, the process exits, or the timeout passes.
func (p *process) waitReady(url string, timeout time.Duration) error {
	return p.waitFor(url, timeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
}

// waitFor calls check until it succeeds, the process exits, or the timeout
// passes. Each call gets a context bounded by the remaining time only: a
// slow answer (such as Hydra generating keys) is waited for, not abandoned.
func (p *process) waitFor(what string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- check(cctx) }()
		select {
		case last = <-done:
		case <-p.exited:
		}
		ccancel()
		if last == nil && !p.hasExited() {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s %w before it was ready (%v)", p.name, errExited, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%s): %v", p.name, timeout, what, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startAttempts is how many times a component is started with fresh ports
// when it exits early (typically a port taken between picking and binding).
const startAttempts = 3

// readyTimeout bounds how long a component may take to become ready.
const readyTimeout = 60 * time.Second

// registerLogDump prints the tail of the process log if the test failed.
func registerLogDump(t testing.TB, p *process) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: last lines of %s log (%s):\n%s", p.name, p.logPath, p.logTail(4000))
		}
	})
}
