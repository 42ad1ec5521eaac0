package devissuer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testClient   = "console"
	testSecret   = "s3cret"
	testRedirect = "http://127.0.0.1:8080/_iamgate/callback"
	testVerifier = "verifier-0123456789-0123456789-0123456789-0123456789"
)

func challengeOf(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func startAuthIssuer(t *testing.T, clients ...Client) *Issuer {
	t.Helper()
	if len(clients) == 0 {
		clients = []Client{{ID: testClient, Secret: testSecret, RedirectURIs: []string{testRedirect}}}
	}
	return StartTestWith(t, Options{EnableAuthorizeEndpoint: true, Clients: clients,
		Users: []User{{Name: "alice", Groups: []string{"demo-users"}}, {Name: "admin", Groups: []string{"demo-admins"}}}})
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authParams() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {testClient}, "redirect_uri": {testRedirect},
		"scope": {"openid profile email offline_access"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {challengeOf(testVerifier)}, "code_challenge_method": {"S256"}}
}

// authorize submits the sign-in form with extra (e.g. preset=alice) and
// returns the response (not followed).
func authorize(t *testing.T, i *Issuer, params, extra url.Values) *http.Response {
	t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := noFollow.PostForm(i.URL()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// signIn returns the code the sign-in as preset user yields.
func signIn(t *testing.T, i *Issuer, user string) string {
	t.Helper()
	resp := authorize(t, i, authParams(), url.Values{"preset": {user}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %q", got)
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %q lacks state or code", loc)
	}
	return loc.Query().Get("code")
}

type tokenResult struct {
	status int
	body   map[string]any
}

func exchange(t *testing.T, i *Issuer, form url.Values, basicID, basicSecret string) tokenResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, i.URL()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return tokenResult{resp.StatusCode, body}
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
}

func TestAuthorizeDiscovery(t *testing.T) {
	i := startAuthIssuer(t)
	var doc map[string]any
	if code := fetchJSON(t, i.URL()+"/.well-known/openid-configuration", &doc); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if doc["authorization_endpoint"] != i.URL()+"/authorize" || doc["token_endpoint"] != i.URL()+"/token" {
		t.Errorf("endpoints: %v", doc)
	}
	for k, want := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256",
		"id_token_signing_alg_values_supported": "RS256"} {
		if l, _ := doc[k].([]any); len(l) != 1 || l[0] != want {
			t.Errorf("%s = %v, want [%s]", k, doc[k], want)
		}
	}
	// Without the flag nothing changes.
	plain := StartTest(t)
	doc = nil
	fetchJSON(t, plain.URL()+"/.well-known/openid-configuration", &doc)
	if _, ok := doc["authorization_endpoint"]; ok {
		t.Error("authorization_endpoint advertised while disabled")
	}
	if resp, err := http.Get(plain.URL() + "/authorize"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /authorize while disabled: %v %v", resp.StatusCode, err)
	}
}

func TestAuthorizeHappyPath(t *testing.T) {
	i := startAuthIssuer(t)
	// The page offers the presets and carries the request along.
	resp, err := http.Get(i.URL() + "/authorize?" + authParams().Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "never use in production") ||
		!strings.Contains(string(page), `name="preset" value="alice"`) || !strings.Contains(string(page), challengeOf(testVerifier)) {
		t.Fatalf("page: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	for _, style := range []string{"basic", "post"} {
		t.Run(style, func(t *testing.T) {
			code := signIn(t, i, "alice")
			form := codeForm(code)
			id, secret := testClient, testSecret
			if style == "post" {
				form.Set("client_id", testClient)
				form.Set("client_secret", testSecret)
				id, secret = "", ""
			}
			res := exchange(t, i, form, id, secret)
			if res.status != http.StatusOK {
				t.Fatalf("token: %d %v", res.status, res.body)
			}
			idc := verify(t, i, res.body["id_token"].(string))
			if idc["aud"] != testClient || idc["nonce"] != "n-1" || idc["sub"] != "alice" || idc["preferred_username"] != "alice" ||
				idc["email"] != "alice@example.com" || idc["iss"] != i.URL() {
				t.Errorf("ID token claims %v", idc)
			}
			if g, _ := idc["groups"].([]any); len(g) != 1 || g[0] != "demo-users" {
				t.Errorf("groups %v", idc["groups"])
			}
			at := verify(t, i, res.body["access_token"].(string))
			if at["aud"] != "iamgate" || at["sub"] != "alice" {
				t.Errorf("access token claims %v", at)
			}
			rt, _ := res.body["refresh_token"].(string)
			if rt == "" {
				t.Fatal("no refresh token despite offline_access")
			}
			// The refresh token yields fresh tokens for the same person.
			ref := exchange(t, i, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, testClient, testSecret)
			if ref.status != http.StatusOK {
				t.Fatalf("refresh: %d %v", ref.status, ref.body)
			}
			if c := verify(t, i, ref.body["id_token"].(string)); c["sub"] != "alice" || c["aud"] != testClient {
				t.Errorf("refreshed ID token %v", c)
			}
			if bad := exchange(t, i, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt + "x"}}, testClient, testSecret); bad.status != http.StatusBadRequest {
				t.Errorf("unknown refresh token: %d", bad.status)
			}
		})
	}

	// A free-form user with groups.
	resp = authorize(t, i, authParams(), url.Values{"username": {"carol"}, "groups": {"demo-users, extra"}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	res := exchange(t, i, codeForm(loc.Query().Get("code")), testClient, testSecret)
	if res.status != http.StatusOK {
		t.Fatalf("carol: %d %v", res.status, res.body)
	}
	c := verify(t, i, res.body["id_token"].(string))
	if g, _ := c["groups"].([]any); c["sub"] != "carol" || len(g) != 2 || g[1] != "extra" {
		t.Errorf("carol's claims %v", c)
	}
}

func TestAuthorizeCodeChecks(t *testing.T) {
	i := startAuthIssuer(t, Client{ID: testClient, Secret: testSecret, RedirectURIs: []string{testRedirect}},
		Client{ID: "other", Secret: "other-secret", RedirectURIs: []string{testRedirect}})
	cases := []struct {
		name   string
		mutate func(form url.Values) (id, secret string)
		status int
		err    string
	}{
		{"wrong verifier", func(f url.Values) (string, string) {
			f.Set("code_verifier", strings.Replace(testVerifier, "0", "1", 1))
			return testClient, testSecret
		}, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) (string, string) { f.Del("code_verifier"); return testClient, testSecret }, 400, "invalid_grant"},
		{"wrong redirect_uri", func(f url.Values) (string, string) {
			f.Set("redirect_uri", "http://127.0.0.1:8081/_iamgate/callback")
			return testClient, testSecret
		}, 400, "invalid_grant"},
		{"wrong client secret", func(url.Values) (string, string) { return testClient, "wrong" }, 401, "invalid_client"},
		{"wrong client secret (post)", func(f url.Values) (string, string) {
			f.Set("client_id", testClient)
			f.Set("client_secret", "wrong")
			return "", ""
		}, 401, "invalid_client"},
		{"no client authentication", func(url.Values) (string, string) { return "", "" }, 401, "invalid_client"},
		{"another client", func(url.Values) (string, string) { return "other", "other-secret" }, 400, "invalid_grant"},
		{"unknown code", func(f url.Values) (string, string) { f.Set("code", "nope"); return testClient, testSecret }, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := signIn(t, i, "alice")
			form := codeForm(code)
			id, secret := tc.mutate(form)
			res := exchange(t, i, form, id, secret)
			if res.status != tc.status || res.body["error"] != tc.err {
				t.Fatalf("got %d %v, want %d %s", res.status, res.body, tc.status, tc.err)
			}
			if _, ok := res.body["id_token"]; ok {
				t.Fatal("tokens handed out")
			}
		})
	}

	t.Run("reused code", func(t *testing.T) {
		code := signIn(t, i, "alice")
		if res := exchange(t, i, codeForm(code), testClient, testSecret); res.status != http.StatusOK {
			t.Fatalf("first use: %d %v", res.status, res.body)
		}
		if res := exchange(t, i, codeForm(code), testClient, testSecret); res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
			t.Fatalf("second use: %d %v", res.status, res.body)
		}
	})
	t.Run("a failed attempt burns the code", func(t *testing.T) {
		code := signIn(t, i, "alice")
		bad := codeForm(code)
		bad.Set("code_verifier", strings.Repeat("x", 43))
		exchange(t, i, bad, testClient, testSecret)
		if res := exchange(t, i, codeForm(code), testClient, testSecret); res.status != http.StatusBadRequest {
			t.Fatalf("code usable after a failed attempt: %d", res.status)
		}
	})
}

