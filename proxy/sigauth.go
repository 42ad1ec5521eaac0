package proxy

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/sigv4"
)

// ServiceCredential is a static access key bound to one role, for tools
// that cannot use web identity. It always expires.
type ServiceCredential struct {
	Name            string
	AccessKeyID     string
	SecretAccessKey string
	Role            string
	Expires         time.Time
}

// sigv4Auth authenticates a request signed with SigV4: with STS session
// credentials (the session token names the principal and carries the
// secret) or with a service credential. The signature is verified with
// iamgate's own canonicalizer before anything else happens.
func (h *Handler) sigv4Auth(ex *exchange, r *http.Request) (*principalEntry, *s3err.Error) {
	ex.ev.AuthMethod = "sigv4"
	a, serr := sigv4.ParseRequest(r, h.cfg.Region, ex.start)
	if serr != nil {
		return nil, h.sigFailure(ex, "malformed_signature", serr)
	}
	if a == nil {
		return nil, h.sigFailure(ex, "malformed_signature", s3err.ErrAccessDenied)
	}
	if a.Type == sigv4.AuthPresigned {
		ex.ev.AuthMethod = "sigv4-presigned"
	}
	for _, name := range ex.hopNamed {
		if slices.Contains(a.SignedHeaders, strings.ToLower(name)) {
			return nil, h.sigFailure(ex, "hop_by_hop_signed", errHopByHopSigned(name))
		}
	}
	ex.ev.AccessKeyID = a.AccessKeyID
	pe, serr := h.credentialPrincipal(ex, a.AccessKeyID, a.SecurityToken)
	if serr != nil {
		return nil, serr
	}
	if serr := sigv4.VerifySignature(r, a, pe.secret); serr != nil {
		return nil, h.sigFailure(ex, "bad_signature", serr)
	}
	if pe.kind == identity.KindShare {
		ex.ev.AuthMethod = "share-link"
	}
	h.fillIdentity(ex, pe)
	ex.sig = a
	ex.secret = pe.secret
	return pe, nil
}

func (h *Handler) sigFailure(ex *exchange, reason string, e *s3err.Error) *s3err.Error {
	ex.ev.Kind = "auth_failure"
	ex.ev.Reason = reason
	h.countAuthFailure(reason)
	return e
}

// credentialPrincipal resolves the access key of a signed request (SigV4
// or Signature Version 2, header, presigned or form): STS session
// credentials when a session token comes with it, a service credential
// otherwise. The signature is verified afterwards with the entry's secret.
func (h *Handler) credentialPrincipal(ex *exchange, accessKeyID, token string) (*principalEntry, *s3err.Error) {
	if token != "" {
		return h.sessionPrincipal(ex, accessKeyID, token)
	}
	return h.servicePrincipal(ex, accessKeyID)
}

