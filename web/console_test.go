package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3req"
)

func TestConsoleEscapesHostileKeys(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/bkt/", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "<script>alert(1)</script>") {
		t.Fatal("a hostile key is rendered unescaped")
	}
	rows := regexp.MustCompile(`<tr class="object" data-key="([^"]*)">\s*<td class="name"><a class="download" href="([^"]*)"`).FindAllStringSubmatch(r.body, -1)
	keys := map[string]string{}
	for _, m := range rows {
		keys[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	for _, k := range hostileKeys {
		if strings.Contains(k, "/") {
			continue
		}
		href, ok := keys[k]
		if !ok {
			t.Errorf("key %q not listed (have %q)", k, keys)
			continue
		}
		u, err := url.Parse(href)
		if err != nil || u.Host != "" || u.Path != "/bkt/"+k || u.Query().Get("response-content-disposition") != "attachment" {
			t.Errorf("key %q: download href %q decodes to %q", k, href, u)
		}
		// The link downloads exactly that object through the proxy.
		res := do(t, c, "GET", e.srv.URL+href, nil)
		if res.status != 200 || e.lastCall().path != "/bkt/"+k {
			t.Errorf("key %q: download %d reached %q", k, res.status, e.lastCall().path)
		}
	}
	for _, want := range []string{`<nav id="breadcrumbs"`, `<a class="prefix" href="/_iamgate/ui/b/bkt/dir/">dir/</a>`,
		`<a class="prefix" href="/_iamgate/ui/b/bkt/%C3%BCn%C3%AF/">ünï/</a>`, `id="upload-file"`, `id="upload-submit"`,
		`id="upload-progress"`, `id="upload-status"`, `class="share"`, `class="delete"`, `id="share-ttl"`, `id="share-create"`,
		`id="share-url" readonly`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	next := regexp.MustCompile(`<a id="next-page" class="button" href="([^"]*)"`).FindStringSubmatch(r.body)
	if next == nil {
		t.Fatal("no next page link")
	}
	r = do(t, c, "GET", e.srv.URL+html.UnescapeString(next[1]), nil)
	if call := e.lastCall(); r.status != 200 || call.query.Get("continuation-token") != "tok/+= next" || !strings.Contains(r.body, "page2.txt") {
		t.Errorf("next page %d, token %q", r.status, call.query.Get("continuation-token"))
	}
	// A unicode prefix page lists with the decoded prefix.
	r = do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/bkt/%C3%BCn%C3%AF/", nil)
	if r.status != 200 || e.lastCall().query.Get("prefix") != "ünï/" || !strings.Contains(r.body, `data-prefix="ünï/"`) {
		t.Errorf("unicode prefix: %d %q", r.status, e.lastCall().query.Get("prefix"))
	}
}

func TestConsoleShowsDenial(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	r := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/hidden/", nil)
	if r.status != 200 || !strings.Contains(r.body, `<p class="denied" role="alert">User: arn:aws:sts::iamgate:assumed-role/staff/alice is not authorized to perform: s3:ListBucket`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ev := e.lastEvent("s3")
	if ev.Decision != "deny" || ev.AuthMethod != "browser-session" || ev.Bucket != "hidden" {
		t.Errorf("event %+v", ev)
	}
}

func TestAnonymousNavigationRedirectsToLogin(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := noFollow(e.browser())
	r := do(t, c, "GET", e.srv.URL+"/bkt/reports/q3.pdf?x-id=GetObject", nil, "Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate")
	if r.status != http.StatusFound || r.hdr.Get("Location") != "/_iamgate/login?rd="+url.QueryEscape("/bkt/reports/q3.pdf?x-id=GetObject") {
		t.Fatalf("%d %q", r.status, r.hdr.Get("Location"))
	}
	// An API client gets the S3 error.
	r = do(t, c, "GET", e.srv.URL+"/bkt/reports/q3.pdf", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "<Code>AccessDenied</Code>") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A fetch (not a navigation) too.
	r = do(t, c, "GET", e.srv.URL+"/bkt/reports/q3.pdf", nil, "Accept", "text/html", "Sec-Fetch-Mode", "cors")
	if r.status != http.StatusForbidden {
		t.Fatalf("fetch %d", r.status)
	}
	// The console itself.
	r = do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/bkt/dir/", nil)
	if r.status != http.StatusFound || r.hdr.Get("Location") != "/_iamgate/login?rd="+url.QueryEscape("/_iamgate/ui/b/bkt/dir/") {
		t.Fatalf("%d %q", r.status, r.hdr.Get("Location"))
	}
	// Signed in, the plain object URL works, and comes back after login.
	b := e.browser()
	r = do(t, b, "GET", e.srv.URL+"/bkt/reports/q3.pdf", nil, "Accept", "text/html")
	if r.status != 200 || r.body != "content of /bkt/reports/q3.pdf" {
		t.Fatalf("after login: %d %q at %s", r.status, r.body, r.url)
	}
	if ev := e.lastEvent("s3"); ev.AuthMethod != "browser-session" || ev.Decision != "allow" || ev.Username != "alice" {
		t.Errorf("event %+v", ev)
	}
}

func TestExpiredAndTamperedSessions(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	obj := e.srv.URL + "/bkt/a.txt"
	if r := do(t, c, "GET", obj, nil); r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	ck := e.sessionCookies(c)[0]
	// Tampered.
	b := []byte(ck.Value)
	b[len(b)/2] ^= 1
	plain := &http.Client{CheckRedirect: noFollow(c).CheckRedirect}
	r := do(t, plain, "GET", obj, nil, "Cookie", ck.Name+"="+string(b))
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "session") {
		t.Fatalf("tampered: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "invalid_session" || ev.AuthMethod != "browser-session" {
		t.Errorf("event %+v", ev)
	}
	// A share or STS token in the cookie is not a browser session.
	sts := identity.NewSession()
	sts.Issuer, sts.Subject, sts.Roles, sts.IssuedAt, sts.Expiry = "corp", "id-alice", []string{"staff"}, e.clk.now(), e.clk.now().Add(time.Hour)
	tok, _ := e.keys.Seal(sts)
	if r := do(t, plain, "GET", obj, nil, "Cookie", ck.Name+"="+tok); r.status != http.StatusForbidden {
		t.Errorf("STS token as cookie: %d", r.status)
	}
	// Expired: API clients get AccessDenied, navigation goes to login.
	e.clk.add(31 * time.Minute)
	r = do(t, plain, "GET", obj, nil, "Cookie", ck.Name+"="+ck.Value)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "expired") {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "expired" {
		t.Errorf("reason %q", ev.Reason)
	}
	r = do(t, plain, "GET", obj, nil, "Cookie", ck.Name+"="+ck.Value, "Accept", "text/html")
	if r.status != http.StatusFound || !strings.HasPrefix(r.hdr.Get("Location"), "/_iamgate/login?rd=") {
		t.Fatalf("expired navigation: %d %q", r.status, r.hdr.Get("Location"))
	}
}

func TestRevokedBrowserSession(t *testing.T) {
	e := newEnv(t, envOpts{revocations: []identity.Revocation{{Subject: "id-alice", IssuedBefore: time.Now().Add(24 * time.Hour)}}})
	r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "revoked") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	page := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/bkt/", nil)
	token := csrf(t, page.body)
	before := e.callCount()
	for _, m := range []struct{ method, path, body string }{
		{"PUT", "/bkt/new.txt", "data"},
		{"DELETE", "/bkt/a.txt", ""},
		{"POST", "/bkt?delete", `<Delete><Object><Key>a.txt</Key></Object></Delete>`},
	} {
		r := do(t, c, m.method, e.srv.URL+m.path, strings.NewReader(m.body), "Origin", "https://evil.example")
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "X-Iamgate-CSRF") {
			t.Errorf("%s %s without token: %d %s", m.method, m.path, r.status, r.body)
		}
		if ev := e.lastEvent("s3"); ev.Reason != "csrf" || ev.Subject != "id-alice" {
			t.Errorf("event %+v", ev)
		}
		r = do(t, c, m.method, e.srv.URL+m.path, strings.NewReader(m.body), "X-Iamgate-CSRF", "wrong")
		if r.status != http.StatusForbidden {
			t.Errorf("%s %s with a wrong token: %d", m.method, m.path, r.status)
		}
	}
	if e.callCount() != before {
		t.Fatal("a request without the CSRF token reached the store")
	}
	if r := do(t, c, "PUT", e.srv.URL+"/bkt/new.txt", strings.NewReader("data"), "X-Iamgate-CSRF", token); r.status != 200 {
		t.Errorf("PUT with token: %d %s", r.status, r.body)
	}
	if r := do(t, c, "DELETE", e.srv.URL+"/bkt/a.txt", nil, "X-Iamgate-CSRF", token); r.status != 204 {
		t.Errorf("DELETE with token: %d %s", r.status, r.body)
	}
	// The policy still decides.
	if r := do(t, c, "PUT", e.srv.URL+"/bkt/secret/x", strings.NewReader("d"), "X-Iamgate-CSRF", token); r.status != 403 || !strings.Contains(r.body, "explicit deny") {
		t.Errorf("denied PUT: %d %s", r.status, r.body)
	}
	// Share links need it too.
	r := do(t, c, "POST", e.srv.URL+"/_iamgate/share", strings.NewReader("bucket=bkt&key=a.txt&ttl=1h"), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != http.StatusForbidden {
		t.Errorf("share without token: %d %s", r.status, r.body)
	}
}

func TestExplicitCredentialsWinOverCookie(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil, "Authorization", "Bearer not-a-token")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.AuthMethod != "bearer" {
		t.Errorf("auth method %q", ev.AuthMethod)
	}
}

func TestLargeSessionSplitsOverCookies(t *testing.T) {
	e := newEnv(t, envOpts{})
	var groups []any
	for i := range 120 {
		groups = append(groups, "group-with-a-long-name-"+strings.Repeat("x", 10)+string(rune('a'+i%26)))
	}
	groups = append(groups, "staff")
	e.idp.claims["groups"] = groups
	c := e.login(t)
	if n := len(e.sessionCookies(c)); n < 2 {
		t.Fatalf("%d session cookies", n)
	}
	for _, ck := range e.sessionCookies(c) {
		if len(ck.Name)+len(ck.Value) > 4000 {
			t.Errorf("cookie %s is %d bytes", ck.Name, len(ck.Value))
		}
	}
	if r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Claims too large for any cookie fail the sign-in with a clear page.
	for i := range 400 {
		groups = append(groups, strings.Repeat("y", 30)+string(rune('a'+i%26)))
	}
	e.idp.claims["groups"] = groups
	r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "too large") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if ev := e.lastEvent("login_failure"); ev.Reason != "session_too_large" {
		t.Errorf("reason %q", ev.Reason)
	}
	wantAttempt(t, e.lastEvent("login_failure"), "id-alice", "alice", e.idp.srv.URL)
}

func TestRefreshRenewsSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.idp.refresh = true
	c := e.login(t)
	old, _ := e.keys.Open(e.sessionCookies(c)[0].Value, e.clk.now())
	if old.RefreshToken == "" || !old.RenewedAt.Equal(old.IssuedAt) {
		t.Fatalf("no refresh token kept, or renewed at %v", old.RenewedAt)
	}
	get := func() int { t.Helper(); return do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil).status }
	// Within its renewal window (10 minutes), the cookie is used as it is.
	calls := e.idp.tokenCalls
	e.clk.add(9 * time.Minute)
	if got := get(); got != 200 || e.idp.tokenCalls != calls {
		t.Fatalf("within the window: %d, %d token calls", got, e.idp.tokenCalls-calls)
	}
	// Past it, the provider confirms it again: same ID, sign-in time and
	// expiry, a new refresh token (this provider rotates them).
	e.clk.add(2 * time.Minute)
	if got := get(); got != 200 {
		t.Fatalf("past the window: %d", got)
	}
	ns, err := e.keys.Open(e.sessionCookies(c)[0].Value, e.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	if ns.ID != old.ID || !ns.IssuedAt.Equal(old.IssuedAt) || !ns.Expiry.Equal(old.Expiry) || !ns.RenewedAt.Equal(e.clk.now()) ||
		ns.RefreshToken == old.RefreshToken {
		t.Errorf("renewed in the window: %+v (was %+v)", ns, old)
	}
	if ev := e.lastEvent("login"); ev.Operation != "RenewSession" || ev.AuthMethod != "refresh-token" {
		t.Errorf("event %+v", ev)
	}
	// Close to its end (3 minutes left), renewal extends it by the sign-in
	// rule: the role's 30 minutes from now.
	e.clk.add(16 * time.Minute)
	if got := get(); got != 200 {
		t.Fatalf("near the end: %d", got)
	}
	ns, _ = e.keys.Open(e.sessionCookies(c)[0].Value, e.clk.now())
	if ns == nil || ns.ID != old.ID || !ns.Expiry.Equal(e.clk.now().Add(30*time.Minute)) {
		t.Fatalf("renewed near the end: %+v", ns)
	}

	// Requests that carry the same stale cookie at once share one renewal:
	// a rotated refresh token is used once.
	e.clk.add(11 * time.Minute)
	cookie := e.sessionCookies(c)[0]
	calls = e.idp.tokenCalls
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.srv.URL+"/bkt/a.txt", nil)
			req.AddCookie(cookie)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			codes[i] = res.StatusCode
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("parallel request %d: %d", i, code)
		}
	}
	if got := e.idp.tokenCalls - calls; got != 1 {
		t.Errorf("%d refresh calls for one stale cookie", got)
	}

	// The provider refuses (the person signed out there, or was
	// disabled): past its window the cookie is refused and deleted.
	c = e.login(t)
	e.idp.refreshFail = true
	e.clk.add(10 * time.Minute)
	r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "<Code>AccessDenied</Code>") {
		t.Fatalf("renewal refused: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "not_renewed" || ev.Subject != "id-alice" || ev.SessionID == "" || ev.AuthMethod != "browser-session" {
		t.Errorf("event %+v", ev)
	}
	if len(e.sessionCookies(c)) != 0 {
		t.Error("the refused cookie is kept")
	}
}

