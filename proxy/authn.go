package proxy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/s3err"
)

type principalKey struct {
	hash [32]byte
	role string
}

// principalEntry is what a verified token maps to, cached until the token
// expires: the principal with its roles, or why no role applies.
type principalEntry struct {
	principal   *authz.Principal // nil when no role applies
	noRole      string           // why, in plain words, when principal is nil
	issuer      string
	subject     string
	username    string
	roles       []string
	arn         string
	fingerprint string
	// For the audit event: the issuer's URL, the kind of the roles, the
	// claims the configuration records (audit.claims) and the actor of an
	// RFC 8693 "act" claim.
	issuerURL string
	roleKind  string
	claims    map[string]any
	actor     *audit.Actor
	// For SigV4 credentials: the secret that verifies signatures, and the
	// access key and session they belong to.
	secret      string
	accessKeyID string
	sessionID   string
	kind        string // identity.Session.Kind of a session credential
	// session is the STS session of a session credential, for the checks
	// of run-time revocations on every request; nil otherwise.
	session *identity.Session
	// The limit keys of the principal, built on its first limited
	// request; nil: no limits.
	limitOnce sync.Once
	limitKeys *limits.Keys
	// tokenKey names a bearer token the same on every replica (a hash
	// of it), for the limits of a token without jti.
	tokenKey string
	// base lets withGrants add the roles of just-in-time grants; nil:
	// no grant applies (a delegated principal, a session policy).
	base *grantBase
	// grants are the roles held through grants, for the audit event.
	grants []grantUse
}

// authenticate works out who is calling. Exactly one mechanism may be
// used: an OIDC bearer token, SigV4 or, when the generation accepts it,
// Signature Version 2 (session or service credentials, in a header or
// presigned), or, when nothing else is sent, a browser session cookie.
// Cookies are ambient, so explicit credentials always win.
func (h *Handler) authenticate(ex *exchange, r *http.Request) (*principalEntry, *s3err.Error) {
	authz := r.Header.Get("Authorization")
	q := ex.queryValues(r)
	presigned := q.Has("X-Amz-Credential") || q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") ||
		q.Has("AWSAccessKeyId") || q.Has("Signature")
	ex.ev.AuthMethod = "none"
	switch {
	case authz != "" && presigned:
		ex.ev.Reason = "multiple_auth"
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
			"The request carries more than one authentication mechanism (an Authorization header and presigned query parameters).")
	case hasScheme(authz, "Bearer"):
		ex.ev.AuthMethod = "bearer"
		if r.Header.Get("X-Amz-Security-Token") != "" {
			ex.ev.Reason = "multiple_auth"
			return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
				"The request carries more than one authentication mechanism (a Bearer token and X-Amz-Security-Token).")
		}
		return h.bearer(ex, r, authz)
	case strings.HasPrefix(authz, "AWS4-HMAC-SHA256 "), presigned && q.Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
		return h.sigv4Auth(ex, r)
	case strings.HasPrefix(authz, "AWS4-ECDSA-P256-SHA256"), q.Get("X-Amz-Algorithm") == "AWS4-ECDSA-P256-SHA256":
		ex.ev.Reason = "unsupported_auth"
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest", "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
	case strings.HasPrefix(authz, "AWS "), q.Has("AWSAccessKeyId"), q.Has("Signature") && !q.Has("X-Amz-Algorithm"):
		if ex.gen.SigV2 {
			return h.sigv2Auth(ex, r)
		}
		ex.ev.Reason = "unsupported_auth"
		return nil, errSigV2Off
	case authz != "" || presigned:
		ex.ev.Reason = "unsupported_auth"
		return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "Unsupported Authorization type.")
	}
	if ex.gen.Browser != nil && hasSessionCookie(r) {
		if pe, serr := h.browserAuth(ex, r); pe != nil || serr != nil {
			return pe, serr
		}
	}
	if ex.gen.Browser != nil && isNavigation(r) {
		h.countAuthFailure("anonymous")
		return nil, h.redirectToLogin(ex, r, "login_required")
	}
	ex.ev.Reason = "anonymous"
	h.countAuthFailure("anonymous")
	return nil, s3err.New(http.StatusForbidden, "AccessDenied",
		"Anonymous access is not allowed; sign with SigV4 (credentials from iamgate's STS) or send Authorization: Bearer <OIDC token>.")
}

