// Package sts is iamgate's AWS-compatible Security Token Service: it trades
// an OpenID Connect token (AssumeRoleWithWebIdentity, and MinIO's
// AssumeRoleWithClientGrants) or a directory user name and password
// (MinIO's AssumeRoleWithLDAPIdentity) for temporary credentials of one
// role, sealed into a stateless session token.
package sts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
)

// Namespace is the XML namespace of every STS response.
const Namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// DefaultMaxPolicySize is the default limit on a session policy, in bytes
// after whitespace is removed; AWS allows 2048 characters.
const DefaultMaxPolicySize = 2048

// DefaultMaxSession is the default RoleSettings.MaxSession.
const DefaultMaxSession = time.Hour

// MaxMaxSession is the largest RoleSettings.MaxSession accepted, as in AWS.
const MaxMaxSession = 12 * time.Hour

// Config configures a [Service].
type Config struct {
	// Engine holds the roles and their trust rules. Required.
	Engine *authz.Engine
	// Verifier verifies the web identity tokens. Required.
	Verifier *identity.Verifier
	// Keys seal the session tokens. Required. Whoever checks the S3
	// requests signed with the credentials must hold the same keys.
	Keys *identity.KeyRing
	// Roles holds per-role settings by role name. A role that is absent
	// gets the zero RoleSettings (one hour at most, never outliving the web
	// identity token). Every name must be a role of Engine.
	Roles map[string]RoleSettings
	// Revocations are checked before a session is issued: a session that
	// a rule would void at once (a rule without IssuedBefore, or with an
	// IssuedBefore in the future) is refused with AccessDenied.
	Revocations []identity.Revocation
	// RuntimeRevocations are the rules added at run time, checked like
	// Revocations; when they cannot be confirmed current, issuing fails
	// with ServiceUnavailable. Nil: none.
	RuntimeRevocations identity.RevocationSource
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Fingerprint, if set, computes Session.TokenFingerprint and
	// Event.TokenFingerprint from the SHA-256 of the web identity token. It
	// should be a keyed hash (HMAC) so that fingerprints cannot be matched
	// against guessed tokens. Nil leaves the fingerprints empty.
	Fingerprint func(tokenHash [32]byte) string
	// MaxPolicySize limits the inline session policy (Policy parameter), in
	// bytes after insignificant whitespace is removed. Zero means
	// [DefaultMaxPolicySize] (2048 bytes, as AWS). A larger policy fails
	// with PackedPolicyTooLarge; PackedPolicySize in the response is the
	// percentage of this limit used.
	MaxPolicySize int
	// OnEvent, if set, is called once per request, after the response is
	// written, with what was issued or refused. It must not block. Events
	// never hold a token, a secret or a session token.
	OnEvent func(Event)
	// Directories authenticate AssumeRoleWithLDAPIdentity; empty: that
	// action is refused. With several, the caller names one with the
	// LDAPDirectory parameter.
	Directories []Directory
	// Delegations, if set, records every delegated session before its
	// credentials are returned, so that the person it acts for can list
	// and revoke it; when recording fails, the session is not issued
	// (ServiceUnavailable, or temporarily_unavailable in a token
	// exchange). Nil: delegated sessions are not recorded.
	Delegations DelegationRecord
	// Grants are the just-in-time access grants in force: a web-identity
	// request for a role that does not trust the token, but that a grant
	// in force gives its person (issuer and subject), is issued a session
	// that ends no later than the grant and stays valid only while the
	// grant does (identity.Session.GrantID). Nil: none.
	Grants GrantSource
	// RequestID returns the ID of a request. Nil means: the
	// X-Amz-Request-Id response header if already set (by an outer
	// handler), else a random 16-character upper-case hex ID.
	RequestID func(r *http.Request) string
}

// RoleSettings are the STS settings of one role.
type RoleSettings struct {
	// MaxSession is the longest session the role grants. Zero means
	// [DefaultMaxSession] (one hour); otherwise it must be between 15
	// minutes and [MaxMaxSession] (12 hours). A DurationSeconds above it
	// fails with ValidationError, naming the maximum.
	MaxSession time.Duration
	// SessionMayOutliveToken allows sessions to end after the web identity
	// token expires. When false (the default):
	//
	//   - a DurationSeconds that would end the session after the token's
	//     exp fails with InvalidParameterValue, saying when the token
	//     expires; an explicit duration is never silently shortened;
	//   - without DurationSeconds, the session lasts one hour, or
	//     MaxSession, or until the token expires, whichever is shortest —
	//     so the default is shortened to the token lifetime, and may be
	//     shorter than 15 minutes.
	//
	// When true, the token's exp does not bound the session: the session
	// then stays valid after the identity provider would have stopped
	// vouching for the holder, until it expires or is revoked.
	SessionMayOutliveToken bool
}

