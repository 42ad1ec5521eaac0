package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// RequireSlapd fails the test if OpenLDAP's slapd or slapadd is missing
// (skips under -short). Debian's slapd package installs both in /usr/sbin.
func RequireSlapd(t testing.TB) (slapd, slapadd string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s needs a real slapd; skipped in -short mode", t.Name())
	}
	find := func(name string) string {
		if p, err := ToolPath(name); err == nil {
			return p
		}
		p := filepath.Join("/usr/sbin", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("testenv: %s not found in the tool directory, $PATH or /usr/sbin\nrun scripts/install-tools.sh (it installs Debian's slapd and ldap-utils)", name)
		}
		return p
	}
	return find("slapd"), find("slapadd")
}

// The directory StartSlapd loads.
const (
	SlapdSuffix     = "dc=example,dc=org"
	SlapdPeople     = "ou=people," + SlapdSuffix
	SlapdGroups     = "ou=groups," + SlapdSuffix
	SlapdLookupDN   = "cn=iamgate,ou=services," + SlapdSuffix
	SlapdAdminDN    = "cn=admin," + SlapdSuffix
	SlapdUserFilter = "(uid=%s)"
	// SlapdGroupFilter finds the groupOfNames entries listing the user.
	SlapdGroupFilter = "(&(objectClass=groupOfNames)(member=%d))"
)

// SlapdUser is a user of the test directory.
type SlapdUser struct {
	UID, Password string
	Mail          string
	Groups        []string // group cn values, under SlapdGroups
	// Locked users carry pwdAccountLockedTime 000001010000Z: the password
	// policy overlay (ppolicy) refuses every bind of theirs with result 49
	// and the accountLocked control error, even with the right password.
	Locked bool
}

// DN is the user's entry.
func (u SlapdUser) DN() string { return "uid=" + u.UID + "," + SlapdPeople }

// SlapdGroupDN is the DN of the group cn.
func SlapdGroupDN(cn string) string { return "cn=" + cn + "," + SlapdGroups }

// DefaultSlapdUsers are loaded by StartSlapd: alice (analysts), bob (no
// group), carol (analysts, locked) and dave (analysts and admins).
var DefaultSlapdUsers = []SlapdUser{
	{UID: "alice", Password: "alice-secret-1", Mail: "alice@example.org", Groups: []string{"analysts"}},
	{UID: "bob", Password: "bob-secret-1", Mail: "bob@example.org"},
	{UID: "carol", Password: "carol-secret-1", Mail: "carol@example.org", Groups: []string{"analysts"}, Locked: true},
	{UID: "dave", Password: "dave-secret-1", Mail: "dave@example.org", Groups: []string{"analysts", "admins"}},
}

// Slapd is a running OpenLDAP server with a temporary database, the
// password policy overlay and TLS.
type Slapd struct {
	// URL is ldap://127.0.0.1:PORT (StartTLS offered); LDAPSURL is
	// ldaps://127.0.0.1:PORT2 (the certificate names 127.0.0.1).
	URL, LDAPSURL string
	// CAFile is the PEM file of the CA that signed the server certificate.
	CAFile string
	// LookupPassword is the password of SlapdLookupDN, which may read
	// everything but passwords; AdminPassword that of SlapdAdminDN.
	LookupPassword, AdminPassword string
	Users                         []SlapdUser

	dir, slapd, conf, urls string
	proc                   *process
	t                      testing.TB
	starts                 int
}

// StartSlapd starts slapd on two free loopback ports with the users of
// DefaultSlapdUsers, and waits until the lookup account can bind. The
// server is killed when the test ends.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	slapd, slapadd := RequireSlapd(t)
	dir := t.TempDir()
	s := &Slapd{dir: dir, slapd: slapd, t: t, LookupPassword: "lookup-" + RandomHex(t, 8),
		AdminPassword: "admin-" + RandomHex(t, 8), Users: append([]SlapdUser(nil), DefaultSlapdUsers...)}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.CAFile = writeTestPKI(t, dir)
	s.conf = filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(s.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldif, []byte(s.data()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", s.conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("testenv: slapadd: %v\n%s", err, out)
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		p1, p2 := HostPort(FreePort(t)), HostPort(FreePort(t))
		s.URL, s.LDAPSURL = "ldap://"+p1, "ldaps://"+p2
		s.urls = s.URL + "/ " + s.LDAPSURL + "/"
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	t.Fatalf("testenv: start slapd: %v", lastErr)
	return nil
}

func (s *Slapd) start() error {
	s.starts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("slapd-%d.log", s.starts))
	// -d 0: stay in the foreground, log nothing but errors.
	p, err := startProcess("slapd", s.slapd, []string{"-h", s.urls, "-f", s.conf, "-d", "0"}, nil, logPath)
	if err != nil {
		return err
	}
	s.t.Cleanup(p.stop)
	registerLogDump(s.t, p)
	s.proc = p
	err = p.waitFor("lookup bind", readyTimeout, func(context.Context) error {
		c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Bind(SlapdLookupDN, s.LookupPassword)
	})
	if err != nil {
		p.stop()
		return err
	}
	return nil
}