func hasScheme(h, scheme string) bool {
	return len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) && h[len(scheme)] == ' '
}

// bearer verifies an OIDC bearer token and resolves its roles.
func (h *Handler) bearer(ex *exchange, r *http.Request, header string) (*principalEntry, *s3err.Error) {
	raw, err := identity.ParseBearer(header)
	if err == nil {
		var tok *identity.Token
		tok, err = ex.gen.Verifier.Verify(r.Context(), raw)
		if err == nil {
			pe := h.principalFor(ex.gen, tok, r.Header.Get(RoleHeader))
			pe = h.withGrants(ex, pe, principalKey{hash: tok.Hash, role: r.Header.Get(RoleHeader)}, tok.Expiry)
			h.fillIdentity(ex, pe)
			if ex.gen.RuntimeRevocations != nil {
				// Run-time rules void tokens too, by their iat (a token
				// without one counts as issued before every rule).
				s := &identity.Session{Issuer: tok.Issuer, Subject: tok.Subject, Claims: tok.Claims, Roles: pe.roles, IssuedAt: tok.IssuedAt}
				if e := h.runtimeRevoked(ex, s, "The token"); e != nil {
					return nil, e
				}
			}
			return pe, nil
		}
	}
	reason := identity.ReasonMalformed
	msg := "The bearer token was rejected."
	if ae, ok := err.(*identity.AuthError); ok {
		reason = ae.Reason
		msg = "The bearer token was rejected: " + ae.Error()
		ex.ev.Issuer = ae.Issuer
	}
	ex.ev.Kind = "auth_failure"
	ex.ev.Reason = string(reason)
	h.countAuthFailure(string(reason))
	code := "InvalidToken"
	switch reason {
	case identity.ReasonExpired:
		code = "ExpiredToken"
	case identity.ReasonIssuerUnavailable:
		e := s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable", msg)
		return nil, e
	}
	e := s3err.New(http.StatusUnauthorized, code, msg)
	ex.w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, string(reason)))
	return nil, e
}

// fillIdentity records who is calling in the audit event.
func (h *Handler) fillIdentity(ex *exchange, pe *principalEntry) {
	ev := &ex.ev
	ev.Issuer, ev.Subject, ev.Username = pe.issuer, pe.subject, pe.username
	ev.Roles, ev.Fingerprint = pe.roles, pe.fingerprint
	ev.IssuerURL, ev.ARN, ev.RoleKind = pe.issuerURL, pe.arn, pe.roleKind
	ev.Claims, ev.Actor = pe.claims, pe.actor
	if pe.sessionID != "" {
		ev.SessionID = pe.sessionID
	}
	ex.grants = pe.grants
}

// auditIdentity fills the audit fields of pe that come from the token's
// claims and the roles: the recorded claims, the actor and the role kind.
func (gen *Generation) auditIdentity(pe *principalEntry, claims map[string]any, roles []*authz.Role) {
	if pe.issuerURL == "" {
		pe.issuerURL = gen.IssuerURLs[pe.issuer]
	}
	pe.claims = audit.RecordedClaims(claims, gen.AuditClaims)
	pe.actor = audit.ActorFromClaim(claims["act"])
	pe.roleKind = authz.SharedKind(roles)
}

func (h *Handler) countAuthFailure(reason string) {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.AuthFailures.WithLabelValues(reason).Inc()
	}
}

