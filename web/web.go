// Package web is iamgate's browser front end: OpenID Connect sign-in
// (authorization code flow with PKCE), stateless session cookies, the web
// console that browses, uploads, downloads and deletes objects as the
// signed-in person, and share links.
//
// Every S3 operation of the console runs through the proxy as an ordinary
// request authenticated by the session cookie, so the same roles and
// policies decide and every operation is audited.
package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// Defaults applied to zero-valued Config fields.
const (
	DefaultCookieName  = "iamgate_session"
	DefaultMaxSession  = time.Hour
	DefaultRenewBefore = 5 * time.Minute
	// DefaultSessionRefresh is how long a session cookie is used before
	// the identity provider must confirm it again.
	DefaultSessionRefresh = 10 * time.Minute
	// LoginStateLifetime bounds how long a sign-in may take at the
	// identity provider.
	LoginStateLifetime = 10 * time.Minute
)

// DefaultScopes are requested when Issuer.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email"}

// Issuer is an OpenID Connect provider people sign in with.
type Issuer struct {
	// Name is the issuer's configured name: it is the Issuer of sessions
	// and what trust rules match.
	Name string
	// URL is the issuer identifier; discovery is at
	// URL/.well-known/openid-configuration.
	URL string
	// ClientID and ClientSecret are the client registered at the provider
	// with redirect URI <public URL>/_iamgate/callback. An empty secret
	// makes a public client (PKCE only).
	ClientID, ClientSecret string
	// Scopes requested; empty means DefaultScopes. Add offline_access for
	// refresh tokens, so that sessions renew instead of ending with the ID
	// token.
	Scopes []string
	// Label is the text of the sign-in button; empty means "Sign in with
	// <Name>".
	Label string
	// RequiredClaims must be present and non-null in the ID token, as for
	// bearer tokens of the issuer (issuers[].required_claims).
	RequiredClaims []string
	// Algorithms are the accepted ID token signature algorithms; empty:
	// those the provider advertises (issuers[].algorithms).
	Algorithms []string
}

// SignedOutSessions is the record of signed-out browser sessions; the
// implementations of [state.SignedOut] satisfy it.
type SignedOutSessions interface {
	Add(ctx context.Context, s state.Session, until time.Time) (state.Scope, error)
	Contains(ctx context.Context, s state.Session) (bool, error)
}

// Config configures a [Service].
type Config struct {
	// Issuers are the providers people may sign in with.
	Issuers []Issuer
	// Directories are the LDAP directories people may sign in to with a
	// user name and password. At least one issuer or directory is
	// required; names are unique across both.
	Directories []Directory
	// Keys seal session cookies, share-link sessions and the sign-in
	// state. The proxy must open sessions with the same ring. Required.
	Keys *identity.KeyRing
	// Engine holds the roles: a session acts as every role that trusts
	// the ID token. Required.
	Engine *authz.Engine
	// MaxSession is each role's longest session; a role that is absent
	// gets DefaultMaxSession. A session lasts until the ID token expires or
	// the shortest MaxSession of its roles ends, whichever is first.
	MaxSession map[string]time.Duration
	// Revocations void sessions, as for STS sessions.
	Revocations []identity.Revocation
	// RuntimeRevocations are the rules added at run time; when they
	// cannot be confirmed current, sessions are refused. Nil: none.
	RuntimeRevocations identity.RevocationSource
	// SignedOut records the sessions people signed out of: sign-out adds
	// the session, and every use of a browser session (the console, share
	// link creation, and the proxy through [Service.Session]) is refused
	// while the record holds it, or when the record cannot be read.
	// Required. Keep one for the process (across reloads): a Service
	// built with a new, empty record accepts every copied cookie again.
	SignedOut SignedOutSessions
	// SessionRefresh is how long a session cookie is used, from its
	// sign-in or last renewal, before the identity provider must confirm
	// it again with the refresh token; if that fails (no refresh token,
	// the provider refuses), the cookie is refused. It bounds how long a
	// copy of a signed-out cookie works where the record does not reach
	// (another replica, after a restart). Default DefaultSessionRefresh.
	SessionRefresh time.Duration
	// S3 serves the S3 API (the proxy). The console sends its listing
	// requests there, authenticated by the caller's cookie. Required.
	S3 http.Handler
	// Region is the region share links are signed for: the proxy's.
	// Default us-east-1.
	Region string
	// PublicURL is the scheme and host people reach iamgate at, e.g.
	// https://s3.example.com: the redirect URI and share links are built
	// from it. Empty: taken from each request (Host, and TLS or a trusted
	// proxy's X-Forwarded-Proto).
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed.
	TrustedProxies []netip.Prefix
	// CookieName names the session cookie; default DefaultCookieName.
	CookieName string
	// RenewBefore: a session with a refresh token is renewed when less
	// than this is left; default DefaultRenewBefore.
	RenewBefore time.Duration
	// Audit receives login, login_failure, logout and share_link events;
	// nil: none.
	Audit *audit.Logger
	// AuditClaims names the token claims those events record (audit.claims).
	AuditClaims []string
	// Fingerprint keys the fingerprint of ID tokens in sessions and
	// audit events; nil: none.
	Fingerprint func(tokenHash [32]byte) string
	// Delegations lists the delegated sessions acting for the signed-in
	// person, on the console page DelegationsPath; RevokeSessions adds the
	// run-time revocation of one. Nil: the page says none are recorded.
	Delegations    DelegationList
	RevokeSessions RevocationAdder
	// Grants is the record of access requests and grants of requestable
	// roles (the console page AccessPath); nil: the console offers none.
	Grants GrantStore
	// GrantsChanged is called after the console changed a request, so
	// that the local copy of the grants is read again at once; nil: none.
	GrantsChanged func(ctx context.Context)
	// Notify receives a notification of each new request and decision
	// (the access requests' webhook); it must not block. Nil: none.
	Notify func(Notification)
	// RoleDescriptions describe roles on the page of access requests;
	// may be nil.
	RoleDescriptions map[string]string
	// HTTPClient talks to the identity providers; nil: a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger     // nil: slog.Default()
	Now        func() time.Time // nil: time.Now
}