// TestSessionWithoutRefreshTokenEndsWithItsWindow: without a refresh
// token (no offline_access), a session cannot be confirmed again, so it
// ends with its renewal window, everywhere it is used.
func TestSessionWithoutRefreshTokenEndsWithItsWindow(t *testing.T) {
	e := newEnv(t, envOpts{sessionRefresh: 15 * time.Minute})
	c := e.login(t)
	e.clk.add(15*time.Minute - time.Second)
	if r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil); r.status != 200 {
		t.Fatalf("within the window: %d", r.status)
	}
	e.clk.add(time.Second)
	ck := e.sessionCookies(c)[0]
	plain := &http.Client{CheckRedirect: noFollow(c).CheckRedirect}
	r := do(t, plain, "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", ck.Name+"="+ck.Value)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "renewed") {
		t.Fatalf("past the window: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "not_renewed" || ev.Subject != "id-alice" {
		t.Errorf("event %+v", ev)
	}
	r = do(t, plain, "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", ck.Name+"="+ck.Value, "Accept", "text/html")
	if r.status != http.StatusFound || !strings.HasPrefix(r.hdr.Get("Location"), "/_iamgate/login?rd=") {
		t.Errorf("navigation past the window: %d %q", r.status, r.hdr.Get("Location"))
	}
	r = do(t, plain, "GET", e.srv.URL+"/_iamgate/ui/", nil, "Cookie", ck.Name+"="+ck.Value)
	if r.status != http.StatusFound || !strings.HasPrefix(r.hdr.Get("Location"), "/_iamgate/login?rd=") {
		t.Errorf("console past the window: %d %q", r.status, r.hdr.Get("Location"))
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "not_renewed" || ev.Operation != "ListBuckets" {
		t.Errorf("console event %+v", ev)
	}
}

// TestRenewalRefusedNearTheEnd: a renewal refused close to the session's
// end (within its window) leaves the session until it expires, and is not
// retried on every request.
func TestRenewalRefusedNearTheEnd(t *testing.T) {
	e := newEnv(t, envOpts{sessionRefresh: time.Hour})
	e.idp.refresh = true
	c := e.login(t)
	e.idp.refreshFail = true
	e.clk.add(27 * time.Minute)
	calls := e.idp.tokenCalls
	for range 3 {
		if r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil); r.status != 200 {
			t.Fatalf("before expiry: %d", r.status)
		}
	}
	if got := e.idp.tokenCalls - calls; got != 1 {
		t.Errorf("%d refresh attempts", got)
	}
	e.clk.add(3 * time.Minute)
	if r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil); r.status != http.StatusForbidden {
		t.Errorf("after expiry: %d", r.status)
	}
}

