package testenv

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// loginApp is the login, consent and logout UI that Hydra sends browsers to
// in the authorization code flow (urls.login, urls.consent, urls.logout). It
// accepts Hydra's challenges through the admin API:
//
//   - login shows an HTML form; a registered user with the right password is
//     accepted as subject = user name, remembered by Hydra for an hour so
//     that a second authorization request passes without the form until
//     the user logs out. A login request Hydra marks skip (an existing
//     session) is accepted at once.
//   - consent is accepted at once, not remembered, with every requested
//     scope and audience; the user's claims go into both the ID token and
//     the access token.
//   - logout is accepted at once.
type loginApp struct {
	admin string // Hydra's admin API base URL
	http  *http.Client

	mu     sync.Mutex
	users  map[string]loginUser
	logins int // successful form logins, for tests
}

type loginUser struct {
	password string
	claims   map[string]any
}

func newLoginApp(http *http.Client) *loginApp {
	return &loginApp{http: http, users: map[string]loginUser{}}
}

func (a *loginApp) addUser(name, password string, claims map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[name] = loginUser{password: password, claims: maps.Clone(claims)}
}

// check reports whether name and password match a registered user.
func (a *loginApp) check(name, password string) bool {
	a.mu.Lock()
	u, ok := a.users[name]
	a.mu.Unlock()
	// Compare even for an unknown user, so both cases take the same path.
	match := subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1
	return ok && match
}

func (a *loginApp) claims(name string) map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.users[name].claims)
}

func (a *loginApp) formLogins() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins
}

func (a *loginApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/login":
		a.login(w, r)
	case "/consent":
		a.consent(w, r)
	case "/logout":
		a.logout(w, r)
	case "/logged-out":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>Signed out</title><p id="logged-out">You are signed out.</p>`)
	case "/error":
		// Hydra's urls.error: show what went wrong.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = errorPage.Execute(w, map[string]string{
			"Error":       r.URL.Query().Get("error"),
			"Description": r.URL.Query().Get("error_description"),
			"Hint":        r.URL.Query().Get("error_hint"),
		})
	default:
		http.NotFound(w, r)
	}
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — test IdP</title>
<style>body{font-family:sans-serif;max-width:24em;margin:4em auto}label,input,button{display:block;margin:.4em 0}
.error{color:#b00020}</style></head>
<body>
<h1>Sign in</h1>
<p>to <b>{{.Client}}</b></p>
{{if .Error}}<p id="login-error" class="error" role="alert">{{.Error}}</p>{{end}}
<form id="login-form" method="post" action="/login">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button id="login-submit" type="submit">Sign in</button>
</form>
</body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Login error — test IdP</title></head>
<body><h1>Login error</h1><p id="idp-error">{{.Error}}</p><p>{{.Description}}</p><p>{{.Hint}}</p></body></html>
`))

// loginRequest is the part of Hydra's OAuth2LoginRequest the app reads.
type loginRequest struct {
	Challenge string `json:"challenge"`
	Skip      bool   `json:"skip"`
	Subject   string `json:"subject"`
	Client    struct {
		ClientID   string `json:"client_id"`
		ClientName string `json:"client_name"`
	} `json:"client"`
}

func (a *loginApp) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		challenge := r.URL.Query().Get("login_challenge")
		var lr loginRequest
		if err := a.adminCall(r.Context(), http.MethodGet,
			"/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &lr); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if lr.Skip {
			// Hydra already knows the user; it must be accepted as is.
			a.acceptLogin(w, r, challenge, lr.Subject, false)
			return
		}
		a.showLogin(w, http.StatusOK, challenge, clientLabel(lr), "", "")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		challenge := r.PostForm.Get("login_challenge")
		name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
		if !a.check(name, password) {
			var lr loginRequest
			if err := a.adminCall(r.Context(), http.MethodGet,
				"/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &lr); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			a.showLogin(w, http.StatusUnauthorized, challenge, clientLabel(lr), name, "Wrong user name or password.")
			return
		}
		a.mu.Lock()
		a.logins++
		a.mu.Unlock()
		a.acceptLogin(w, r, challenge, name, true)
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
	}
}

func clientLabel(lr loginRequest) string {
	if lr.Client.ClientName != "" {
		return lr.Client.ClientName
	}
	return lr.Client.ClientID
}

func (a *loginApp) showLogin(w http.ResponseWriter, status int, challenge, client, name, errMsg string) {
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, map[string]string{
		"Challenge": challenge, "Client": client, "Username": name, "Error": errMsg,
	}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (a *loginApp) acceptLogin(w http.ResponseWriter, r *http.Request, challenge, subject string, remember bool) {
	body := map[string]any{"subject": subject, "amr": []string{"pwd"}}
	if remember {
		body["remember"] = true
		body["remember_for"] = 3600
	}
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.adminCall(r.Context(), http.MethodPut,
		"/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge), body, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

func (a *loginApp) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var cr struct {
		Subject                      string   `json:"subject"`
		RequestedScope               []string `json:"requested_scope"`
		RequestedAccessTokenAudience []string `json:"requested_access_token_audience"`
	}
	if err := a.adminCall(r.Context(), http.MethodGet,
		"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &cr); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	claims := a.claims(cr.Subject)
	if claims == nil {
		claims = map[string]any{}
	}
	body := map[string]any{
		"grant_scope":                 nonNil(cr.RequestedScope),
		"grant_access_token_audience": nonNil(cr.RequestedAccessTokenAudience),
		"remember":                    false,
		"session": map[string]any{
			"id_token":     claims,
			"access_token": claims,
		},
	}
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.adminCall(r.Context(), http.MethodPut,
		"/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge), body, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *loginApp) logout(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("logout_challenge")
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.adminCall(r.Context(), http.MethodPut,
		"/admin/oauth2/auth/requests/logout/accept?logout_challenge="+url.QueryEscape(challenge), nil, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

// adminCall sends body (if not nil) as JSON to Hydra's admin API and decodes
// a 2xx answer into out.
func (a *loginApp) adminCall(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.admin+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("hydra admin %s %s: %s: %s", method, path, resp.Status, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return fmt.Errorf("hydra admin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}