// Service serves the browser front end. It is immutable apart from its
// cache of discovered providers, and safe for concurrent use; build a new
// one on reload.
type Service struct {
	cfg      Config
	log      *slog.Logger
	issuers  map[string]*Issuer
	order    []string
	provMu   sync.Mutex
	provs    map[string]*provider
	public   *url.URL
	renderer *renderer
	// renewals in progress or just done, by the hash of the old cookie.
	renewMu  sync.Mutex
	renewals map[[32]byte]*renewal
}

// New validates cfg and returns a Service. It does no network I/O;
// providers are discovered at the first sign-in.
func New(cfg Config) (*Service, error) {
	var errs []error
	if len(cfg.Issuers) == 0 && len(cfg.Directories) == 0 {
		errs = append(errs, errors.New("web: at least one login issuer or directory is required"))
	}
	seenDirs := map[string]bool{}
	for i, d := range cfg.Directories {
		switch {
		case d.Name == "" || d.Directory == nil:
			errs = append(errs, fmt.Errorf("web: directory %d: a name and the directory are required", i))
		case seenDirs[d.Name]:
			errs = append(errs, fmt.Errorf("web: directory %q is listed twice", d.Name))
		}
		seenDirs[d.Name] = true
	}
	if cfg.Keys == nil {
		errs = append(errs, errors.New("web: session keys are required"))
	}
	if cfg.Engine == nil {
		errs = append(errs, errors.New("web: an authz engine is required"))
	}
	if cfg.S3 == nil {
		errs = append(errs, errors.New("web: the S3 handler is required"))
	}
	if cfg.SignedOut == nil {
		errs = append(errs, errors.New("web: the record of signed-out sessions is required"))
	}
	s := &Service{cfg: cfg, issuers: map[string]*Issuer{}, provs: map[string]*provider{}, renewals: map[[32]byte]*renewal{}}
	for i := range cfg.Issuers {
		is := &s.cfg.Issuers[i]
		switch {
		case is.Name == "" || is.URL == "" || is.ClientID == "":
			errs = append(errs, fmt.Errorf("web: login issuer %d: name, url and client id are required", i))
		case s.issuers[is.Name] != nil:
			errs = append(errs, fmt.Errorf("web: login issuer %q is listed twice", is.Name))
		default:
			s.issuers[is.Name] = is
			s.order = append(s.order, is.Name)
		}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("web: public URL %q must be http(s)://host[:port] without a path", cfg.PublicURL))
		} else {
			s.public = &url.URL{Scheme: u.Scheme, Host: u.Host}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if s.cfg.CookieName == "" {
		s.cfg.CookieName = DefaultCookieName
	}
	if s.cfg.RenewBefore <= 0 {
		s.cfg.RenewBefore = DefaultRenewBefore
	}
	if s.cfg.SessionRefresh <= 0 {
		s.cfg.SessionRefresh = DefaultSessionRefresh
	}
	if s.cfg.Region == "" {
		s.cfg.Region = "us-east-1"
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	if s.cfg.HTTPClient == nil {
		s.cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.renderer = newRenderer()
	return s, nil
}

// LoginPath returns the sign-in path that returns to rd.
func (s *Service) LoginPath(rd string) string {
	return "/_iamgate/login?rd=" + url.QueryEscape(rd)
}

// ServeHTTP serves /_iamgate/login, /callback, /logout, /signedout,
// /share, /ui/ and /assets/.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	p := r.URL.Path
	switch {
	case p == "/_iamgate/login":
		s.serveLogin(w, r)
	case p == LDAPLoginPath:
		s.serveLDAPLogin(w, r)
	case p == "/_iamgate/callback":
		s.serveCallback(w, r)
	case p == "/_iamgate/logout":
		s.serveLogout(w, r)
	case p == SignedOutPath:
		s.serveSignedOut(w, r)
	case p == "/_iamgate/share":
		s.serveShare(w, r)
	case p == RevokeDelegationPath:
		s.serveRevokeDelegation(w, r)
	case p == RequestAccessPath:
		s.serveRequestAccess(w, r)
	case p == DecideAccessPath:
		s.serveDecideAccess(w, r)
	case p == RevokeAccessPath:
		s.serveRevokeAccess(w, r)
	case p == "/_iamgate/ui":
		http.Redirect(w, r, "/_iamgate/ui/", http.StatusFound)
	case strings.HasPrefix(p, "/_iamgate/ui/"):
		s.serveConsole(w, r)
	case strings.HasPrefix(p, "/_iamgate/assets/"):
		serveAsset(w, r)
	default:
		http.NotFound(w, r)
	}
}

// securityHeaders keeps the pages out of frames, other origins' scripts
// and referrers.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// secure reports whether r reached iamgate over HTTPS.
func (s *Service) secure(r *http.Request) bool {
	if s.public != nil {
		return s.public.Scheme == "https"
	}
	if r.TLS != nil {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
		}
	}
	return false
}

