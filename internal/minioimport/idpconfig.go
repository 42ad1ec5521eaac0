package minioimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Identity sub-systems of MinIO's configuration.
const (
	SubsysOpenID = "identity_openid"
	SubsysLDAP   = "identity_ldap"
)

// MaxConfigBytes bounds an identity configuration file.
const MaxConfigBytes = 1 << 20

// Subsystem is one line of `mc admin config get ALIAS identity_openid`
// (or identity_ldap, or of `mc admin config export`):
// "identity_openid[:NAME] key=value key="quoted value" ...".
type Subsystem struct {
	Kind string            // SubsysOpenID or SubsysLDAP
	Name string            // the target after ":", "" for the default one
	KV   map[string]string // every key as written; empty values included
	Keys []string          // the keys in the order written
	File string
	Line int
}

// Get returns the value of key, "" when absent.
func (s *Subsystem) Get(key string) string { return s.KV[key] }

// Where is "file:line" of the sub-system's line.
func (s *Subsystem) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Label names the sub-system as MinIO does: "identity_openid:corp".
func (s *Subsystem) Label() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + ":" + s.Name
}

// ParseIdentityConfig reads the identity_openid and identity_ldap lines of
// MinIO's configuration as mc prints it. Other sub-systems, blank lines
// and comments (# ..., which mc prints for settings made by environment
// variables) are skipped. Errors name file:line.
func ParseIdentityConfig(file string, data []byte) ([]Subsystem, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d KiB", file, MaxConfigBytes>>10)
	}
	var out []Subsystem
	var errs []error
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxConfigBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, rest, _ := strings.Cut(line, " ")
		kind, name, _ := strings.Cut(head, ":")
		if kind != SubsysOpenID && kind != SubsysLDAP {
			continue
		}
		s := Subsystem{Kind: kind, Name: name, KV: map[string]string{}, File: file, Line: n}
		if err := parseKVs(rest, &s); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", file, n, s.Label(), err))
			continue
		}
		if first, dup := seen[s.Label()]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s appears twice (first at line %d)", file, n, s.Label(), first))
			continue
		}
		seen[s.Label()] = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parseKVs reads key=value pairs separated by spaces; a value may be
// double-quoted, with \" and \\ inside.
func parseKVs(s string, sub *Subsystem) error {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			word, _, _ := strings.Cut(s, " ")
			return fmt.Errorf("%q is not key=value", word)
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \t\"") {
			return fmt.Errorf("invalid key %q", key)
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i, closed := 1, false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return fmt.Errorf("%s: unterminated quoted value", key)
			}
			val, s = b.String(), s[i:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return fmt.Errorf("%s: text after the closing quote", key)
			}
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if _, dup := sub.KV[key]; dup {
			return fmt.Errorf("key %q appears twice", key)
		}
		sub.KV[key] = val
		sub.Keys = append(sub.Keys, key)
	}
}
