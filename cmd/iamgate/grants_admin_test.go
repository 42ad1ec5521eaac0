package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/state"
)

// An admin (a role of admin.roles, or admin.token) lists the access
// requests and ends a grant early, through the endpoint and with
// iamgate revoke --grant; each revocation is an access_request event.
func TestAdminGrants(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	conf := fmt.Sprintf(adminConfig, up.URL, iss.URL(), filepath.Join(dir, "audit.log")) + `
  token: env:JIT_ADMIN_TOKEN
`
	conf = strings.Replace(conf, "admin: {roles: [ops-admin]}", "admin:\n  roles: [ops-admin]", 1)
	conf = strings.Replace(conf, "policies:\n", `  - name: prod
    kind: human
    policies: [read]
    requestable: {approvers: {issuer: dev, claims: {sub: "admin-*"}}, max_duration: 1h}
policies:
`, 1)
	t.Setenv("JIT_ADMIN_TOKEN", "static-admin-token-0123456789abcdef0123456789")
	writeFile(t, cfg, conf)
	a := startReplica(t, cfg)
	ctx := context.Background()
	grant := func() state.AccessRequest {
		t.Helper()
		r, err := a.grants.store.Request(ctx, state.AccessRequest{Role: "prod", Requester: state.Person{Issuer: "dev", Subject: "u-1"},
			Reason: "INC-1", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		g, err := a.grants.store.Decide(ctx, r.ID, true, state.Person{Issuer: "dev", Subject: "admin-2"})
		if err != nil {
			t.Fatal(err)
		}
		a.grants.watcher.Changed(ctx)
		return g
	}
	g1, g2 := grant(), grant()
	mint := func(sub string) string {
		tok, err := iss.Mint(map[string]any{"sub": sub, "aud": "iamgate"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin, user := mint("admin-1"), mint("u-1")
	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+a.MetricsAddr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, c := range []struct {
		method, path, token, body string
		code                      int
		want                      string
	}{
		{"GET", "/admin/grants", user, "", 403, "no role of admin.roles trusts it"},
		{"GET", "/admin/grants", admin, "", 200, g1.ID},
		{"PUT", "/admin/grants", admin, "", 405, "use GET"},
		{"POST", "/admin/grants/revoke", admin, `{"id":"` + g1.ID + `"}`, 400, "id and reason are required"},
		{"POST", "/admin/grants/revoke", admin, `{"id":"ar-nope","reason":"x"}`, 404, "no access request"},
		{"POST", "/admin/grants/revoke", admin, `{"id":"` + g1.ID + `","reason":"done"}`, 200, `"status": "revoked"`},
		{"POST", "/admin/grants/revoke", admin, `{"id":"` + g1.ID + `","reason":"again"}`, 409, "not in force"},
	} {
		code, body := call(c.method, c.path, c.token, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s; want %d with %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	if got, _ := a.grants.watcher.Active("dev", "u-1"); len(got) != 1 || got[0].ID != g2.ID {
		t.Errorf("in force after the revocation: %+v", got)
	}
	tokenFile := filepath.Join(dir, "admin.token")
	writeFile(t, tokenFile, "static-admin-token-0123456789abcdef0123456789\n")
	var out bytes.Buffer
	err := cmdRevoke(ctx, []string{"--admin-url", "http://" + a.MetricsAddr(), "--token-file", tokenFile, "--grant", g2.ID, "--reason", "no longer needed"}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "revoked: grant "+g2.ID+" of role prod to u-1") {
		t.Fatalf("iamgate revoke --grant: %v %s", err, out.String())
	}
	if got, _ := a.grants.watcher.Active("dev", "u-1"); len(got) != 0 {
		t.Errorf("in force after both revocations: %+v", got)
	}
	if _, err := auditschema.File(filepath.Join(dir, "audit.log")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	var revoked []string
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == audit.KindAccessRequest && ev.Decision == "allow" {
			revoked = append(revoked, ev.Grant.ID+":"+ev.AuthMethod+":"+ev.Subject+":"+ev.Grant.Status)
		}
	}
	want := g1.ID + ":bearer:admin-1:revoked " + g2.ID + ":admin-token::revoked"
	if got := strings.Join(revoked, " "); got != want {
		t.Errorf("revocation events %q, want %q", got, want)
	}
}
