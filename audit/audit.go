// Package audit records one event per request for the security team:
// who asked, for what, what was decided and why, and what happened.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Version is the schema version written in every event's eventVersion.
// It is iamgate's own: the shape follows CloudTrail's, the version does not.
const Version = "2.0"

// Event is one audit record as producers fill it in. Its serialized form
// (see AppendJSON and docs/audit.md) is the schema; the Go fields are not.
// It never holds a raw token, secret, session token, cookie or object
// contents; Fingerprint is a keyed HMAC that correlates requests made with
// the same token.
type Event struct {
	Time time.Time
	// Kind is one of the Kind constants; it decides eventName, eventSource
	// and eventType.
	Kind string
	// EventID is unique per event; the Logger sets a random one if empty.
	EventID   string
	RequestID string

	SourceIP  string
	UserAgent string

	// AuthMethod is how the caller authenticated: "bearer", "sigv4",
	// "sigv4-presigned", "sigv4-post" (a browser form upload with session
	// credentials), "sigv2", "sigv2-presigned", "sigv2-post" (the same
	// with Signature Version 2), "service-credential", "browser-session",
	// "share-link", "web_identity" (STS), "oidc-code" and "refresh-token"
	// (browser sign-in), "ldap" (a directory user name and password, at
	// the STS or the console), "admin-token" (the admin endpoint's static
	// token), or "none" (no credentials). Empty: the request was
	// refused before authentication (decision "error", reason
	// audit_unavailable).
	AuthMethod string
	// SignatureVersion is "SigV2" or "SigV4" where AuthMethod does not say
	// it: a service credential signing with Signature Version 2. Empty
	// means what AuthMethod implies: SigV4 for the sigv4 methods,
	// service-credential and share-link, SigV2 for the sigv2 methods,
	// none otherwise.
	SignatureVersion string
	// Issuer is the configured name of the token's issuer, IssuerURL its
	// "iss".
	Issuer    string
	IssuerURL string
	Subject   string
	Username  string
	// ARN is the caller's principal ARN, as in iamgate's deny messages.
	ARN         string
	Roles       []string
	RoleKind    string // human, machine or agent: the kind of the roles used
	Fingerprint string
	// Claims are the token claims the configuration allows to record
	// (audit.claims).
	Claims map[string]any
	// Actor is who acts for the subject, from an RFC 8693 "act" claim.
	Actor *Actor
	// Grant is the access request of a KindAccessRequest event, or the
	// just-in-time grant a request was allowed through.
	Grant *Grant
	// SessionID and AccessKeyID identify STS session credentials (issued
	// or used), browser sessions and service credentials; never the
	// secret or session token.
	SessionID   string
	AccessKeyID string
	// Expiry is when issued credentials, a session or a share link end.
	Expiry time.Time
	// Lifetime is how long a share link was granted for, after any cap
	// (its requested lifetime is DurationSeconds).
	Lifetime time.Duration

	Operation string
	Action    string
	Bucket    string
	Key       string
	Prefix    string
	// Keys lists every key of a DeleteObjects request.
	Keys []string
	// DeniedKeys are the keys of a DeleteObjects request that were
	// denied, each with its decision, in request order; the other keys of
	// Keys were allowed and forwarded.
	DeniedKeys []DeniedKey
	// RoleSessionName and DurationSeconds are STS request parameters;
	// DurationSeconds is also the lifetime a share link was requested
	// with.
	RoleSessionName string
	DurationSeconds int64
	// Parameters are further request parameters, written under
	// requestParameters in key order.
	Parameters map[string]string

	Decision string // "allow", "deny", "error"
	Reason   string
	Role     string // matched role
	Policy   string // matched policy
	Sid      string // matched statement
	Message  string

	Status            int
	ErrorCode         string
	BytesIn           int64
	BytesOut          int64
	DurationMS        float64
	UpstreamMS        float64
	UpstreamRequestID string

	// ConfigDigest is set on config_reload and start events.
	ConfigDigest string

	// Seq, Prev and Stream chain the events of one stream (one chained
	// Logger, see NewChainedLogger): Seq counts from 1, Prev is the hex
	// SHA-256 of the previous line. KeyID and Signature sign checkpoint
	// events. A chained Logger writes them; Decode reads them back.
	Seq       uint64
	Prev      string
	Stream    string
	KeyID     string
	Signature string
}

