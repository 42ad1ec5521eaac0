package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// errRevoked is returned by Session for a revoked browser session.
var errRevoked = errors.New("the browser session was revoked")

// Session opens the browser session cookie of r. It returns nil and no
// error when there is none, and an error when the cookie is not usable:
// forged, expired, revoked, or — a [*identity.SessionError] naming the
// session — signed out (or the record of signed-out sessions cannot be
// read), or past its renewal window and not renewed.
//
// Every use is checked against the record of signed-out sessions. A
// cookie older than Config.SessionRefresh (since its sign-in or last
// renewal) is renewed with the refresh token first and refused if that
// fails: this ends copies of a signed-out cookie where the record does not
// reach, since sign-out revokes the refresh token (or the provider's
// session) too. A session close to its end is renewed as well; if that
// fails, it is used until it expires or its window ends. A renewed
// cookie is set on w, and a refused one deleted.
func (s *Service) Session(w http.ResponseWriter, r *http.Request) (*identity.Session, string, error) {
	token := s.readSessionCookie(r)
	if token == "" {
		return nil, "", nil
	}
	now := s.cfg.Now()
	sess, err := s.cfg.Keys.Open(token, now)
	if err != nil {
		return nil, "", err
	}
	if !sess.IsKind(identity.KindBrowser) {
		return nil, "", &identity.SessionError{Reason: identity.SessionMalformed}
	}
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		s.log.Error("the run-time revocations cannot be confirmed current; the browser session is refused", "session_id", sess.ID, "err", err)
		return nil, "", refusal(sess, identity.SessionStateUnavailable)
	} else if revoked {
		return nil, "", errRevoked
	}
	out, err := s.cfg.SignedOut.Contains(r.Context(), signedOutKey(sess))
	if err != nil {
		s.log.Error("the record of signed-out sessions cannot be read; the browser session is refused", "session_id", sess.ID, "err", err)
		return nil, "", refusal(sess, identity.SessionStateUnavailable)
	}
	if out {
		s.clearSessionCookie(w, r)
		return nil, "", refusal(sess, identity.SessionSignedOut)
	}
	renewed := sess.RenewedAt
	if renewed.IsZero() {
		renewed = sess.IssuedAt
	}
	stale := !now.Before(renewed.Add(s.cfg.SessionRefresh))
	ending := sess.Expiry.Sub(now) < s.cfg.RenewBefore
	switch {
	case stale:
		ns, nt, why := s.renew(w, r, sess, token)
		if ns == nil {
			s.log.Info("browser session past its renewal window and not renewed; refused", "session_id", sess.ID, "issuer", sess.Issuer, "why", why)
			s.clearSessionCookie(w, r)
			return nil, "", refusal(sess, identity.SessionNotRenewed)
		}
		return ns, nt, nil
	case ending && sess.RefreshToken != "":
		ns, nt, why := s.renew(w, r, sess, token)
		if ns != nil {
			return ns, nt, nil
		}
		// Stored without the refresh token, so that renewal is not retried
		// on every request; the cookie is refused when its window ends.
		s.log.Info("browser session renewal failed; it ends at its expiry or at the end of its renewal window", "session_id", sess.ID, "issuer", sess.Issuer, "why", why)
		cp := *sess
		cp.RefreshToken = ""
		if tok, err := s.cfg.Keys.Seal(&cp); err == nil {
			_ = s.setSessionCookie(w, r, tok, s.cookieAge(&cp))
		}
	}
	return sess, token, nil
}

// signedOutKey names sess in the record of signed-out sessions.
func signedOutKey(sess *identity.Session) state.Session {
	return state.Session{ID: sess.ID, Issuer: sess.Issuer, Subject: sess.Subject, IssuedAt: sess.IssuedAt}
}

// refusal is the error of an authentic session refused for reason.
func refusal(sess *identity.Session, reason identity.SessionReason) *identity.SessionError {
	return &identity.SessionError{Reason: reason, SessionID: sess.ID, Issuer: sess.Issuer, Subject: sess.Subject,
		Username: authz.Username(sess.Claims, sess.Subject)}
}

// refusedEvent is the audit event of a refused use of an authentic
// browser session (err from Session), or nil when err names none.
func refusedEvent(kind, operation string, status int, err error) *audit.Event {
	var se *identity.SessionError
	if !errors.As(err, &se) || se.SessionID == "" {
		return nil
	}
	code := "AccessDenied"
	if se.Reason == identity.SessionStateUnavailable {
		code = "ServiceUnavailable"
	}
	ev := &audit.Event{Kind: kind, Decision: "deny", AuthMethod: "browser-session", Operation: operation,
		Issuer: se.Issuer, Subject: se.Subject, Username: se.Username, SessionID: se.SessionID,
		Reason: string(se.Reason), Message: "The browser " + se.Error() + ".", ErrorCode: code, Status: status}
	if kind == audit.KindAuthFailure { // an API-call event, which has a request ID
		var b [8]byte
		rand.Read(b[:])
		ev.RequestID = strings.ToUpper(hex.EncodeToString(b[:]))
	}
	return ev
}

