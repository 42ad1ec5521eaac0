package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
)

const consoleServeConfig = `
listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
issuers:
  - {name: dev, url: %q, audiences: [iamgate], client_id: iamgate-console, client_secret: env:CONSOLE_SECRET, login_label: Dev login}
sts:
  session_keys: [{id: a, secret: env:CONSOLE_SESSION_KEY}]
roles: [{name: reader, kind: human, trust: {issuer: dev, claims: {sub: "u-*"}}, policies: [read]}]
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}'
console: {public_url: https://s3.example.com}
audit: {file: %q}
log: {level: error}
`

func TestServeWiresTheConsole(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	writeFile(t, cfg, fmt.Sprintf(consoleServeConfig, up.URL, iss.URL(), filepath.Join(dir, "audit.log")))
	if code, out, errOut := runCLI(t, "check", "-config", cfg); code != 0 {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, appOptions{Stdout: io.Discard, Stderr: io.Discard, ReloadInterval: time.Hour, DrainDelay: noDrain})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + a.Addr()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	check := func() {
		t.Helper()
		if res := get("/_iamgate/ui/"); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/_iamgate/login?rd="+url.QueryEscape("/_iamgate/ui/") {
			t.Errorf("console: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if res := get("/bkt/report.pdf", "Accept", "text/html"); res.StatusCode != http.StatusFound {
			t.Errorf("navigation: %d", res.StatusCode)
		}
		if res := get("/bkt/report.pdf"); res.StatusCode != http.StatusForbidden {
			t.Errorf("API: %d", res.StatusCode)
		}
		res := get("/_iamgate/login?rd=/bkt/report.pdf")
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusFound || loc.Query().Get("redirect_uri") != "https://s3.example.com/_iamgate/callback" ||
			loc.Query().Get("client_id") != "iamgate-console" {
			t.Errorf("login: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if !strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
			t.Errorf("login state cookie not Secure behind an https public_url: %q", res.Header.Get("Set-Cookie"))
		}
	}
	check()
	if err := a.reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	check() // the new generation carries the console too
}

func TestCheckRejectsConsoleWithoutSessionKeys(t *testing.T) {
	t.Setenv("SERVE_KEY", "k")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, `
upstream: {endpoint: "http://127.0.0.1:9", access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
issuers: [{name: dev, url: "https://sso.example.com", audiences: [iamgate], client_id: c}]
roles: [{name: r, kind: human, trust: {issuer: dev, claims: {sub: x}}, policies: [p]}]
policies: {p: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'}
`)
	code, _, errOut := runCLI(t, "check", "-config", cfg)
	if code == 0 || !strings.Contains(errOut, "browser sign-in needs sts.session_keys") {
		t.Fatalf("%d %s", code, errOut)
	}
}
