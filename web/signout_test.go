package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

// copied is what an attacker took from the browser before sign-out: the
// session cookie and the console's anti-forgery token.
type copied struct {
	cookie string // name=value
	csrf   string
	sess   *identity.Session
}

func (e *env) copyCookie(t *testing.T, c *http.Client) copied {
	t.Helper()
	ck := e.sessionCookies(c)
	if len(ck) != 1 {
		t.Fatalf("session cookies %v", ck)
	}
	sess, err := e.keys.Open(ck[0].Value, e.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	return copied{cookie: ck[0].Name + "=" + ck[0].Value, csrf: identity.CSRFToken(sess), sess: sess}
}

// signOut signs c out and returns the logout event.
func (e *env) signOut(t *testing.T, c *http.Client) result {
	t.Helper()
	r := do(t, noFollow(c), "GET", e.srv.URL+"/_iamgate/logout", nil)
	if r.status != http.StatusFound {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if len(e.sessionCookies(c)) != 0 {
		t.Fatal("the session cookie is kept after sign-out")
	}
	return r
}

// thief is a client without a jar that sends the copied cookie.
func thief() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func shareForm(key string) *strings.Reader {
	return strings.NewReader(url.Values{"bucket": {"bkt"}, "key": {key}, "ttl": {"1h"}}.Encode())
}

// TestSignOutRefusesCopiedCookie: a copy of the cookie taken before
// sign-out is refused afterwards for S3 requests, the console and share
// links, exactly like an expired session, for the rest of its life; the
// record then forgets it.
func TestSignOutRefusesCopiedCookie(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.idp.refresh = true
	c := e.login(t)
	cp := e.copyCookie(t, c)
	// A share link made before sign-out.
	r := do(t, c, "POST", e.srv.URL+"/_iamgate/share", shareForm("a.txt"),
		"Content-Type", "application/x-www-form-urlencoded", "X-Iamgate-CSRF", cp.csrf)
	if r.status != 200 {
		t.Fatalf("share: %d %s", r.status, r.body)
	}
	var shared struct{ URL string }
	_ = jsonUnmarshal(r.body, &shared)
	// The copy works before sign-out.
	if r := do(t, thief(), "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", cp.cookie); r.status != 200 {
		t.Fatalf("before sign-out: %d %s", r.status, r.body)
	}

	e.clk.add(time.Minute)
	signedOutAt := e.clk.now()
	e.signOut(t, c)
	ev := e.lastEvent("logout")
	until := signedOutAt.Add(30 * time.Minute) // the role's max_session from the sign-out, later than the session's end
	if ev.Decision != "allow" || ev.Reason != "signed_out" || ev.SessionID != cp.sess.ID ||
		!strings.Contains(ev.Message, "refused until "+until.Format(time.RFC3339)) {
		t.Errorf("logout event %+v", ev)
	}
	if e.idp.revocations != 1 {
		t.Errorf("%d refresh tokens revoked at the provider", e.idp.revocations)
	}

	check := func(when string, reason string) {
		t.Helper()
		calls := e.callCount()
		// An S3 API call: AccessDenied, audited.
		r := do(t, thief(), "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", cp.cookie)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "<Code>AccessDenied</Code>") {
			t.Fatalf("%s: S3 GET %d %s", when, r.status, r.body)
		}
		ev := e.lastEvent("auth_failure")
		if ev.Reason != reason || ev.AuthMethod != "browser-session" || ev.Operation != "GetObject" {
			t.Errorf("%s: S3 event %+v", when, ev)
		}
		if reason == "signed_out" && (ev.SessionID != cp.sess.ID || ev.Subject != "id-alice" || ev.Username != "alice" ||
			!strings.Contains(r.body, "signed out")) {
			t.Errorf("%s: S3 event %+v, body %s", when, ev, r.body)
		}
		// A write with the anti-forgery token.
		if r := do(t, thief(), "PUT", e.srv.URL+"/bkt/new.txt", strings.NewReader("x"), "Cookie", cp.cookie, "X-Iamgate-CSRF", cp.csrf); r.status != http.StatusForbidden {
			t.Errorf("%s: PUT %d", when, r.status)
		}
		// A navigation: to sign-in, like an expired session.
		r = do(t, thief(), "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", cp.cookie, "Accept", "text/html")
		if r.status != http.StatusFound || r.hdr.Get("Location") != "/_iamgate/login?rd=%2Fbkt%2Fa.txt" {
			t.Errorf("%s: navigation %d %q", when, r.status, r.hdr.Get("Location"))
		}
		if e.callCount() != calls {
			t.Errorf("%s: a signed-out session reached the store", when)
		}
		// The console.
		r = do(t, thief(), "GET", e.srv.URL+"/_iamgate/ui/b/bkt/", nil, "Cookie", cp.cookie)
		if r.status != http.StatusFound || !strings.HasPrefix(r.hdr.Get("Location"), "/_iamgate/login?rd=") {
			t.Errorf("%s: console %d %q", when, r.status, r.hdr.Get("Location"))
		}
		if reason == "signed_out" {
			if ev := e.lastEvent("auth_failure"); ev.Reason != reason || ev.Operation != "ListObjectsV2" || ev.SessionID != cp.sess.ID {
				t.Errorf("%s: console event %+v", when, ev)
			}
		}
		// Share link creation.
		r = do(t, thief(), "POST", e.srv.URL+"/_iamgate/share", shareForm("b.txt"), "Cookie", cp.cookie,
			"Content-Type", "application/x-www-form-urlencoded", "X-Iamgate-CSRF", cp.csrf)
		if r.status != http.StatusUnauthorized || strings.Contains(r.body, "url") {
			t.Errorf("%s: share %d %s", when, r.status, r.body)
		}
		if reason == "signed_out" {
			if ev := e.lastEvent("share_link"); ev.Decision != "deny" || ev.Reason != reason || ev.SessionID != cp.sess.ID {
				t.Errorf("%s: share event %+v", when, ev)
			}
		}
	}
	check("at once", "signed_out")
	// The refusal deletes the copy.
	r = do(t, thief(), "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", cp.cookie)
	if sc := r.hdr.Get("Set-Cookie"); !strings.HasPrefix(sc, web.DefaultCookieName+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("refused cookie not deleted: %q", sc)
	}
	e.clk.add(9 * time.Minute)
	check("9 minutes later", "signed_out")
	e.clk.add(15 * time.Minute) // past the renewal window: the record answers first
	check("24 minutes later", "signed_out")

	// Share links made before sign-out keep working: they were given to
	// others on purpose (revocation rules end them).
	if r := do(t, &http.Client{}, "GET", shared.URL, nil); r.status != 200 {
		t.Errorf("share link after sign-out: %d %s", r.status, r.body)
	}

	// The record keeps the session until no copy can be valid, then
	// forgets it: the copy has expired by then.
	rec := e.signedOut.(*state.Memory)
	if st := rec.Stats(); st.Sessions != 1 {
		t.Fatalf("record %+v", st)
	}
	e.clk.add(until.Sub(e.clk.now()))
	if st := rec.Stats(); st.Sessions != 0 {
		t.Errorf("record after the session's end %+v", st)
	}
	check("after its end", "expired")

	// Signing in again works.
	if r := do(t, e.browser(), "GET", e.srv.URL+"/_iamgate/login?rd=/_iamgate/ui/", nil); r.status != 200 {
		t.Errorf("sign-in after sign-out: %d", r.status)
	}
}

// TestSignOutAcrossReplicas: the in-memory record is one replica's. A
// replica with a record of its own accepts a copied cookie until its
// renewal window ends; then the provider, whose refresh token sign-out
// revoked, does not renew it. Replicas that share the record refuse it at
// once.
func TestSignOutAcrossReplicas(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.idp.refresh = true
	c := e.login(t)
	cp := e.copyCookie(t, c)
	_, _, shared := e.replica(e.signedOut)
	_, _, other := e.replica(state.NewMemory(state.MemoryConfig{Now: e.clk.now}))
	e.clk.add(2 * time.Minute)
	e.signOut(t, c)
	get := func(srv string) result { return do(t, thief(), "GET", srv+"/bkt/a.txt", nil, "Cookie", cp.cookie) }
	if r := get(shared.URL); r.status != http.StatusForbidden {
		t.Errorf("replica sharing the record: %d", r.status)
	}
	if r := get(other.URL); r.status != 200 {
		t.Errorf("replica with its own record, within the window: %d %s", r.status, r.body)
	}
	e.clk.add(8 * time.Minute) // the cookie's window ends 10 minutes after sign-in
	if r := get(other.URL); r.status != http.StatusForbidden {
		t.Errorf("replica with its own record, past the window: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "not_renewed" || ev.SessionID != cp.sess.ID {
		t.Errorf("event %+v", ev)
	}
}

// failingRecord is a record of signed-out sessions whose store can fail.
type failingRecord struct {
	mu   sync.Mutex
	fail bool
	m    *state.Memory
}

var errStore = errors.New("store unreachable")

func (f *failingRecord) setFail(b bool) { f.mu.Lock(); f.fail = b; f.mu.Unlock() }

func (f *failingRecord) failing() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.fail }

func (f *failingRecord) Add(ctx context.Context, s state.Session, until time.Time) (state.Scope, error) {
	if f.failing() {
		return "", errStore
	}
	return f.m.Add(ctx, s, until)
}

func (f *failingRecord) Contains(ctx context.Context, s state.Session) (bool, error) {
	if f.failing() {
		return false, errStore
	}
	return f.m.Contains(ctx, s)
}

// TestSignedOutRecordFailsClosed: when the record cannot be read, every
// browser session is refused (503, not a sign-in loop); when a sign-out
// cannot be recorded, it is not reported as done and the cookie is kept
// for another try.
func TestSignedOutRecordFailsClosed(t *testing.T) {
	rec := &failingRecord{}
	e := newEnv(t, envOpts{signedOut: rec})
	rec.m = state.NewMemory(state.MemoryConfig{Now: e.clk.now})
	c := e.login(t)
	cp := e.copyCookie(t, c)
	rec.setFail(true)
	calls := e.callCount()
	r := do(t, c, "GET", e.srv.URL+"/bkt/a.txt", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "<Code>ServiceUnavailable</Code>") {
		t.Fatalf("S3 GET: %d %s", r.status, r.body)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "state_unavailable" || ev.SessionID != cp.sess.ID {
		t.Errorf("event %+v", ev)
	}
	if r := do(t, noFollow(c), "GET", e.srv.URL+"/bkt/a.txt", nil, "Accept", "text/html"); r.status != http.StatusServiceUnavailable {
		t.Errorf("navigation: %d %q", r.status, r.hdr.Get("Location"))
	}
	if r := do(t, noFollow(c), "GET", e.srv.URL+"/_iamgate/ui/", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("console: %d %q", r.status, r.hdr.Get("Location"))
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "state_unavailable" || ev.Operation != "ListBuckets" {
		t.Errorf("console event %+v", ev)
	}
	r = do(t, c, "POST", e.srv.URL+"/_iamgate/share", shareForm("a.txt"), "Content-Type", "application/x-www-form-urlencoded", "X-Iamgate-CSRF", cp.csrf)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("share: %d %s", r.status, r.body)
	}
	if e.callCount() != calls {
		t.Error("a request reached the store while the record was unreadable")
	}
	if len(e.sessionCookies(c)) != 1 {
		t.Fatal("the cookie was deleted for a failure of the record")
	}

	// Sign-out while the record fails: an error page, the cookie kept.
	r = do(t, noFollow(c), "GET", e.srv.URL+"/_iamgate/logout", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sign out again") {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if len(e.sessionCookies(c)) != 1 {
		t.Fatal("the cookie was deleted though the sign-out was not recorded")
	}
	if ev := e.lastEvent("logout"); ev.Decision != "error" || ev.Reason != "state_unavailable" || ev.SessionID != cp.sess.ID {
		t.Errorf("logout event %+v", ev)
	}
	// Once the store is back, signing out again records it.
	rec.setFail(false)
	e.signOut(t, c)
	if r := do(t, thief(), "GET", e.srv.URL+"/bkt/a.txt", nil, "Cookie", cp.cookie); r.status != http.StatusForbidden {
		t.Errorf("copy after the second sign-out: %d", r.status)
	}
	if ev := e.lastEvent("auth_failure"); ev.Reason != "signed_out" {
		t.Errorf("event %+v", ev)
	}
}

// TestSignOutWithAFullRecord: a full record refuses the person's sessions
// signed in no later than the signed-out one, and says so in the audit
// log; later sessions and other people are not affected.
func TestSignOutWithAFullRecord(t *testing.T) {
	rec := &failingRecord{}
	e := newEnv(t, envOpts{signedOut: rec})
	rec.m = state.NewMemory(state.MemoryConfig{MaxEntries: 1, Now: e.clk.now})
	older := e.login(t)
	e.clk.add(time.Second)
	signingOut := e.login(t)
	e.clk.add(time.Second)
	later := e.login(t)
	e.idp.claims = map[string]any{"sub": "id-bob", "preferred_username": "bob", "groups": []any{"staff"}}
	bob := e.login(t)
	e.idp.claims = map[string]any{"sub": "id-carol", "preferred_username": "carol", "groups": []any{"staff"}}
	e.signOut(t, e.login(t)) // fills the record
	if ev := e.lastEvent("logout"); !strings.Contains(ev.Message, "copies of the session cookie are refused") {
		t.Errorf("first logout %q", ev.Message)
	}
	e.signOut(t, signingOut)
	if ev := e.lastEvent("logout"); ev.Reason != "signed_out" || !strings.Contains(ev.Message, "record of signed-out sessions is full") {
		t.Errorf("logout event %+v", ev)
	}
	for _, c := range []struct {
		name string
		c    *http.Client
		want int
	}{{"older", older, http.StatusForbidden}, {"later", later, 200}, {"bob", bob, 200}} {
		if r := do(t, c.c, "GET", e.srv.URL+"/bkt/a.txt", nil); r.status != c.want {
			t.Errorf("%s session: %d, want %d", c.name, r.status, c.want)
		}
	}
}
