// Package state holds what every iamgate replica must agree on at run
// time: the browser sessions that were signed out ([SignedOut]), the
// counts of failed directory sign-ins ([Failures]), the revocation rules
// added at run time ([Revocations], read through a [RevocationWatcher]),
// the record of delegated sessions ([Delegations]), the access requests
// and just-in-time grants ([Grants], read through a [GrantWatcher]) and
// the counters of rate limits ([Counters]). Each is a small interface
// with an implementation in process memory (enough for one replica) and
// one in Redis or Valkey ([Redis], shared by the replicas).
package state

import (
	"context"
	"errors"
	"time"
)

// Session names a browser session for the record of signed-out
// sessions: its ID, whose it is, and when it was signed in (kept across
// renewals).
type Session struct {
	ID       string
	Issuer   string // the issuer's configured name
	Subject  string
	IssuedAt time.Time
}

// Scope says how much a sign-out was recorded for. A record never drops a
// sign-out to make room: when it has no room for one session, it refuses
// more sessions instead (fail closed), and says so.
type Scope string

// Scopes of a recorded sign-out.
const (
	// ScopeSession: the session alone is refused.
	ScopeSession Scope = "session"
	// ScopeSubject: there was no room for one more session, so every
	// browser session of the same person (issuer and subject) signed in
	// no later than this one is refused.
	ScopeSubject Scope = "subject"
	// ScopeAll: there was no room for one more person either, so every
	// browser session signed in no later than this one is refused,
	// whoever it belongs to.
	ScopeAll Scope = "all"
)

// SignedOut is the record of signed-out browser sessions. A session it
// holds is refused wherever its cookie is presented, until the time given
// when it was added; after that the entry may be forgotten, so that the
// record stays bounded. Implementations are safe for concurrent use.
type SignedOut interface {
	// Add records that s was signed out and must be refused until until
	// (at least as long as any copy of its cookie can live). Adding a
	// session again keeps the later time. The Scope says what was
	// recorded; an error means nothing was, and the caller must not
	// report the sign-out as done.
	Add(ctx context.Context, s Session, until time.Time) (Scope, error)
	// Contains reports whether s is refused because of a sign-out. An
	// error means the answer is unknown: callers refuse the session
	// (fail closed).
	Contains(ctx context.Context, s Session) (bool, error)
}

// ErrNoSessionID is returned by Add for a session without an ID.
var ErrNoSessionID = errors.New("state: a signed-out session needs an ID")
