package minioimport

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/iamgate/iamgate/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n%s\n--- want ---\n%s", path, got, want)
	}
}

// zipOf packs the fixture export as MinIO does: iam-assets/<file>.
func zipOf(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create("iam-assets/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fixture(t *testing.T) (*Export, []Subsystem) {
	t.Helper()
	exp, err := ReadExport("testdata/export")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/idp.txt")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := ParseIdentityConfig("idp.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	return exp, subs
}

var fixedOpts = Options{Endpoint: "https://minio.internal:9000", ExportName: "export.zip", IdentityName: "idp.txt",
	ServiceCredentials: true, Expires: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}

// The zip MinIO writes, the directory it extracts to and the directory of
// its files read the same.
func TestReadExportZipAndDirectory(t *testing.T) {
	dir, err := ReadExport("testdata/export")
	if err != nil {
		t.Fatal(err)
	}
	flat, err := ReadExport("testdata/export/iam-assets")
	if err != nil {
		t.Fatal(err)
	}
	z := zipOf(t, "testdata/export/iam-assets")
	fromBytes, err := ReadExportZip("export.zip", z)
	if err != nil {
		t.Fatal(err)
	}
	zpath := filepath.Join(t.TempDir(), "export.zip")
	os.WriteFile(zpath, z, 0o600)
	fromFile, err := ReadExport(zpath)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Export{flat, fromBytes, fromFile} {
		if !reflect.DeepEqual(dir, e) {
			t.Errorf("exports differ:\n%+v\n%+v", dir, e)
		}
	}
	if len(dir.Policies) != 9 || len(dir.Users) != 3 || len(dir.Groups) != 2 || len(dir.ServiceAccounts) != 3 ||
		len(dir.STSUserMappings) != 1 || !dir.ServiceAccounts["SVCACCT000000002"].HasPolicy() || dir.ServiceAccounts["SVCACCT000000001"].HasPolicy() {
		t.Errorf("unexpected export: %+v", dir)
	}
	if got := dir.UserMappings["bob"].PolicyNames(); !reflect.DeepEqual(got, []string{"readwrite", "broken"}) {
		t.Errorf("bob's policies = %v", got)
	}
	if _, ok := dir.ServiceAccounts["SVCACCT000000001"].Expires(); ok {
		t.Error("the zero Unix time means no expiry")
	}
}

func TestParseExportErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"syntax", map[string][]byte{"users.json": []byte("{\n  \"a\": {\"secretKey\": \"x\",}\n}")},
			`export.zip: users.json:2:26: invalid character '}'`},
		{"type", map[string][]byte{"groups.json": []byte(`{"g": {"members": "alice"}}`)},
			`export.zip: groups.json:1:26: json: cannot unmarshal string into Go struct field Group.members of type []string`},
		{"policy not an object", map[string][]byte{"policies.json": []byte(`{"p": []}`)},
			`export.zip: policies.json: policy "p" is not a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseExport("export.zip", tt.files)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}
	if _, err := ReadExportZip("x.zip", []byte("not a zip")); err == nil || !strings.Contains(err.Error(), "x.zip: not a zip file") {
		t.Errorf("not a zip: %v", err)
	}
	if _, err := ReadExport(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no IAM export files") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestParseIdentityConfig(t *testing.T) {
	subs, err := ParseIdentityConfig("idp.txt", []byte(`# comment
identity_openid enable=on display_name="Corp \"SSO\"" config_url=https://a/.well-known/openid-configuration claim_name=
region name=us-east-1
identity_ldap:corp server_addr=ldap:636 lookup_bind_password="p w"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 {
		t.Fatalf("got %d sub-systems", len(subs))
	}
	o, l := subs[0], subs[1]
	if o.Label() != "identity_openid" || o.Get("display_name") != `Corp "SSO"` || o.Get("claim_name") != "" || o.Line != 2 ||
		!reflect.DeepEqual(o.Keys, []string{"enable", "display_name", "config_url", "claim_name"}) {
		t.Errorf("openid: %+v", o)
	}
	if l.Label() != "identity_ldap:corp" || l.Get("lookup_bind_password") != "p w" || l.Where() != "idp.txt:4" {
		t.Errorf("ldap: %+v", l)
	}
	bad := []struct{ in, want string }{
		{"identity_openid config_url", `idp.txt:1: identity_openid: "config_url" is not key=value`},
		{`identity_openid a="b`, `idp.txt:1: identity_openid: a: unterminated quoted value`},
		{`identity_openid a="b"c`, `idp.txt:1: identity_openid: a: text after the closing quote`},
		{"identity_openid a=1 a=2", `idp.txt:1: identity_openid: key "a" appears twice`},
		{"identity_ldap a=1\nidentity_ldap a=2", `idp.txt:2: identity_ldap appears twice (first at line 1)`},
	}
	for _, b := range bad {
		if _, err := ParseIdentityConfig("idp.txt", []byte(b.in)); err == nil || err.Error() != b.want {
			t.Errorf("%q: got %v, want %s", b.in, err, b.want)
		}
	}
}

