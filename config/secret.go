package config

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

const redacted = "[redacted]"

// Secret is a resolved secret value. Every way of printing, logging or
// marshalling it yields "[redacted]"; only Reveal returns the value.
type Secret struct {
	value  string
	source string // "env:NAME", "file:PATH" or "literal"
	// unresolved: loaded with LoadOptions.UnresolvedSecrets, the reference
	// was not followed and value is "".
	unresolved bool
}

// NewSecret returns a Secret holding value, for tests and callers that build
// a configuration without a file.
func NewSecret(value string) Secret { return Secret{value: value, source: "literal"} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// Source says where the value came from: "env:NAME", "file:PATH" or
// "literal". It never contains the value.
func (s Secret) Source() string { return s.source }

// Resolved reports whether the value was read: false for an env: or file:
// reference in a configuration loaded with LoadOptions.UnresolvedSecrets,
// whose Reveal is "".
func (s Secret) Resolved() bool { return !s.unresolved }

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return s.value == "" && s.source == "" }

func (s Secret) String() string               { return redacted }
func (s Secret) GoString() string             { return "config.Secret(" + redacted + ")" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s Secret) MarshalYAML() (any, error)    { return redacted, nil }

var _ slog.LogValuer = Secret{}

// resolveSecret resolves a secret reference. It returns the secret, a
// problem (never containing the value) and whether the value was a literal.
func (p *parser) resolveSecret(ref string) (s Secret, problem string, literal bool) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if !validEnvName(name) {
			return Secret{}, "invalid environment variable name " + quote(name) + " in env: reference", false
		}
		if p.unresolved {
			return Secret{source: ref, unresolved: true}, "", false
		}
		v, ok := p.env(name)
		if !ok {
			return Secret{}, "environment variable " + name + " is not set", false
		}
		if v == "" {
			return Secret{}, "environment variable " + name + " is empty", false
		}
		return Secret{value: v, source: ref}, "", false
	case strings.HasPrefix(ref, "file:"):
		name := strings.TrimPrefix(ref, "file:")
		if name == "" {
			return Secret{}, "empty path in file: reference", false
		}
		path := p.path(name)
		if p.unresolved {
			return Secret{source: "file:" + path, unresolved: true}, "", false
		}
		data, err := readFile(path)
		if err != nil {
			return Secret{}, "cannot read secret file " + path + ": " + fsReason(err), false
		}
		p.files = append(p.files, path)
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			return Secret{}, "secret file " + path + " is empty", false
		}
		return Secret{value: v, source: "file:" + path}, "", false
	default:
		return Secret{value: ref, source: "literal"}, "", true
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// fsReason describes a file system error without repeating the path.
func fsReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// path resolves a path from the file against the configuration directory.
func (p *parser) path(name string) string {
	if filepath.IsAbs(name) || p.baseDir == "" {
		return filepath.Clean(name)
	}
	return filepath.Join(p.baseDir, name)
}

// maxFileBytes bounds the policy and secret files the configuration reads.
const maxFileBytes = 1 << 20

// readFile reads a regular file of at most maxFileBytes. It refuses devices
// and pipes, which could block or never end.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("larger than 1 MiB")}
	}
	return data, nil
}
