package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/testenv"
)

// The directory integration tests run iamgate in-process against a real
// MinIO and a real OpenLDAP slapd (over ldaps, trusting the test CA), with
// no OpenID Connect issuer at all: minio-go's LDAP credentials provider is
// the STS client.

type ldapEnv struct {
	minio *testenv.MinIO
	slapd *testenv.Slapd
	app   *app
	url   string
	audit string
	cfg   string
}

const ldapPolicies = `
policies:
  home: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
       "Condition": {"StringLike": {"s3:prefix": "home/${jwt:preferred_username}/*"}}},
      {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
       "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"}]}
`

func setupLDAP(t *testing.T) *ldapEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO and slapd")
	}
	dir := t.TempDir()
	e := &ldapEnv{minio: testenv.StartMinIO(t), slapd: testenv.StartSlapd(t)}
	t.Setenv("IT_MINIO_USER", e.minio.AccessKey)
	t.Setenv("IT_MINIO_PASSWORD", e.minio.SecretKey)
	t.Setenv("IT_SESSION_KEY", "integration-session-key-0123456789abcdef")
	t.Setenv("IT_LDAP_LOOKUP", e.slapd.LookupPassword)
	e.audit = filepath.Join(dir, "audit.log")
	e.cfg = filepath.Join(dir, "iamgate.yaml")
	writeFile(t, e.cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream:
  endpoint: %s
  access_key_id: env:IT_MINIO_USER
  secret_access_key: env:IT_MINIO_PASSWORD
sts:
  session_keys: [{id: k1, secret: env:IT_SESSION_KEY}]
ldap:
  - name: corp
    url: %s
    ca_file: %s
    lookup_bind_dn: %s
    lookup_bind_password: env:IT_LDAP_LOOKUP
    user_dn_search_base: %s
    user_dn_search_filter: "%s"
    group_search_base: %s
    group_search_filter: "%s"
    attributes: [mail]
    dial_timeout: 2s
    request_timeout: 5s
    pool_size: 2
    login_label: Sign in with your corporate account
    throttle: {max_failures: 3, source_max_failures: 1000, window: 5s, lockout: 2s}
roles:
  - name: analysts
    kind: human
    trust: {issuer: corp, claims: {groups: "%s"}}
    policies: [home]
audit:
  stdout: false
  file: %s
  claims: [groups, mail]
log: {level: warn, format: text}
%s`, e.minio.Endpoint, e.slapd.LDAPSURL, e.slapd.CAFile, testenv.SlapdLookupDN, testenv.SlapdPeople, testenv.SlapdUserFilter,
		testenv.SlapdGroups, testenv.SlapdGroupFilter, testenv.SlapdGroupDN("analysts"), e.audit, ldapPolicies))
	e.app, e.url = startApp(t, e.cfg)
	e.minio.MakeBucket(t, "data")
	return e
}

// ldapClient assumes the role with minio-go's LDAP provider and returns a
// client of iamgate's S3 API with the credentials, or the STS error.
func (e *ldapEnv) ldapClient(t *testing.T, user, pass string) (*minio.Client, error) {
	t.Helper()
	creds, err := credentials.NewLDAPIdentity(e.url, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient}); err != nil {
		return nil, err
	}
	c, err := minio.New(strings.TrimPrefix(e.url, "http://"), &minio.Options{Creds: creds, Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c, nil
}

func stsCode(err error) string {
	var er credentials.ErrorResponse
	if errors.As(err, &er) {
		return er.STSError.Code + ": " + er.STSError.Message
	}
	return "not an STS error: " + fmt.Sprint(err)
}

func TestIntegrationLDAP(t *testing.T) {
	e := setupLDAP(t)
	ctx := context.Background()
	alice := e.slapd.User("alice")

	t.Run("good password: the role's policy applies", func(t *testing.T) {
		c, err := e.ldapClient(t, "alice", alice.Password)
		if err != nil {
			t.Fatalf("AssumeRoleWithLDAPIdentity: %v", stsCode(err))
		}
		if _, err := c.PutObject(ctx, "data", "home/alice/a.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put own home: %v", err)
		}
		obj, err := c.GetObject(ctx, "data", "home/alice/a.txt", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(obj)
		if string(got) != "hello" {
			t.Fatalf("get = %q", got)
		}
		_, err = c.PutObject(ctx, "data", "home/bob/a.txt", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		if minio.ToErrorResponse(err).Code != "AccessDenied" {
			t.Fatalf("put another home: %v", err)
		}
	})

	for _, tc := range []struct{ name, user, pass, want string }{
		{"wrong password", "alice", "not-the-password", "AccessDenied: Not authorized to perform sts:AssumeRoleWithLDAPIdentity: invalid user name or password"},
		{"unknown user", "zed", "not-the-password", "AccessDenied: Not authorized to perform sts:AssumeRoleWithLDAPIdentity: invalid user name or password"},
		{"locked account", "carol", e.slapd.User("carol").Password, "AccessDenied: Not authorized to perform sts:AssumeRoleWithLDAPIdentity: invalid user name or password"},
		{"in no trusted group", "bob", e.slapd.User("bob").Password, "AccessDenied: Not authorized to perform sts:AssumeRoleWithLDAPIdentity: no role trusts this identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ldapClient(t, tc.user, tc.pass)
			if got := stsCode(err); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("directory down, back, nothing cached", func(t *testing.T) {
		e.slapd.Stop()
		_, err := e.ldapClient(t, "alice", alice.Password)
		if got := stsCode(err); got != "ServiceUnavailable: the directory corp cannot be reached; try again later" {
			t.Fatalf("down: %s", got)
		}
		e.slapd.Restart(t)
		if _, err := e.ldapClient(t, "alice", alice.Password); err != nil {
			t.Fatalf("after restart: %s", stsCode(err))
		}
		e.slapd.SetPassword(t, "alice", "alice-changed-2")
		defer e.slapd.SetPassword(t, "alice", alice.Password)
		if _, err := e.ldapClient(t, "alice", alice.Password); !strings.Contains(stsCode(err), "invalid user name or password") {
			t.Fatalf("old password after the change: %s", stsCode(err))
		}
		if _, err := e.ldapClient(t, "alice", "alice-changed-2"); err != nil {
			t.Fatalf("new password: %s", stsCode(err))
		}
	})

	t.Run("brute force is throttled", func(t *testing.T) {
		dave := e.slapd.User("dave")
		for i := range 3 {
			if _, err := e.ldapClient(t, "dave", fmt.Sprintf("guess-%d-xxxx", i)); !strings.Contains(stsCode(err), "invalid user name or password") {
				t.Fatalf("guess %d: %s", i, stsCode(err))
			}
		}
		r := stsPost(t, e.url, url.Values{"LDAPUsername": {"dave"}, "LDAPPassword": {dave.Password}})
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "<Code>Throttling</Code>") || r.header.Get("Retry-After") == "" {
			t.Fatalf("right password while throttled: %d %s", r.status, r.body)
		}
		time.Sleep(2100 * time.Millisecond) // the configured lockout
		if _, err := e.ldapClient(t, "dave", dave.Password); err != nil {
			t.Fatalf("after the lockout: %s", stsCode(err))
		}
	})

	t.Run("reload", func(t *testing.T) {
		// A new generation gets new directories; the failure counts stay.
		for i := range 3 {
			e.ldapClient(t, "dave", fmt.Sprintf("guess-again-%d", i))
		}
		if err := e.app.reload(ctx, "signal"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ldapClient(t, "dave", e.slapd.User("dave").Password); !strings.Contains(stsCode(err), "Throttling") {
			t.Fatalf("throttle forgotten on reload: %s", stsCode(err))
		}
		if _, err := e.ldapClient(t, "alice", alice.Password); err != nil {
			t.Fatalf("after reload: %s", stsCode(err))
		}
	})

	t.Run("audit", func(t *testing.T) {
		raw, err := os.ReadFile(e.audit)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auditschema.File(e.audit); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`"eventName":"AssumeRoleWithLDAPIdentity"`, `"AuthenticationMethod":"ldap"`, `"identityProvider":"corp"`,
			`"federatedProvider":"ldap:corp"`, `"principalId":"uid=alice,ou=people,dc=example,dc=org"`,
			`"reason":"account_locked"`, `"reason":"invalid_credentials"`, `"reason":"user_not_found"`, `"reason":"no_role"`,
			`"reason":"directory_unavailable"`, `"reason":"throttled"`, `"mail":"alice@example.org"`,
		} {
			if !bytes.Contains(raw, []byte(want)) {
				t.Errorf("audit log lacks %s", want)
			}
		}
		var secrets []string
		for _, u := range e.slapd.Users {
			secrets = append(secrets, u.Password)
		}
		assertNoSecrets(t, append(secrets, e.slapd.LookupPassword, "alice-changed-2"), e.audit)
	})
}

func stsPost(t *testing.T, base string, v url.Values) resp {
	t.Helper()
	v.Set("Action", "AssumeRoleWithLDAPIdentity")
	v.Set("Version", "2011-06-15")
	return do(t, "POST", base+"/", "", strings.NewReader(v.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestIntegrationLDAPConsole signs in on the console's directory form and
// lists a bucket through the console with the session cookie.
func TestIntegrationLDAPConsole(t *testing.T) {
	e := setupLDAP(t)
	e.minio.PutObject(t, "data", "home/alice/notes.txt", []byte("n"))
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) resp {
		t.Helper()
		res, err := client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{status: res.StatusCode, body: string(b), header: res.Header}
	}
	post := func(form url.Values) resp {
		t.Helper()
		res, err := client.PostForm(e.url+"/_iamgate/login/ldap", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{status: res.StatusCode, body: string(b), header: res.Header}
	}

	page := get("/_iamgate/login?rd=/_iamgate/ui/b/data/home/alice/")
	expect(t, page, 200, "Sign in with your corporate account", `name="password"`)
	m := csrfField.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no anti-forgery field: %s", page.body)
	}
	form := url.Values{"directory": {"corp"}, "csrf": {m[1]}, "rd": {"/_iamgate/ui/b/data/home/alice/"}, "username": {"alice"}}

	t.Run("forged form", func(t *testing.T) {
		f := url.Values{"directory": {"corp"}, "csrf": {"forged"}, "username": {"alice"}, "password": {e.slapd.User("alice").Password}}
		expect(t, post(f), 403, "not from this sign-in page")
	})
	t.Run("wrong password", func(t *testing.T) {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("password", "wrong-password")
		r := post(f)
		expect(t, r, 401, "Invalid user name or password.", `value="alice"`)
		if strings.Contains(r.body, "wrong-password") {
			t.Fatal("the page repeats the password")
		}
	})
	t.Run("sign in, browse, sign out", func(t *testing.T) {
		form.Set("password", e.slapd.User("alice").Password)
		r := post(form)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/_iamgate/ui/b/data/home/alice/" {
			t.Fatalf("sign-in: %d %s %s", r.status, r.header.Get("Location"), r.body)
		}
		expect(t, get("/_iamgate/ui/b/data/home/alice/"), 200, "notes.txt", "uid=alice,ou=people,dc=example,dc=org")
		get("/_iamgate/logout")
		if r := get("/_iamgate/ui/b/data/home/alice/"); r.status == 200 {
			t.Fatalf("the console still answers after sign-out: %s", r.body)
		}
	})
	raw, _ := os.ReadFile(e.audit)
	for _, want := range []string{`"eventName":"ConsoleLogin"`, `"AuthenticationMethod":"ldap"`, `"reason":"invalid_credentials"`, `"reason":"csrf"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if _, err := auditschema.File(e.audit); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserLDAPSignIn signs in with a real browser (headless Chromium)
// on the console's directory form: a plain console address sends the
// browser to the sign-in page, a wrong password shows the message on the
// form, the right one lands on the page first asked for.
func TestBrowserLDAPSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Chromium, MinIO and slapd")
	}
	browser := testenv.StartChromium(t)
	e := setupLDAP(t)
	e.minio.PutObject(t, "data", "home/alice/notes.txt", []byte("n"))
	tab := browser.NewTab(t)
	tab.Do("open the console", chromedp.Navigate(e.url+"/_iamgate/ui/b/data/home/alice/"),
		chromedp.WaitVisible(chromedp.CSS(`form.login-directory[data-directory="corp"]`)))
	tab.Do("wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "not-her-password"),
		chromedp.Click(chromedp.CSS(`form.login-directory button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.login-directory .denied`)))
	if msg := strings.TrimSpace(testenv.Run(tab, "the message", chromedp.Evaluate[string](
		`document.querySelector("form.login-directory .denied").innerText`))); msg != "Invalid user name or password." {
		t.Fatalf("message %q", msg)
	}
	tab.Do("right password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), e.slapd.User("alice").Password),
		chromedp.Click(chromedp.CSS(`form.login-directory button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="home/alice/notes.txt"]`)))
	if loc := testenv.Run(tab, "where", chromedp.Evaluate[string](`location.href`)); !strings.HasSuffix(loc, "/_iamgate/ui/b/data/home/alice/") {
		t.Fatalf("landed on %s", loc)
	}
}
