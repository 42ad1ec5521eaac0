package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/sts"
)

// Requests and their durations are counted by the kind of the roles used;
// a request without a role counts as "none", so the label stays bounded.
func TestMetricsRoleKind(t *testing.T) {
	f := newFixture(t, nil, nil)
	alice := f.token(t, "alice", "staff")
	f.do(t, "GET", "/bkt/home/alice/k", alice, nil)
	f.do(t, "GET", "/bkt/home/bob/k", alice, nil)
	f.do(t, "GET", "/bkt/shared/x", "", nil)                            // anonymous
	f.do(t, "GET", "/bkt/shared/x", f.token(t, "eve", "visitors"), nil) // no role trusts eve
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"GetObject", "allow", "2xx", "human"}, 1},
		{[]string{"GetObject", "deny", "4xx", "human"}, 1},
		{[]string{"GetObject", "deny", "4xx", "none"}, 2},
	} {
		if got := testutil.ToFloat64(f.m.Requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("iamgate_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(f.m.Requests); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}
	if n := testutil.CollectAndCount(f.m.Duration); n != 3 { // allow/human, deny/human, deny/none
		t.Errorf("%d duration series, want 3", n)
	}
	for _, kind := range []string{"human", "machine", "agent"} {
		if roleKindLabel(kind) != kind {
			t.Errorf("roleKindLabel(%q) = %q", kind, roleKindLabel(kind))
		}
	}
	for _, kind := range []string{"", "Human", "robot"} {
		if roleKindLabel(kind) != "none" {
			t.Errorf("roleKindLabel(%q) = %q, want none", kind, roleKindLabel(kind))
		}
	}
}

// STS calls are counted by action, result and role kind; an Action the
// caller made up is counted as "unknown", never as its text.
func TestMetricsSTS(t *testing.T) {
	f := newFixture(t, nil, nil)
	gen := *f.h.Current()
	keys, err := identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	gen.STS, err = sts.New(sts.Config{Engine: gen.Engine, Verifier: gen.Verifier, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	gen.principals = nil
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	call := func(action, token string) int {
		form := url.Values{"Action": {action}, "Version": {"2011-06-15"}, "WebIdentityToken": {token},
			"RoleArn": {"arn:aws:iam::iamgate:role/member"}, "RoleSessionName": {"metrics-test"}}
		res, _ := f.do(t, "POST", "/", "", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		return res.StatusCode
	}
	if s := call("AssumeRoleWithWebIdentity", f.token(t, "alice", "staff")); s != http.StatusOK {
		t.Fatalf("AssumeRoleWithWebIdentity: %d", s)
	}
	if s := call("AssumeRoleWithWebIdentity", "not-a-token"); s == http.StatusOK {
		t.Fatal("a bad token was accepted")
	}
	if s := call("Drop\"Tables", "x"); s == http.StatusOK {
		t.Fatal("an unknown action was accepted")
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"AssumeRoleWithWebIdentity", "issued", "human"}, 1},
		{[]string{"AssumeRoleWithWebIdentity", "refused", "human"}, 1}, // the role asked for
		{[]string{"unknown", "refused", "none"}, 1},
	} {
		if got := testutil.ToFloat64(f.m.STSRequests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("iamgate_sts_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(f.m.STSRequests); n != 3 {
		t.Errorf("%d STS series, want 3", n)
	}
	if got := testutil.ToFloat64(f.m.Requests.WithLabelValues("unknown", "deny", "4xx", "none")); got != 1 {
		t.Errorf("the unknown STS action is not counted as operation \"unknown\": %v", got)
	}
}

// A store that cannot be reached counts as an upstream error.
func TestMetricsUpstreamErrors(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.up.Close()
	alice := f.token(t, "alice", "staff")
	if res, _ := f.do(t, "GET", "/bkt/home/alice/k", alice, nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", res.StatusCode)
	}
	if got := testutil.ToFloat64(f.m.UpstreamErrors.WithLabelValues("unavailable")); got != 1 {
		t.Errorf("unavailable upstream errors %v, want 1", got)
	}
}

// The certificate reloader reports the NotAfter of the pair it serves, and
// of a new pair when the files change.
func TestCertReloaderNotAfter(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	writeTestCert(t, certFile, keyFile, first)
	cr, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !cr.NotAfter().Equal(first) {
		t.Fatalf("NotAfter %v, want %v", cr.NotAfter(), first)
	}
	var loaded time.Time
	cr.OnLoad = func(t time.Time) { loaded = t }
	second := first.Add(90 * 24 * time.Hour)
	writeTestCert(t, certFile, keyFile, second)
	future := time.Now().Add(time.Hour) // a modification time that differs from the first write
	os.Chtimes(certFile, future, future)
	os.Chtimes(keyFile, future, future)
	cr.checked = time.Time{}
	if _, err := cr.GetCertificate(nil); err != nil {
		t.Fatal(err)
	}
	if !loaded.Equal(second) || !cr.NotAfter().Equal(second) {
		t.Fatalf("after reload: OnLoad %v, NotAfter %v, want %v", loaded, cr.NotAfter(), second)
	}
}

func writeTestCert(t *testing.T, certFile, keyFile string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "iamgate.test"},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter, DNSNames: []string{"iamgate.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
