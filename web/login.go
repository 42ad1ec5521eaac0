package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
)

// provider is a discovered OpenID provider with its client.
type provider struct {
	issuer     *Issuer
	oidc       *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	endSession string
	// revocation is the RFC 7009 endpoint sign-out revokes the refresh
	// token at; "" if the provider has none.
	revocation string
	// authInParams: send the client secret in the form (client_secret_post).
	authInParams bool
}

// provider discovers is once (retrying after a failure) and caches it.
func (s *Service) provider(ctx context.Context, is *Issuer) (*provider, error) {
	s.provMu.Lock()
	defer s.provMu.Unlock()
	if p := s.provs[is.Name]; p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(s.clientContext(ctx), 30*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, is.URL)
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", is.URL, err)
	}
	var meta struct {
		EndSession  string   `json:"end_session_endpoint"`
		Revocation  string   `json:"revocation_endpoint"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = op.Claims(&meta)
	// client_secret_post only when the provider says it does not take
	// client_secret_basic.
	post := slices.Contains(meta.AuthMethods, "client_secret_post") && !slices.Contains(meta.AuthMethods, "client_secret_basic")
	p := &provider{
		issuer:       is,
		oidc:         op,
		verifier:     op.VerifierContext(s.clientContext(context.Background()), &oidc.Config{ClientID: is.ClientID, Now: s.cfg.Now, SupportedSigningAlgs: is.Algorithms}),
		endSession:   meta.EndSession,
		revocation:   meta.Revocation,
		authInParams: post,
	}
	s.provs[is.Name] = p
	return p, nil
}

func (s *Service) clientContext(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, s.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTPClient)
}

func (s *Service) oauth2Config(p *provider, r *http.Request) *oauth2.Config {
	scopes := p.issuer.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	ep := p.oidc.Endpoint()
	// Choose the client authentication once: auto-detection retries a
	// refused exchange with the other style, which turns "wrong PKCE
	// verifier" into a misleading "code already used". client_secret_basic
	// is OpenID Connect's default; a public client sends only client_id.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if p.issuer.ClientSecret == "" || p.authInParams {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     p.issuer.ClientID,
		ClientSecret: p.issuer.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  s.base(r).String() + "/_iamgate/callback",
		Scopes:       scopes,
	}
}

// loginState is what the browser carries, sealed, between /login and
// /callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
	Issuer   string `json:"i"`
	Expiry   int64  `json:"e"`
}

const (
	loginStatePurpose = "login-state"
	loginCookiePrefix = "iamgate_login_"
	loginCookiePath   = "/_iamgate/callback"
)

// loginCookieName keys the state cookie by the start of state, so that
// sign-ins started in two tabs do not overwrite each other.
func loginCookieName(state string) string {
	if len(state) > 12 {
		state = state[:12]
	}
	return loginCookiePrefix + state
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// serveLogin starts a sign-in: with one issuer (or ?issuer=NAME) it sends
// the browser to the provider; with several it shows a chooser.
func (s *Service) serveLogin(w http.ResponseWriter, r *http.Request) {
	rd, ok := SafeReturnPath(r.URL.Query().Get("rd"))
	if !ok {
		rd = DefaultReturnPath
	}
	name := r.URL.Query().Get("issuer")
	if name == "" && len(s.order) == 1 && len(s.cfg.Directories) == 0 {
		name = s.order[0]
	}
	if name == "" {
		s.loginPage(w, r, rd, nil, http.StatusOK, "", "")
		return
	}
	if dir := s.directory(name); dir != nil {
		s.loginPage(w, r, rd, dir, http.StatusOK, "", "")
		return
	}
	is := s.issuers[name]
	if is == nil {
		s.renderer.errorPage(w, http.StatusBadRequest, "Unknown sign-in provider", fmt.Sprintf("There is no sign-in provider named %q.", name))
		return
	}
	p, err := s.provider(r.Context(), is)
	if err != nil {
		s.log.Warn("identity provider discovery failed", "issuer", is.Name, "err", err)
		s.failLogin(w, r, is.Name, "idp_unavailable", http.StatusBadGateway,
			"The sign-in provider "+is.Name+" cannot be reached right now. Try again in a minute.")
		return
	}
	st := loginState{
		State:    randomString(24),
		Nonce:    randomString(24),
		Verifier: oauth2.GenerateVerifier(),
		Return:   rd,
		Issuer:   is.Name,
		Expiry:   s.cfg.Now().Add(LoginStateLifetime).Unix(),
	}
	plain, _ := json.Marshal(&st)
	c := s.cookie(r, loginCookieName(st.State), s.cfg.Keys.SealData(loginStatePurpose, plain), int(LoginStateLifetime/time.Second))
	c.Path = loginCookiePath
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.oauth2Config(p, r).AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)), http.StatusFound)
}

// failLogin shows why a sign-in failed and records a login_failure event
// naming the issuer, when known.
func (s *Service) failLogin(w http.ResponseWriter, r *http.Request, issuer, reason string, status int, msg string) {
	ev := &audit.Event{Issuer: issuer}
	if is := s.issuers[issuer]; is != nil {
		ev.IssuerURL = is.URL
	}
	s.failLoginAs(w, r, ev, reason, status, msg)
}

// failLoginAs is failLogin for a sign-in that got as far as ev's identity.
func (s *Service) failLoginAs(w http.ResponseWriter, r *http.Request, ev *audit.Event, reason string, status int, msg string) {
	ev.Kind, ev.Decision, ev.Reason, ev.Status = audit.KindLoginFailure, "deny", reason, status
	ev.Message, ev.ErrorCode = msg, "LoginFailed"
	if ev.AuthMethod == "" {
		ev.AuthMethod = "oidc-code"
	}
	s.logEvent(r, ev)
	s.renderer.errorPage(w, status, "Sign-in failed", msg)
}

// attemptEvent is the identity a verified ID token names, for the
// login_failure event of a sign-in refused after verification: the same
// identity fields a login event records (no roles: none was granted).
// An ID token that failed verification is never read for it.
func (s *Service) attemptEvent(is *Issuer, idt *oidc.IDToken, raw string) *audit.Event {
	claims := map[string]any{}
	_ = idt.Claims(&claims) // verified, so it decodes; the subject counts regardless
	return &audit.Event{Issuer: is.Name, IssuerURL: idt.Issuer, Subject: idt.Subject,
		Username: authz.Username(claims, idt.Subject), Fingerprint: s.fingerprint(raw),
		Claims: audit.RecordedClaims(claims, s.cfg.AuditClaims), Actor: audit.ActorFromClaim(claims["act"])}
}

// openLoginState finds, opens and deletes the sign-in state of state.
func (s *Service) openLoginState(w http.ResponseWriter, r *http.Request, state string) (*loginState, string) {
	if state == "" {
		return nil, "the provider's answer has no state"
	}
	c, err := r.Cookie(loginCookieName(state))
	if err != nil {
		return nil, "no sign-in was started in this browser for this answer (or it took longer than 10 minutes)"
	}
	del := s.cookie(r, c.Name, "", -1)
	del.Path = loginCookiePath
	http.SetCookie(w, del)
	plain, err := s.cfg.Keys.OpenData(loginStatePurpose, c.Value)
	if err != nil {
		return nil, "the sign-in state cookie is not authentic"
	}
	var st loginState
	if json.Unmarshal(plain, &st) != nil {
		return nil, "the sign-in state cookie is malformed"
	}
	if subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 {
		return nil, "the state in the provider's answer does not match the sign-in started in this browser"
	}
	if s.cfg.Now().Unix() >= st.Expiry {
		return nil, "the sign-in took longer than 10 minutes"
	}
	return &st, ""
}

// serveCallback completes a sign-in: checks state, exchanges the code with
// the PKCE verifier, verifies the ID token and its nonce, maps the
// identity to roles and sets the session cookie.
func (s *Service) serveCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	st, problem := s.openLoginState(w, r, q.Get("state"))
	if st == nil {
		s.failLogin(w, r, "", "state_mismatch", http.StatusBadRequest, "Sign-in failed: "+problem+". Start again from the page you wanted to open.")
		return
	}
	is := s.issuers[st.Issuer]
	if is == nil {
		s.failLogin(w, r, st.Issuer, "state_mismatch", http.StatusBadRequest, "Sign-in failed: the provider it was started with is no longer configured.")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "The sign-in provider refused the sign-in: " + clip(e, 100)
		if d := q.Get("error_description"); d != "" {
			msg += " (" + clip(d, 300) + ")"
		}
		s.failLogin(w, r, is.Name, "idp_error", http.StatusForbidden, msg+".")
		return
	}
	p, err := s.provider(r.Context(), is)
	if err != nil {
		s.failLogin(w, r, is.Name, "idp_unavailable", http.StatusBadGateway, "The sign-in provider "+is.Name+" cannot be reached right now. Try again in a minute.")
		return
	}
	ctx, cancel := context.WithTimeout(s.clientContext(r.Context()), 30*time.Second)
	defer cancel()
	tok, err := s.oauth2Config(p, r).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		s.log.Info("authorization code exchange failed", "issuer", is.Name, "err", exchangeError(err))
		s.failLogin(w, r, is.Name, "code_exchange_failed", http.StatusForbidden,
			"Sign-in failed: the provider refused to exchange the authorization code ("+exchangeError(err)+"). A code can be used only once; start again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		s.failLogin(w, r, is.Name, "id_token_invalid", http.StatusForbidden, "Sign-in failed: the provider returned no ID token (is the openid scope requested?).")
		return
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		s.failLogin(w, r, is.Name, "id_token_invalid", http.StatusForbidden, "Sign-in failed: the ID token is not valid ("+clip(err.Error(), 300)+").")
		return
	}
	// From here on the ID token is verified: a refusal records whom it names.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		s.failLoginAs(w, r, s.attemptEvent(is, idt, raw), "nonce_mismatch", http.StatusForbidden,
			"Sign-in failed: the ID token was not issued for this sign-in (nonce mismatch).")
		return
	}
	sess, msg, reason := s.newSession(idt, raw, tok.RefreshToken, nil)
	if sess == nil {
		s.failLoginAs(w, r, s.attemptEvent(is, idt, raw), reason, http.StatusForbidden, msg)
		return
	}
	if err := s.issue(w, r, sess); err != nil {
		s.failLoginAs(w, r, s.attemptEvent(is, idt, raw), "session_too_large", http.StatusForbidden, err.Error())
		return
	}
	ev := s.sessionEvent(audit.KindLogin, "oidc-code", sess)
	ev.Reason, ev.Expiry = "signed_in", sess.Expiry
	s.logEvent(r, ev)
	http.Redirect(w, r, st.Return, http.StatusFound)
}

// exchangeError is the provider's error code and description, without
// the response body (which could echo a code).
func exchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			s := re.ErrorCode
			if re.ErrorDescription != "" {
				s += ": " + clip(re.ErrorDescription, 200)
			}
			return s
		}
		if re.Response != nil {
			return "HTTP " + re.Response.Status
		}
	}
	return "the token endpoint could not be reached"
}

// droppedClaims are claims of an ID token that say nothing about the
// person; they are not kept in the session.
var droppedClaims = []string{"nonce", "at_hash", "c_hash", "s_hash", "jti", "rat", "sid"}

// newSession makes the browser session for a verified ID token. prev,
// when renewing, keeps its ID, issue time and secret. On failure it
// returns the message to show and the audit reason.
func (s *Service) newSession(idt *oidc.IDToken, raw, refresh string, prev *identity.Session) (*identity.Session, string, string) {
	is := s.issuerByURL(idt.Issuer)
	if is == nil {
		return nil, "Sign-in failed: the ID token's issuer is not configured.", "id_token_invalid"
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, "Sign-in failed: the ID token's claims cannot be read.", "id_token_invalid"
	}
	for _, c := range is.RequiredClaims {
		if claims[c] == nil {
			return nil, fmt.Sprintf("Sign-in failed: the ID token lacks the claim %q, which issuer %q requires.", clip(c, 64), is.Name), "missing_claim"
		}
	}
	for _, c := range droppedClaims {
		delete(claims, c)
	}
	id := &authz.Identity{Issuer: is.Name, Subject: idt.Subject, Claims: claims}
	trusted, misses := s.cfg.Engine.Trust(id)
	if len(trusted) == 0 {
		msg := fmt.Sprintf("You signed in as %s, but no role of this iamgate trusts that identity (issuer %q).", authz.Username(claims, idt.Subject), is.Name)
		if len(misses) > 0 && len(misses) <= 3 {
			var parts []string
			for _, m := range misses {
				parts = append(parts, fmt.Sprintf("role %q: %s", m.Role, m.Reason))
			}
			msg += " " + strings.Join(parts, "; ") + "."
		}
		return nil, msg + " Ask an administrator for access.", "no_role"
	}
	sess := identity.NewSession()
	var roles []string
	for _, t := range trusted {
		roles = append(roles, t.Name())
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	sess.Kind = identity.KindBrowser
	sess.Issuer, sess.Subject, sess.Roles, sess.Claims = is.Name, idt.Subject, roles, claims
	sess.RoleSessionName = authz.Username(claims, idt.Subject)
	sess.IssuedAt, sess.RenewedAt = now, now
	sess.Expiry = idt.Expiry.UTC().Truncate(time.Second)
	if lim := now.Add(s.maxSession(roles)); lim.Before(sess.Expiry) {
		sess.Expiry = lim
	}
	if prev != nil {
		// The same session: its ID, sign-in time and secret (so that the
		// console's anti-forgery token stays valid) are kept.
		sess.ID, sess.IssuedAt = prev.ID, prev.IssuedAt
		sess.AccessKeyID, sess.SecretAccessKey = prev.AccessKeyID, prev.SecretAccessKey
	}
	if !sess.Expiry.After(now) {
		return nil, "Sign-in failed: the ID token leaves no session time.", "id_token_invalid"
	}
	sess.RefreshToken = refresh
	sess.IDToken = raw
	sess.TokenFingerprint = s.fingerprint(raw)
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		s.log.Error("the run-time revocations cannot be confirmed current; sign-in refused", "err", err)
		return nil, "Sign-in failed: the revocations in force cannot be confirmed current; try again in a minute.", "state_unavailable"
	} else if revoked {
		return nil, "Sign-in refused: sessions of this identity are revoked.", "revoked"
	}
	return sess, "", ""
}

func (s *Service) issuerByURL(u string) *Issuer {
	for _, n := range s.order {
		if s.issuers[n].URL == u {
			return s.issuers[n]
		}
	}
	return nil
}

// issue seals sess into the session cookie.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, sess *identity.Session) error {
	tok, err := s.seal(sess)
	if err != nil {
		return err
	}
	return s.setSessionCookie(w, r, tok, s.cookieAge(sess))
}

// seal seals sess for the session cookie. A session too large for the
// cookies is retried without the ID token (logout then goes without
// id_token_hint), then refused.
func (s *Service) seal(sess *identity.Session) (string, error) {
	tok, err := s.cfg.Keys.Seal(sess)
	if err == nil && len(tok) > cookieChunk*maxCookieChunks {
		err = ErrSessionTooLarge
	}
	if err != nil && sess.IDToken != "" {
		sess.IDToken = ""
		return s.seal(sess)
	}
	if err != nil {
		return "", pageError(fmt.Sprintf("Sign-in failed: your identity's claims are too large for a browser session (%d bytes allowed). Ask an administrator to reduce the claims the provider puts in ID tokens.", identity.MaxSessionTokenLength))
	}
	return tok, nil
}

// cookieAge is the Max-Age of sess's cookie: the rest of the session, so
// that the browser keeps it for renewal past its renewal window.
func (s *Service) cookieAge(sess *identity.Session) int {
	return max(int(sess.Expiry.Sub(s.cfg.Now())/time.Second), 1)
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n] + "…"
	}
	return s
}

// pageError is an error whose text is shown to the person as it is: a
// sentence, capitalized and punctuated.
type pageError string

func (e pageError) Error() string { return string(e) }