// sessionPrincipal opens an STS session token, checks that it belongs to
// the access key, is not revoked and that its roles still exist and still
// trust the identity it was issued to. The result is cached per token.
func (h *Handler) sessionPrincipal(ex *exchange, accessKeyID, token string) (*principalEntry, *s3err.Error) {
	gen := ex.gen
	if gen.Sessions == nil {
		return nil, h.sigFailure(ex, "sts_disabled", s3err.New(http.StatusBadRequest, "InvalidToken",
			"This iamgate does not accept session credentials (no sts section in its configuration)."))
	}
	key := principalKey{hash: sha256.Sum256([]byte(token)), role: "\x00session"}
	if pe, ok := gen.principals.get(key, ex.start); ok {
		if pe.accessKeyID != accessKeyID {
			return nil, h.sigFailure(ex, "key_mismatch", errKeyMismatch)
		}
		if e := h.runtimeRevoked(ex, pe.session, "The session"); e != nil {
			return nil, e
		}
		if e := h.checkGrantSession(ex, pe); e != nil {
			return nil, e
		}
		return pe, nil
	}
	s, err := gen.Sessions.Open(token, ex.start)
	if err != nil {
		if se, ok := err.(*identity.SessionError); ok && se.Reason == identity.SessionExpired {
			return nil, h.sigFailure(ex, "expired", s3err.New(http.StatusBadRequest, "ExpiredToken",
				"The provided token has expired."))
		}
		return nil, h.sigFailure(ex, "invalid_session", s3err.New(http.StatusBadRequest, "InvalidToken",
			"The provided token is malformed or otherwise invalid."))
	}
	if s.AccessKeyID != accessKeyID {
		return nil, h.sigFailure(ex, "key_mismatch", errKeyMismatch)
	}
	if s.IsKind(identity.KindBrowser) {
		// A browser session's secret never leaves the server; a token of
		// that kind signing a request was not obtained honestly.
		return nil, h.sigFailure(ex, "invalid_session", s3err.New(http.StatusBadRequest, "InvalidToken",
			"The provided token is malformed or otherwise invalid."))
	}
	ex.ev.SessionID = s.ID
	if revoked, rule := identity.Revoked(s, gen.Revocations); revoked {
		return nil, h.sigFailure(ex, "revoked", s3err.New(http.StatusBadRequest, "ExpiredToken", revokedMessage("The session", rule)+"."))
	}
	if e := h.runtimeRevoked(ex, s, "The session"); e != nil {
		return nil, e
	}
	if len(s.SessionPolicy) > 0 {
		if _, err := authz.ParsePolicy("session-policy", s.SessionPolicy); err != nil {
			return nil, h.sigFailure(ex, "invalid_session", s3err.New(http.StatusBadRequest, "InvalidToken",
				"The session policy in the token no longer compiles."))
		}
	}
	pe := sessionEntry(gen, s)
	pe.session = s
	if e := h.checkGrantSession(ex, pe); e != nil {
		return nil, e
	}
	gen.principals.put(key, pe, s.Expiry, ex.start)
	return pe, nil
}

// runtimeRevoked checks s against the run-time revocations: nil when
// none voids it, ExpiredToken when one does, and 503 when they cannot be
// confirmed current (fail closed).
func (h *Handler) runtimeRevoked(ex *exchange, s *identity.Session, what string) *s3err.Error {
	src := ex.gen.RuntimeRevocations
	if src == nil || s == nil {
		return nil
	}
	rules, err := src.Revocations()
	if err != nil {
		h.log.Error("the run-time revocations cannot be confirmed current; the request is refused", "session_id", s.ID, "err", err)
		return h.sigFailure(ex, string(identity.SessionStateUnavailable), s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
			"The revocations in force cannot be confirmed current, so requests made with sessions or tokens are refused for now; try again shortly."))
	}
	if revoked, rule := identity.Revoked(s, rules); revoked {
		return h.sigFailure(ex, "revoked", s3err.New(http.StatusBadRequest, "ExpiredToken", revokedMessage(what, rule)+"."))
	}
	return nil
}

// errHopByHopSigned answers a request whose signature covers a header the
// client named in Connection: it was removed before verification.
func errHopByHopSigned(name string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidRequest", "The signed header "+strings.ToLower(name)+
		" is named in the Connection header; hop-by-hop headers are removed before the signature is verified, so the request cannot be verified.")
}

var errKeyMismatch = s3err.New(http.StatusForbidden, "InvalidAccessKeyId",
	"The access key ID does not belong to the provided session token.")

// servicePrincipal looks up a configured service credential. A session
// access key without its token is MissingSecurityHeader: service
// credentials never start with identity.AccessKeyPrefix.
func (h *Handler) servicePrincipal(ex *exchange, accessKeyID string) (*principalEntry, *s3err.Error) {
	gen := ex.gen
	sc, ok := gen.Services[accessKeyID]
	if !ok && strings.HasPrefix(accessKeyID, identity.AccessKeyPrefix) {
		return nil, h.sigFailure(ex, "missing_token", s3err.New(http.StatusBadRequest, "MissingSecurityHeader",
			"Your request was missing a required header: x-amz-security-token. The access key ID belongs to session credentials, which are used with their session token."))
	}
	if !ok {
		return nil, h.sigFailure(ex, "unknown_access_key", s3err.New(http.StatusForbidden, "InvalidAccessKeyId",
			"The access key ID you provided does not exist in our records."))
	}
	ex.ev.AuthMethod = "service-credential"
	if !ex.start.Before(sc.Expires) {
		return nil, h.sigFailure(ex, "expired", s3err.New(http.StatusForbidden, "InvalidAccessKeyId",
			fmt.Sprintf("The service credential %q expired on %s.", sc.Name, sc.Expires.UTC().Format(time.RFC3339))))
	}
	key := principalKey{role: "\x00service:" + sc.AccessKeyID}
	if pe, ok := gen.principals.get(key, ex.start); ok {
		return pe, nil
	}
	pe := &principalEntry{
		issuer: "service-credential", subject: sc.Name, username: sc.Name, secret: sc.SecretAccessKey,
		accessKeyID: sc.AccessKeyID, roles: []string{sc.Role},
		arn: fmt.Sprintf("arn:aws:iam::iamgate:user/service/%s", sc.Name),
	}
	if role, ok := gen.Engine.Role(sc.Role); ok {
		id := &authz.Identity{Issuer: "service-credential", Subject: sc.Name, Claims: map[string]any{"sub": sc.Name}}
		pe.principal = gen.Engine.NewPrincipal(id, []*authz.Role{role})
		pe.roleKind = role.Kind()
	} else {
		pe.noRole = fmt.Sprintf("The role %q of service credential %q does not exist.", sc.Role, sc.Name)
	}
	gen.principals.put(key, pe, sc.Expires, ex.start)
	return pe, nil
}

