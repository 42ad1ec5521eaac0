package identity

import "fmt"

// Reason says why a token was rejected. The set of values is closed and
// small, so a Reason is safe to use as a metric label.
type Reason string

// Reasons a token is rejected.
const (
	// ReasonMalformed: the value is not a compact, signed JWT with JSON
	// header and claims (includes encrypted tokens and bad bearer headers).
	ReasonMalformed Reason = "malformed"
	// ReasonUnknownIssuer: the iss claim names no configured issuer.
	ReasonUnknownIssuer Reason = "unknown_issuer"
	// ReasonBadSignature: no published key of the issuer verifies the token.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonBadAlgorithm: the alg header is not allowed for the issuer.
	ReasonBadAlgorithm Reason = "bad_algorithm"
	// ReasonWrongAudience: no aud value is among the accepted audiences.
	ReasonWrongAudience Reason = "wrong_audience"
	// ReasonExpired: exp lies further in the past than the clock skew allows.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf or iat lies further in the future than the
	// clock skew allows.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonMissingClaim: a required claim (iss, sub, exp or one of
	// IssuerConfig.RequiredClaims) is absent or null.
	ReasonMissingClaim Reason = "missing_claim"
	// ReasonIssuerUnavailable: the issuer's signing keys could not be loaded.
	ReasonIssuerUnavailable Reason = "issuer_unavailable"
)

// AuthError is the error returned by [Verifier.Verify] and [ParseBearer].
// Callers branch on Reason with errors.As.
//
// Error returns a short sentence that is safe to show to the client that
// sent the token: it never contains the token. The underlying cause (for
// example why the issuer's keys could not be fetched) is kept apart and is
// reachable only through errors.Unwrap, for logs.
type AuthError struct {
	Reason Reason
	// Issuer is the configured name of the issuer the token claimed, or ""
	// when the issuer was not determined.
	Issuer string
	// Detail is the sentence Error is built from.
	Detail string

	cause error
}

func (e *AuthError) Error() string {
	if e.Issuer == "" {
		return e.Detail
	}
	return fmt.Sprintf("%s (issuer %q)", e.Detail, e.Issuer)
}

// Unwrap returns the underlying cause, if any. It may name internal URLs and
// is meant for logs, not for clients.
func (e *AuthError) Unwrap() error { return e.cause }

func authErr(r Reason, issuer, format string, args ...any) *AuthError {
	return &AuthError{Reason: r, Issuer: issuer, Detail: fmt.Sprintf(format, args...)}
}

// clip bounds attacker-chosen strings (alg, kid, iss) before they are quoted
// in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
