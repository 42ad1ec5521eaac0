package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity/ldapdir"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

var formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newLDAPEnv(t *testing.T) (*env, *testenv.Slapd) {
	t.Helper()
	s := testenv.StartSlapd(t)
	var e *env
	clk := func() time.Time { return e.clk.now() }
	dir, err := ldapdir.New(ldapdir.Config{Name: "corp-ldap", URL: s.URL,
		LookupBindDN: testenv.SlapdLookupDN, LookupBindPassword: s.LookupPassword,
		UserSearchBase: testenv.SlapdPeople, UserSearchFilter: testenv.SlapdUserFilter,
		GroupSearchBase: testenv.SlapdGroups, GroupSearchFilter: testenv.SlapdGroupFilter,
		Throttle: ldapdir.Throttle{Failures: state.NewFailureMemory(state.FailureMemoryConfig{Now: clk}), MaxFailures: 2, Lockout: time.Minute},
		Now:      clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Close)
	e = newEnv(t, envOpts{sessionRefresh: 10 * time.Minute,
		directories: []web.Directory{{Name: "corp-ldap", Label: "Corporate directory", Directory: dir}},
		roles: []authz.RoleConfig{{Name: "ldap-staff", Kind: "human", Policies: []string{"console"},
			Trust: []authz.TrustRule{{Issuer: "corp-ldap", Claims: map[string]any{"groups": testenv.SlapdGroupDN("analysts")}}}}}})
	return e, s
}

// ldapSignIn loads the sign-in page and posts its directory form.
func ldapSignIn(t *testing.T, e *env, c *http.Client, user, pass string) result {
	t.Helper()
	page := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd=/_iamgate/ui/", nil)
	if page.status != 200 || !strings.Contains(page.body, "Corporate directory") || !strings.Contains(page.body, "Corporate SSO") {
		t.Fatalf("sign-in page: %d %s", page.status, page.body)
	}
	m := formCSRF.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no anti-forgery field")
	}
	form := url.Values{"directory": {"corp-ldap"}, "csrf": {m[1]}, "rd": {"/_iamgate/ui/"}, "username": {user}, "password": {pass}}
	return do(t, noFollow(c), "POST", e.srv.URL+web.LDAPLoginPath, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

func TestLDAPSignIn(t *testing.T) {
	e, s := newLDAPEnv(t)
	c := e.browser()
	r := ldapSignIn(t, e, c, "alice", s.User("alice").Password)
	if r.status != http.StatusSeeOther || r.hdr.Get("Location") != "/_iamgate/ui/" {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	if r := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/", nil); r.status != 200 || !strings.Contains(r.body, "bkt") {
		t.Fatalf("console: %d %s", r.status, r.body)
	}
	ev := e.lastEvent("login")
	if ev.AuthMethod != "ldap" || ev.Issuer != "corp-ldap" || ev.IssuerURL != "ldap:corp-ldap" || ev.Subject != s.User("alice").DN() || ev.Username != "alice" {
		t.Fatalf("login event = %+v", ev)
	}

	// No refresh token: the session ends after the renewal window, and the
	// person signs in again.
	e.clk.add(10*time.Minute + time.Second)
	if r := do(t, noFollow(c), "GET", e.srv.URL+"/_iamgate/ui/", nil); r.status == 200 {
		t.Fatalf("the session outlived its renewal window: %d", r.status)
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			user, pass string
			status     int
			msg, why   string
		}{
			{"alice", "wrong-password", 401, "Invalid user name or password.", "invalid_credentials"},
			{"carol", s.User("carol").Password, 401, "Invalid user name or password.", "account_locked"},
			{"bob", s.User("bob").Password, 403, "no role of this iamgate trusts that identity", "no_role"},
			{"alice", s.User("alice").Password, 429, "Too many failed sign-in attempts.", "throttled"}, // after 2 failures
		} {
			if tc.why == "throttled" {
				ldapSignIn(t, e, e.browser(), "alice", "wrong-again")
			}
			r := ldapSignIn(t, e, e.browser(), tc.user, tc.pass)
			if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
				t.Fatalf("%s: %d %s", tc.user, r.status, r.body)
			}
			if ev := e.lastEvent("login_failure"); ev.Reason != tc.why || ev.AuthMethod != "ldap" {
				t.Fatalf("%s: event %+v", tc.user, ev)
			}
		}
	})

	t.Run("forgery", func(t *testing.T) {
		c := e.browser()
		form := url.Values{"directory": {"corp-ldap"}, "csrf": {"x"}, "username": {"dave"}, "password": {s.User("dave").Password}}
		r := do(t, noFollow(c), "POST", e.srv.URL+web.LDAPLoginPath, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		if r.status != 403 {
			t.Fatalf("forged form: %d", r.status)
		}
		r = do(t, noFollow(c), "POST", e.srv.URL+web.LDAPLoginPath, strings.NewReader(form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example")
		if r.status != 403 || !strings.Contains(r.body, "another site") {
			t.Fatalf("cross-site form: %d %s", r.status, r.body)
		}
	})
}
