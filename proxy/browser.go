package proxy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/state"
)

// CSRFHeader carries the anti-forgery token (identity.CSRFToken) of a
// cookie-authenticated request whose method is not GET, HEAD or OPTIONS.
const CSRFHeader = "X-Iamgate-CSRF"

// Browser is the browser front end: sign-in, the console and share links
// (package web implements it). It serves the paths under /_iamgate/ that
// the Handler does not answer itself.
type Browser interface {
	http.Handler
	// Session returns the browser session of r and its sealed token, or
	// a nil session and no error when r carries no session cookie. It
	// checks the session against the record of signed-out sessions on
	// every call, may renew the session with the identity provider and
	// set the new cookie on w. An error means the cookie is present but
	// not usable (forged, expired, revoked, signed out, past its renewal
	// window and not renewed); an *identity.SessionError says why.
	Session(w http.ResponseWriter, r *http.Request) (*identity.Session, string, error)
	// LoginPath returns the path that signs a person in and then returns
	// to rd (a same-origin path).
	LoginPath(rd string) string
}

// browserPaths are the paths under /_iamgate/ that a Browser serves.
func isBrowserPath(p string) bool {
	switch p {
	case "/_iamgate/login", "/_iamgate/login/ldap", "/_iamgate/callback", "/_iamgate/logout", "/_iamgate/signedout", "/_iamgate/share", "/_iamgate/delegations/revoke":
		return true
	}
	if strings.HasPrefix(p, "/_iamgate/access/") {
		return true
	}
	return strings.HasPrefix(p, "/_iamgate/ui/") || p == "/_iamgate/ui" || strings.HasPrefix(p, "/_iamgate/assets/")
}

// isNavigation reports whether r looks like a person's browser opening a
// page, rather than an API client: a GET or HEAD that accepts HTML and is a
// top-level navigation (or does not say).
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	mode := r.Header.Get("Sec-Fetch-Mode")
	return mode == "" || mode == "navigate"
}

// hasSessionCookie reports whether r carries a cookie that may hold a
// browser session; the Browser decides what the cookie means.
func hasSessionCookie(r *http.Request) bool { return r.Header.Get("Cookie") != "" }

// redirectToLogin answers an anonymous (or expired) browser navigation
// with a redirect to the sign-in page, which returns to the same object.
func (h *Handler) redirectToLogin(ex *exchange, r *http.Request, reason string) *s3err.Error {
	rd := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		rd += "?" + r.URL.RawQuery
	}
	ex.ev.Reason = reason
	ex.w.Header().Set("Cache-Control", "no-store")
	http.Redirect(ex.w, r, ex.gen.Browser.LoginPath(rd), http.StatusFound)
	return s3err.New(http.StatusFound, "LoginRequired", "Sign in at "+ex.gen.Browser.LoginPath(rd)+".")
}

// browserAuth authenticates a request by its browser session cookie. It
// returns nil, nil when there is no session cookie, so that the request is
// treated as anonymous.
func (h *Handler) browserAuth(ex *exchange, r *http.Request) (*principalEntry, *s3err.Error) {
	gen := ex.gen
	s, token, err := gen.Browser.Session(ex.w, r)
	if err == nil && s == nil {
		return nil, nil
	}
	ex.ev.AuthMethod = "browser-session"
	if err != nil {
		return nil, h.browserRefused(ex, r, err)
	}
	ex.ev.SessionID = s.ID
	if revoked, rule := identity.Revoked(s, gen.Revocations); revoked {
		return nil, h.sigFailure(ex, "revoked", s3err.New(http.StatusForbidden, "AccessDenied",
			revokedMessage("The browser session", rule)+"; sign in again at /_iamgate/login."))
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !identity.CheckCSRFToken(s, r.Header.Get(CSRFHeader)) {
			ex.ev.Reason = "csrf"
			ex.ev.Issuer, ex.ev.Subject, ex.ev.Username = s.Issuer, s.Subject, authz.Username(s.Claims, s.Subject)
			h.countAuthFailure("csrf")
			return nil, s3err.New(http.StatusForbidden, "AccessDenied",
				"The request was refused: a request authenticated by the browser session cookie must carry the "+CSRFHeader+
					" header of the console (cross-site requests are not allowed).")
		}
	}
	ex.signedIn = true
	key := principalKey{hash: sha256.Sum256([]byte(token)), role: "\x00browser"}
	pe, ok := gen.principals.get(key, ex.start)
	if !ok {
		pe = sessionEntry(gen, s)
		gen.principals.put(key, pe, s.Expiry, ex.start)
	}
	pe = h.withGrants(ex, pe, key, s.Expiry)
	h.fillIdentity(ex, pe)
	return pe, nil
}