// sessionUnavailable reports whether err (from Session) means the session
// could not be checked, rather than that it is not valid.
func sessionUnavailable(err error) bool {
	var se *identity.SessionError
	return errors.As(err, &se) && se.Reason == identity.SessionStateUnavailable
}

// renewal is one renewal of a session cookie with its provider. Requests
// that carry the same cookie at the same time (a page and the requests it
// makes) share it, so that the refresh token is used once: providers that
// rotate refresh tokens refuse a second use, and some then revoke the
// whole grant.
type renewal struct {
	done  chan struct{}
	sess  *identity.Session // nil if it failed
	token string
	why   string    // why it failed
	at    time.Time // when it finished; zero until then (Service.renewMu)
}

// renewalReuse is how long the result of a renewal serves requests that
// still carry the old cookie.
const renewalReuse = time.Minute

// renew renews sess (sealed as token) with its provider, or joins the
// renewal of the same cookie already under way, and sets the new cookie
// on w. On failure it returns nil and why.
func (s *Service) renew(w http.ResponseWriter, r *http.Request, sess *identity.Session, token string) (*identity.Session, string, string) {
	if sess.RefreshToken == "" {
		if s.isDirectory(sess.Issuer) {
			return nil, "", "a directory sign-in is not renewed; the person signs in again"
		}
		return nil, "", "no refresh token (scope offline_access)"
	}
	key := sha256.Sum256([]byte(token))
	s.renewMu.Lock()
	now := s.cfg.Now()
	for k, rn := range s.renewals {
		if !rn.at.IsZero() && now.Sub(rn.at) >= renewalReuse {
			delete(s.renewals, k)
		}
	}
	rn, joined := s.renewals[key]
	if !joined {
		rn = &renewal{done: make(chan struct{})}
		s.renewals[key] = rn
	}
	s.renewMu.Unlock()
	if joined {
		select {
		case <-rn.done:
		case <-r.Context().Done():
			return nil, "", "the request ended during the renewal"
		}
	} else {
		ns, nt, why := s.refresh(r, sess)
		s.renewMu.Lock()
		rn.sess, rn.token, rn.why, rn.at = ns, nt, why, s.cfg.Now()
		s.renewMu.Unlock()
		close(rn.done)
		if ns != nil {
			ev := s.sessionEvent(audit.KindLogin, "refresh-token", ns)
			ev.Reason, ev.Operation, ev.Expiry = "renewed", "RenewSession", ns.Expiry
			s.logEvent(r, ev)
		}
	}
	if rn.sess == nil {
		return nil, "", rn.why
	}
	if err := s.setSessionCookie(w, r, rn.token, s.cookieAge(rn.sess)); err != nil {
		return nil, "", err.Error()
	}
	cp := *rn.sess
	return &cp, rn.token, ""
}

// refresh asks the provider for new tokens with sess's refresh token and
// makes the renewed session and its sealed token: the same ID and sign-in
// time, fresh claims and roles, confirmed now. Its expiry follows the
// sign-in rule when sess is close to its end; otherwise it stays.
func (s *Service) refresh(r *http.Request, sess *identity.Session) (*identity.Session, string, string) {
	// Not cancelled with r: other requests wait for this renewal, and a
	// provider that rotates refresh tokens has spent the old one once it
	// answers.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	is := s.issuers[sess.Issuer]
	if is == nil {
		return nil, "", "issuer no longer configured"
	}
	p, err := s.provider(ctx, is)
	if err != nil {
		return nil, "", "discovery failed"
	}
	ctx = s.clientContext(ctx)
	now := s.cfg.Now()
	old := &oauth2.Token{RefreshToken: sess.RefreshToken, Expiry: now.Add(-time.Minute)}
	tok, err := s.oauth2Config(p, r).TokenSource(ctx, old).Token()
	if err != nil {
		return nil, "", exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", "no ID token in the refresh response"
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", "ID token invalid: " + clip(err.Error(), 200)
	}
	if idt.Subject != sess.Subject {
		return nil, "", "the refreshed ID token names another subject"
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = sess.RefreshToken
	}
	ns, msg, _ := s.newSession(idt, raw, refresh, sess)
	if ns == nil {
		return nil, "", msg
	}
	if sess.Expiry.Sub(now) >= s.cfg.RenewBefore && ns.Expiry.After(sess.Expiry) {
		ns.Expiry = sess.Expiry
	}
	nt, err := s.seal(ns)
	if err != nil {
		return nil, "", err.Error()
	}
	return ns, nt, ""
}

// SignedOutPath is where logout ends; register <public URL>+SignedOutPath
// as a post-logout redirect URI at the provider.
const SignedOutPath = "/_iamgate/signedout"

func (s *Service) serveSignedOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.renderer.page(w, http.StatusOK, "signedout.html", &pageData{Title: "Signed out"})
}