// clientIP is the caller's address for audit events and policy
// conditions, as the proxy works it out.
func (s *Service) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	trusted := func(a netip.Addr) bool {
		for _, p := range s.cfg.TrustedProxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !trusted(addr) {
		return addr
	}
	xff := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(xff) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(xff[i]))
		if err != nil {
			return addr
		}
		addr = a.Unmap()
		if !trusted(addr) {
			return addr
		}
	}
	return addr
}

// base is the scheme and host people reach iamgate at.
func (s *Service) base(r *http.Request) *url.URL {
	if s.public != nil {
		return s.public
	}
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host}
}

// sessionEvent starts an allowed event of kind about sess, with the same
// identity fields the proxy records for its requests: issuer and its URL,
// subject, username, roles and their kind, the recorded claims, the actor.
func (s *Service) sessionEvent(kind, method string, sess *identity.Session) *audit.Event {
	ev := &audit.Event{Kind: kind, Decision: "allow", AuthMethod: method,
		Issuer: sess.Issuer, Subject: sess.Subject, Username: authz.Username(sess.Claims, sess.Subject),
		Roles: sess.Roles, SessionID: sess.ID, Fingerprint: sess.TokenFingerprint,
		Claims: audit.RecordedClaims(sess.Claims, s.cfg.AuditClaims), Actor: audit.ActorFromClaim(sess.Claims["act"])}
	if is := s.issuers[sess.Issuer]; is != nil {
		ev.IssuerURL = is.URL
	} else if s.isDirectory(sess.Issuer) {
		ev.IssuerURL = "ldap:" + sess.Issuer
	}
	var roles []*authz.Role
	for _, name := range sess.Roles {
		if r, ok := s.cfg.Engine.Role(name); ok {
			roles = append(roles, r)
		}
	}
	if len(roles) == len(sess.Roles) {
		ev.RoleKind = authz.SharedKind(roles)
	}
	return ev
}

// logEvent writes ev to the audit log, filling in the time and caller.
func (s *Service) logEvent(r *http.Request, ev *audit.Event) {
	if s.cfg.Audit == nil {
		return
	}
	ev.Time = s.cfg.Now()
	if ip := s.clientIP(r); ip.IsValid() {
		ev.SourceIP = ip.String()
	}
	ev.UserAgent = r.UserAgent()
	if err := s.cfg.Audit.Log(ev); err != nil {
		s.log.Error("audit write failed", "kind", ev.Kind, "err", err)
	}
}

func (s *Service) fingerprint(raw string) string {
	if s.cfg.Fingerprint == nil {
		return ""
	}
	return s.cfg.Fingerprint(sha256.Sum256([]byte(raw)))
}

// principal maps a session to the authz principal its roles make, or nil
// when a role no longer exists or no longer trusts the identity.
func (s *Service) principal(sess *identity.Session) *authz.Principal {
	id := &authz.Identity{Issuer: sess.Issuer, Subject: sess.Subject, Claims: sess.Claims}
	trusted, _ := s.cfg.Engine.Trust(id)
	var roles []*authz.Role
	for _, name := range sess.Roles {
		for _, t := range trusted {
			if t.Name() == name {
				roles = append(roles, t)
			}
		}
	}
	if len(roles) == 0 || len(roles) != len(sess.Roles) {
		return nil
	}
	return s.cfg.Engine.NewPrincipal(id, roles)
}

// longestSession is the longest a session can last from now: the longest
// MaxSession of any role.
func (s *Service) longestSession() time.Duration {
	m := time.Duration(0)
	for _, r := range s.cfg.Engine.Roles() {
		m = max(m, s.maxSession([]string{r.Name()}))
	}
	for _, d := range s.cfg.MaxSession {
		m = max(m, d)
	}
	if m == 0 {
		m = DefaultMaxSession
	}
	return m
}

// maxSession is the shortest MaxSession of roles.
func (s *Service) maxSession(roles []string) time.Duration {
	m := time.Duration(0)
	for _, r := range roles {
		d, ok := s.cfg.MaxSession[r]
		if !ok || d <= 0 {
			d = DefaultMaxSession
		}
		if m == 0 || d < m {
			m = d
		}
	}
	if m == 0 {
		m = DefaultMaxSession
	}
	return m
}