func TestShareLink(t *testing.T) {
	e := newEnv(t, envOpts{maxSession: 45 * time.Minute})
	e.idp.refresh = true
	c := e.login(t)
	token := csrf(t, do(t, c, "GET", e.srv.URL+"/_iamgate/ui/b/bkt/", nil).body)
	share := func(key, ttl string) (int, map[string]any) {
		form := url.Values{"bucket": {"bkt"}, "key": {key}, "ttl": {ttl}}
		r := do(t, c, "POST", e.srv.URL+"/_iamgate/share", strings.NewReader(form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "X-Iamgate-CSRF", token)
		var out map[string]any
		_ = jsonUnmarshal(r.body, &out)
		return r.status, out
	}
	key := "reports/2026 q3 ü?.pdf"
	status, out := share(key, "168h")
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	if out["lifetime"] != "45 minutes" || out["capped"] != true {
		t.Errorf("lifetime %v capped %v", out["lifetime"], out["capped"])
	}
	link := out["url"].(string)
	ev := e.lastEvent("share_link")
	if ev.Decision != "allow" || ev.Operation != "CreateShareLink" || ev.Bucket != "bkt" || ev.Key != key || ev.SessionID == "" || !strings.Contains(ev.Message, "45m") {
		t.Errorf("share event %+v", ev)
	}
	// The requested and granted lifetimes and the expiry are fields, not
	// only words in the message.
	if expires, _ := time.Parse(time.RFC3339, out["expires"].(string)); ev.DurationSeconds != 7*24*3600 || ev.Lifetime != 45*time.Minute ||
		!ev.Expiry.Equal(expires) || !ev.Expiry.Equal(e.clk.now().Truncate(time.Second).Add(45*time.Minute)) {
		t.Errorf("share event lifetime: requested %ds, granted %v, expiry %v (link says %v)", ev.DurationSeconds, ev.Lifetime, ev.Expiry, out["expires"])
	}
	// Anyone with the link can GET that object, without a cookie.
	anon := &http.Client{}
	r := do(t, anon, "GET", link, nil)
	if r.status != 200 || e.lastCall().path != "/bkt/"+key {
		t.Fatalf("link: %d %s (store saw %q)", r.status, r.body, e.lastCall().path)
	}
	if ev := e.lastEvent("s3"); ev.AuthMethod != "share-link" || ev.Subject != "id-alice" || ev.Decision != "allow" {
		t.Errorf("use event %+v", ev)
	}
	// Only that object, and only GET: the share session's own credentials
	// signing another request are refused by its session policy.
	u, _ := url.Parse(link)
	sess, err := e.keys.Open(u.Query().Get("X-Amz-Security-Token"), e.clk.now())
	if err != nil || sess.Kind != identity.KindShare {
		t.Fatalf("%v %+v", err, sess)
	}
	for _, other := range []struct{ method, key string }{{"GET", "reports/other.pdf"}, {"DELETE", key}, {"PUT", key}} {
		req, _ := http.NewRequest(other.method, e.srv.URL+s3req.UriEncodePath("/bkt/"+other.key), nil)
		presignForTest(t, req, sess, u.Query().Get("X-Amz-Security-Token"), e.clk.now())
		res, err := anon.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("%s %s with the share credentials: %d", other.method, other.key, res.StatusCode)
		}
	}
	// A tampered link fails its signature.
	if r := do(t, anon, "GET", strings.Replace(link, "q3", "q4", 1), nil); r.status != 403 {
		t.Errorf("tampered link %d", r.status)
	}
	// Wildcards in the key are literal in the session policy.
	status, out = share("star*", "15m")
	if status != 200 {
		t.Fatalf("%d %v", status, out)
	}
	u, _ = url.Parse(out["url"].(string))
	star, _ := e.keys.Open(u.Query().Get("X-Amz-Security-Token"), e.clk.now())
	req, _ := http.NewRequest("GET", e.srv.URL+"/bkt/starfish", nil)
	presignForTest(t, req, star, u.Query().Get("X-Amz-Security-Token"), e.clk.now())
	if res, _ := anon.Do(req); res.StatusCode != 403 {
		t.Errorf("star key link opened another key: %d", res.StatusCode)
	}
	// The policy is checked before the link is made.
	status, out = share("secret/plan.txt", "1h")
	if status != 403 || !strings.Contains(out["error"].(string), "not allowed") {
		t.Errorf("denied share: %d %v", status, out)
	}
	if ev := e.lastEvent("share_link"); ev.Decision != "deny" || ev.Key != "secret/plan.txt" {
		t.Errorf("deny event %+v", ev)
	}
	if status, _ = share("a.txt", "3h"); status != 400 {
		t.Errorf("unlisted lifetime %d", status)
	}
	// Capped by the rest of the session (renewed past its window, but not
	// extended: 5 minutes are left).
	e.clk.add(40 * time.Minute)
	if status, out = share("a.txt", "1h"); status != 200 || out["lifetime"] != "5 minutes" {
		t.Errorf("late share: %d %v", status, out)
	}
	if ev := e.lastEvent("share_link"); ev.DurationSeconds != 3600 || ev.Lifetime != 5*time.Minute ||
		!ev.Expiry.Equal(e.clk.now().Truncate(time.Second).Add(5*time.Minute)) {
		t.Errorf("late share event: requested %ds, granted %v, expiry %v", ev.DurationSeconds, ev.Lifetime, ev.Expiry)
	}
	// The link ends with its lifetime.
	e.clk.add(6 * time.Minute)
	if r := do(t, anon, "GET", link, nil); r.status != 403 {
		t.Errorf("expired link %d", r.status)
	}
}

// An object read with the session cookie is not kept by shared caches
// and is revalidated through iamgate before the browser reuses it, so
// that sign-out, a revocation or a grant's end is not outlived by a
// cached copy, whatever caching the object's metadata asks for.
func TestCookieResponsesAreNotReusedUnchecked(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t)
	r := do(t, c, "GET", e.srv.URL+"/bkt/home/alice/notes.txt", nil)
	if r.status != 200 || r.hdr.Get("Cache-Control") != "private, no-cache" || r.hdr.Get("Expires") != "" {
		t.Fatalf("%d Cache-Control %q Expires %q", r.status, r.hdr.Get("Cache-Control"), r.hdr.Get("Expires"))
	}
}
