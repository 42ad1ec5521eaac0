package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// iamgate check validates the ldap section without contacting the
// directory (a configuration with directories only, no issuer).
func TestCheckLDAP(t *testing.T) {
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("LDAP_LOOKUP", "lookup-password")
	t.Setenv("CHECK_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iamgate.yaml")
	base := `
upstream: {endpoint: "http://127.0.0.1:9", access_key_id: env:SERVE_KEY, secret_access_key: env:SERVE_KEY}
sts: {session_keys: [{id: a, secret: env:CHECK_SESSION_KEY}]}
ldap:
  - name: corp
    url: ldaps://192.0.2.1:636
    lookup_bind_dn: cn=iamgate,dc=example,dc=org
    lookup_bind_password: env:LDAP_LOOKUP
    user_dn_search_base: ou=people,dc=example,dc=org
    user_dn_search_filter: (uid=%s)
    login_label: Corporate account
roles: [{name: r, kind: human, trust: {issuer: corp, claims: {groups: "cn=staff,ou=groups,dc=example,dc=org"}}, policies: [p]}]
policies: {p: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'}
`
	writeFile(t, cfg, base)
	code, out, errOut := runCLI(t, "check", "-config", cfg)
	if code != 0 || !strings.Contains(out, "OK (0 issuers, 1 directories, 1 roles, 1 policies)") {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	writeFile(t, cfg, strings.Replace(base, "(uid=%s)", "(uid=alice)", 1))
	code, _, errOut = runCLI(t, "check", "-config", cfg)
	if code == 0 || !strings.Contains(errOut, "iamgate.yaml:10:28: ldap[0].user_dn_search_filter: filter \"(uid=alice)\" must contain %s, the user name") {
		t.Fatalf("bad filter: %d %s", code, errOut)
	}
}
