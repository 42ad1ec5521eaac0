package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/sts"
)

// RoleHeader names the role a request wants to act as. Without it, every
// role that trusts the caller's token applies.
const RoleHeader = "X-Iamgate-Role"

// Generation is one loaded configuration. The Handler serves from exactly
// one Generation at a time and swaps it atomically on reload, so a request
// never sees half of an old and half of a new configuration.
type Generation struct {
	Engine         *authz.Engine
	Verifier       *identity.Verifier
	S3             s3req.Config
	TrustedProxies []netip.Prefix
	Digest         string // of the configuration file, for audit and logs
	// STS issues session credentials; nil when the configuration has none.
	STS *sts.Service
	// Sessions opens the session tokens of SigV4 requests; nil: none accepted.
	Sessions *identity.KeyRing
	// Revocations void sessions issued before a point in time.
	Revocations []identity.Revocation
	// RuntimeRevocations are the rules added at run time (iamgate revoke),
	// checked on every request authenticated by a session, cached or not;
	// when they cannot be confirmed current such requests are refused
	// with 503. Nil: none.
	RuntimeRevocations identity.RevocationSource
	// Services are the static service credentials by access key ID.
	Services map[string]*ServiceCredential
	// SigV2 accepts Signature Version 2 (header, presigned and browser
	// form) from session and service credentials; false refuses it with
	// InvalidRequest.
	SigV2 bool
	// IssuerURLs maps the configured issuer names to their URLs, for
	// audit events.
	IssuerURLs map[string]string
	// AuditClaims names the token claims audit events record.
	AuditClaims []string
	// Browser serves sign-in, the console and share links, and opens
	// browser session cookies; nil: no browser access (cookies are
	// ignored and anonymous navigation gets AccessDenied like any client).
	// It must seal sessions with Sessions.
	Browser Browser
	// Protect holds the destructive-action guards by role name; roles
	// without guards are absent.
	Protect map[string]Protect
	// Limits are the limits of roles, by role name; nil: none.
	Limits map[string]*RoleLimits
	// Grants are the just-in-time access grants in force: a grant adds
	// its role to the bearer and browser-session requests of its person,
	// and keeps the STS sessions issued through it valid. Nil: none.
	Grants GrantSource

	principals *ttlCache[principalKey, *principalEntry]
}

// Config holds the Handler's dependencies and settings.
type Config struct {
	// Upstream is the store's base URL (scheme and host; no path).
	Upstream *url.URL
	// Region is the region SigV4 clients must sign for; default us-east-1.
	Region string
	// Transport sends requests to the store. It must sign them (see
	// package sigv4); the Handler never adds credentials itself.
	Transport http.RoundTripper

	Audit   *audit.Logger // nil: no audit events
	Metrics *Metrics      // nil: no metrics
	Logger  *slog.Logger  // nil: slog.Default()

	// AuditDelivery audit.DeliveryRequired refuses every request with 503
	// ServiceUnavailable while Audit.Available reports that events cannot
	// be persisted (no audit, no access); readyz reports it too. "" or
	// audit.DeliveryBestEffort: requests are served regardless.
	AuditDelivery audit.Delivery

	// FingerprintKey keys the HMAC that turns a token into the
	// token_fingerprint of audit events. Empty: a random per-process key.
	FingerprintKey []byte
	// DeleteObjectsMaxBytes bounds the DeleteObjects body; default 2 MiB.
	DeleteObjectsMaxBytes int64
	// PrincipalCacheSize bounds the per-token role cache; default 10000.
	PrincipalCacheSize int
	// StateReady reports whether the shared state (run-time revocations,
	// signed-out sessions) can be relied on, for readyz's "state" check;
	// nil: no such check (in-memory state).
	StateReady func() error
	// UpstreamReady reports whether the store is reachable, for readyz.
	// Nil means a built-in probe.
	UpstreamReady func(ctx context.Context) error
	// UpstreamCredentials reports whether the Transport holds credentials
	// that have not expired (temporary ones from the store's STS), for
	// readyz ("upstream_credentials"). Nil: static credentials, not checked.
	UpstreamCredentials func() error
	// Limiter enforces the limits of roles (Generation.Limits); nil: no
	// limits. It outlives generations: counts survive a reload.
	Limiter *limits.Limiter
	// OIDC serves iamgate's own OpenID provider documents under
	// /_iamgate/oidc/ (federation toward the store); nil: 404.
	OIDC http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Counters count the deletes of protect.bulk_delete; nil: counters in
	// this process's memory.
	Counters state.Counters
	// VersioningCache is how long a bucket's versioning status read for a
	// versioned-only guard is kept when it is not Enabled; default
	// DefaultVersioningCache, negative: not kept.
	VersioningCache time.Duration
	// VersioningCacheEnabled is the same for Enabled, kept shorter since a
	// stale Enabled lets a guard allow what cannot be undone; default
	// DefaultVersioningCacheEnabled, negative: not kept.
	VersioningCacheEnabled time.Duration
}