// DeniedKey is the decision on one denied key of a DeleteObjects request.
type DeniedKey struct {
	Key       string
	VersionID string // "" when the key names no version
	Action    string // the action that was denied, e.g. s3:DeleteObject
	Reason    string // no_allow, explicit_deny or session_policy
	// Role, Policy and Sid name the statement of an explicit deny.
	Role, Policy, Sid string
}

// Sink receives encoded events, one JSON object per line.
type Sink interface {
	WriteEvent(line []byte) error
}

// BatchSink is a Sink that takes several lines in one call. The Logger
// gathers the events of concurrent requests and hands them to a BatchSink
// together, so that they reach a file in one write(2); a Sink that is not
// a BatchSink gets them line by line.
type BatchSink interface {
	Sink
	// WriteEvents writes lines, n whole lines each ending in '\n', in
	// order, before it returns. An error means that some or none of them
	// were written: every line of the call counts as failed.
	WriteEvents(lines []byte, n int) error
}

// Logger encodes events and writes each to every sink. It is safe for
// concurrent use. A sink error is returned to the caller (and counted), so
// the caller can decide; nothing is silently dropped.
//
// Log returns once its event has been handed to every sink (for a file:
// written to the file descriptor, synced if the fsync policy says so).
// Events logged while another Log is writing are queued and written
// together by one of their callers (group commit); the chain order is the
// order they are written in.
type Logger struct {
	sinks []Sink
	now   func() time.Time

	mu      sync.Mutex // guards the fields below
	open    *batch     // lines queued for the next write
	writing bool       // a Log call is writing a batch, without mu
	free    []*batch   // written batches, for reuse
	chain   *chain     // nil: events are not chained
}

// NewLogger returns a Logger writing to sinks.
func NewLogger(sinks ...Sink) *Logger {
	return &Logger{sinks: sinks, now: time.Now}
}

// Log stamps e with version and time (if unset) and writes it. It returns
// when the event is written, with the sinks' errors.
func (l *Logger) Log(e *Event) error {
	if l == nil || len(l.sinks) == 0 {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	if e.EventID == "" {
		e.EventID = NewEventID()
	}
	buf := bufPool.Get().(*[]byte)
	body := e.AppendJSON((*buf)[:0])
	l.mu.Lock()
	b := l.queue()
	first := len(b.ends)
	var err error
	if l.chain != nil {
		err = l.appendChained(b, body)
	} else {
		b.add(body, true)
	}
	if err == nil {
		err = l.commit(b, first)
	}
	l.mu.Unlock()
	if cap(body) <= 64<<10 { // body was copied into the batch
		*buf = body
		bufPool.Put(buf)
	}
	return err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// NewEventID returns a random version 4 UUID.
func NewEventID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Close writes what is queued, and closes every sink that is an
// io.Closer. A chained Logger first writes its closing checkpoint.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.queue()
	first := len(b.ends)
	if l.chain != nil {
		l.closeChain(b)
	}
	// Wait for the batch being written and write what is queued, the
	// closing checkpoint last; the sinks are closed with mu held, so no
	// Log writes meanwhile.
	errs = append(errs, l.commit(b, first))
	for l.writing {
		l.commit(l.queue(), 0)
	}
	for _, s := range l.sinks {
		if c, ok := s.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// WriterSink writes lines to an io.Writer such as os.Stdout.
type WriterSink struct{ W io.Writer }

// WriteEvent implements Sink.
func (s WriterSink) WriteEvent(line []byte) error {
	_, err := s.W.Write(line)
	return err
}

// WriteEvents implements BatchSink: the lines in one Write.
func (s WriterSink) WriteEvents(lines []byte, _ int) error {
	_, err := s.W.Write(lines)
	return err
}

// FileSink appends lines to a file.
type FileSink struct {
	f *os.File
}

// OpenFile opens (creating if needed) path for appending, mode 0600.
func OpenFile(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return &FileSink{f: f}, nil
}

// WriteEvent implements Sink. Each line is one write(2) on an O_APPEND
// file, so lines from concurrent processes do not interleave.
func (s *FileSink) WriteEvent(line []byte) error {
	_, err := s.f.Write(line)
	return err
}

// WriteEvents implements BatchSink: the lines in one write(2).
func (s *FileSink) WriteEvents(lines []byte, _ int) error {
	_, err := s.f.Write(lines)
	return err
}

// Close closes the file.
func (s *FileSink) Close() error { return s.f.Close() }
