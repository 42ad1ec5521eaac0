package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLDAP(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pem, err := os.ReadFile("testdata/good/tls/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `
upstream:
  endpoint: http://127.0.0.1:9000
  access_key_id: env:MINIO_KEY
  secret_access_key: env:MINIO_SECRET
sts:
  session_keys:
    - {id: a, secret: env:SESSION_KEY_A}
ldap:
  - name: corp
    url: ldap://ldap.example.org:389
    start_tls: true
    ca_file: ca.pem
    lookup_bind_dn: cn=iamgate,ou=services,dc=example,dc=org
    lookup_bind_password: env:SESSION_KEY_B
    user_dn_search_base: ou=people,dc=example,dc=org
    user_dn_search_filter: (uid=%s)
    group_search_base: ou=groups,dc=example,dc=org
    group_search_filter: (&(objectClass=groupOfNames)(member=%d))
    attributes: [mail, cn]
    dial_timeout: 2s
    request_timeout: 3s
    pool_size: 8
    login_label: Sign in with your corporate account
    throttle: {max_failures: 3, source_max_failures: 10, window: 5m, lockout: 30s}
  - name: minimal
    url: ldaps://ldap2.example.org:636
    lookup_bind_dn: cn=iamgate,dc=example,dc=org
    lookup_bind_password: env:SESSION_KEY_B
    user_dn_search_base: dc=example,dc=org
    user_dn_search_filter: (uid=%s)
roles:
  - name: analysts
    kind: human
    trust:
      - issuer: corp
        claims: {groups: "cn=analysts,ou=groups,dc=example,dc=org"}
      - issuer: minimal
        claims: {dn: "uid=alice,dc=example,dc=org"}
    policies: [p]
policies:
  p: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
`
	f, warns, err := parse("cfg.yaml", []byte(doc), dir, lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if len(f.LDAP) != 2 {
		t.Fatalf("LDAP = %+v", f.LDAP)
	}
	c := f.LDAP[0]
	if c.Name != "corp" || c.URL != "ldap://ldap.example.org:389" || !c.StartTLS || c.CAFile != ca ||
		c.LookupBindPassword.Reveal() != testEnv["SESSION_KEY_B"] || c.UserDNSearchFilter != "(uid=%s)" ||
		!slices.Equal(c.Attributes, []string{"mail", "cn"}) || c.DialTimeout != 2*time.Second || c.RequestTimeout != 3*time.Second ||
		c.PoolSize != 8 || c.LoginLabel == "" || c.Throttle != (LDAPThrottle{3, 10, 5 * time.Minute, 30 * time.Second}) {
		t.Errorf("corp = %+v", c)
	}
	m := f.LDAP[1]
	if m.DialTimeout != DefaultLDAPDialTimeout || m.RequestTimeout != DefaultLDAPRequestTimeout || m.PoolSize != DefaultLDAPPoolSize ||
		m.Throttle != (LDAPThrottle{DefaultLDAPMaxFailures, DefaultLDAPSourceMaxFailures, DefaultLDAPThrottleWindow, DefaultLDAPThrottleLockout}) ||
		m.LoginLabel != "" || m.GroupSearchBase != "" {
		t.Errorf("defaults = %+v", m)
	}
	if got := f.LoginDirectories(); len(got) != 1 || got[0].Name != "corp" {
		t.Errorf("LoginDirectories = %+v", got)
	}
	if strings.Contains(fmtSecret(f.LDAP[0].LookupBindPassword), "session-key") {
		t.Error("the lookup password is not redacted")
	}
}

func fmtSecret(s Secret) string {
	b, _ := s.MarshalText()
	return string(b)
}
