package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// rp is a relying party without a browser: an http.Client with a cookie
// jar that stops at redirects to the client's own (unserved) URIs.
type rp struct {
	h        *Hydra
	client   *HydraClient
	http     *http.Client
	callback string
	bye      string
}

func newRP(t *testing.T, h *Hydra) *rp {
	t.Helper()
	const base = "http://127.0.0.1:9" // never served; redirects there are stopped
	r := &rp{h: h, callback: base + "/callback", bye: base + "/bye"}
	// Registered with other URIs first, to exercise SetClientURIs.
	r.client = h.BrowserClient(t, []string{base + "/placeholder"}, nil)
	h.SetClientURIs(t, r.client, []string{r.callback}, []string{r.bye})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.http = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), base) {
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return r
}

// authRequest is one authorization request with PKCE (S256), state and nonce.
type authRequest struct {
	url, state, nonce, verifier string
}

func (r *rp) newAuthRequest(t *testing.T) authRequest {
	t.Helper()
	a := authRequest{state: RandomHex(t, 8), nonce: RandomHex(t, 8), verifier: RandomHex(t, 32)}
	sum := sha256.Sum256([]byte(a.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {r.client.ID},
		"redirect_uri":          {r.callback},
		"scope":                 {strings.Join(BrowserScopes, " ")},
		"state":                 {a.state},
		"nonce":                 {a.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	a.url = r.h.IssuerURL + "oauth2/auth?" + q.Encode()
	return a
}

// code reads the authorization code from a redirect to the callback.
func (r *rp) code(t *testing.T, resp *http.Response, a authRequest) string {
	t.Helper()
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, r.callback) {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("expected a redirect to the callback, got %s (%s) Location=%q:\n%s", resp.Status, resp.Request.URL, loc, b)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if e := u.Query().Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, u.Query().Get("error_description"))
	}
	if got := u.Query().Get("state"); got != a.state {
		t.Fatalf("state = %q, want %q", got, a.state)
	}
	return u.Query().Get("code")
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
}

// token posts form to the token endpoint with client_secret_basic and
// returns the status and the decoded answer.
func (r *rp) token(t *testing.T, form url.Values) (int, tokenResponse, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.h.IssuerURL+"oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.client.ID), url.QueryEscape(r.client.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("token response %s: %v", b, err)
		}
	}
	return resp.StatusCode, tr, string(b)
}

func TestHydraBrowserLogin(t *testing.T) {
	h := StartHydra(t)
	userClaims := map[string]any{
		"groups":    []any{"eng", "oncall"},
		"email":     "alice@corp.test",
		"clearance": "amber", // not a default top-level claim: Hydra is reconfigured
	}
	h.AddUser(t, "alice", "correct horse", userClaims)
	r := newRP(t, h)

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, h.IssuerURL)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: r.client.ID})
	checkIDToken := func(t *testing.T, raw, nonce string) {
		t.Helper()
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify ID token: %v", err)
		}
		if idt.Subject != "alice" {
			t.Errorf("sub = %q, want alice", idt.Subject)
		}
		if nonce != "" && idt.Nonce != nonce {
			t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
		}
		var got map[string]any
		if err := idt.Claims(&got); err != nil {
			t.Fatal(err)
		}
		for k, want := range userClaims {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("ID token claim %s = %#v, want %#v", k, got[k], want)
			}
		}
		if got["preferred_username"] != "alice" || got["email_verified"] != true {
			t.Errorf("ID token default claims: %v", got)
		}
	}
	checkAccessToken := func(t *testing.T, raw string) {
		t.Helper()
		got := jwtClaims(t, raw)
		if got["sub"] != "alice" || got["iss"] != h.IssuerURL {
			t.Errorf("access token sub/iss: %v", got)
		}
		for k, want := range userClaims {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("access token claim %s = %#v, want %#v", k, got[k], want)
			}
		}
	}

	// A wrong password shows the form again, with an error.
	a := r.newAuthRequest(t)
	resp, err := r.http.Get(a.url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `id="username"`) || !strings.Contains(string(body), `id="login-submit"`) {
		t.Fatalf("authorization request did not show the login form: %s %s\n%s", resp.Status, resp.Request.URL, body)
	}
	challenge := loginChallengeRE.FindStringSubmatch(string(body))[1]
	resp, err = r.http.PostForm(h.LoginAppURL+"/login", url.Values{
		"login_challenge": {challenge}, "username": {"alice"}, "password": {"wrong"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `id="login-error"`) ||
		!strings.Contains(string(body), `id="password"`) {
		t.Fatalf("wrong password: %s\n%s", resp.Status, body)
	}

	// The right password completes the flow.
	code := r.code(t, h.SubmitLogin(t, r.http, a.url, "alice", "correct horse"), a)
	if n := h.FormLogins(); n != 1 {
		t.Errorf("FormLogins = %d, want 1", n)
	}

	// PKCE is enforced: a wrong verifier does not redeem the code...
	status, _, errBody := r.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.callback},
		"code_verifier": {RandomHex(t, 32)},
	})
	if status == http.StatusOK {
		t.Fatalf("code redeemed with a wrong PKCE verifier")
	}
	t.Logf("wrong verifier: %d %s", status, errBody)
	// ...and (Hydra invalidates a code after a failed redemption) a new login
	// is needed; the session makes it pass without the form.
	a = r.newAuthRequest(t)
	code = r.code(t, h.SubmitLogin(t, r.http, a.url, "alice", "unused"), a)
	if n := h.FormLogins(); n != 1 {
		t.Errorf("FormLogins = %d after a remembered login, want 1", n)
	}
	status, tok, errBody := r.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.callback},
		"code_verifier": {a.verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %s", status, errBody)
	}
	if tok.IDToken == "" || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token response lacks a token: %+v", tok)
	}
	t.Logf("scope %q, ID token claims %v", tok.Scope, jwtClaims(t, tok.IDToken))
	checkIDToken(t, tok.IDToken, a.nonce)
	checkAccessToken(t, tok.AccessToken)

	// Refresh keeps the claims.
	status, refreshed, errBody := r.token(t, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
	})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %s", status, errBody)
	}
	if refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == "" {
		t.Errorf("refresh returned the same access token or no refresh token")
	}
	checkIDToken(t, refreshed.IDToken, "")
	checkAccessToken(t, refreshed.AccessToken)

	// RP-initiated logout ends Hydra's session: it redirects to the
	// registered post-logout URI, and the next login shows the form again.
	q := url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {r.bye}, "state": {"s1"}}
	resp, err = r.http.Get(h.IssuerURL + "oauth2/sessions/logout?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != r.bye+"?state=s1" {
		t.Fatalf("logout ended with %s Location=%q at %s", resp.Status, loc, resp.Request.URL)
	}
	a = r.newAuthRequest(t)
	resp, err = r.http.Get(a.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !h.isLoginForm(resp) {
		t.Fatalf("after logout, an authorization request ended at %s %s, not the login form", resp.Status, resp.Request.URL)
	}

	// The client_credentials API works beside the browser flow.
	cc := h.Client(t, map[string]any{"groups": []any{"machines"}}, "iamgate")
	if got := jwtClaims(t, h.Token(t, cc, "iamgate")); !reflect.DeepEqual(got["groups"], []any{"machines"}) {
		t.Errorf("client_credentials token groups = %v", got["groups"])
	}
}
