package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const consoleConfig = `
upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: env:MINIO_KEY
  secret_access_key: env:MINIO_SECRET
issuers:
  - name: corp
    url: https://sso.example.com/realms/corp
    audiences: [iamgate]
    client_id: iamgate-console
    client_secret: env:BACKUP_SECRET
    scopes: [openid, profile, email, offline_access]
    login_label: Sign in with Corp SSO
  - name: ci
    url: https://token.actions.githubusercontent.com
    audiences: [iamgate]
sts:
  session_keys:
    - id: a
      secret: env:SESSION_KEY_A
console:
  public_url: https://s3.example.com/
  cookie_name: s3_session
roles:
  - name: ops
    kind: human
    trust: {issuer: corp, claims: {groups: ops}}
    policies: [p]
policies:
  p: '{}'
`

func TestConsoleKeys(t *testing.T) {
	f, _, err := parse("c.yaml", []byte(consoleConfig), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	is := f.Issuers[0]
	if is.ClientID != "iamgate-console" || is.ClientSecret == nil || is.ClientSecret.Reveal() != testEnv["BACKUP_SECRET"] ||
		!slices.Equal(is.Scopes, []string{"openid", "profile", "email", "offline_access"}) || is.LoginLabel != "Sign in with Corp SSO" {
		t.Errorf("issuer %+v", is)
	}
	if f.Console == nil || !f.Console.Enabled || f.Console.PublicURL != "https://s3.example.com" || f.Console.CookieName != "s3_session" {
		t.Errorf("console %+v", f.Console)
	}
	if li := f.LoginIssuers(); len(li) != 1 || li[0].Name != "corp" {
		t.Errorf("login issuers %v", li)
	}
	f.Console.Enabled = false
	if li := f.LoginIssuers(); li != nil {
		t.Errorf("disabled console has login issuers %v", li)
	}
	// Without a console section, a client_id is enough.
	f, _, err = parse("c.yaml", []byte(consoleConfig[:len(consoleConfig)-len("console:\n  public_url: https://s3.example.com/\n  cookie_name: s3_session\nroles:\n  - name: ops\n    kind: human\n    trust: {issuer: corp, claims: {groups: ops}}\n    policies: [p]\npolicies:\n  p: '{}'\n")]+
		"roles:\n  - name: ops\n    kind: human\n    trust: {issuer: corp, claims: {groups: ops}}\n    policies: [p]\npolicies:\n  p: '{}'\n"), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if f.Console != nil || len(f.LoginIssuers()) != 1 {
		t.Errorf("console %+v, login issuers %d", f.Console, len(f.LoginIssuers()))
	}
}

func TestConsoleSessionSettings(t *testing.T) {
	cfg := strings.Replace(consoleConfig, "  cookie_name: s3_session\n", "  cookie_name: s3_session\n  session_refresh: 15m\n  signed_out_max_entries: 5000\n", 1)
	f, _, err := parse("c.yaml", []byte(cfg), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if f.Console.SessionRefresh != 15*time.Minute || f.Console.SignedOutMaxEntries != 5000 {
		t.Errorf("console %+v", f.Console)
	}
	// Defaults.
	f, _, err = parse("c.yaml", []byte(consoleConfig), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if f.Console.SessionRefresh != DefaultSessionRefresh || f.Console.SignedOutMaxEntries != DefaultSignedOutMaxEntries {
		t.Errorf("defaults %+v", f.Console)
	}
}
