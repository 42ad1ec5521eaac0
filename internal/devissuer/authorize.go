package devissuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Client is an OAuth 2.0 client the authorization endpoint accepts.
type Client struct {
	ID string
	// Secret authenticates the client at the token endpoint
	// (client_secret_basic or client_secret_post). Empty makes it a public
	// client that sends only its client_id; PKCE is required either way.
	Secret string
	// RedirectURIs are the redirect URIs the client may use, compared
	// exactly. Empty accepts any http URI on a loopback host (127.0.0.0/8,
	// ::1, localhost) without query or fragment.
	RedirectURIs []string
}

// User is a preset on the sign-in page.
type User struct {
	Name   string // sub and preferred_username
	Groups []string
}

// Lifetimes of what the authorization endpoint hands out.
const (
	codeTTL    = time.Minute
	tokenTTL   = time.Hour
	refreshTTL = 24 * time.Hour
)

// grant is what an authorization code or a refresh token stands for.
type grant struct {
	clientID    string
	redirectURI string
	challenge   string // PKCE S256 code_challenge
	nonce       string
	scope       string
	user        string
	groups      []string
	expires     time.Time
}

// authRequest is a validated authorization request.
type authRequest struct {
	ClientID, RedirectURI, State, Nonce, Scope, Challenge string
}

// authError is a refused authorization request. redirect is false when
// the client or redirect URI is not trustworthy, so the error is shown
// instead of sent back.
type authError struct {
	code, desc string
	redirect   bool
}

// maxParam bounds every parameter of an authorization request.
const maxParam = 512

// parseAuthRequest validates the OAuth parameters of an authorization
// request (query of GET, form of POST).
func (i *Issuer) parseAuthRequest(q url.Values) (*authRequest, *authError) {
	for k, v := range q {
		if len(v) > 1 && k != "groups" {
			return nil, &authError{code: "invalid_request", desc: "parameter " + k + " repeated"}
		}
		if len(v) == 1 && len(v[0]) > maxParam {
			return nil, &authError{code: "invalid_request", desc: "parameter " + k + " too long"}
		}
	}
	ar := &authRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Nonce: q.Get("nonce"), Scope: q.Get("scope"), Challenge: q.Get("code_challenge")}
	c := i.client(ar.ClientID)
	if c == nil {
		return nil, &authError{code: "invalid_client", desc: "unknown client_id"}
	}
	if !redirectAllowed(c, ar.RedirectURI) {
		return nil, &authError{code: "invalid_request", desc: "redirect_uri is not registered for this client"}
	}
	switch {
	case q.Get("response_type") != "code":
		return ar, &authError{code: "unsupported_response_type", desc: "response_type must be code", redirect: true}
	case !slices.Contains(strings.Fields(ar.Scope), "openid"):
		return ar, &authError{code: "invalid_scope", desc: "scope must include openid", redirect: true}
	case q.Get("code_challenge_method") != "S256" || !validChallenge(ar.Challenge):
		return ar, &authError{code: "invalid_request", desc: "PKCE is required: code_challenge (43 characters) with code_challenge_method S256", redirect: true}
	}
	return ar, nil
}

func (i *Issuer) client(id string) *Client {
	i.mu.Lock()
	defer i.mu.Unlock()
	for k := range i.opts.Clients {
		if c := i.opts.Clients[k]; id != "" && c.ID == id {
			return &c
		}
	}
	return nil
}

// AddClient registers c with the authorization endpoint, replacing a
// client with the same ID.
func (i *Issuer) AddClient(c Client) {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.opts.Clients = slices.DeleteFunc(slices.Clone(i.opts.Clients), func(o Client) bool { return o.ID == c.ID })
	i.opts.Clients = append(i.opts.Clients, c)
}