// prepareSigV4Body sets up the upstream body of a SigV4 request and its
// payload headers in h, the headers to forward (checklist §2.5): a hex
// payload hash or UNSIGNED-PAYLOAD is forwarded so the store checks it; an
// unsigned-trailer stream passes through verbatim; signed streams are verified chunk by chunk here (their
// signatures use the caller's secret, which the store does not know) and
// forwarded decoded, or re-framed as an unsigned-trailer stream so the
// store still verifies and records the checksum.
func prepareSigV4Body(r *http.Request, h http.Header, a *sigv4.Auth, secret string) *s3err.Error {
	h.Set("X-Amz-Content-Sha256", a.PayloadHash)
	switch a.PayloadHash {
	case sigv4.StreamingSigned, sigv4.StreamingSignedTrailer:
	default:
		return nil
	}
	n, err := strconv.ParseInt(h.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return s3err.New(http.StatusLengthRequired, "MissingContentLength",
			"A streaming upload needs a valid x-amz-decoded-content-length header.")
	}
	if r.Body == nil {
		return s3err.New(http.StatusBadRequest, "IncompleteBody", "The streaming upload has no body.")
	}
	var trailers []string
	for _, t := range strings.Split(h.Get("X-Amz-Trailer"), ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			trailers = append(trailers, t)
		}
	}
	cr := sigv4.NewChunkedReader(r.Body, a, secret, trailers, n)
	if a.PayloadHash == sigv4.StreamingSigned || len(trailers) == 0 {
		r.Body = cr
		r.ContentLength = n
		h.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		h.Del("X-Amz-Decoded-Content-Length")
		h.Del("X-Amz-Trailer")
		dropAWSChunked(h)
		return nil
	}
	if len(trailers) != 1 || sigv4.ChecksumValueLen(trailers[0]) == 0 {
		return s3err.New(http.StatusBadRequest, "InvalidArgument",
			"x-amz-trailer must name exactly one supported checksum (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256).")
	}
	name := trailers[0]
	r.Body = sigv4.EncodeUnsignedTrailer(cr, n, 0, name, func() (string, error) { return cr.Trailer()[name], nil })
	r.ContentLength = sigv4.EncodedLength(n, 0, name, sigv4.ChecksumValueLen(name))
	h.Set("X-Amz-Content-Sha256", sigv4.StreamingUnsignedTrail)
	h.Set("X-Amz-Trailer", name)
	return nil
}

// dropAWSChunked removes the aws-chunked coding from Content-Encoding,
// keeping any other coding (e.g. gzip) the object is stored with.
func dropAWSChunked(h http.Header) {
	var keep []string
	for _, v := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
				keep = append(keep, c)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Content-Encoding")
		return
	}
	h.Set("Content-Encoding", strings.Join(keep, ","))
}

// revokedMessage says that what (a session of some kind) was revoked, and
// by which rule's date.
func revokedMessage(what string, rule *identity.Revocation) string {
	msg := what + " was revoked"
	if !rule.IssuedBefore.IsZero() {
		msg += " (sessions issued before " + rule.IssuedBefore.UTC().Format(time.RFC3339) + ")"
	}
	return msg
}
