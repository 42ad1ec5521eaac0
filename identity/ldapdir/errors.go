package ldapdir

import (
	"fmt"
	"time"
)

// Reason says why a sign-in failed. The set is closed and small, so a
// Reason is safe as a metric label and an audit reason code.
type Reason string

// Reasons a sign-in fails.
const (
	// ReasonMissingCredentials: the user name or password is empty.
	ReasonMissingCredentials Reason = "missing_credentials"
	// ReasonInvalidCredentials: the directory refused the password.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	// ReasonAccountLocked: the directory's password policy locked the
	// account (LDAP result 49 with the password policy control's
	// accountLocked).
	ReasonAccountLocked Reason = "account_locked"
	// ReasonUserNotFound: no entry matches the user name.
	ReasonUserNotFound Reason = "user_not_found"
	// ReasonUserAmbiguous: several entries match the user name.
	ReasonUserAmbiguous Reason = "user_ambiguous"
	// ReasonRefused: the directory refused the user bind for another
	// reason (e.g. unwilling to perform).
	ReasonRefused Reason = "bind_refused"
	// ReasonUnavailable: the directory could not be reached or failed.
	ReasonUnavailable Reason = "directory_unavailable"
	// ReasonThrottled: too many failed attempts for the user name or the
	// source address; the directory was not asked.
	ReasonThrottled Reason = "throttled"
)

// countsAsFailure reports whether a failure of this reason counts
// towards throttling: every answer that a guesser learns from.
func (r Reason) countsAsFailure() bool {
	switch r {
	case ReasonInvalidCredentials, ReasonAccountLocked, ReasonUserNotFound, ReasonUserAmbiguous, ReasonRefused, ReasonMissingCredentials:
		return true
	}
	return false
}

// Error is a failed sign-in. Error returns a sentence safe to show to the
// person: it is the same for every credential problem, so that it does
// not tell whether a user exists or is locked. Reason and Detail are for
// audit records and logs.
type Error struct {
	Reason    Reason
	Directory string
	// Detail says what happened, for audit; it never holds the password.
	Detail string
	// RetryAfter is when a throttled attempt may be retried.
	RetryAfter time.Time
	cause      error
}

// Error returns the client-safe sentence.
func (e *Error) Error() string {
	switch e.Reason {
	case ReasonUnavailable:
		return "the directory " + e.Directory + " cannot be reached; try again later"
	case ReasonThrottled:
		return "too many failed sign-in attempts; try again later"
	}
	return "invalid user name or password"
}

// Unwrap returns the underlying cause (an LDAP or network error), for logs.
func (e *Error) Unwrap() error { return e.cause }

// Credentials reports whether the error is a refusal of the credentials
// (rather than the directory being unavailable or the attempt throttled).
func (e *Error) Credentials() bool {
	return e.Reason != ReasonUnavailable && e.Reason != ReasonThrottled
}

func (d *Directory) fail(r Reason, detail string, cause error) *Error {
	if cause != nil {
		detail = fmt.Sprintf("%s: %v", detail, cause)
	}
	return &Error{Reason: r, Directory: d.cfg.Name, Detail: detail, cause: cause}
}