// Handler is iamgate's S3 front door. It is an http.Handler.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	gen   atomic.Pointer[Generation]
	fpKey []byte

	ridPrefix uint64
	ridSeq    atomic.Uint64

	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error
	probeCl  *http.Client

	inflight inflight    // requests in ServeHTTP; see Wait
	draining atomic.Bool // see Drain

	counters state.Counters
	versions *ttlCache[string, Versioning] // bucket versioning, for the guards

	noCork   bool // small responses are not written in one piece (benchmarks)
	noSplice bool // large bodies are copied, never spliced (benchmarks)
}

// New returns a Handler serving gen.
func New(cfg Config, gen *Generation) (*Handler, error) {
	if cfg.Upstream == nil || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: upstream URL required")
	}
	if cfg.Transport == nil {
		return nil, errors.New("proxy: transport required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DeleteObjectsMaxBytes <= 0 {
		cfg.DeleteObjectsMaxBytes = 2 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.VersioningCache == 0 {
		cfg.VersioningCache = DefaultVersioningCache
	}
	if cfg.VersioningCacheEnabled == 0 {
		cfg.VersioningCacheEnabled = DefaultVersioningCacheEnabled
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, fpKey: cfg.FingerprintKey,
		counters: cfg.Counters, versions: newTTLCache[string, Versioning](versioningCacheSize)}
	if h.counters == nil {
		h.counters = state.NewCounterMemory(cfg.Now)
	}
	if len(h.fpKey) == 0 {
		h.fpKey = make([]byte, 32)
		_, _ = rand.Read(h.fpKey)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	h.ridPrefix = binary.BigEndian.Uint64(b[:]) & 0xFFFFFFFF
	h.probeCl = &http.Client{Timeout: 3 * time.Second, Transport: http.DefaultTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := h.Swap(gen); err != nil {
		return nil, err
	}
	return h, nil
}

// Swap makes gen the configuration for every request that starts after it
// returns. Requests in flight finish with the generation they started with.
func (h *Handler) Swap(gen *Generation) error {
	if gen == nil || gen.Engine == nil || gen.Verifier == nil {
		return errors.New("proxy: generation needs an engine and a verifier")
	}
	if gen.principals == nil {
		gen.principals = newTTLCache[principalKey, *principalEntry](h.cfg.PrincipalCacheSize)
	}
	h.gen.Store(gen)
	return nil
}

// Current returns the generation being served.
func (h *Handler) Current() *Generation { return h.gen.Load() }

// newRequestID returns a 16-character upper-case hex id, unique within the
// process and unlikely to repeat across processes.
func (h *Handler) newRequestID() string {
	const digits = "0123456789ABCDEF"
	v := h.ridPrefix<<32 | uint64(uint32(h.ridSeq.Add(1)))
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.enter()
	defer h.inflight.leave() // after finish has logged the event
	// Work on a shallow copy: the server keeps the original request and
	// must still see its own body type (it decides from it whether to send
	// 100 Continue and whether to drain an unread body) and headers.
	r = r.WithContext(r.Context())
	if r.TLS == nil {
		if fc, ok := r.Context().Value(framingKey{}).(*framedConn); ok {
			r.TLS = fc.tlsState()
		}
	}
	ambiguous := checkFraming(w, r)
	if h.draining.Load() {
		// The connection closes after this response, so that the client
		// (a load balancer) opens its next one to another replica. Idle
		// connections stay open meanwhile: closing one races with a
		// request the client is sending on it.
		w.Header().Set("Connection", "close")
	}
	hopNamed := stripHopByHop(r)
	if strings.HasPrefix(r.URL.Path, "/_iamgate/") && !ambiguous {
		h.serveInternal(w, r)
		return
	}
	ex := &exchange{
		start: h.cfg.Now(),
		rid:   h.newRequestID(),
		gen:   h.gen.Load(),
	}
	ex.w = &responseRecorder{ResponseWriter: w}
	w.Header().Set("X-Amz-Request-Id", ex.rid)
	ex.ev = audit.Event{
		Kind:      "s3",
		RequestID: ex.rid,
		UserAgent: r.UserAgent(),
		Decision:  "deny",
	}
	ex.sourceIP, ex.secure = clientAddr(r, ex.gen.TrustedProxies)
	if ex.sourceIP.IsValid() {
		ex.ev.SourceIP = ex.sourceIP.String()
	}
	ex.hopNamed = hopNamed
	if r.Body != nil && r.Body != http.NoBody {
		ex.body = &countingBody{rc: r.Body}
		r.Body = ex.body
	}
	defer h.finish(ex, r)
	if ambiguous {
		// Refused before anything else is read: nobody is authenticated.
		ex.ev.AuthMethod = "none"
		ex.ev.Reason = "bad_framing"
		h.fail(ex, r, s3err.New(http.StatusBadRequest, "InvalidRequest", ambiguousFramingMessage).WithResource(resourcePath(r)))
		return
	}
	if serr := h.serveS3(ex, r); serr != nil {
		h.fail(ex, r, serr)
	}
}

// fail renders serr as the response, unless the response has started.
func (h *Handler) fail(ex *exchange, r *http.Request, serr *s3err.Error) {
	if ex.ev.ErrorCode == "" {
		ex.ev.ErrorCode = serr.Code
	}
	if ex.ev.Message == "" {
		ex.ev.Message = serr.Message
	}
	if serr.Cause != nil {
		h.log.Warn("request failed", "request_id", ex.rid, "code", serr.Code, "cause", serr.Cause)
	}
	if ex.w.wroteHeader {
		return
	}
	if wantsErrorPage(r) {
		h.writeErrorPage(ex, r, serr)
		return
	}
	s3err.Write(ex.w, r, serr, ex.rid)
}

// finish records the audit event and metrics once the response is done.
// It also turns a panic into a 500 (and re-raises http.ErrAbortHandler,
// which aborts a response the store broke off midway).
func (h *Handler) finish(ex *exchange, r *http.Request) {
	p := recover()
	if p != nil && p != http.ErrAbortHandler {
		h.log.Error("panic serving request", "request_id", ex.rid, "panic", fmt.Sprint(p))
		ex.ev.Decision = "error"
		h.fail(ex, r, s3err.ErrInternal)
	}
	// What a limited request used that is known only now (a cut or
	// unsized download, a listing, an unsized upload), and its
	// concurrency slot back.
	h.doneLimits(ex, r)
	ev := &ex.ev
	ev.Status = ex.w.status()
	if p == http.ErrAbortHandler && ev.ErrorCode == "" {
		ev.ErrorCode = "ResponseAborted"
	}
	ev.BytesOut = ex.w.n
	if ex.body != nil {
		ev.BytesIn = ex.body.n.Load()
	}
	total := h.cfg.Now().Sub(ex.start)
	ev.DurationMS = float64(total.Microseconds()) / 1000
	if ex.upstreamDur > 0 {
		ev.UpstreamMS = float64(ex.upstreamDur.Microseconds()) / 1000
	}
	ev.Time = ex.start
	if ev.Grant == nil && ev.Role != "" {
		for _, u := range ex.grants {
			if u.role == ev.Role {
				ev.Grant = &audit.Grant{ID: u.id, Role: u.role, End: u.end}
			}
		}
	}
	if err := h.cfg.Audit.Log(ev); err != nil {
		h.log.Error("audit write failed", "request_id", ex.rid, "err", err)
		if h.cfg.Metrics != nil {
			h.cfg.Metrics.AuditErrors.Inc()
		}
	}
	if ex.corked != nil {
		// A small response held back: it leaves now that its event is
		// written, so the client never has it before the record does.
		_ = ex.corked.uncork()
	}
	if m := h.cfg.Metrics; m != nil {
		op := ev.Operation
		if ev.Kind == "sts" {
			op = stsActionLabel(op) // the caller's text
		} else if op == "" {
			op = "unknown"
		}
		kind := roleKindLabel(ev.RoleKind)
		m.Requests.WithLabelValues(op, ev.Decision, statusClass(ev.Status), kind).Inc()
		m.Duration.WithLabelValues(ev.Decision, kind).Observe(total.Seconds())
		if ex.upstreamDur > 0 {
			m.Upstream.Observe(ex.upstreamDur.Seconds())
		}
		m.BytesIn.Add(float64(ev.BytesIn))
		m.BytesOut.Add(float64(ev.BytesOut))
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
}

// errAuditUnavailable refuses requests in required audit delivery mode
// while their events cannot be persisted.
var errAuditUnavailable = s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable", "audit events cannot be persisted")

// serveS3 authenticates, classifies, authorizes and forwards one request.
// A returned error is rendered to the caller.
func (h *Handler) serveS3(ex *exchange, r *http.Request) *s3err.Error {
	gen := ex.gen
	var req *s3req.Request
	hdr, serr := requestHeader(r.Header, r.URL.RawQuery)
	if serr == nil {
		// Classify what will be forwarded: the same headers feed the
		// classification, the conditions and the upstream request.
		view := *r
		view.Header = hdr
		view.URL = ex.classifyURL(r)
		req, serr = s3req.Classify(&view, gen.S3)
	}
	if req != nil {
		ex.ev.Operation = string(req.Op)
		ex.ev.Bucket = req.Bucket
		ex.ev.Key = req.Key
		ex.ev.Prefix = req.S3.Prefix.S
		if req.S3.CopySource.Present || req.S3.VersionID.Present {
			ex.ev.Parameters = map[string]string{}
			if req.S3.CopySource.Present {
				ex.ev.Parameters["copySource"] = req.S3.CopySource.S
			}
			if req.S3.VersionID.Present {
				ex.ev.Parameters["versionId"] = req.S3.VersionID.S
			}
		}
	}
	resource := resourcePath(r)
	if h.cfg.AuditDelivery == audit.DeliveryRequired {
		if err := h.cfg.Audit.Available(); err != nil {
			ex.ev.Decision = "error"
			ex.ev.Reason = "audit_unavailable"
			ex.ev.Message = err.Error()
			ex.w.Header().Set("Retry-After", "1")
			return errAuditUnavailable.WithResource(resource)
		}
	}
	if req != nil && req.Op == s3req.OpSTS {
		return h.serveSTS(ex, r)
	}
	if req != nil && req.Op == s3req.OpPostObject && serr == nil {
		return h.servePostObject(ex, r, req)
	}
	if req != nil && req.Op == s3req.OpPreflightRequest && serr == nil {
		return h.servePreflight(ex, r, req)
	}
	pe, aerr := h.authenticate(ex, r)
	if aerr != nil {
		return aerr.WithResource(resource)
	}
	if ex.ev.AuthMethod == "browser-session" {
		// The store answers a request with an Origin with CORS grants
		// for it; a request a cookie authenticated gets none, so that no
		// other origin can read what a signed-in browser fetches.
		delete(hdr, "Origin")
	}
	if serr != nil {
		ex.ev.Reason = "bad_request"
		return serr.WithResource(resource)
	}
	if pe.principal == nil {
		ex.ev.Reason = "no_role"
		ex.ev.Message = pe.noRole
		return s3err.New(http.StatusForbidden, "AccessDenied", pe.noRole).WithResource(resource)
	}
	if ex.sig != nil {
		if serr := prepareSigV4Body(r, hdr, ex.sig, ex.secret); serr != nil {
			ex.ev.Reason = "bad_request"
			return serr.WithResource(resource)
		}
	} else if p := hdr.Get("X-Amz-Content-Sha256"); strings.HasPrefix(p, "STREAMING-AWS4-") {
		ex.ev.Reason = "bad_request"
		return s3err.New(http.StatusBadRequest, "InvalidRequest",
			"Signed streaming payloads need SigV4 authentication; a bearer request may send UNSIGNED-PAYLOAD, a SHA-256 or STREAMING-UNSIGNED-PAYLOAD-TRAILER.").WithResource(resource)
	}
	if req.Op == s3req.OpDeleteObjects {
		return h.serveDeleteObjects(ex, r, pe, req, hdr)
	}
	checks := req.Checks
	var body []byte
	if req.Body != s3req.BodyNone {
		// The body holds condition values: authorize, and forward, the
		// document as parsed.
		var berr *s3err.Error
		if body, berr = readConditionBody(r, hdr, req); berr != nil {
			ex.ev.Reason = "bad_request"
			return berr.WithResource(resource)
		}
		if body == nil && r.ContentLength != 0 {
			setBody(r, hdr, nil) // e.g. a CreateBucket configuration without a location
		}
	} else if req.NeedsBody {
		// Only DeleteObjects and POST Object (served above) need the body.
		ex.ev.Reason = "not_implemented"
		return s3err.ErrNotImplemented.WithResource(resource)
	}

	if len(checks) == 0 { // default deny: nothing to authorize means nothing is forwarded
		ex.ev.Reason = "no_checks"
		return s3err.ErrAccessDenied.WithResource(resource)
	}
	ex.ev.Action = string(checks[0].Action)
	if d, c, denied := h.authorize(ex, pe, r, req, checks); denied {
		return denyError(pe, c, d).WithResource(resource)
	}
	if gerr := h.applyGuards(ex, r, pe, req, hdr); gerr != nil {
		return gerr.WithResource(resource)
	}
	ex.ev.Decision = "allow"
	ex.ev.Reason = string(authz.ReasonAllowed)
	if lerr := h.admitLimits(ex, r, pe, req); lerr != nil {
		return lerr.WithResource(resource)
	}

	if body != nil {
		setBody(r, hdr, body)
	}
	if req.CopySourceHeader != "" {
		hdr["X-Amz-Copy-Source"] = []string{req.CopySourceHeader}
	}
	if req.TaggingHeader != nil {
		hdr["X-Amz-Tagging"] = req.TaggingHeader
	}
	ex.fwd = forward{path: req.UpstreamPath, query: req.UpstreamQuery, header: hdr}
	h.forward(ex, ex.w, r, h.cfg.Transport)
	return nil
}

// serveSTS answers an STS call (it authenticates with the web-identity
// token in its parameters) and records it as one "sts" audit event.
func (h *Handler) serveSTS(ex *exchange, r *http.Request) *s3err.Error {
	ex.ev.Kind = "sts"
	ex.ev.AuthMethod = "web_identity"
	if ex.gen.STS == nil {
		ex.ev.Reason = "sts_disabled"
		return s3err.New(http.StatusNotImplemented, "NotImplemented",
			"This iamgate does not issue session credentials (no sts section in its configuration).")
	}
	e := ex.gen.STS.HandleFrom(ex.w, r, ex.sourceIP)
	ev := &ex.ev
	if e.Action == string(sts.AssumeRoleWithLDAPIdentity) {
		ev.AuthMethod = "ldap"
	}
	ev.Operation, ev.Issuer, ev.Subject = string(e.Action), e.Issuer, e.Subject
	ev.IssuerURL = ex.gen.IssuerURLs[e.Issuer]
	if e.Role != "" {
		ev.Roles = []string{e.Role}
		ev.Role = e.Role
		if role, ok := ex.gen.Engine.Role(e.Role); ok {
			ev.RoleKind = role.Kind()
		}
	}
	if e.GrantID != "" {
		ev.Grant = &audit.Grant{ID: e.GrantID, Role: e.Role, End: e.GrantEnd}
	}
	ev.Fingerprint, ev.SessionID, ev.AccessKeyID = e.TokenFingerprint, e.SessionID, e.AccessKeyID
	ev.RoleSessionName, ev.DurationSeconds, ev.Expiry = e.RoleSessionName, int64(e.Duration/time.Second), e.Expiry
	ev.Claims, ev.Actor = audit.RecordedClaims(e.Claims, ex.gen.AuditClaims), audit.ActorFromClaim(e.Claims["act"])
	if e.ActorSubject != "" {
		ev.Actor = audit.DelegatedActor(ex.gen.IssuerURLs[e.ActorIssuer], e.ActorSubject, e.ActorRole, e.ActorClaims)
	}
	if e.Subject != "" {
		ev.Username = authz.Username(e.Claims, e.Subject)
	} else if e.Username != "" {
		ev.Username = e.Username // the name typed, refused by the directory
	}
	if ev.Issuer == "" && e.Directory != "" {
		ev.Issuer, ev.IssuerURL = e.Directory, ex.gen.IssuerURLs[e.Directory]
	}
	if m := h.cfg.Metrics; m != nil {
		result := "refused"
		if e.Status == http.StatusOK {
			result = "issued"
		}
		m.STSRequests.WithLabelValues(stsActionLabel(string(e.Action)), result, roleKindLabel(ev.RoleKind)).Inc()
	}
	if e.Status == http.StatusOK {
		ev.Decision, ev.Reason = "allow", "issued"
	} else {
		ev.Reason, ev.ErrorCode, ev.Message = "sts_refused", e.ErrorCode, e.Error
		if e.Reason != "" {
			ev.Reason = e.Reason
		}
	}
	return nil
}

// authorize evaluates every check; all must be allowed. It fills the audit
// event with the deciding statement.
func (h *Handler) authorize(ex *exchange, pe *principalEntry, r *http.Request, req *s3req.Request, checks []s3req.Check) (authz.Decision, s3req.Check, bool) {
	ar := conditionRequest(ex, r, req)
	tags := tagSources{h: h, ctx: r.Context()}
	var last authz.Decision
	for _, c := range checks {
		ar.Action = c.Action
		ar.Resource = c.Resource
		ar.ExistingTags = tags.forCheck(pe.principal, req, c)
		d := ex.gen.Engine.Authorize(pe.principal, &ar)
		if !d.Allowed {
			if d.Reason == authz.ReasonUnavailable {
				ex.ev.Decision = "error"
				ex.w.Header().Set("Retry-After", "1")
				h.log.Warn("authorization undecided", "request_id", ex.rid, "detail", d.Detail)
			}
			ex.ev.Action = string(c.Action)
			ex.ev.Reason = string(d.Reason)
			ex.ev.Role, ex.ev.Policy, ex.ev.Sid = d.Role, d.Policy, d.Sid
			ex.ev.Message = d.Detail
			if d.Actor {
				ex.ev.Message = "the acting agent's roles: " + d.Detail
			}
			return d, c, true
		}
		last = d
	}
	ex.ev.Role, ex.ev.Policy, ex.ev.Sid = last.Role, last.Policy, last.Sid
	return last, s3req.Check{}, false
}

// denyError words a deny the way AWS does: who, what, on which resource,
// and whether an explicit deny or the absence of an allow decided it.
func denyError(pe *principalEntry, c s3req.Check, d authz.Decision) *s3err.Error {
	var why string
	switch d.Reason {
	case authz.ReasonExplicitDeny:
		why = fmt.Sprintf("with an explicit deny in role %q policy %q", d.Role, d.Policy)
		if d.Sid != "" {
			why += fmt.Sprintf(" statement %q", d.Sid)
		}
	case authz.ReasonSessionPolicy:
		why = "because the session policy does not allow " + string(c.Action)
	case authz.ReasonUnavailable:
		return errConditionUnavailable
	default:
		why = "because no policy of its roles allows " + string(c.Action)
		if d.Actor {
			why = "because no policy of the roles of the agent acting for it allows " + string(c.Action)
		}
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s.", pe.arn, c.Action, c.Resource, why)
	return s3err.New(http.StatusForbidden, "AccessDenied", msg)
}

// readDeleteObjects reads a bounded DeleteObjects body, verifies the
// client's digests of it and parses it strictly.
func (h *Handler) readDeleteObjects(r *http.Request, hdr http.Header) (*s3req.DeleteObjects, *s3err.Error) {
	if r.Body == nil {
		return nil, s3err.ErrMalformedXML
	}
	limit := h.cfg.DeleteObjectsMaxBytes
	if r.ContentLength > limit {
		return nil, s3err.New(http.StatusBadRequest, "MaxMessageLengthExceeded",
			fmt.Sprintf("The DeleteObjects request body is larger than %d bytes.", limit))
	}
	data, err := readLimited(r.Body, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, s3err.New(http.StatusBadRequest, "MaxMessageLengthExceeded",
				fmt.Sprintf("The DeleteObjects request body is larger than %d bytes.", limit))
		}
		return nil, s3err.New(http.StatusBadRequest, "IncompleteBody", "The request body could not be read.")
	}
	if serr := verifyBodyDigests(hdr, data); serr != nil {
		return nil, serr
	}
	return s3req.ParseDeleteObjects(data)
}

// fingerprint is the keyed HMAC of a token hash, for correlating requests
// in audit events without recording the token.
func (h *Handler) fingerprint(hash [32]byte) string { return Fingerprint(h.fpKey, hash) }

// Fingerprint is the keyed HMAC-SHA256 of a token's SHA-256 hash,
// truncated to 96 bits: it correlates requests made with one token in
// audit events without recording the token.
func Fingerprint(key []byte, tokenHash [32]byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(tokenHash[:])
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// resourcePath is the <Resource> of an error document.
func resourcePath(r *http.Request) string {
	return r.URL.Path
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// clientAddr returns the caller's address and whether it used TLS. The
// X-Forwarded-For and X-Forwarded-Proto headers count only when the direct
// peer is a trusted proxy; then the right-most untrusted address wins.
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	secure := r.TLS != nil
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, secure
	}
	addr := ap.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr, secure
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" {
		secure = strings.EqualFold(strings.TrimSpace(proto), "https")
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr, secure
			}
			a = a.Unmap()
			addr = a
			if !isTrusted(a, trusted) {
				return a, secure
			}
		}
	}
	return addr, secure
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setBody replaces the request body with data, fixing the length and the
// digests in hdr that covered the old body.
func setBody(r *http.Request, hdr http.Header, data []byte) {
	r.Body = &bytesBody{data: data}
	r.ContentLength = int64(len(data))
	for k := range hdr {
		if strings.HasPrefix(k, "X-Amz-Checksum-") || k == "X-Amz-Sdk-Checksum-Algorithm" {
			delete(hdr, k)
		}
	}
	hdr.Set("Content-Md5", contentMD5(data))
	sum := sha256.Sum256(data)
	hdr.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	r.TransferEncoding = nil
}
