package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

const sharedStateConfig = consoleServeConfig + `metrics_listen: 127.0.0.1:0
state: {redis: {url: %q, timeout: 100ms}}
admin: {token: env:ADMIN_TOKEN}
`

// startReplica runs an iamgate of cfg until the test ends.
func startReplica(t *testing.T, cfg string) *app {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, appOptions{Stdout: io.Discard, Stderr: io.Discard, ReloadInterval: time.Hour, DrainDelay: noDrain})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// browserCookie seals a browser session of subject as sign-in would.
func browserCookie(t *testing.T, cfg, subject string) string {
	t.Helper()
	f, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sessionKeyRing(f.STS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second).Add(-time.Second)
	s := identity.NewSession()
	s.Kind, s.Issuer, s.Subject, s.Roles = identity.KindBrowser, "dev", subject, []string{"reader"}
	s.Claims = map[string]any{"sub": subject, "agent_run": "r-" + subject}
	s.IssuedAt, s.RenewedAt, s.Expiry = now, now, now.Add(30*time.Minute)
	token, err := keys.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Two replicas share one Redis: a sign-out on one is refused on the
// other; a revocation added with iamgate revoke on one applies on the
// other within a second; with Redis stopped, sessions are refused after
// the freshness bound and readyz says why; with Redis back (persistent),
// everything applies again.
func TestSharedStateAcrossReplicas(t *testing.T) {
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{Persist: true})
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfg, cfgB := filepath.Join(dir, "iamgate.yaml"), filepath.Join(dir, "iamgate-b.yaml")
	const adminToken = "0123456789abcdef0123456789abcdef-admin"
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	t.Setenv("ADMIN_TOKEN", adminToken)
	writeFile(t, cfg, fmt.Sprintf(sharedStateConfig, up.URL, iss.URL(), filepath.Join(dir, "audit.log"), rd.URL))
	writeFile(t, cfgB, fmt.Sprintf(sharedStateConfig, up.URL, iss.URL(), filepath.Join(dir, "audit-b.log"), rd.URL))
	tokenFile := filepath.Join(dir, "admin.token")
	writeFile(t, tokenFile, adminToken+"\n")
	if code, out, errOut := runCLI(t, "check", "-config", cfg); code != 0 {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	a, b := startReplica(t, cfg), startReplica(t, cfgB)

	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(r *app, path, cookie string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.Addr()+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: web.DefaultCookieName, Value: cookie})
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// within polls until get answers want, for at most d.
	within := func(d time.Duration, r *app, path, cookie string, want int) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := get(r, path, cookie)
			if got == want {
				return time.Since(start)
			}
			if time.Since(start) > d {
				t.Fatalf("%s on %s: %d after %v, want %d", path, r.Addr(), got, d, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const object = "/bkt/report.pdf" // authorized, forwarded, not in the store: 404
	u1, u2, u3 := browserCookie(t, cfg, "u-1"), browserCookie(t, cfg, "u-2"), browserCookie(t, cfg, "u-3")
	for _, c := range []string{u1, u2, u3} {
		for _, r := range []*app{a, b} {
			if got := get(r, object, c); got != http.StatusNotFound {
				t.Fatalf("before: %d", got)
			}
		}
	}

	// Signed out on a, refused on b at once (b asks Redis).
	if got := get(a, "/_iamgate/logout", u1); got != http.StatusFound {
		t.Fatalf("logout: %d", got)
	}
	if got := get(b, object, u1); got != http.StatusForbidden {
		t.Fatalf("signed out on a, on b: %d", got)
	}

	// Revoked through a's admin endpoint, refused on b within a second.
	code, out, errOut := runCLI(t, "revoke", "--admin-url", "http://"+a.MetricsAddr(), "--token-file", tokenFile,
		"--claim", "agent_run=r-u-2", "--reason", "runaway agent")
	if code != 0 || !strings.HasPrefix(out, "revoked: rv-") {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	if got := get(a, object, u2); got != http.StatusForbidden {
		t.Fatalf("revoked on a, on a: %d", got)
	}
	took := within(time.Second, b, object, u2, http.StatusForbidden)
	t.Logf("revocation applied on the other replica after %v", took)
	if got := get(b, object, u3); got != http.StatusNotFound {
		t.Fatalf("another session on b: %d", got)
	}
	code, out, _ = runCLI(t, "revoke", "--admin-url", "http://"+b.MetricsAddr(), "--token-file", tokenFile, "--list")
	if code != 0 || !strings.Contains(out, "claim agent_run=r-u-2") || !strings.Contains(out, "runaway agent") {
		t.Fatalf("revoke --list on b: %d %q", code, out)
	}
	// A wrong token is refused and nothing is added.
	writeFile(t, tokenFile+".bad", strings.Repeat("x", 40))
	code, _, errOut = runCLI(t, "revoke", "--admin-url", "http://"+a.MetricsAddr(), "--token-file", tokenFile+".bad",
		"--subject", "u-3", "--reason", "no")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("revoke with a wrong token: %d %q", code, errOut)
	}

	// Redis stopped: after the freshness bound, sessions are refused (503)
	// and readyz says why.
	rd.Stop()
	stopped := time.Now()
	var ready struct {
		Ready  bool
		Checks map[string]string
	}
	for {
		res, err := http.Get("http://" + b.Addr() + "/_iamgate/readyz")
		if err != nil {
			t.Fatal(err)
		}
		ready.Ready, ready.Checks = false, nil
		json.NewDecoder(res.Body).Decode(&ready)
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Since(stopped) > 3*time.Second {
			t.Fatalf("readyz with Redis down: %d %+v", res.StatusCode, ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("readyz false %v after Redis stopped", time.Since(stopped))
	if ready.Ready || !strings.Contains(ready.Checks["state"], "cannot be confirmed current") {
		t.Fatalf("readyz with Redis down: %+v", ready)
	}
	if got := get(b, object, u3); got != http.StatusServiceUnavailable {
		t.Fatalf("a session with Redis down: %d", got)
	}
	if got := get(b, "/_iamgate/logout", u3); got != http.StatusServiceUnavailable {
		t.Fatalf("sign-out with Redis down: %d, want 503 (not reported as done)", got)
	}
	code, _, errOut = runCLI(t, "revoke", "--admin-url", "http://"+a.MetricsAddr(), "--token-file", tokenFile,
		"--subject", "u-3", "--reason", "while down")
	if code != 1 || !strings.Contains(errOut, "not added") {
		t.Fatalf("revoke with Redis down: %d %q", code, errOut)
	}
	metrics := scrape(t, b.MetricsAddr())
	if !strings.Contains(metrics, "iamgate_state_up 0") || strings.Contains(metrics, `iamgate_state_errors_total{use="revocations"} 0`) {
		t.Errorf("metrics with Redis down:\n%s", grepLines(metrics, "iamgate_state"))
	}

	// Redis back with its data: everything applies again.
	rd.Restart(t)
	within(3*time.Second, b, object, u3, http.StatusNotFound)
	for _, r := range []*app{a, b} {
		if got := get(r, object, u1); got != http.StatusForbidden {
			t.Errorf("signed out before the restart: %d", got)
		}
		if got := get(r, object, u2); got != http.StatusForbidden {
			t.Errorf("revoked before the restart: %d", got)
		}
	}
	auditA, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	auditB, _ := os.ReadFile(filepath.Join(dir, "audit-b.log"))
	audit := string(auditA) + string(auditB)
	for _, want := range []string{`"eventName":"AddRevocation"`, `"eventName":"ListRevocations"`, `"reason":"unauthenticated"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if strings.Contains(audit, adminToken) {
		t.Error("the admin token is in the audit log")
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// state.redis with rediss://, ca_file and a password reaches the server.
func TestSharedStateTLSConfig(t *testing.T) {
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: true, Password: "redis-test-password"})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("REDIS_PASSWORD", rd.Password)
	writeFile(t, cfg, fmt.Sprintf(`upstream: {endpoint: http://127.0.0.1:9, access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
state: {redis: {url: %q, password: env:REDIS_PASSWORD, ca_file: %q}}
`, rd.URL, rd.CAFile))
	f, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := newSharedState(f, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer sh.close()
	ctx := context.Background()
	sh.prime(ctx, slog.New(slog.DiscardHandler))
	if err := sh.ready()(); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	s := state.Session{ID: "s1", Issuer: "dev", Subject: "u-1", IssuedAt: time.Now()}
	if _, err := sh.signedOut.Add(ctx, s, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, err := sh.signedOut.Contains(ctx, s); !ok || err != nil {
		t.Fatalf("Contains = %v %v", ok, err)
	}
}
