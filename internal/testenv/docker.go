package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Docker is a Docker daemon that answers, and the client that reaches it.
type Docker struct {
	// Client is the path of the docker client.
	Client string
}

// dockerStartTimeout bounds how long a dockerd started here may take to
// answer.
const dockerStartTimeout = 90 * time.Second

// RequireDocker returns the docker client once a daemon answers it. When
// none answers (the client's default socket, or DOCKER_HOST), it starts
// /usr/sbin/dockerd as root in the background, with its log in
// $IAMGATE_TOOLS/docker/dockerd.log, and waits until `docker version`
// answers. A daemon started here keeps running when the test process ends:
// test packages run as concurrent processes, and one that stopped the
// daemon at its end would pull it from under another; later runs find it
// running. Starting is serialized between processes with a lock file, so
// concurrent packages start one daemon.
//
// Skipped under -short. When no daemon can be had (no client, no dockerd,
// not root, or dockerd does not come up) the test is skipped, or fails
// when the CI environment variable is set: CI installs docker.io
// (scripts/install-tools.sh) and runs as root.
func RequireDocker(t testing.TB) *Docker {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s needs Docker; skipped in -short mode", t.Name())
	}
	client, err := ToolPath("docker")
	if err != nil {
		dockerUnavailable(t, fmt.Sprintf("%v\nrun scripts/install-tools.sh (it installs Debian's docker.io)", err))
	}
	d := &Docker{Client: client}
	if d.answers() == nil {
		return d
	}
	daemon, err := ToolPath("dockerd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dockerd"); serr != nil {
			dockerUnavailable(t, "testenv: no Docker daemon answers and dockerd is not installed\nrun scripts/install-tools.sh (it installs Debian's docker.io)")
		}
		daemon = "/usr/sbin/dockerd"
	}
	if os.Geteuid() != 0 {
		dockerUnavailable(t, "testenv: no Docker daemon answers, and starting dockerd needs root")
	}
	dir := filepath.Join(toolsDir(), "docker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "start.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("testenv: lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	// Another process may have started one while this one waited.
	if d.answers() == nil {
		return d
	}
	logPath := filepath.Join(dir, "dockerd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(daemon)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: a signal to the test's process group (Ctrl-C) does
	// not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		dockerUnavailable(t, fmt.Sprintf("testenv: start %s: %v", daemon, err))
	}
	logf.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(dockerStartTimeout)
	for {
		err := d.answers()
		if err == nil {
			t.Logf("testenv: started dockerd (pid %d, log %s); it keeps running for later tests (stop it with kill %d)",
				cmd.Process.Pid, logPath, cmd.Process.Pid)
			return d
		}
		select {
		case werr := <-exited:
			dockerUnavailable(t, fmt.Sprintf("testenv: dockerd exited before it answered (%v); last lines of %s:\n%s",
				werr, logPath, fileTail(logPath, 3000)))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			dockerUnavailable(t, fmt.Sprintf("testenv: dockerd did not answer within %s (%v); last lines of %s:\n%s",
				dockerStartTimeout, err, logPath, fileTail(logPath, 3000)))
		}
	}
}

// dockerUnavailable skips the test, or fails it under CI.
func dockerUnavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "\n(skipped outside CI)")
}

// answers asks the daemon for its version.
func (d *Docker) answers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.Client, "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker version: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Command is the docker client with args.
func (d *Docker) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, d.Client, args...)
}

// Run runs the docker client with args and returns its standard output,
// trimmed; the test fails if it exits with an error.
func (d *Docker) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.Try(args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// Try runs the docker client with args (at most two minutes) and returns
// its standard output, trimmed; the error carries its standard error.
func (d *Docker) Try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := d.Command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// toolsDir is $IAMGATE_TOOLS, or $HOME/.cache/iamgate-tools.
func toolsDir() string {
	if d := os.Getenv("IAMGATE_TOOLS"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "iamgate-tools")
	}
	return filepath.Join(os.TempDir(), "iamgate-tools")
}

// fileTail is the last n bytes of a file, from a line start.
func fileTail(path string, n int) string {
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