// serveLogout ends the browser session: it is added to the record of
// signed-out sessions (so that copies of the cookie are refused), its
// refresh token is revoked at the provider when the provider offers
// revocation, the cookie is deleted and, when the provider advertises
// end_session_endpoint, the browser is sent there (RP-initiated logout) to
// end the provider's session too. If the sign-out cannot be recorded, the
// cookie is kept and a page asks to sign out again.
func (s *Service) serveLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("done") != "" { // the signed-out page's older address
		s.serveSignedOut(w, r)
		return
	}
	var sess *identity.Session
	if tok := s.readSessionCookie(r); tok != "" {
		// An expired session is still ended at the provider, and recorded:
		// a copy of its cookie may have been renewed.
		sess, _ = s.cfg.Keys.Open(tok, time.Unix(0, 0))
	}
	done := s.base(r).String() + SignedOutPath
	if sess == nil || !sess.IsKind(identity.KindBrowser) {
		s.clearSessionCookie(w, r)
		http.Redirect(w, r, SignedOutPath, http.StatusFound)
		return
	}
	ev := s.sessionEvent(audit.KindLogout, "browser-session", sess)
	until := s.signedOutUntil(sess)
	scope, err := s.cfg.SignedOut.Add(r.Context(), signedOutKey(sess), until)
	var p *provider
	if is := s.issuers[sess.Issuer]; is != nil {
		p, _ = s.provider(r.Context(), is)
	}
	if p != nil {
		s.revokeRefreshToken(r, p, sess)
	}
	if err != nil {
		s.log.Error("sign-out could not be recorded; the session cookie is kept", "session_id", sess.ID, "err", err)
		msg := "Your sign-out could not be recorded, so copies of your session could be used again later. " +
			"Sign out again in a moment; until then your session cannot be used."
		ev.Decision, ev.Reason, ev.Message = "error", string(identity.SessionStateUnavailable), msg
		ev.ErrorCode, ev.Status = "ServiceUnavailable", http.StatusServiceUnavailable
		s.logEvent(r, ev)
		s.renderer.errorPage(w, http.StatusServiceUnavailable, "Sign-out failed", msg)
		return
	}
	ev.Reason = "signed_out"
	ev.Message = signedOutMessage(scope, sess, until)
	if scope != state.ScopeSession {
		s.log.Warn("the record of signed-out sessions is full; the sign-out refuses more than the session", "session_id", sess.ID, "scope", string(scope))
	}
	s.logEvent(r, ev)
	s.clearSessionCookie(w, r)
	if p != nil && p.endSession != "" {
		if u, err := url.Parse(p.endSession); err == nil {
			q := u.Query()
			if sess.IDToken != "" {
				q.Set("id_token_hint", sess.IDToken)
			}
			q.Set("client_id", p.issuer.ClientID)
			q.Set("post_logout_redirect_uri", done)
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
			return
		}
	}
	http.Redirect(w, r, SignedOutPath, http.StatusFound)
}

// signedOutUntil is how long the record must refuse sess: until no copy
// of its cookie can still be valid. A copy renewed before the sign-out ends
// no later than the longest max_session after it, or its own expiry; none
// can be renewed after it, since renewal checks the record first.
func (s *Service) signedOutUntil(sess *identity.Session) time.Time {
	until := s.cfg.Now().Add(s.longestSession()).Truncate(time.Second)
	if sess.Expiry.After(until) {
		until = sess.Expiry
	}
	return until
}

func signedOutMessage(scope state.Scope, sess *identity.Session, until time.Time) string {
	at, end := sess.IssuedAt.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339)
	switch scope {
	case state.ScopeSubject:
		return "the record of signed-out sessions is full: every browser session of this person signed in at or before " + at + " is refused until " + end
	case state.ScopeAll:
		return "the record of signed-out sessions is full, for people too: every browser session signed in at or before " + at + ", anyone's, is refused until " + end
	}
	return "copies of the session cookie are refused until " + end
}

// revokeRefreshToken asks the provider to revoke sess's refresh token
// (RFC 7009), if it offers revocation, so that no copy of the cookie can be
// renewed, on any replica. It is best effort: the sign-out does not wait
// for more than a few seconds or depend on it.
func (s *Service) revokeRefreshToken(r *http.Request, p *provider, sess *identity.Session) {
	if sess.RefreshToken == "" || p.revocation == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	is := p.issuer
	form := url.Values{"token": {sess.RefreshToken}, "token_type_hint": {"refresh_token"}}
	basic := is.ClientSecret != "" && !p.authInParams
	if !basic {
		form.Set("client_id", is.ClientID)
		if is.ClientSecret != "" {
			form.Set("client_secret", is.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.revocation, strings.NewReader(form.Encode()))
	if err != nil {
		s.log.Warn("refresh token revocation failed", "issuer", is.Name, "session_id", sess.ID, "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(is.ClientID), url.QueryEscape(is.ClientSecret))
	}
	res, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		s.log.Warn("refresh token revocation failed", "issuer", is.Name, "session_id", sess.ID, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.log.Warn("refresh token revocation refused", "issuer", is.Name, "session_id", sess.ID, "status", fmt.Sprint(res.StatusCode))
	}
}
