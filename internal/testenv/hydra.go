package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// defaultTopLevelClaims are the custom claim names Hydra is configured at
// start to copy to the top level of JWT access tokens
// (oauth2.allowed_top_level_claims). Client adds other names on demand.
var defaultTopLevelClaims = []string{
	"groups", "roles", "entitlements",
	"preferred_username", "email", "email_verified", "name", "given_name", "family_name",
	"org", "tenant", "team", "department", "project", "environment",
}

// Hydra is a running Ory Hydra v2 server: an OpenID provider issuing JWT
// access tokens through the client_credentials grant, and ID, access and
// refresh tokens through the authorization code flow for the users that
// AddUser registers (see BrowserClient).
type Hydra struct {
	// IssuerURL is the issuer exactly as Hydra writes it in "iss" and in its
	// discovery document: "http://127.0.0.1:PORT/" (with the trailing slash).
	IssuerURL string
	// AdminURL is the admin API base, "http://127.0.0.1:PORT" (no trailing slash).
	AdminURL string
	// LoginAppURL is the base of the login, consent and logout pages Hydra
	// sends browsers to, "http://127.0.0.1:PORT" (no trailing slash). Its
	// /logged-out page is Hydra's default post-logout redirect.
	LoginAppURL string

	proc  *process
	hook  *tokenHook
	login *loginApp
	http  *http.Client

	mu      sync.Mutex // guards cfg and the file at cfgPath
	cfg     hydraConfig
	cfgPath string
}

// HydraClient is an OAuth 2.0 client registered in Hydra.
type HydraClient struct {
	ID, Secret string
}

// hydraConfig is the subset of Hydra's configuration file that testenv sets.
type hydraConfig struct {
	DSN string `json:"dsn"`
	Log struct {
		Level              string `json:"level"`
		LeakSensitiveValue bool   `json:"leak_sensitive_values"`
	} `json:"log"`
	Serve struct {
		Public  hydraListen `json:"public"`
		Admin   hydraListen `json:"admin"`
		Cookies struct {
			SameSiteMode string `json:"same_site_mode"`
		} `json:"cookies"`
	} `json:"serve"`
	URLs struct {
		Self struct {
			Issuer string `json:"issuer"`
		} `json:"self"`
		Login              string `json:"login"`
		Consent            string `json:"consent"`
		Logout             string `json:"logout"`
		Error              string `json:"error"`
		PostLogoutRedirect string `json:"post_logout_redirect"`
	} `json:"urls"`
	Secrets struct {
		System []string `json:"system"`
	} `json:"secrets"`
	Strategies struct {
		AccessToken string `json:"access_token"`
	} `json:"strategies"`
	OAuth2 struct {
		TokenHook             string   `json:"token_hook"`
		AllowedTopLevelClaims []string `json:"allowed_top_level_claims"`
		MirrorTopLevelClaims  bool     `json:"mirror_top_level_claims"`
	} `json:"oauth2"`
}