// The configuration and report for the fixture: every kind of entry,
// carried, changed and not carried.
func TestConvertGolden(t *testing.T) {
	exp, subs := fixture(t)
	res, err := Convert(exp, subs, fixedOpts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "iamgate.yaml", res.Config)
	var rep bytes.Buffer
	res.Report.WriteText(&rep)
	golden(t, "report.txt", rep.Bytes())
	var names []string
	for p := range res.Policies {
		names = append(names, p)
	}
	sort.Strings(names)
	want := []string{"policies/read-reports.json", "policies/readonly.json", "policies/readwrite.json", "policies/upload.json", "policies/writeonly.json", "policies/consoleAdmin.json", "policies/unused.json"}
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("policy files %v, want %v", names, want)
	}
	golden(t, "consoleAdmin.json", res.Policies["policies/consoleAdmin.json"])
	for _, secret := range []string{"alicesecret0123456789", "svcsecret0123456789", "s3cr3t", "not this one"} {
		if bytes.Contains(res.Config, []byte(secret)) || bytes.Contains(rep.Bytes(), []byte(secret)) {
			t.Errorf("secret %q in the configuration or the report", secret)
		}
	}
	if got := string(res.Secrets["secrets/aliceaccesskey01"]); got != "alicesecret0123456789\n" {
		t.Errorf("alice's secret file = %q", got)
	}
	if len(res.Secrets) != 2 {
		t.Errorf("secret files: %d, want alice's and one service account's", len(res.Secrets))
	}
}

// The ldap: entry and the LDAP trust rules have the agreed shape.
func TestConvertLDAPShape(t *testing.T) {
	exp, subs := fixture(t)
	res, err := Convert(exp, subs, fixedOpts)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		LDAP  []map[string]any `yaml:"ldap"`
		Roles []struct {
			Name  string
			Trust []struct {
				Issuer string
				Claims map[string]any
			}
			Policies []string
		} `yaml:"roles"`
	}
	if err := yaml.Unmarshal(res.Config, &doc); err != nil {
		t.Fatal(err)
	}
	wantLDAP := map[string]any{
		"name": "ldap", "url": "ldaps://ldap.example.org:636",
		"lookup_bind_dn": "cn=minio,ou=services,dc=example,dc=org", "lookup_bind_password": "env:IAMGATE_LDAP_LOOKUP_PASSWORD",
		"user_dn_search_base": "ou=people,dc=example,dc=org", "user_dn_search_filter": "(uid=%s)",
		"group_search_base": "ou=groups,dc=example,dc=org", "group_search_filter": "(&(objectclass=groupOfNames)(member=%d))",
		"attributes": []any{"mail", "cn"},
	}
	if len(doc.LDAP) != 1 || !reflect.DeepEqual(doc.LDAP[0], wantLDAP) {
		t.Errorf("ldap = %#v\nwant %#v", doc.LDAP, wantLDAP)
	}
	found := map[string]bool{}
	for _, r := range doc.Roles {
		for _, tr := range r.Trust {
			if tr.Issuer != "ldap" {
				continue
			}
			switch {
			case tr.Claims["dn"] == "uid=dave,ou=people,dc=example,dc=org" && reflect.DeepEqual(r.Policies, []string{"read-reports", "upload"}):
				found["dn"] = true
			case tr.Claims["groups"] == "cn=auditors,ou=groups,dc=example,dc=org" && reflect.DeepEqual(r.Policies, []string{"readonly"}):
				found["groups"] = true
			default:
				t.Errorf("unexpected LDAP role %+v", r)
			}
		}
	}
	if !found["dn"] || !found["groups"] {
		t.Errorf("LDAP roles missing: %v", found)
	}
}

