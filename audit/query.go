package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Filter selects audit events. An empty field selects every event; a list
// selects an event matching any of its values; the fields together select
// an event matching all of them.
type Filter struct {
	// Since and Until bound the time: Since <= time < Until; zero: open.
	Since, Until time.Time

	Kinds     []string // s3, sts, auth_failure, …
	Buckets   []string
	KeyPrefix string // the key, or one of the keys of a DeleteObjects, starts with it
	Subjects  []string
	Issuers   []string // configured issuer names (userIdentity.identityProvider)
	// Claims must all be recorded with these values (audit.claims): a
	// string claim equal to the value, a list of strings holding it, or
	// another value whose JSON is the value.
	Claims      []ClaimMatch
	Roles       []string // one of the event's roles
	RoleKinds   []string // human, machine, agent
	Actions     []string // IAM actions (s3:GetObject) or operations (GetObject)
	Decisions   []string // allow, deny, error
	AuthMethods []string
	Sources     []netip.Prefix // the source address is in one of them
}

// ClaimMatch is a claim and the value it must have.
type ClaimMatch struct {
	Name, Value string
}

// Match is an event a Filter selected.
type Match struct {
	File string
	Line int
	Raw  []byte // the line as written, without its newline; valid during the callback only
	// Event holds the fields a query reads: time, kind, decision, reason,
	// identity (issuer, subject, username, access key ID), roles and role
	// kind, authentication method, operation and action, bucket, key,
	// prefix and keys, source address, status, error code, bytes and the
	// chain's seq. Others may be empty.
	Event *Event
	// Claims is the recorded claims; nil when none.
	Claims map[string]any
}

// BadLine is a line that is not an audit event.
type BadLine struct {
	File   string
	Line   int
	Reason string
}

// Query runs f over the lines of r, a file named name, calling match for
// each selected event and bad for each line that is not an audit event,
// in file order. Lines are decoded and filtered in parallel. It stops at
// the first error of a callback, and returns it.
func Query(name string, r io.Reader, f *Filter, match func(*Match) error, bad func(BadLine) error) error {
	type hit struct {
		n      int
		raw    []byte
		v      view
		err    error
		claims map[string]any
	}
	return scanParallel(name, r, func(b *block) []hit {
		var hits []hit
		var v view
		table := getStrTable()
		defer strTables.Put(table)
		b.lines(func(n int, line []byte) {
			if len(bytes.TrimSpace(line)) == 0 {
				return
			}
			if err := decodeView(line, &v, table); err != nil {
				hits = append(hits, hit{n: n, err: err})
				return
			}
			if f.match(&v) {
				var claims map[string]any
				if v.Claims != nil || len(v.claims) > 0 {
					v.claim("")
					claims = v.Claims
				}
				hits = append(hits, hit{n: n, raw: line, v: v, claims: claims})
			}
		})
		return hits
	}, func(b *block, hits []hit) error {
		for i := range hits {
			h := &hits[i]
			if h.err != nil {
				if err := bad(BadLine{File: name, Line: h.n, Reason: reviewLine(h.err.Error())}); err != nil {
					return err
				}
				continue
			}
			if err := match(&Match{File: name, Line: h.n, Raw: h.raw, Event: &h.v.Event, Claims: h.claims}); err != nil {
				return err
			}
		}
		return nil
	})
}

func anyOf(list []string, s string) bool { return len(list) == 0 || slices.Contains(list, s) }

func (f *Filter) match(v *view) bool {
	e := &v.Event
	if !f.Since.IsZero() && e.Time.Before(f.Since) || !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if !anyOf(f.Kinds, e.Kind) || !anyOf(f.Buckets, e.Bucket) || !anyOf(f.Subjects, e.Subject) ||
		!anyOf(f.Issuers, e.Issuer) || !anyOf(f.RoleKinds, e.RoleKind) || !anyOf(f.Decisions, e.Decision) ||
		!anyOf(f.AuthMethods, e.AuthMethod) {
		return false
	}
	if len(f.Actions) > 0 && !slices.Contains(f.Actions, e.Action) && !slices.Contains(f.Actions, e.Operation) {
		return false
	}
	if len(f.Roles) > 0 && !slices.ContainsFunc(e.Roles, func(r string) bool { return slices.Contains(f.Roles, r) }) {
		return false
	}
	if f.KeyPrefix != "" && !strings.HasPrefix(e.Key, f.KeyPrefix) &&
		!slices.ContainsFunc(e.Keys, func(k string) bool { return strings.HasPrefix(k, f.KeyPrefix) }) {
		return false
	}
	if len(f.Sources) > 0 {
		a, err := netip.ParseAddr(e.SourceIP)
		if err != nil || !slices.ContainsFunc(f.Sources, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) }) {
			return false
		}
	}
	for _, c := range f.Claims {
		val, ok := v.claim(c.Name)
		if !ok || !claimIs(val, c.Value) {
			return false
		}
	}
	return true
}

// claimIs reports whether a claim value matches s.
func claimIs(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return v == s
	case []any:
		for _, x := range v {
			if x, ok := x.(string); ok && x == s {
				return true
			}
		}
		return false
	}
	b, err := json.Marshal(v)
	return err == nil && string(b) == s
}