// DelegationRecord records delegated sessions (those with an Actor).
type DelegationRecord interface {
	Record(ctx context.Context, s *identity.Session) error
}

// Event is what the service reports for each request, through
// Config.OnEvent. Error and ErrorCode are empty on success; the
// credential fields are empty on failure.
type Event struct {
	Action    string
	RequestID string
	// Status is the HTTP status of the response.
	Status int
	// Issuer and Subject are set once the token is verified (the
	// directory's name and the user's DN once the directory accepted the
	// password), with the token's claims (for the audit record to pick
	// from; never logged whole).
	Issuer, Subject string
	Claims          map[string]any
	// Username is the LDAPUsername of AssumeRoleWithLDAPIdentity, also
	// when it was refused; Directory the directory asked.
	Username, Directory string
	// Reason is a code for the audit record saying why a directory
	// sign-in failed (an ldapdir.Reason: invalid_credentials,
	// account_locked, user_not_found, directory_unavailable, throttled…);
	// the caller sees one message for every credential problem.
	Reason string
	// Role is the role assumed (or requested, on failure).
	Role            string
	RoleSessionName string
	SessionID       string
	AccessKeyID     string
	// Error is the message sent to the client, ErrorCode its code.
	Error, ErrorCode string
	// ActorIssuer, ActorSubject and ActorClaims name the actor of a
	// delegated session (an "act" claim, or the actor token of a token
	// exchange) once it is known; ActorRole is its role.
	ActorIssuer, ActorSubject, ActorRole string
	ActorClaims                          map[string]any
	// GrantID names the just-in-time access grant the role was assumed
	// through; GrantEnd is its end.
	GrantID  string
	GrantEnd time.Time
	// Duration is the session length granted.
	Duration time.Duration
	// TokenFingerprint is Config.Fingerprint of the web identity token.
	TokenFingerprint string
	Expiry           time.Time
}

// Service serves the STS API. It is immutable and safe for concurrent use;
// on configuration reload, build a new one.
type Service struct {
	cfg Config
	// roleIDs holds the stable AROA… ID of each role, for AssumedRoleId.
	roleIDs map[string]string
}

var _ http.Handler = (*Service)(nil)

// New validates cfg and returns a Service. It reports every problem at
// once.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Engine == nil {
		errs = append(errs, errors.New("sts: Engine is required"))
	}
	if cfg.Verifier == nil {
		errs = append(errs, errors.New("sts: Verifier is required"))
	}
	if cfg.Keys == nil {
		errs = append(errs, errors.New("sts: Keys is required"))
	}
	switch {
	case cfg.MaxPolicySize < 0:
		errs = append(errs, errors.New("sts: MaxPolicySize must not be negative"))
	case cfg.MaxPolicySize == 0:
		cfg.MaxPolicySize = DefaultMaxPolicySize
	}
	roles := make(map[string]RoleSettings, len(cfg.Roles))
	for name, rs := range cfg.Roles {
		if cfg.Engine != nil {
			if _, ok := cfg.Engine.Role(name); !ok {
				errs = append(errs, fmt.Errorf("sts: role %q: no such role", name))
			}
		}
		switch {
		case rs.MaxSession == 0:
			rs.MaxSession = DefaultMaxSession
		case rs.MaxSession < MinDuration || rs.MaxSession > MaxMaxSession:
			errs = append(errs, fmt.Errorf("sts: role %q: MaxSession must be between %v and %v, got %v", name, MinDuration, MaxMaxSession, rs.MaxSession))
		}
		roles[name] = rs
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.Roles = roles
	cfg.Revocations = append([]identity.Revocation(nil), cfg.Revocations...)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, roleIDs: map[string]string{}}
	for _, r := range cfg.Engine.Roles() {
		s.roleIDs[r.Name()] = roleID(r.Name())
	}
	return s, nil
}