// principalFor maps a verified token (and the requested role, if any) to
// a principal, once per token and generation.
func (h *Handler) principalFor(gen *Generation, tok *identity.Token, role string) *principalEntry {
	key := principalKey{hash: tok.Hash, role: role}
	now := h.cfg.Now()
	if pe, ok := gen.principals.get(key, now); ok {
		return pe
	}
	id := &authz.Identity{Issuer: tok.Issuer, Subject: tok.Subject, Claims: tok.Claims}
	pe := &principalEntry{
		issuer:      tok.Issuer,
		subject:     tok.Subject,
		username:    authz.Username(tok.Claims, tok.Subject),
		fingerprint: h.fingerprint(tok.Hash),
		tokenKey:    hex.EncodeToString(tok.Hash[:16]),
	}
	trusted, misses := gen.Engine.Trust(id)
	if role != "" {
		var chosen *authz.Role
		for _, t := range trusted {
			if t.Name() == role {
				chosen = t
			}
		}
		switch {
		case chosen != nil:
			trusted = []*authz.Role{chosen}
		default:
			trusted = nil
			if _, ok := gen.Engine.Role(role); !ok {
				pe.noRole = fmt.Sprintf("The role %q named in %s does not exist.", role, RoleHeader)
			} else {
				pe.noRole = fmt.Sprintf("The role %q named in %s does not trust this identity (issuer %q, subject %q): %s.",
					role, RoleHeader, tok.Issuer, tok.Subject, missFor(misses, role))
			}
		}
	} else if len(trusted) == 0 {
		pe.noRole = fmt.Sprintf("No role trusts this identity (issuer %q, subject %q)%s.", tok.Issuer, tok.Subject, summarizeMisses(misses))
	}
	if len(trusted) > 0 {
		pe.principal = gen.Engine.NewPrincipal(id, trusted)
		for _, t := range trusted {
			pe.roles = append(pe.roles, t.Name())
		}
		pe.arn = fmt.Sprintf("arn:aws:sts::iamgate:assumed-role/%s/%s", strings.Join(pe.roles, "+"), tok.Subject)
	}
	pe.issuerURL = tok.IssuerURL
	gen.auditIdentity(pe, tok.Claims, trusted)
	if pe.principal != nil {
		bearerActor(gen, tok, pe)
	}
	if pe.actor == nil {
		pe.base = &grantBase{id: id, roles: trusted, wanted: role}
	}
	gen.principals.put(key, pe, tok.Expiry, now)
	return pe
}

func missFor(misses []authz.TrustMiss, role string) string {
	for _, m := range misses {
		if m.Role == role {
			return m.Reason
		}
	}
	return "no trust rule matched"
}

// summarizeMisses names a few roles and why they did not match; a long
// list would mostly tell a caller which roles exist.
func summarizeMisses(misses []authz.TrustMiss) string {
	if len(misses) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(": ")
	for i, m := range misses {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more roles", len(misses)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "role %q: %s", m.Role, m.Reason)
	}
	return b.String()
}

// bearerActor applies an RFC 8693 "act" claim of a bearer token: the
// holder is the actor, acting for the token's subject, and the request is
// allowed only what both the subject's roles and the roles that trust the
// actor allow. Without a role for the actor, or with a malformed claim,
// nothing is allowed.
func bearerActor(gen *Generation, tok *identity.Token, pe *principalEntry) {
	act, err := identity.ParseActor(tok.Claims)
	switch {
	case errors.Is(err, identity.ErrNoActor):
		return
	case err != nil:
		pe.principal, pe.noRole = nil, "The token's act claim is malformed: "+err.Error()+"."
		return
	}
	issuer, ok := gen.Verifier.ActorIssuer(act, tok.Issuer, tok.IssuerURL)
	if !ok {
		pe.principal, pe.noRole = nil, fmt.Sprintf("The actor's issuer %q (act.iss) is not a configured issuer.", act.IssuerURL)
		return
	}
	actorID := &authz.Identity{Issuer: issuer, Subject: act.Subject, Claims: act.Claims}
	roles, _ := gen.Engine.Trust(actorID)
	if len(roles) == 0 {
		pe.principal, pe.noRole = nil, fmt.Sprintf("No role trusts the actor %q acting for this identity.", act.Subject)
		return
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name()
	}
	pe.principal = pe.principal.WithActor(gen.Engine.NewPrincipal(actorID, roles))
	pe.actor = audit.DelegatedActor(gen.IssuerURLs[issuer], act.Subject, strings.Join(names, "+"), act.Claims)
}