// redirectAllowed says whether c may use redirect URI u: exactly one of
// its registered URIs, or, when it has none, an http loopback URI.
func redirectAllowed(c *Client, u string) bool {
	if u == "" {
		return false
	}
	if len(c.RedirectURIs) > 0 {
		return slices.Contains(c.RedirectURIs, u)
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.User != nil || p.RawQuery != "" || p.Fragment != "" || p.Opaque != "" {
		return false
	}
	h := p.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// validChallenge reports whether s is a base64url SHA-256 digest.
func validChallenge(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// validVerifier is RFC 7636's code_verifier syntax.
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

// validUsername accepts 1 to 64 of A-Z a-z 0-9 . _ @ -.
func validUsername(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._@-", c)) {
			return false
		}
	}
	return true
}

// parseGroups splits a free-form group list at commas and spaces. Each
// group must be a valid name as for usernames; at most 16.
func parseGroups(s string) ([]string, bool) {
	var out []string
	for _, g := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !validUsername(g) || len(out) == 16 {
			return nil, false
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, true
}

// sendBack redirects to the validated redirect URI with params and state.
func sendBack(w http.ResponseWriter, r *http.Request, ar *authRequest, params url.Values) {
	if ar.State != "" {
		params.Set("state", ar.State)
	}
	u, err := url.Parse(ar.RedirectURI)
	if err != nil {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// serveAuthorize handles GET /authorize (the sign-in page) and POST
// /authorize (a choice on it).
func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			i.page(w, http.StatusBadRequest, pageData{Error: "The form could not be read."})
			return
		}
		q = r.PostForm
	} else {
		q = r.URL.Query()
	}
	ar, aerr := i.parseAuthRequest(q)
	if aerr != nil {
		if aerr.redirect {
			sendBack(w, r, ar, url.Values{"error": {aerr.code}, "error_description": {aerr.desc}})
			return
		}
		i.page(w, http.StatusBadRequest, pageData{Error: "Invalid sign-in request: " + aerr.desc + "."})
		return
	}
	d := pageData{Req: ar, Users: i.opts.Users, Hint: q.Get("login_hint")}
	if r.Method != http.MethodPost {
		i.page(w, http.StatusOK, d)
		return
	}
	if q.Get("cancel") != "" {
		sendBack(w, r, ar, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled the sign-in"}})
		return
	}
	g := &grant{clientID: ar.ClientID, redirectURI: ar.RedirectURI, challenge: ar.Challenge, nonce: ar.Nonce,
		scope: ar.Scope, expires: i.opts.Now().Add(codeTTL)}
	if preset := q.Get("preset"); preset != "" {
		k := slices.IndexFunc(i.opts.Users, func(u User) bool { return u.Name == preset })
		if k < 0 {
			d.Error = "There is no preset user " + preset + "."
			i.page(w, http.StatusBadRequest, d)
			return
		}
		g.user, g.groups = preset, slices.Clone(i.opts.Users[k].Groups)
	} else {
		g.user = strings.TrimSpace(q.Get("username"))
		d.Hint, d.Groups = g.user, q.Get("groups")
		if !validUsername(g.user) {
			d.Error = "Invalid username " + g.user + ": use 1 to 64 of A-Z a-z 0-9 . _ @ -."
			i.page(w, http.StatusBadRequest, d)
			return
		}
		var ok bool
		if g.groups, ok = parseGroups(q.Get("groups")); !ok {
			d.Error = "Invalid groups: separate up to 16 names (A-Z a-z 0-9 . _ @ -) with commas or spaces."
			i.page(w, http.StatusBadRequest, d)
			return
		}
	}
	code := randomToken()
	i.mu.Lock()
	i.expire()
	i.codes[code] = g
	i.mu.Unlock()
	sendBack(w, r, ar, url.Values{"code": {code}})
}

// expire drops codes and refresh tokens past their expiry; i.mu is held.
func (i *Issuer) expire() {
	now := i.opts.Now()
	for _, m := range []map[string]*grant{i.codes, i.refresh} {
		for k, g := range m {
			if !now.Before(g.expires) {
				delete(m, k)
			}
		}
	}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenError writes an RFC 6749 section 5.2 error.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="devissuer"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSON(w, map[string]string{"error": code, "error_description": desc})
}

// authenticateClient checks client_secret_basic, client_secret_post or,
// for a public client, a bare client_id.
func (i *Issuer) authenticateClient(r *http.Request) (*Client, string) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if r.PostForm.Has("client_secret") {
			return nil, "use one client authentication method"
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, "malformed client credentials"
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != id {
			return nil, "client_id does not match the authenticated client"
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c := i.client(id)
	if c == nil {
		return nil, "unknown client"
	}
	if c.Secret == "" {
		if secret != "" {
			return nil, "public client must not send a secret"
		}
		return c, ""
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return nil, "client authentication failed"
	}
	return c, ""
}

// serveCodeGrant handles POST /token with grant_type authorization_code
// or refresh_token; the form is parsed.
func (i *Issuer) serveCodeGrant(w http.ResponseWriter, r *http.Request) {
	c, msg := i.authenticateClient(r)
	if c == nil {
		tokenError(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	now := i.opts.Now()
	var g *grant
	if r.PostForm.Get("grant_type") == "refresh_token" {
		rt := r.PostForm.Get("refresh_token")
		i.mu.Lock()
		i.expire()
		g = i.refresh[rt]
		i.mu.Unlock()
		if g == nil || g.clientID != c.ID {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or expired refresh token")
			return
		}
		i.respondTokens(w, g, "")
		return
	}
	code := r.PostForm.Get("code")
	i.mu.Lock()
	g = i.codes[code]
	delete(i.codes, code) // single use, whatever happens next
	i.mu.Unlock()
	switch {
	case g == nil || !now.Before(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired authorization code")
	case g.clientID != c.ID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
	case !pkceMatches(r.PostForm.Get("code_verifier"), g.challenge):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
	default:
		rt := ""
		if slices.Contains(strings.Fields(g.scope), "offline_access") {
			rt = randomToken()
			rg := *g
			rg.expires = now.Add(refreshTTL)
			i.mu.Lock()
			i.refresh[rt] = &rg
			i.mu.Unlock()
		}
		i.respondTokens(w, g, rt)
	}
}

func pkceMatches(verifier, challenge string) bool {
	if !validVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// respondTokens mints an ID token and an access token for g.
func (i *Issuer) respondTokens(w http.ResponseWriter, g *grant, refresh string) {
	id := map[string]any{"sub": g.user, "aud": g.clientID, "azp": g.clientID, "preferred_username": g.user,
		"email": g.user, "auth_time": i.opts.Now().Unix()}
	at := map[string]any{"sub": g.user, "aud": i.opts.Audience, "preferred_username": g.user,
		"client_id": g.clientID, "scope": g.scope}
	if len(g.groups) > 0 {
		id["groups"], at["groups"] = g.groups, g.groups
	}
	if g.nonce != "" {
		id["nonce"] = g.nonce
	}
	if !strings.Contains(g.user, "@") {
		id["email"] = g.user + "@example.com"
	}
	idt, err := i.Mint(id, tokenTTL)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "minting failed")
		return
	}
	atok, err := i.Mint(at, tokenTTL)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "minting failed")
		return
	}
	resp := map[string]any{"access_token": atok, "token_type": "Bearer", "expires_in": int(tokenTTL.Seconds()),
		"id_token": idt, "scope": g.scope}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, resp)
}

type pageData struct {
	Req    *authRequest
	Users  []User
	Hint   string // prefilled username (login_hint, or what was typed)
	Groups string
	Error  string
}

func (i *Issuer) page(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

var pageTmpl = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — development issuer</title>
<style>
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#222}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.6rem .8rem;border-radius:4px}
.err{background:#f8d7da;border:1px solid #d08088;padding:.6rem .8rem;border-radius:4px}
button{font-size:1rem;padding:.4rem .9rem;margin:.2rem .3rem .2rem 0;cursor:pointer}
label{display:block;margin:.6rem 0 .2rem}input[type=text]{font-size:1rem;padding:.3rem;width:100%;box-sizing:border-box}
small{color:#666}
</style></head><body>
<h1>Sign in</h1>
<p class="warn"><strong>development issuer — never use in production.</strong> It listens on this machine only and signs in anyone as anyone, without a password.</p>
{{with .Error}}<p class="err" role="alert">{{.}}</p>{{end}}
{{with .Req}}<p><small>Signing in to <code>{{.ClientID}}</code>, returning to <code>{{.RedirectURI}}</code>.</small></p>
{{- if $.Users}}
<h2>Pick a demo user</h2>
<form method="post" action="/authorize">{{template "hidden" .}}
<p>{{range $.Users}}<button type="submit" name="preset" value="{{.Name}}">{{.Name}}{{if .Groups}} <small>({{range $k, $g := .Groups}}{{if $k}}, {{end}}{{$g}}{{end}})</small>{{end}}</button>{{end}}</p>
</form>
<h2>Or another user</h2>
{{- end}}
<form method="post" action="/authorize">{{template "hidden" .}}
<label for="username">Username (becomes sub and preferred_username)</label>
<input type="text" id="username" name="username" value="{{$.Hint}}" autocomplete="off" maxlength="64">
<label for="groups">Groups (comma-separated)</label>
<input type="text" id="groups" name="groups" value="{{$.Groups}}" autocomplete="off">
<p><button type="submit" name="signin" value="1">Sign in</button> <button type="submit" name="cancel" value="1">Cancel</button></p>
</form>{{end}}
</body></html>
{{define "hidden"}}<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="nonce" value="{{.Nonce}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
{{end}}`))
