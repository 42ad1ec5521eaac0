// Package audit records one event per request for the security team:
// who asked, for what, what was decided and why, and what happened.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Version is the schema version written in every event.
const Version = "1"

// Event is one audit record. Field names are stable: they are the schema.
// It never holds a raw token, secret or session token; Fingerprint is a
// keyed HMAC that correlates requests made with the same token.
type Event struct {
	Version   string    `json:"version"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // "s3", "sts", "auth_failure", "config_reload", "start", "stop"
	RequestID string    `json:"request_id,omitempty"`

	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`

	AuthMethod  string   `json:"auth_method,omitempty"` // "bearer", "none"
	Issuer      string   `json:"issuer,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	Username    string   `json:"username,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	Fingerprint string   `json:"token_fingerprint,omitempty"`
	// SessionID and AccessKeyID identify STS session credentials (issued
	// or used) and service credentials; never the secret or session token.
	SessionID   string `json:"session_id,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`

	Operation string `json:"operation,omitempty"`
	Action    string `json:"action,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	// Keys lists every key of a DeleteObjects request.
	Keys []string `json:"keys,omitempty"`

	Decision string `json:"decision"` // "allow", "deny", "error"
	Reason   string `json:"reason,omitempty"`
	Role     string `json:"matched_role,omitempty"`
	Policy   string `json:"matched_policy,omitempty"`
	Sid      string `json:"matched_sid,omitempty"`
	Message  string `json:"message,omitempty"`

	Status            int     `json:"status,omitempty"`
	ErrorCode         string  `json:"error_code,omitempty"`
	BytesIn           int64   `json:"bytes_in"`
	BytesOut          int64   `json:"bytes_out"`
	DurationMS        float64 `json:"duration_ms"`
	UpstreamMS        float64 `json:"upstream_ms,omitempty"`
	UpstreamRequestID string  `json:"upstream_request_id,omitempty"`

	// ConfigDigest is set on config_reload and start events.
	ConfigDigest string `json:"config_digest,omitempty"`

	// Seq, Prev and Stream chain the events of one stream (one chained
	// Logger, see NewChainedLogger): Seq counts from 1, Prev is the hex
	// SHA-256 of the previous line. KeyID and Signature sign checkpoint
	// events. A chained Logger sets them; whatever the caller put there is
	// discarded.
	Seq       uint64 `json:"seq,omitempty"`
	Prev      string `json:"prev,omitempty"`
	Stream    string `json:"stream,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// Sink receives encoded events, one JSON object per line.
type Sink interface {
	WriteEvent(line []byte) error
}

// Logger encodes events and writes each to every sink. It is safe for
// concurrent use. A sink error is returned to the caller (and counted), so
// the caller can decide; nothing is silently dropped.
type Logger struct {
	mu    sync.Mutex
	sinks []Sink
	now   func() time.Time
	chain *chain // nil: events are not chained
}

// NewLogger returns a Logger writing to sinks.
func NewLogger(sinks ...Sink) *Logger {
	return &Logger{sinks: sinks, now: time.Now}
}

// Log stamps e with version and time (if unset) and writes it.
func (l *Logger) Log(e *Event) error {
	if l == nil || len(l.sinks) == 0 {
		return nil
	}
	e.Version = Version
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	if l.chain != nil {
		e.Seq, e.Prev, e.Stream, e.KeyID, e.Signature = 0, "", "", "", ""
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chain != nil {
		return l.logChained(line)
	}
	return l.write(append(line, '\n'))
}

// write hands line to every sink; l.mu is held.
func (l *Logger) write(line []byte) error {
	var errs []error
	for _, s := range l.sinks {
		if err := s.WriteEvent(line); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink that is an io.Closer. A chained Logger first
// writes its closing checkpoint.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chain != nil {
		errs = append(errs, l.closeChain())
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

// Close closes the file.
func (s *FileSink) Close() error { return s.f.Close() }