// browserRefused answers a request whose session cookie is not usable:
// navigations go to sign-in, API calls get AccessDenied, as for an expired
// session; a session that cannot be checked gets 503 (sign-in would not
// help).
func (h *Handler) browserRefused(ex *exchange, r *http.Request, err error) *s3err.Error {
	reason := "invalid_session"
	msg := "The browser session is invalid or has expired (" + err.Error() + "); sign in again at /_iamgate/login."
	var se *identity.SessionError
	if errors.As(err, &se) {
		switch se.Reason {
		case identity.SessionExpired, identity.SessionNotRenewed:
			reason = string(se.Reason)
		case identity.SessionSignedOut:
			reason = string(se.Reason)
			msg = "The browser session was signed out; sign in again at /_iamgate/login."
		case identity.SessionStateUnavailable:
			reason = string(se.Reason)
		}
		if se.SessionID != "" {
			ex.ev.SessionID, ex.ev.Issuer, ex.ev.Subject, ex.ev.Username = se.SessionID, se.Issuer, se.Subject, se.Username
		}
	}
	if reason == string(identity.SessionStateUnavailable) {
		return h.sigFailure(ex, reason, s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
			"The browser session cannot be checked right now; try again shortly."))
	}
	if isNavigation(r) {
		ex.ev.Kind = "auth_failure"
		h.countAuthFailure(reason)
		return h.redirectToLogin(ex, r, reason)
	}
	return h.sigFailure(ex, reason, s3err.New(http.StatusForbidden, "AccessDenied", msg))
}

// sessionEntry maps an opened session to a principal: the session's roles
// must still exist and still trust its identity; a session policy narrows
// them. It is shared by STS, share-link and browser sessions.
func sessionEntry(gen *Generation, s *identity.Session) *principalEntry {
	id := &authz.Identity{Issuer: s.Issuer, Subject: s.Subject, Claims: s.Claims}
	trusted, _ := gen.Engine.Trust(id)
	var roles []*authz.Role
	for _, name := range s.Roles {
		for _, t := range trusted {
			if t.Name() == name {
				roles = append(roles, t)
			}
		}
	}
	var grant *state.AccessRequest
	grantWhy := ""
	if s.GrantID != "" {
		// An STS session issued through a grant: its role comes from the
		// grant, not from trust, and only while the grant is in force.
		var role *authz.Role
		if role, grant, grantWhy = grantSession(gen, s); role != nil {
			roles = []*authz.Role{role}
		}
	}
	name := s.RoleSessionName
	if name == "" {
		name = s.Subject
	}
	pe := &principalEntry{
		issuer: s.Issuer, subject: s.Subject, username: authz.Username(s.Claims, s.Subject),
		fingerprint: s.TokenFingerprint, secret: s.SecretAccessKey, accessKeyID: s.AccessKeyID,
		sessionID: s.ID, roles: s.Roles, kind: s.Kind,
		arn: fmt.Sprintf("arn:aws:sts::iamgate:assumed-role/%s/%s", strings.Join(s.Roles, "+"), name),
	}
	gen.auditIdentity(pe, s.Claims, roles)
	if grantWhy != "" {
		pe.noRole = grantWhy
		return pe
	}
	if grant != nil {
		pe.grants = []grantUse{{id: grant.ID, role: grant.Role, end: grant.End}}
	}
	if len(roles) != len(s.Roles) || len(roles) == 0 {
		pe.noRole = fmt.Sprintf("The session's role %q no longer exists or no longer trusts its identity (issuer %q, subject %q).",
			strings.Join(s.Roles, "+"), s.Issuer, s.Subject)
		return pe
	}
	p := gen.Engine.NewPrincipal(id, roles)
	if len(s.SessionPolicy) == 0 && s.Actor == nil && s.GrantID == "" {
		pe.base = &grantBase{id: id, roles: roles}
	}
	if len(s.SessionPolicy) > 0 {
		sp, err := authz.ParsePolicy("session-policy", s.SessionPolicy)
		if err != nil {
			pe.noRole = "The session policy in the token no longer compiles."
			return pe
		}
		p = p.WithSessionPolicy(sp)
	}
	if a := s.Actor; a != nil {
		actor, why := delegatedActor(gen, a)
		if actor == nil {
			pe.noRole = why
			return pe
		}
		p = p.WithActor(actor)
		pe.actor = audit.DelegatedActor(gen.IssuerURLs[a.Issuer], a.Subject, strings.Join(a.Roles, "+"), a.Claims)
	}
	pe.principal = p
	return pe
}

// delegatedActor is the principal of the actor of a delegated session:
// its roles, as long as they still exist and still trust it. Otherwise it
// returns nil and why, in plain words.
func delegatedActor(gen *Generation, a *identity.SessionActor) (*authz.Principal, string) {
	id := &authz.Identity{Issuer: a.Issuer, Subject: a.Subject, Claims: a.Claims}
	trusted, _ := gen.Engine.Trust(id)
	var roles []*authz.Role
	for _, name := range a.Roles {
		for _, t := range trusted {
			if t.Name() == name {
				roles = append(roles, t)
			}
		}
	}
	if len(roles) != len(a.Roles) || len(roles) == 0 {
		return nil, fmt.Sprintf("The actor's role %q no longer exists or no longer trusts the actor (issuer %q, subject %q).",
			strings.Join(a.Roles, "+"), a.Issuer, a.Subject)
	}
	return gen.Engine.NewPrincipal(id, roles), ""
}