// The whole output, LDAP included, loads as a configuration.
func TestConvertLDAPLoads(t *testing.T) {
	exp, subs := fixture(t)
	res, err := Convert(exp, subs, fixedOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvUpstreamKey, "k")
	t.Setenv(EnvUpstreamSecret, "s")
	t.Setenv(EnvSessionKey, strings.Repeat("k", 64))
	t.Setenv(EnvLDAPPassword, "p")
	path := writeResult(t, res)
	if _, _, err := config.Load(path); err != nil {
		t.Fatal(err)
	}
}

// writeResult writes res into a new directory and returns the
// configuration's path.
func writeResult(t *testing.T, res *Result) string {
	t.Helper()
	dir := t.TempDir()
	for p, b := range res.Policies {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), b, 0o644)
	}
	for p, b := range res.Secrets {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700)
		os.WriteFile(filepath.Join(dir, p), b, 0o600)
	}
	path := filepath.Join(dir, "iamgate.yaml")
	os.WriteFile(path, res.Config, 0o644)
	return path
}

// Without LDAP the output loads as it is.
func TestConvertLoads(t *testing.T) {
	exp, subs := fixture(t)
	var noLDAP []Subsystem
	for _, s := range subs {
		if s.Kind != SubsysLDAP {
			noLDAP = append(noLDAP, s)
		}
	}
	exp.STSUserMappings = nil
	delete(exp.GroupMappings, "cn=auditors,ou=groups,dc=example,dc=org")
	res, err := Convert(exp, noLDAP, fixedOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvUpstreamKey, "k")
	t.Setenv(EnvUpstreamSecret, "s")
	t.Setenv(EnvSessionKey, strings.Repeat("k", 64))
	f, warnings, err := config.Load(writeResult(t, res))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if !strings.Contains(w.String(), "service_credentials[") { // expiry warnings depend on today's date
			t.Errorf("warning: %s", w)
		}
	}
	if len(f.ServiceCredentials) != 2 || len(f.Issuers) != 2 {
		t.Errorf("loaded %d service credentials, %d issuers", len(f.ServiceCredentials), len(f.Issuers))
	}
}

// Two sub-systems for one provider become one issuer with both audiences;
// role_policy and claim-based roles both trust it.
func TestConvertOneIssuerPerProvider(t *testing.T) {
	subs, err := ParseIdentityConfig("idp.txt", []byte(
		"identity_openid config_url=https://sso.example.com/.well-known/openid-configuration client_id=a\n"+
			"identity_openid:second config_url=https://sso.example.com/.well-known/openid-configuration client_id=b role_policy=p\n"))
	if err != nil {
		t.Fatal(err)
	}
	exp := &Export{Policies: map[string]json.RawMessage{"p": json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`)}}
	res, err := Convert(exp, subs, Options{Endpoint: "http://127.0.0.1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvUpstreamKey, "k")
	t.Setenv(EnvUpstreamSecret, "s")
	t.Setenv(EnvSessionKey, strings.Repeat("k", 64))
	f, _, err := config.Load(writeResult(t, res))
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Config)
	}
	if len(f.Issuers) != 1 || !reflect.DeepEqual(f.Issuers[0].Audiences, []string{"a", "b"}) || len(f.Roles) != 2 {
		t.Errorf("issuers %+v, roles %+v", f.Issuers, f.Roles)
	}
}
