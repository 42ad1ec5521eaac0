package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/web"
)

func TestLoginHappyPath(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.browser()
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd=/_iamgate/ui/", nil)
	if r.status != 200 || r.url.Path != "/_iamgate/ui/" {
		t.Fatalf("ended at %s (%d): %s", r.url, r.status, r.body)
	}
	for _, want := range []string{`<a class="bucket" href="/_iamgate/ui/b/bkt/">bkt</a>`, `id="whoami-subject"`, "alice",
		`<dd id="whoami-roles">staff</dd>`, `id="whoami-expiry"`, `<a id="logout"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(r.body, `>hidden<`) {
		t.Error("a bucket the user may not list is shown")
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := r.hdr.Get(h); got != want {
			t.Errorf("%s = %q", h, got)
		}
	}
	if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	ck := e.sessionCookies(c)
	if len(ck) != 1 {
		t.Fatalf("session cookies %v", ck)
	}
	ev := e.lastEvent("login")
	if ev.Subject != "id-alice" || ev.Issuer != "corp" || ev.Username != "alice" || len(ev.Roles) != 1 || ev.SessionID == "" ||
		ev.RoleKind != "human" || ev.IssuerURL != e.idp.srv.URL || ev.Expiry.IsZero() {
		t.Errorf("login event %+v", ev)
	}
	// The session lasts the role's max_session (30m), shorter than the ID token (1h).
	s, err := e.keys.Open(ck[0].Value, e.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Expiry.Sub(e.clk.now()); got != 30*time.Minute || s.Kind != identity.KindBrowser {
		t.Errorf("session lasts %s, kind %q", got, s.Kind)
	}
	// The listing ran through the proxy as the user, and was audited.
	var listed bool
	for _, ev := range e.events() {
		if ev.Kind == "s3" && ev.Operation == "ListBuckets" && ev.AuthMethod == "browser-session" && ev.Subject == "id-alice" && ev.Decision == "allow" {
			listed = true
		}
	}
	if !listed {
		t.Error("no audited browser-session ListBuckets")
	}
	// Secrets never reach the audit log.
	e.audMu.Lock()
	log := e.aud.String()
	e.audMu.Unlock()
	if strings.Contains(log, ck[0].Value) || strings.Contains(log, e.idp.secret) || strings.Contains(log, s.IDToken) {
		t.Error("audit log holds a cookie, ID token or client secret")
	}
}

func TestLoginCookieAttributes(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := noFollow(e.browser())
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd=/x", nil)
	if r.status != http.StatusFound || !strings.HasPrefix(r.hdr.Get("Location"), e.idp.srv.URL+"/authorize?") {
		t.Fatalf("%d %s", r.status, r.hdr.Get("Location"))
	}
	loc, _ := url.Parse(r.hdr.Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("redirect_uri") != e.srv.URL+"/_iamgate/callback" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("authorization request %v", q)
	}
	sc := r.hdr.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/_iamgate/callback"} {
		if !strings.Contains(sc, want) {
			t.Errorf("login state cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(strings.ToLower(sc), "domain=") {
		t.Errorf("cookie is not host-only: %s", sc)
	}
	// Follow to the callback and look at the session cookie.
	r = do(t, c, "GET", r.hdr.Get("Location"), nil)
	r = do(t, c, "GET", r.hdr.Get("Location"), nil)
	var session string
	for _, v := range r.hdr.Values("Set-Cookie") {
		if strings.HasPrefix(v, web.DefaultCookieName+"=") {
			session = v
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Secure") {
		t.Error("Secure set on a plain-HTTP request")
	}
	if r.status != http.StatusFound || r.hdr.Get("Location") != "/x" {
		t.Errorf("callback returned %d to %q", r.status, r.hdr.Get("Location"))
	}
}

func TestLoginChooserWithSeveralIssuers(t *testing.T) {
	e := newEnv(t, envOpts{issuers: []web.Issuer{{Name: "partners", URL: "https://partners.example", ClientID: "x", Label: "Partner login"}}})
	r := do(t, noFollow(e.browser()), "GET", e.srv.URL+"/_iamgate/login?rd=/bkt/a", nil)
	if r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	for _, want := range []string{`class="login-issuer button" data-issuer="corp" href="/_iamgate/login?issuer=corp&amp;rd=%2Fbkt%2Fa"`,
		`data-issuer="partners"`, "Corporate SSO", "Partner login"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("chooser lacks %q:\n%s", want, r.body)
		}
	}
}

func TestLoginStateMismatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := noFollow(e.browser())
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login", nil)
	r = do(t, c, "GET", r.hdr.Get("Location"), nil) // at the provider
	cb, _ := url.Parse(r.hdr.Get("Location"))
	q := cb.Query()
	q.Set("state", q.Get("state")[:12]+"tampered")
	cb.RawQuery = q.Encode()
	r = do(t, c, "GET", cb.String(), nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `class="denied" role="alert"`) || !strings.Contains(r.body, "state") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "state_mismatch" {
		t.Errorf("reason %q", ev.Reason)
	}
	wantAttempt(t, e.lastEvent("login_failure"), "", "", "") // no token was seen
	if len(e.sessionCookies(c)) != 0 {
		t.Error("session cookie set")
	}
	// No state at all (a forged callback link).
	r = do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/callback?code=abc&state=xyz", nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("forged callback %d", r.status)
	}
}

func TestLoginNonceMismatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.idp.nonceOver = "someone-elses-nonce"
	c := e.browser()
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "nonce") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "nonce_mismatch" || ev.Issuer != "corp" {
		t.Errorf("event %+v", ev)
	}
	wantAttempt(t, e.lastEvent("login_failure"), "id-alice", "alice", e.idp.srv.URL)
	if len(e.sessionCookies(c)) != 0 {
		t.Error("session cookie set")
	}
}

// TestLoginPKCEMismatch injects the code of one sign-in into another
// (an attacker's code in the victim's browser): the provider sees a
// verifier that does not match the code's challenge.
func TestLoginPKCEMismatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := noFollow(e.browser())
	start := func() *url.URL {
		r := do(t, c, "GET", e.srv.URL+"/_iamgate/login", nil)
		r = do(t, c, "GET", r.hdr.Get("Location"), nil)
		u, _ := url.Parse(r.hdr.Get("Location"))
		return u
	}
	a, b := start(), start()
	qa, qb := a.Query(), b.Query()
	qb.Set("code", qa.Get("code"))
	b.RawQuery = qb.Encode()
	r := do(t, c, "GET", b.String(), nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "PKCE") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "code_exchange_failed" {
		t.Errorf("reason %q", ev.Reason)
	}
	if len(e.sessionCookies(c)) != 0 {
		t.Error("session cookie set")
	}
}

func TestLoginReplayedCode(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := noFollow(e.browser())
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login", nil)
	r = do(t, c, "GET", r.hdr.Get("Location"), nil)
	callback := r.hdr.Get("Location")
	u, _ := url.Parse(e.srv.URL + "/_iamgate/callback")
	var stateCookie string
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "iamgate_login_") {
			stateCookie = ck.Name + "=" + ck.Value
		}
	}
	if r = do(t, c, "GET", callback, nil); r.status != http.StatusFound {
		t.Fatalf("first use %d %s", r.status, r.body)
	}
	// An attacker who captured the callback URL and the state cookie.
	r = do(t, &http.Client{CheckRedirect: noFollow(c).CheckRedirect}, "GET", callback, nil, "Cookie", stateCookie)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "only once") {
		t.Fatalf("replay %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "code_exchange_failed" {
		t.Errorf("reason %q", ev.Reason)
	}
	if strings.Contains(r.hdr.Get("Set-Cookie"), web.DefaultCookieName+"=") {
		t.Error("replay set a session cookie")
	}
}

func TestLoginIdPErrorAndNoRole(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.idp.claims = map[string]any{"sub": "id-mallory", "preferred_username": "mallory", "groups": []any{"guests"}}
	r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "no role") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "no_role" {
		t.Errorf("reason %q", ev.Reason)
	}
	wantAttempt(t, e.lastEvent("login_failure"), "id-mallory", "mallory", e.idp.srv.URL)
	c := noFollow(e.browser())
	r = do(t, c, "GET", e.srv.URL+"/_iamgate/login", nil)
	loc, _ := url.Parse(r.hdr.Get("Location"))
	r = do(t, c, "GET", e.srv.URL+"/_iamgate/callback?error=access_denied&error_description=%3Cb%3Enope%3C%2Fb%3E&state="+loc.Query().Get("state"), nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "&lt;b&gt;nope") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "idp_error" {
		t.Errorf("reason %q", ev.Reason)
	}
}

func TestLoginOpenRedirectRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, rd := range []string{"//evil.example/", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example",
		"javascript:alert(1)", "/ok\r\nX: y", "/.//evil.example", "\\\\evil.example"} {
		c := noFollow(e.browser())
		r := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd="+url.QueryEscape(rd), nil)
		r = do(t, c, "GET", r.hdr.Get("Location"), nil)
		r = do(t, c, "GET", r.hdr.Get("Location"), nil)
		if r.status != http.StatusFound || r.hdr.Get("Location") != web.DefaultReturnPath {
			t.Errorf("rd %q: %d to %q", rd, r.status, r.hdr.Get("Location"))
		}
	}
	// A good one is kept, query included.
	c := noFollow(e.browser())
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/login?rd="+url.QueryEscape("/bkt/a%20b.txt?x=1"), nil)
	r = do(t, c, "GET", r.hdr.Get("Location"), nil)
	r = do(t, c, "GET", r.hdr.Get("Location"), nil)
	if r.hdr.Get("Location") != "/bkt/a%20b.txt?x=1" {
		t.Errorf("kept %q", r.hdr.Get("Location"))
	}
}

func TestLogoutEndsSessionAtProvider(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	s, _ := e.keys.Open(e.sessionCookies(c)[0].Value, e.clk.now())
	r := do(t, noFollow(c), "GET", e.srv.URL+"/_iamgate/logout", nil)
	loc, _ := url.Parse(r.hdr.Get("Location"))
	if r.status != http.StatusFound || loc.Path != "/logout" || loc.Query().Get("id_token_hint") != s.IDToken ||
		loc.Query().Get("post_logout_redirect_uri") != e.srv.URL+web.SignedOutPath {
		t.Fatalf("%d %s", r.status, loc)
	}
	if len(e.sessionCookies(c)) != 0 {
		t.Error("session cookie kept")
	}
	if ev := e.lastEvent("logout"); ev.SessionID != s.ID || ev.Subject != "id-alice" {
		t.Errorf("logout event %+v", ev)
	}
	for _, p := range []string{web.SignedOutPath, "/_iamgate/logout?done=1"} {
		r = do(t, c, "GET", e.srv.URL+p, nil)
		if r.status != 200 || !strings.Contains(r.body, "signed out") {
			t.Errorf("%s: %d %q", p, r.status, r.body)
		}
	}
}

// TestLoginAppliesIssuerRules: an issuer's required claims and accepted
// algorithms apply to ID tokens as they do to bearer tokens.
func TestLoginAppliesIssuerRules(t *testing.T) {
	e := newEnv(t, envOpts{required: []string{"department"}})
	r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "department") {
		t.Fatalf("without the required claim: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "missing_claim" {
		t.Errorf("reason %q", ev.Reason)
	}
	wantAttempt(t, e.lastEvent("login_failure"), "id-alice", "alice", e.idp.srv.URL)
	e.idp.claims["department"] = "finance"
	if r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/ui/", nil); r.status != http.StatusOK {
		t.Fatalf("with the required claim: %d %s", r.status, r.body)
	}

	e = newEnv(t, envOpts{algorithms: []string{"ES256"}})
	r = do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "not valid") {
		t.Fatalf("RS256 ID token with only ES256 accepted: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "id_token_invalid" {
		t.Errorf("reason %q", ev.Reason)
	}
	// An ID token that failed verification is not read for who it names.
	wantAttempt(t, e.lastEvent("login_failure"), "", "", e.idp.srv.URL)
}

// wantAttempt checks the identity a login_failure event records: the
// principal a verified ID token named (subject, username, issuer URL), or
// none when the token was missing or not verified.
func wantAttempt(t *testing.T, ev audit.Event, subject, username, issuerURL string) {
	t.Helper()
	if ev.Subject != subject || ev.Username != username || ev.IssuerURL != issuerURL || ev.AuthMethod != "oidc-code" ||
		ev.Status < 400 || len(ev.Roles) != 0 || subject != "" && ev.Issuer != "corp" {
		t.Errorf("login_failure identity: subject %q username %q issuer %q (%s) method %q status %d roles %v; want subject %q username %q issuer URL %q",
			ev.Subject, ev.Username, ev.Issuer, ev.IssuerURL, ev.AuthMethod, ev.Status, ev.Roles, subject, username, issuerURL)
	}
}