type hydraListen struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// StartHydra starts `hydra serve all --dev` with an in-memory database, JWT
// access tokens, a token hook served in-process that adds the claims given
// to Client, and a login/consent/logout app served in-process for the
// authorization code flow (see AddUser and BrowserClient). It waits until the admin and public health endpoints are ready
// and the signing keys exist (its JWKS is served).
// Everything is stopped when the test ends; Hydra's log tail is printed if
// the test failed.
func StartHydra(t testing.TB) *Hydra {
	t.Helper()
	bin := RequireHydra(t)
	base := t.TempDir()

	hook := &tokenHook{claims: map[string]map[string]any{}}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	h := &Hydra{hook: hook, http: &http.Client{Timeout: 30 * time.Second}}
	h.login = newLoginApp(h.http)
	loginSrv := httptest.NewServer(h.login)
	t.Cleanup(loginSrv.Close)
	h.LoginAppURL = loginSrv.URL
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var cfg hydraConfig
		cfg.DSN = "memory"
		cfg.Log.Level = "info"
		cfg.Log.LeakSensitiveValue = false
		cfg.Serve.Public = hydraListen{Host: "127.0.0.1", Port: FreePort(t)}
		cfg.Serve.Admin = hydraListen{Host: "127.0.0.1", Port: FreePort(t)}
		cfg.Serve.Cookies.SameSiteMode = "Lax"
		cfg.URLs.Login = loginSrv.URL + "/login"
		cfg.URLs.Consent = loginSrv.URL + "/consent"
		cfg.URLs.Logout = loginSrv.URL + "/logout"
		cfg.URLs.Error = loginSrv.URL + "/error"
		cfg.URLs.PostLogoutRedirect = loginSrv.URL + "/logged-out"
		cfg.URLs.Self.Issuer = "http://" + HostPort(cfg.Serve.Public.Port) + "/"
		cfg.Secrets.System = []string{RandomHex(t, 16)}
		cfg.Strategies.AccessToken = "jwt"
		cfg.OAuth2.TokenHook = hookSrv.URL + "/token-hook"
		cfg.OAuth2.AllowedTopLevelClaims = slices.Clone(defaultTopLevelClaims)
		cfg.OAuth2.MirrorTopLevelClaims = false

		// JSON is YAML, and Hydra picks the parser from the file extension.
		cfgPath := filepath.Join(base, fmt.Sprintf("hydra-%d.yaml", attempt))
		if err := writeHydraConfig(cfgPath, &cfg); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		h.cfg, h.cfgPath = cfg, cfgPath

		logPath := filepath.Join(base, fmt.Sprintf("hydra-%d.log", attempt))
		p, err := startProcess("hydra", bin,
			[]string{"serve", "all", "--dev", "--sqa-opt-out", "--config", cfgPath},
			nil, logPath)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(p.stop)
		registerLogDump(t, p)
		h.proc = p
		h.IssuerURL = cfg.URLs.Self.Issuer
		h.AdminURL = "http://" + HostPort(cfg.Serve.Admin.Port)
		h.login.admin = h.AdminURL

		err = p.waitReady(h.AdminURL+"/health/ready", readyTimeout)
		if err == nil {
			err = p.waitReady(h.IssuerURL+"health/ready", readyTimeout)
		}
		if err == nil {
			// Hydra creates its signing keys on first use, which can take
			// seconds; do it now so that the first token is not slow.
			err = p.waitReady(h.IssuerURL+".well-known/jwks.json", readyTimeout)
		}
		if err == nil {
			return h
		}
		lastErr = err
		p.stop()
		if !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatalf("testenv: start hydra: %v", lastErr)
	return nil
}

// Client registers a client_credentials client allowed to request the given
// audiences. Its access tokens carry claims as top-level JWT claims, added by
// the token hook; values may be strings, numbers, booleans, lists or maps.
// Claim names outside Hydra's reserved ones (iss, sub, aud, exp, nbf, iat,
// jti, client_id, scp, ext) are accepted; a name Hydra was not configured to
// lift to the top level is added to its configuration, which Hydra reloads,
// and Client waits until tokens show it.
func (h *Hydra) Client(t testing.TB, claims map[string]any, audiences ...string) *HydraClient {
	t.Helper()
	var missing []string
	for name := range claims {
		if slices.Contains(reservedClaims, name) {
			t.Fatalf("testenv: claim %q is reserved by Hydra and cannot be set by the token hook", name)
		}
		if !slices.Contains(h.allowedClaims(), name) {
			missing = append(missing, name)
		}
	}
	if audiences == nil {
		audiences = []string{}
	}
	secret := RandomHex(t, 16)
	reqBody := map[string]any{
		"client_name":                "testenv-" + RandomHex(t, 4),
		"client_secret":              secret,
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_post",
		"audience":                   audiences,
	}
	var created struct {
		ClientID string `json:"client_id"`
	}
	h.adminJSON(t, http.MethodPost, "/admin/clients", reqBody, http.StatusCreated, &created)
	if created.ClientID == "" {
		t.Fatalf("testenv: hydra created a client without client_id")
	}
	h.hook.set(created.ClientID, claims)
	c := &HydraClient{ID: created.ClientID, Secret: secret}
	if len(missing) > 0 {
		h.allowClaims(t, c, missing)
	}
	return c
}

// reservedClaims are the access token claims Hydra never lets the token hook set.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scp", "ext"}

func (h *Hydra) allowedClaims() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.cfg.OAuth2.AllowedTopLevelClaims)
}

