package testenv

import (
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// BrowserScopes are the scopes a client from BrowserClient may request.
var BrowserScopes = []string{"openid", "profile", "email", "offline_access"}

// idTokenReserved are the ID token claims Hydra sets itself; AddUser refuses them.
var idTokenReserved = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash",
	"auth_time", "acr", "amr", "sid", "rat", "azp", "client_id", "scp", "ext",
}

// AddUser registers a user of the login app: name signs in with password,
// becomes the subject (sub) of the tokens, and claims are added to both the
// ID token and the access token (as top-level claims) when Hydra issues
// them through the authorization code flow. Unless claims set them,
// preferred_username is name, email is name@example.test and
// email_verified is true. Registering a name again replaces the user.
//
// A claim name Hydra was not configured to lift to the top level of access
// tokens is added to its configuration first (see Client).
func (h *Hydra) AddUser(t testing.TB, name, password string, claims map[string]any) {
	t.Helper()
	if name == "" || password == "" {
		t.Fatalf("testenv: AddUser needs a user name and a password")
	}
	all := maps.Clone(claims)
	if all == nil {
		all = map[string]any{}
	}
	for _, c := range idTokenReserved {
		if _, ok := all[c]; ok {
			t.Fatalf("testenv: claim %q is set by Hydra and cannot be given to AddUser", c)
		}
	}
	defaults := map[string]any{
		"preferred_username": name,
		"email":              name + "@example.test",
		"email_verified":     true,
	}
	for k, v := range defaults {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	var missing []string
	allowed := h.allowedClaims()
	for k := range all {
		if !slices.Contains(allowed, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		// Client lifts new names to the top level and waits for the reload.
		probe := map[string]any{}
		for _, k := range missing {
			probe[k] = all[k]
		}
		h.Client(t, probe)
	}
	h.login.addUser(name, password, all)
}

// FormLogins reports how many times a user signed in through the login
// form (a login Hydra skipped because of its session does not count).
func (h *Hydra) FormLogins() int { return h.login.formLogins() }

// BrowserClient registers a confidential client for the authorization code
// flow (PKCE when the relying party sends it): grant types
// authorization_code and refresh_token, response type code, the scopes in
// BrowserScopes, and the secret sent with HTTP Basic (client_secret_basic:
// Hydra accepts only the method a client is registered with; see
// BrowserClientPost).
// redirectURIs and postLogoutURIs must match exactly what the relying party
// sends as redirect_uri and post_logout_redirect_uri.
func (h *Hydra) BrowserClient(t testing.TB, redirectURIs, postLogoutURIs []string) *HydraClient {
	t.Helper()
	return h.browserClient(t, redirectURIs, postLogoutURIs, "client_secret_basic")
}

// BrowserClientPost is BrowserClient for a relying party that sends its
// secret in the form body (client_secret_post).
func (h *Hydra) BrowserClientPost(t testing.TB, redirectURIs, postLogoutURIs []string) *HydraClient {
	t.Helper()
	return h.browserClient(t, redirectURIs, postLogoutURIs, "client_secret_post")
}

func (h *Hydra) browserClient(t testing.TB, redirectURIs, postLogoutURIs []string, authMethod string) *HydraClient {
	t.Helper()
	if len(redirectURIs) == 0 {
		t.Fatalf("testenv: BrowserClient needs at least one redirect URI")
	}
	if postLogoutURIs == nil {
		postLogoutURIs = []string{}
	}
	secret := RandomHex(t, 16)
	reqBody := map[string]any{
		"client_name":                "testenv-browser-" + RandomHex(t, 4),
		"client_secret":              secret,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      strings.Join(BrowserScopes, " "),
		"redirect_uris":              redirectURIs,
		"post_logout_redirect_uris":  postLogoutURIs,
		"token_endpoint_auth_method": authMethod,
		"audience":                   []string{},
	}
	var created struct {
		ClientID string `json:"client_id"`
	}
	h.adminJSON(t, http.MethodPost, "/admin/clients", reqBody, http.StatusCreated, &created)
	if created.ClientID == "" {
		t.Fatalf("testenv: hydra created a client without client_id")
	}
	return &HydraClient{ID: created.ClientID, Secret: secret}
}

var loginChallengeRE = regexp.MustCompile(`name="login_challenge" value="([^"]*)"`)

// SubmitLogin signs in without a browser. c (which should have a cookie
// jar, so Hydra's CSRF and session cookies survive) GETs startURL and
// follows redirects; if that lands on the login form, the form is posted
// with user and password and the redirects are followed again. It returns
// the last response (its body unread) — whatever c's CheckRedirect stopped
// at, such as a redirect to the relying party's callback. It fails the test
// if the form is shown again (wrong password) or an error occurs.
func (h *Hydra) SubmitLogin(t testing.TB, c *http.Client, startURL, user, password string) *http.Response {
	t.Helper()
	resp, err := c.Get(startURL)
	if err != nil {
		t.Fatalf("testenv: GET %s: %v", startURL, err)
	}
	if !h.isLoginForm(resp) {
		return resp
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := loginChallengeRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("testenv: login form without a challenge:\n%s", body)
	}
	form := url.Values{
		"login_challenge": {html.UnescapeString(string(m[1]))},
		"username":        {user},
		"password":        {password},
	}
	resp, err = c.PostForm(h.LoginAppURL+"/login", form)
	if err != nil {
		t.Fatalf("testenv: post login form: %v", err)
	}
	if h.isLoginForm(resp) {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("testenv: login as %q refused (%s):\n%s", user, resp.Status, b)
	}
	return resp
}

// isLoginForm reports whether resp is the login app's form page.
func (h *Hydra) isLoginForm(resp *http.Response) bool {
	u := resp.Request.URL
	return resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther &&
		strings.HasPrefix(u.String(), h.LoginAppURL+"/login") &&
		strings.Contains(resp.Header.Get("Content-Type"), "text/html")
}

// String describes the client without its secret.
func (c *HydraClient) String() string { return fmt.Sprintf("hydra client %s", c.ID) }

// SetClientURIs replaces the redirect URIs and post-logout redirect URIs of
// a client from BrowserClient — for a relying party whose address is known
// only once it listens.
func (h *Hydra) SetClientURIs(t testing.TB, c *HydraClient, redirectURIs, postLogoutURIs []string) {
	t.Helper()
	if postLogoutURIs == nil {
		postLogoutURIs = []string{}
	}
	patch := []map[string]any{
		{"op": "replace", "path": "/redirect_uris", "value": redirectURIs},
		{"op": "replace", "path": "/post_logout_redirect_uris", "value": postLogoutURIs},
	}
	h.adminJSON(t, http.MethodPatch, "/admin/clients/"+url.PathEscape(c.ID), patch, http.StatusOK, nil)
}
