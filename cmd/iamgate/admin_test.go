package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

func TestParseAdminRevocation(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ok := func(body string) state.Revocation {
		t.Helper()
		r, err := parseAdminRevocation([]byte(body), now)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return r
	}
	r := ok(`{"subject":"alice","reason":"laptop stolen"}`)
	if r.Subject != "alice" || !r.IssuedBefore.Equal(now) || !r.Expires.Equal(now.Add(24*time.Hour)) || r.Reason != "laptop stolen" {
		t.Errorf("defaults: %+v", r)
	}
	r = ok(`{"claim":"agent_run","claim_value":"r-42","issued_before":"2026-12-03T00:00:00Z","reason":"x"}`)
	if !r.Expires.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expires after a future issued_before: %v", r.Expires)
	}
	r = ok(`{"session_id":"s1","expires":"2026-12-02T12:00:00+01:00","reason":"x"}`)
	if r.Expires.Location() != time.UTC || !r.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("expires: %v", r.Expires)
	}
	for body, want := range map[string]string{
		``:                                   "empty or truncated",
		`{"subject":"a","reason":"x"`:        "empty or truncated",
		`[]`:                                 "must be a",
		`{"subject":"a","reason":"x"} {}`:    "data after the object",
		`{"subject":"a","reason":"x","x":1}`: `unknown field "x"`,
		`{"subject":1,"reason":"x"}`:         "subject must be a string",
		`{"reason":"x"}`:                     "set at least one of",
		`{"subject":"a"}`:                    "reason is required",
		`{"subject":"a","reason":"  "}`:      "reason is required",
		`{"claim":"agent_run","reason":"x"}`: "claim and claim_value go together",
		`{"subject":"a","reason":"x","issued_before":"yesterday"}`:                                             "issued_before: not an RFC 3339 time",
		`{"subject":"a","reason":"x","expires":"2026-12-02T09:00:00Z"}`:                                        "expires must be in the future",
		`{"subject":"a","reason":"x","issued_before":"2026-12-05T00:00:00Z","expires":"2026-12-03T00:00:00Z"}`: "expires must not be before issued_before",
	} {
		_, err := parseAdminRevocation([]byte(body), now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func FuzzParseAdminRevocation(f *testing.F) {
	for _, s := range []string{
		`{"subject":"alice","reason":"laptop stolen"}`,
		`{"claim":"agent_run","claim_value":"r-42","issued_before":"2026-12-03T00:00:00Z","expires":"2026-12-04T00:00:00Z","reason":"x"}`,
		`{"role":"ci","issuer":"corp","session_id":"s","reason":"x"} x`,
		`{"subject":"\u0000","reason":"\n"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseAdminRevocation(body, now)
		if err != nil {
			if r != (state.Revocation{}) {
				t.Fatalf("a rule with an error: %+v", r)
			}
			return
		}
		if err := r.Validate(now); err != nil {
			t.Fatalf("accepted an invalid rule %+v: %v", r, err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}

const adminConfig = `
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
issuers:
  - {name: dev, url: %q, audiences: [iamgate], client_id: iamgate-console, client_secret: env:CONSOLE_SECRET, login_label: Dev login}
sts:
  session_keys: [{id: a, secret: env:CONSOLE_SESSION_KEY}]
roles:
  - {name: reader, kind: human, trust: {issuer: dev, claims: {sub: "u-*"}}, policies: [read]}
  - {name: ops-admin, kind: human, trust: {issuer: dev, claims: {sub: "admin-*"}}, policies: [read]}
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}'
console: {public_url: https://s3.example.com}
audit: {file: %q}
log: {level: error}
admin: {roles: [ops-admin]}
`

// The admin endpoint takes OIDC tokens that a role of admin.roles trusts,
// refuses the others, decodes strictly, and applies a revocation at once
// on the replica (state in memory). Every request is audited.
func TestAdminEndpoint(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	writeFile(t, cfg, fmt.Sprintf(adminConfig, up.URL, iss.URL(), filepath.Join(dir, "audit.log")))
	a := startReplica(t, cfg)
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
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
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
		{"GET", "/admin/revocations", "", "", 401, "Authorization: Bearer"},
		{"GET", "/admin/revocations", "not-a-token", "", 401, "neither the admin token nor a valid token"},
		{"GET", "/admin/revocations", user, "", 403, "no role of admin.roles trusts it"},
		{"PUT", "/admin/revocations", admin, "", 405, "use GET to list or POST to add"},
		{"GET", "/admin/other", admin, "", 404, "no such admin endpoint"},
		{"POST", "/admin/revocations", admin, `{"subject":"u-2","reason":"x","extra":1}`, 400, `unknown field \"extra\"`},
		{"POST", "/admin/revocations", admin, `{"subject":"u-2","reason":"` + strings.Repeat("x", 20000) + `"}`, 413, "larger than"},
		{"GET", "/admin/revocations", admin, "", 200, `"revocations": []`},
		{"POST", "/admin/revocations", admin, `{"subject":"u-2","reason":"phished"}`, 201, `"added_by": "dev:admin-1"`},
		{"GET", "/admin/revocations", admin, "", 200, `"reason": "phished"`},
	} {
		code, body := call(c.method, c.path, c.token, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s; want %d with %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	// The rule applies at once on this replica: u-2's session is refused,
	// u-1's is not.
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for sub, want := range map[string]int{"u-1": http.StatusNotFound, "u-2": http.StatusForbidden} {
		req, _ := http.NewRequest("GET", "http://"+a.Addr()+"/bkt/report.pdf", nil)
		req.AddCookie(&http.Cookie{Name: web.DefaultCookieName, Value: browserCookie(t, cfg, sub)})
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("session of %s: %d, want %d", sub, res.StatusCode, want)
		}
	}
	kinds, err := auditschema.File(filepath.Join(dir, "audit.log"))
	if err != nil || kinds["admin"] != 10 {
		t.Errorf("audit log against the schema: %v %v", kinds, err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	var admins int
	for _, line := range strings.Split(string(log), "\n") {
		if !strings.Contains(line, `"kind":"admin"`) {
			continue
		}
		admins++
		if strings.Contains(line, admin) || strings.Contains(line, user) {
			t.Errorf("a token in the audit log: %s", line)
		}
	}
	if admins != 10 {
		t.Errorf("%d admin events, want 10", admins)
	}
	if !strings.Contains(string(log), `"reason":"not_admin"`) || !strings.Contains(string(log), `"eventName":"AddRevocation"`) {
		t.Errorf("audit log:\n%s", log)
	}
}

// iamgate revoke refuses incomplete or contradictory flags with exit
// status 2, before any request.
func TestRevokeUsage(t *testing.T) {
	t.Setenv("IAMGATE_ADMIN_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--subject", "a", "--reason", "x"}, "--admin-url is required"},
		{[]string{"--admin-url", "ftp://h:1", "--subject", "a", "--reason", "x"}, "use http://host:port"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--reason", "x"}, "give at least one of --subject"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--subject", "a"}, "--reason is required"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--claim", "agent_run", "--reason", "x"}, "use NAME=VALUE"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--subject", "a", "--reason", "x", "--before", "now"}, "--before \"now\": use an RFC 3339 time"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--list", "--subject", "a"}, "--list takes no selector"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--subject", "a", "--reason", "x"}, "no token: give --token-file or set IAMGATE_ADMIN_TOKEN"},
		{[]string{"--admin-url", "http://127.0.0.1:1", "--list", "extra"}, `unexpected argument "extra"`},
	} {
		code, out, errOut := runCLI(t, append([]string{"revoke"}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: %d %q %q; want 2 with %q", c.args, code, out, errOut, c.want)
		}
	}
	// A server that cannot be reached: exit 1, nothing revoked.
	t.Setenv("IAMGATE_ADMIN_TOKEN", "some-token")
	code, _, errOut := runCLI(t, "revoke", "--admin-url", "http://127.0.0.1:1", "--subject", "a", "--reason", "x")
	if code != 1 || !strings.Contains(errOut, "nothing was revoked") {
		t.Errorf("unreachable: %d %q", code, errOut)
	}
}