// allowClaims adds names to oauth2.allowed_top_level_claims and waits until
// a token minted for c (whose hook claims include names) has them at the top level.
func (h *Hydra) allowClaims(t testing.TB, c *HydraClient, names []string) {
	t.Helper()
	h.mu.Lock()
	for _, n := range names {
		if !slices.Contains(h.cfg.OAuth2.AllowedTopLevelClaims, n) {
			h.cfg.OAuth2.AllowedTopLevelClaims = append(h.cfg.OAuth2.AllowedTopLevelClaims, n)
		}
	}
	err := writeHydraConfig(h.cfgPath, &h.cfg)
	h.mu.Unlock()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tok, err := h.grant(c, nil)
		if err != nil {
			t.Fatalf("testenv: hydra token: %v", err)
		}
		claims, err := decodeJWTClaims(tok)
		if err != nil {
			t.Fatalf("testenv: hydra token: %v", err)
		}
		if hasAll(claims, names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: hydra did not reload oauth2.allowed_top_level_claims with %v", names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hasAll(m map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

// writeHydraConfig writes cfg to path atomically, so that Hydra's file
// watcher never reads a partial file. JSON is YAML, which is what Hydra
// expects for a .yaml file.
func writeHydraConfig(path string, cfg *hydraConfig) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("hydra config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("hydra config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hydra config: %w", err)
	}
	return nil
}

// decodeJWTClaims returns the payload of a JWT without verifying it.
func decodeJWTClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	return claims, nil
}

// Token performs the client_credentials grant for c, requesting audience
// (sent space-separated), and returns the JWT access token.
func (h *Hydra) Token(t testing.TB, c *HydraClient, audience ...string) string {
	t.Helper()
	tok, err := h.grant(c, audience)
	if err != nil {
		t.Fatalf("testenv: hydra token: %v", err)
	}
	return tok
}

func (h *Hydra) grant(c *HydraClient, audience []string) (string, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ID},
		"client_secret": {c.Secret},
	}
	if len(audience) > 0 {
		form.Set("audience", strings.Join(audience, " "))
	}
	resp, err := h.http.PostForm(h.IssuerURL+"oauth2/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", fmt.Errorf("decode %s: %w", body, err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("no access_token in %s", body)
	}
	return tok.AccessToken, nil
}

// TokenWithTTL is Token with an access token lifespan of ttl (whole seconds
// are what Hydra encodes in exp). It sets the client's
// client_credentials_grant_access_token_lifespan for this one grant and
// resets it to Hydra's default afterwards, so it must not run concurrently
// with other grants for the same client.
func (h *Hydra) TokenWithTTL(t testing.TB, c *HydraClient, ttl time.Duration, audience ...string) string {
	t.Helper()
	path := "/admin/clients/" + url.PathEscape(c.ID) + "/lifespans"
	h.adminJSON(t, http.MethodPut, path,
		map[string]string{"client_credentials_grant_access_token_lifespan": ttl.String()},
		http.StatusOK, nil)
	defer h.adminJSON(t, http.MethodPut, path, map[string]string{}, http.StatusOK, nil)
	return h.Token(t, c, audience...)
}

// Stop kills Hydra now. It is idempotent; the test cleanup calls it too.
func (h *Hydra) Stop() { h.proc.stop() }

// adminJSON sends body as JSON to the admin API and decodes the answer into
// out (if not nil), failing the test unless the status is want.
func (h *Hydra) adminJSON(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("testenv: hydra admin %s %s: %v", method, path, err)
	}
	req, err := http.NewRequest(method, h.AdminURL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("testenv: hydra admin %s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatalf("testenv: hydra admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("testenv: hydra admin %s %s: %s: %s", method, path, resp.Status, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("testenv: hydra admin %s %s: decode: %v", method, path, err)
		}
	}
}

// tokenHook answers Hydra's oauth2.token_hook calls with the claims
// registered for the requesting client. Hydra posts
// {"session": {...}, "request": {"client_id", "granted_audience", ...}} and
// takes {"session": {"access_token": {...}, "id_token": {...}}} as the new
// extra claims; 204 keeps the session unchanged.
type tokenHook struct {
	mu     sync.Mutex
	claims map[string]map[string]any // client_id -> claims
}

func (th *tokenHook) set(clientID string, claims map[string]any) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.claims[clientID] = maps.Clone(claims)
}

func (th *tokenHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var in struct {
		Request struct {
			ClientID string `json:"client_id"`
		} `json:"request"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	th.mu.Lock()
	claims, ok := th.claims[in.Request.ClientID]
	th.mu.Unlock()
	if !ok || len(claims) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out := map[string]any{"session": map[string]any{
		"access_token": claims,
		"id_token":     claims,
	}}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