func TestAuthorizeCodeExpires(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	i := StartTestWith(t, Options{EnableAuthorizeEndpoint: true, Now: func() time.Time { return now },
		Clients: []Client{{ID: testClient, Secret: testSecret}}, Users: []User{{Name: "alice"}}})
	code := signIn(t, i, "alice")
	now = now.Add(61 * time.Second)
	if res := exchange(t, i, codeForm(code), testClient, testSecret); res.status != http.StatusBadRequest {
		t.Fatalf("expired code: %d %v", res.status, res.body)
	}
}

func TestAuthorizeRequestChecks(t *testing.T) {
	i := startAuthIssuer(t)
	loopback := StartTestWith(t, Options{EnableAuthorizeEndpoint: true, Clients: []Client{{ID: testClient}}})
	cases := []struct {
		name     string
		iss      *Issuer
		mutate   func(url.Values)
		redirect bool // sent back to the client with an error, or shown
	}{
		{"unregistered redirect_uri", i, func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/_iamgate/callback") }, false},
		{"redirect_uri prefix trick", i, func(q url.Values) { q.Set("redirect_uri", testRedirect+"/../../evil") }, false},
		{"unknown client", i, func(q url.Values) { q.Set("client_id", "nope") }, false},
		{"non-loopback for an open client", loopback, func(q url.Values) { q.Set("redirect_uri", "http://evil.example/cb") }, false},
		{"https loopback for an open client", loopback, func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1.evil.example/cb") }, false},
		{"no PKCE", i, func(q url.Values) { q.Del("code_challenge") }, true},
		{"plain PKCE", i, func(q url.Values) { q.Set("code_challenge_method", "plain") }, true},
		{"no openid", i, func(q url.Values) { q.Set("scope", "profile") }, true},
		{"implicit", i, func(q url.Values) { q.Set("response_type", "token") }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := authParams()
			tc.mutate(q)
			for _, method := range []string{"GET", "POST"} {
				var resp *http.Response
				if method == "GET" {
					var err error
					if resp, err = noFollow.Get(tc.iss.URL() + "/authorize?" + q.Encode()); err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				} else {
					resp = authorize(t, tc.iss, q, url.Values{"preset": {"alice"}})
				}
				loc := resp.Header.Get("Location")
				if tc.redirect {
					if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, testRedirect+"?") ||
						!strings.Contains(loc, "error=") || strings.Contains(loc, "code=") {
						t.Errorf("%s: %d %q, want an error sent back", method, resp.StatusCode, loc)
					}
				} else if resp.StatusCode != http.StatusBadRequest || loc != "" {
					t.Errorf("%s: %d %q, want 400 shown", method, resp.StatusCode, loc)
				}
			}
		})
	}
	// A client without registered URIs takes any loopback one.
	q := authParams()
	q.Set("redirect_uri", "http://localhost:1234/cb")
	if resp := authorize(t, loopback, q, url.Values{"username": {"bob"}}); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "http://localhost:1234/cb?code=") {
		t.Errorf("loopback client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Cancel sends access_denied back.
	if resp := authorize(t, i, authParams(), url.Values{"cancel": {"1"}}); !strings.Contains(resp.Header.Get("Location"), "error=access_denied") {
		t.Errorf("cancel: %q", resp.Header.Get("Location"))
	}
}

func TestAuthorizePageEscapes(t *testing.T) {
	i := startAuthIssuer(t)
	hostile := `"><script>alert(1)</script><img src=x onerror=alert(2)>'`
	q := authParams()
	q.Set("login_hint", hostile)
	q.Set("state", hostile)
	q.Set("nonce", hostile)
	get, err := http.Get(i.URL() + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page1, _ := io.ReadAll(get.Body)
	get.Body.Close()

	// The same name typed into the form is refused, and shown escaped.
	form := authParams()
	form.Set("username", hostile)
	post, err := noFollow.PostForm(i.URL()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	page2, _ := io.ReadAll(post.Body)
	post.Body.Close()
	if post.StatusCode != http.StatusBadRequest || post.Header.Get("Location") != "" {
		t.Fatalf("hostile username: %d %q", post.StatusCode, post.Header.Get("Location"))
	}
	if !strings.Contains(string(page2), "Invalid username") {
		t.Errorf("no error shown:\n%s", page2)
	}
	for n, page := range [][]byte{page1, page2} {
		for _, bad := range []string{"<script", "<img", "</script"} {
			if strings.Contains(string(page), bad) {
				t.Errorf("page %d contains %q unescaped:\n%s", n+1, bad, page)
			}
		}
		if !strings.Contains(string(page), "&lt;script&gt;") && !strings.Contains(string(page), "&#34;&gt;&lt;script&gt;") {
			t.Errorf("page %d does not show the name escaped:\n%s", n+1, page)
		}
	}
}

func TestAuthorizeDoesNotChangeTokenEndpoint(t *testing.T) {
	// Only the authorization endpoint: the mint-anything grant is off.
	i := startAuthIssuer(t)
	resp, err := http.PostForm(i.URL()+"/token", url.Values{"sub": {"mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("mint without EnableTokenEndpoint: %d", resp.StatusCode)
	}
	// Both: the mint-anything grant works as before.
	both := StartTestWith(t, Options{EnableTokenEndpoint: true, EnableAuthorizeEndpoint: true, Clients: []Client{{ID: testClient}}})
	resp, err = http.PostForm(both.URL()+"/token", url.Values{"sub": {"mallory"}, "groups": {"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	c := verify(t, both, body["access_token"].(string))
	if g, _ := c["groups"].([]any); c["sub"] != "mallory" || c["aud"] != "iamgate" || len(g) != 2 {
		t.Errorf("minted claims %v", c)
	}
}

func FuzzAuthorizeForm(f *testing.F) {
	i, err := New(Options{EnableAuthorizeEndpoint: true, Clients: []Client{{ID: testClient, Secret: testSecret}},
		Users: []User{{Name: "alice", Groups: []string{"demo-users"}}}})
	if err != nil {
		f.Fatal(err)
	}
	i.SetURL("http://127.0.0.1:1")
	h := i.Handler()
	f.Add("alice", "demo-users", testRedirect, "state", "")
	f.Add(`"><script>`, "a,b c", "http://localhost/cb", "<s>", "alice")
	f.Add("", "", "http://[::1]:8/cb?x=1", "", "nobody")
	f.Fuzz(func(t *testing.T, username, groups, redirect, state, preset string) {
		form := authParams()
		form.Set("redirect_uri", redirect)
		form.Set("state", state)
		form.Set("username", username)
		form.Set("groups", groups)
		if preset != "" {
			form.Set("preset", preset)
		}
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest(http.MethodPost, "/authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || !redirectAllowed(&Client{ID: testClient}, redirect) {
				t.Fatalf("redirected to %q for redirect_uri %q", rec.Header().Get("Location"), redirect)
			}
			if loc.Query().Get("state") != state {
				t.Fatalf("state %q came back as %q", state, loc.Query().Get("state"))
			}
			if loc.Query().Has("code") {
				var user string
				for _, g := range i.codes {
					if g.redirectURI == redirect {
						user = g.user
					}
				}
				if !validUsername(user) {
					t.Fatalf("code for invalid user %q", user)
				}
			}
			clear(i.codes)
		case http.StatusOK, http.StatusBadRequest:
			// Only the template's own elements: nothing typed became markup.
			for _, m := range tagRE.FindAllStringSubmatch(rec.Body.String(), -1) {
				if !slices.Contains(pageTags, strings.ToLower(m[1])) {
					t.Fatalf("page has a <%s> element:\n%s", m[1], rec.Body.String())
				}
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

var (
	tagRE    = regexp.MustCompile(`</?([A-Za-z!][A-Za-z0-9]*)`)
	pageTags = []string{"!doctype", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "form", "input", "small", "code", "button", "label"}
)

func TestAddClient(t *testing.T) {
	i := StartTestWith(t, Options{EnableAuthorizeEndpoint: true, Users: []User{{Name: "alice"}}})
	q := authParams()
	if resp := authorize(t, i, q, url.Values{"preset": {"alice"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown client: %d", resp.StatusCode)
	}
	i.AddClient(Client{ID: testClient, Secret: "old", RedirectURIs: []string{"http://127.0.0.1:1/cb"}})
	i.AddClient(Client{ID: testClient, Secret: testSecret, RedirectURIs: []string{testRedirect}})
	code := signIn(t, i, "alice")
	if res := exchange(t, i, codeForm(code), testClient, testSecret); res.status != http.StatusOK {
		t.Fatalf("replaced client: %d %v", res.status, res.body)
	}
}
