package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireRedis fails the test if redis-server is missing (skips under
// -short). Debian's redis-server package installs it in /usr/bin; Valkey's
// valkey-server is accepted too.
func RequireRedis(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s needs a real redis-server; skipped in -short mode", t.Name())
	}
	for _, name := range []string{"redis-server", "valkey-server"} {
		if p, err := ToolPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("testenv: redis-server not found in the tool directory or $PATH\nrun scripts/install-tools.sh (it installs Debian's redis-server)")
	return ""
}

// RedisOptions configures StartRedisWith.
type RedisOptions struct {
	// Password requires AUTH with this password for the default user;
	// "" means none.
	Password string
	// Persist keeps the data across Restart with an append-only file
	// synced every second, as a production server should. Without it the
	// server keeps nothing on disk and comes back empty.
	Persist bool
	// TLS serves TLS only (rediss://), with a certificate for 127.0.0.1
	// from a test CA (Redis.CAFile); clients need no certificate.
	TLS bool
}

// Redis is a running redis-server on a loopback port, with its data in a
// temporary directory.
type Redis struct {
	// URL is redis://127.0.0.1:port/0, or rediss:// with TLS (without
	// the password).
	URL      string
	Addr     string
	Password string
	CAFile   string // the CA of the server certificate, with TLS

	bin  string
	dir  string
	opts RedisOptions
	proc *process
	t    testing.TB
	n    int
}

// StartRedis starts redis-server without persistence or password. It is
// killed when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return StartRedisWith(t, RedisOptions{})
}

// StartRedisWith starts redis-server with opts on a free loopback port.
func StartRedisWith(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r := &Redis{bin: RequireRedis(t), dir: t.TempDir(), opts: opts, t: t, Password: opts.Password}
	scheme := "redis://"
	if opts.TLS {
		r.CAFile = writeTestPKI(t, r.dir)
		scheme = "rediss://"
	}
	var lastErr error
	for range startAttempts {
		r.Addr = HostPort(FreePort(t))
		r.URL = scheme + r.Addr + "/0"
		if lastErr = r.start(); lastErr == nil {
			return r
		}
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	t.Fatalf("testenv: start redis-server: %v", lastErr)
	return nil
}

func (r *Redis) start() error {
	r.n++
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}
	if r.opts.TLS {
		args = append(args, "--port", "0", "--tls-port", port, "--tls-auth-clients", "no",
			"--tls-cert-file", filepath.Join(r.dir, "server.pem"), "--tls-key-file", filepath.Join(r.dir, "server.key"),
			"--tls-ca-cert-file", r.CAFile)
	}
	if r.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if r.opts.Password != "" {
		args = append(args, "--requirepass", r.opts.Password)
	}
	p, err := startProcess("redis-server", r.bin, args, nil, filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.n)))
	if err != nil {
		return err
	}
	r.t.Cleanup(p.stop)
	registerLogDump(r.t, p)
	r.proc = p
	if err := p.waitFor("PING", readyTimeout, func(ctx context.Context) error { return r.ping(ctx) }); err != nil {
		p.stop()
		return err
	}
	return nil
}

// ping sends PING (after AUTH when a password is set) over a plain
// connection and expects PONG.
func (r *Redis) ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return err
	}
	if r.opts.TLS {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			c.Close()
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return err
		}
		c = tc
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	cmd := func(args ...string) (string, error) {
		var b strings.Builder
		b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args {
			b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
		}
		if _, err := c.Write([]byte(b.String())); err != nil {
			return "", err
		}
		line, err := br.ReadString('\n')
		return strings.TrimSpace(line), err
	}
	if r.Password != "" {
		if line, err := cmd("AUTH", r.Password); err != nil || line != "+OK" {
			return fmt.Errorf("AUTH: %q %v", line, err)
		}
	}
	line, err := cmd("PING")
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop kills the server, e.g. to test behaviour with Redis down. Restart
// starts it again on the same port.
func (r *Redis) Stop() { r.proc.stop() }

// Restart stops the server if it runs and starts it again on the same
// port. With RedisOptions.Persist the data is kept (the server is killed,
// but its append-only file is written before each reply; only a machine
// crash could lose the last second); otherwise it comes back empty.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.proc.stop()
	var err error
	for range startAttempts {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // the old process's port being released
	}
	t.Fatalf("testenv: restart redis-server: %v", err)
}

// LogPath is the current server log, for diagnostics.
func (r *Redis) LogPath() string { return r.proc.logPath }
