package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/identity"
)

// errRevoked is returned by Session for a revoked browser session.
var errRevoked = errors.New("the browser session was revoked")

// Session opens the browser session cookie of r. It returns nil and no
// error when there is none. A session close to its end is renewed with
// its refresh token, and the new cookie set on w; if the provider refuses,
// the session lasts until it expires and is not renewed again.
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
	if revoked, _ := identity.Revoked(sess, s.cfg.Revocations); revoked {
		return nil, "", errRevoked
	}
	if sess.RefreshToken != "" && sess.Expiry.Sub(now) < s.cfg.RenewBefore {
		if ns, nt := s.renew(w, r, sess); ns != nil {
			return ns, nt, nil
		}
	}
	return sess, token, nil
}

// renew refreshes sess with the provider. On failure it stores the
// session without its refresh token, so that renewal is not retried on
// every request, and returns nil.
func (s *Service) renew(w http.ResponseWriter, r *http.Request, sess *identity.Session) (*identity.Session, string) {
	fail := func(why string) (*identity.Session, string) {
		s.log.Info("browser session renewal failed; it ends at its expiry", "session_id", sess.ID, "issuer", sess.Issuer, "why", why)
		cp := *sess
		cp.RefreshToken = ""
		if tok, err := s.cfg.Keys.Seal(&cp); err == nil {
			_ = s.setSessionCookie(w, r, tok, max(int(cp.Expiry.Sub(s.cfg.Now())/time.Second), 1))
		}
		return nil, ""
	}
	is := s.issuers[sess.Issuer]
	if is == nil {
		return fail("issuer no longer configured")
	}
	p, err := s.provider(r.Context(), is)
	if err != nil {
		return fail("discovery failed")
	}
	ctx, cancel := context.WithTimeout(s.clientContext(r.Context()), 30*time.Second)
	defer cancel()
	old := &oauth2.Token{RefreshToken: sess.RefreshToken, Expiry: s.cfg.Now().Add(-time.Minute)}
	tok, err := s.oauth2Config(p, r).TokenSource(ctx, old).Token()
	if err != nil {
		return fail(exchangeError(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return fail("no ID token in the refresh response")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return fail("ID token invalid: " + clip(err.Error(), 200))
	}
	if idt.Subject != sess.Subject {
		return fail("the refreshed ID token names another subject")
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = sess.RefreshToken
	}
	ns, msg, _ := s.newSession(idt, raw, refresh, sess)
	if ns == nil {
		return fail(msg)
	}
	if err := s.issue(w, r, ns); err != nil {
		return fail(err.Error())
	}
	nt, err := s.cfg.Keys.Seal(ns)
	if err != nil {
		return fail(err.Error())
	}
	ev := s.sessionEvent(audit.KindLogin, "refresh-token", ns)
	ev.Reason, ev.Operation, ev.Expiry = "renewed", "RenewSession", ns.Expiry
	s.logEvent(r, ev)
	return ns, nt
}

// SignedOutPath is where logout ends; register <public URL>+SignedOutPath
// as a post-logout redirect URI at the provider.
const SignedOutPath = "/_iamgate/signedout"

func (s *Service) serveSignedOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.renderer.page(w, http.StatusOK, "signedout.html", &pageData{Title: "Signed out"})
}

// serveLogout ends the browser session: the cookie is deleted and, when
// the provider advertises end_session_endpoint, the browser is sent there
// (RP-initiated logout) to end the provider's session too.
func (s *Service) serveLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("done") != "" { // the signed-out page's older address
		s.serveSignedOut(w, r)
		return
	}
	var sess *identity.Session
	if tok := s.readSessionCookie(r); tok != "" {
		// An expired session is still ended at the provider.
		sess, _ = s.cfg.Keys.Open(tok, time.Unix(0, 0))
	}
	s.clearSessionCookie(w, r)
	done := s.base(r).String() + SignedOutPath
	if sess == nil || !sess.IsKind(identity.KindBrowser) {
		http.Redirect(w, r, SignedOutPath, http.StatusFound)
		return
	}
	s.logEvent(r, s.sessionEvent(audit.KindLogout, "browser-session", sess))
	if is := s.issuers[sess.Issuer]; is != nil {
		if p, err := s.provider(r.Context(), is); err == nil && p.endSession != "" {
			if u, err := url.Parse(p.endSession); err == nil {
				q := u.Query()
				if sess.IDToken != "" {
					q.Set("id_token_hint", sess.IDToken)
				}
				q.Set("client_id", is.ClientID)
				q.Set("post_logout_redirect_uri", done)
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.String(), http.StatusFound)
				return
			}
		}
	}
	http.Redirect(w, r, SignedOutPath, http.StatusFound)
}