// roleID derives a stable, AWS-shaped role ID ("AROA" and 17 characters)
// from a role name.
func roleID(name string) string {
	sum := sha256.Sum256([]byte("iamgate role id\x00" + name))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

func (s *Service) settings(role string) RoleSettings {
	if rs, ok := s.cfg.Roles[role]; ok {
		return rs
	}
	return RoleSettings{MaxSession: DefaultMaxSession}
}

// IsSTSRequest reports whether r is an STS call rather than an S3 request:
// a GET or POST of the path "/" with an Action query parameter, or a POST
// of "/" with no query and an application/x-www-form-urlencoded body. It
// reads no body. S3 uses neither form (browser uploads are
// multipart/form-data, and bucket subresources carry a query), but a
// deployment with virtual-hosted-style buckets should route STS by host
// too, since "/" on a bucket host names the bucket.
func IsSTSRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return false
	}
	if r.URL == nil || (r.URL.Path != "/" && r.URL.Path != "") {
		return false
	}
	if r.URL.RawQuery != "" {
		return hasQueryKey(r.URL.RawQuery, "Action")
	}
	return r.Method == http.MethodPost && isForm(r.Header.Get("Content-Type"))
}

// hasQueryKey reports whether the raw query has the (unescaped) key,
// without allocating for the common case.
func hasQueryKey(raw, key string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == key {
			return true
		}
		if strings.IndexByte(k, '%') >= 0 || strings.IndexByte(k, '+') >= 0 {
			// Escaped key: compare its unescaped form.
			if u, err := url.QueryUnescape(k); err == nil && u == key {
				return true
			}
		}
	}
	return false
}

func isForm(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// ServeHTTP answers one STS call: POST / with a form body, or GET (or
// POST) /?Action=… with query parameters, as AWS and MinIO accept. The
// call is not signed: the web identity token is the credential.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev := s.Handle(w, r)
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
}

// Handle answers one STS request like ServeHTTP and returns its event
// instead of passing it to Config.OnEvent, for callers that record the
// request themselves.
func (s *Service) Handle(w http.ResponseWriter, r *http.Request) Event {
	var src netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		src = ap.Addr().Unmap()
	}
	return s.HandleFrom(w, r, src)
}

// HandleFrom is Handle for a caller whose address the caller of HandleFrom
// worked out (behind trusted proxies); AssumeRoleWithLDAPIdentity counts
// failed attempts by it.
func (s *Service) HandleFrom(w http.ResponseWriter, r *http.Request, source netip.Addr) Event {
	rid := s.requestID(w, r)
	w.Header().Set("X-Amz-Request-Id", rid)
	w.Header().Set("X-Amzn-Requestid", rid)
	ev := Event{RequestID: rid}
	ok, err := s.serve(w, r, rid, source, &ev)
	if err != nil {
		if err.Status == 0 {
			err.Status = http.StatusInternalServerError
		}
		if !err.RetryAfter.IsZero() {
			secs := int64(err.RetryAfter.Sub(s.cfg.Now())/time.Second) + 1
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
		writeError(w, r, err, rid)
		ev.Status, ev.Error, ev.ErrorCode = err.Status, err.Message, err.Code
		ev.SessionID, ev.AccessKeyID, ev.Duration, ev.Expiry = "", "", 0, time.Time{}
	} else if ok != nil {
		writeXML(w, r, http.StatusOK, ok)
		ev.Status = http.StatusOK
	}
	return ev
}

func (s *Service) requestID(w http.ResponseWriter, r *http.Request) string {
	if s.cfg.RequestID != nil {
		if id := s.cfg.RequestID(r); id != "" {
			return id
		}
	}
	if id := w.Header().Get("X-Amz-Request-Id"); id != "" {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, rid string, source netip.Addr, ev *Event) (any, *apiError) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return nil, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "STS accepts GET and POST only")
	}
	var body string
	if r.Method == http.MethodPost && r.Body != nil && isForm(r.Header.Get("Content-Type")) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errorf(http.StatusRequestEntityTooLarge, codeRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", MaxBodySize))
			}
			return nil, badRequest(codeMalformedQueryString, "the request body could not be read")
		}
		body = string(b)
	}
	vals, aerr := parseValues(r.URL.RawQuery, body)
	if aerr != nil {
		return nil, aerr
	}
	if isTokenExchange(vals) {
		s.exchange(w, r, vals, ev)
		return nil, nil
	}
	ev.Action = clip(vals.Get("Action"), 64)
	req, aerr := parseRequest(vals, s.cfg.MaxPolicySize)
	if aerr != nil {
		return nil, aerr
	}
	ev.Role, ev.RoleSessionName = req.roleName, req.sessionName
	if req.action == AssumeRoleWithLDAPIdentity {
		return s.assumeLDAP(r, req, rid, source, ev)
	}
	return s.assume(r, req, rid, ev)
}