// Stop kills the server, e.g. to test behaviour with the directory down.
// The database stays; Restart starts it again on the same ports.
func (s *Slapd) Stop() { s.proc.stop() }

// Restart starts the server again after Stop, on the same ports.
func (s *Slapd) Restart(t testing.TB) {
	t.Helper()
	s.proc.stop()
	var err error
	for range startAttempts {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // the old process's ports being released
	}
	t.Fatalf("testenv: restart slapd: %v", err)
}

// Admin returns a connection bound as the directory's administrator, for
// changing entries in tests. The caller closes it.
func (s *Slapd) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("testenv: dial slapd: %v", err)
	}
	if err := c.Bind(SlapdAdminDN, s.AdminPassword); err != nil {
		c.Close()
		t.Fatalf("testenv: admin bind: %v", err)
	}
	return c
}

// SetPassword changes a user's password.
func (s *Slapd) SetPassword(t testing.TB, uid, password string) {
	t.Helper()
	c := s.Admin(t)
	defer c.Close()
	m := ldap.NewModifyRequest("uid="+uid+","+SlapdPeople, nil)
	m.Replace("userPassword", []string{password})
	if err := c.Modify(m); err != nil {
		t.Fatalf("testenv: set password of %s: %v", uid, err)
	}
}

// User returns the user uid of s.Users.
func (s *Slapd) User(uid string) SlapdUser {
	for _, u := range s.Users {
		if u.UID == uid {
			return u
		}
	}
	panic("testenv: no slapd user " + uid)
}

func (s *Slapd) config() string {
	return strings.NewReplacer("$DIR", s.dir, "$ADMINPW", s.AdminPassword).Replace(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $DIR/slapd.pid
argsfile $DIR/slapd.args
TLSCACertificateFile $DIR/ca.pem
TLSCertificateFile $DIR/server.pem
TLSCertificateKeyFile $DIR/server.key
database mdb
maxsize 10485760
suffix "` + SlapdSuffix + `"
rootdn "` + SlapdAdminDN + `"
rootpw $ADMINPW
directory $DIR/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,` + SlapdSuffix + `"
ppolicy_use_lockout
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="` + SlapdLookupDN + `" read by self read by * none
`)
}

func (s *Slapd) data() string {
	var b strings.Builder
	b.WriteString(`dn: ` + SlapdSuffix + `
objectClass: dcObject
objectClass: organization
o: Example
dc: example

`)
	for _, ou := range []string{"people", "groups", "services", "policies"} {
		fmt.Fprintf(&b, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, SlapdSuffix, ou)
	}
	// pwdMaxFailure is high: the directory's own lockout is not what the
	// tests exercise (carol is locked outright).
	fmt.Fprintf(&b, "dn: cn=default,ou=policies,%s\nobjectClass: pwdPolicy\nobjectClass: device\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 1000\n\n", SlapdSuffix)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: iamgate\nuserPassword: %s\n\n", SlapdLookupDN, s.LookupPassword)
	members := map[string][]string{}
	var groups []string
	for _, u := range s.Users {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\nuserPassword: %s\n", u.DN(), u.UID, u.UID, u.UID, u.Mail, u.Password)
		if u.Locked {
			b.WriteString("pwdAccountLockedTime: 000001010000Z\n")
		}
		b.WriteString("\n")
		for _, g := range u.Groups {
			if members[g] == nil {
				groups = append(groups, g)
			}
			members[g] = append(members[g], u.DN())
		}
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: %s\n", SlapdGroupDN(g), g)
		for _, m := range members[g] {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeTestPKI writes a CA (ca.pem) and a server certificate for
// 127.0.0.1 and localhost (server.pem, server.key) into dir, and returns
// the CA file.
func writeTestPKI(t testing.TB, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "iamgate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", der)
	write("server.key", "EC PRIVATE KEY", keyDER)
	return filepath.Join(dir, "ca.pem")
}
