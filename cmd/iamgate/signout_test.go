package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

// TestSignOutSurvivesReload: the process keeps one record of signed-out
// sessions; a configuration reload builds a new browser front end on the
// same record, so a signed-out cookie stays refused.
func TestSignOutSurvivesReload(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	writeFile(t, cfg, fmt.Sprintf(consoleServeConfig, up.URL, iss.URL(), filepath.Join(dir, "audit.log")))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, appOptions{Stdout: io.Discard, Stderr: io.Discard, ReloadInterval: time.Hour, DrainDelay: noDrain})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// A browser session as sign-in makes it.
	f, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sessionKeyRing(f.STS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	s := identity.NewSession()
	s.Kind, s.Issuer, s.Subject, s.Roles, s.Claims = identity.KindBrowser, "dev", "u-1", []string{"reader"}, map[string]any{"sub": "u-1"}
	s.IssuedAt, s.RenewedAt, s.Expiry = now, now, now.Add(30*time.Minute)
	token, err := keys.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+a.Addr()+path, nil)
		req.AddCookie(&http.Cookie{Name: web.DefaultCookieName, Value: token})
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get("/bkt/report.pdf"); got != http.StatusNotFound { // authorized, forwarded, not in the store
		t.Fatalf("before sign-out: %d", got)
	}
	if got := get("/_iamgate/logout"); got != http.StatusFound {
		t.Fatalf("logout: %d", got)
	}
	if got := get("/bkt/report.pdf"); got != http.StatusForbidden {
		t.Fatalf("after sign-out: %d", got)
	}
	before := a.handler.Current()
	if err := a.reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if a.handler.Current() == before {
		t.Fatal("the reload did not build a new generation")
	}
	if got := get("/bkt/report.pdf"); got != http.StatusForbidden {
		t.Errorf("after sign-out and a reload: %d", got)
	}
	if st := a.shared.signedOut.(*state.Memory).Stats(); st.Sessions != 1 {
		t.Errorf("record %+v", st)
	}
}

// TestConsoleDefaultsAgree: the file's defaults are the packages'.
func TestConsoleDefaultsAgree(t *testing.T) {
	if config.DefaultSessionRefresh != web.DefaultSessionRefresh {
		t.Errorf("session_refresh: config %v, web %v", config.DefaultSessionRefresh, web.DefaultSessionRefresh)
	}
	if config.DefaultSignedOutMaxEntries != state.DefaultMaxEntries {
		t.Errorf("signed_out_max_entries: config %d, state %d", config.DefaultSignedOutMaxEntries, state.DefaultMaxEntries)
	}
}
