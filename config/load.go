package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path, applies defaults, validates it
// and resolves its secret references (from the process environment) and
// policy files (relative to the file's directory).
//
// The error, if any, joins every problem found, one per line, each as
// "file:line:col: message"; each is an *Error. Warnings are problems that do
// not stop the configuration from loading, such as literal secrets.
func Load(path string) (*File, []Warning, error) {
	return LoadAt(path, time.Now())
}

// LoadAt is Load with the warnings about expiry judged at now instead of
// the current time (iamgate audit report judges them at its --as-of).
func LoadAt(path string, now time.Time) (*File, []Warning, error) {
	return LoadWith(path, LoadOptions{Now: now})
}

// LoadOptions change how LoadWith reads a configuration. The zero value is
// Load.
type LoadOptions struct {
	// Now judges the warnings about expiry; zero: the current time.
	Now time.Time

	// UnresolvedSecrets leaves env: and file: secret references
	// unresolved: neither the variable nor the file needs to exist, the
	// Secret's Reveal is "" and Resolved false, and the checks of secret
	// values (length, key format) are skipped. For tools that read a
	// configuration without serving with it, on a machine that does not
	// hold iamgate's secrets (iamgate audit report). Literal secrets are
	// still read and checked.
	UnresolvedSecrets bool
}

// LoadWith is Load with options.
func LoadWith(path string, opts LoadOptions) (*File, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &Error{Pos: Pos{File: path}, Message: "cannot read configuration: " + fsReason(err)}
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	return parseWith(path, data, filepath.Dir(path), os.LookupEnv, opts)
}

// Parse is Load on data already read: name is used in positions, baseDir
// resolves relative paths, and env looks up environment variables for env:
// references (nil: no variables are set). Parse reads policy and secret files
// but does no other I/O. Warnings about expiry compare with the current time.
func Parse(name string, data []byte, baseDir string, env func(string) (string, bool)) (*File, []Warning, error) {
	return parse(name, data, baseDir, env, time.Now())
}

// parse is Parse at the time now.
func parse(name string, data []byte, baseDir string, env func(string) (string, bool), now time.Time) (*File, []Warning, error) {
	return parseWith(name, data, baseDir, env, LoadOptions{Now: now})
}

// parseWith is Parse with options; opts.Now is set.
func parseWith(name string, data []byte, baseDir string, env func(string) (string, bool), opts LoadOptions) (*File, []Warning, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	p := &parser{
		name: name, baseDir: baseDir, env: env, data: data, now: opts.Now, unresolved: opts.UnresolvedSecrets,
		keyOf: map[*yaml.Node]*yaml.Node{},
		typos: map[*yaml.Node][]string{},
	}
	f := &File{Path: name}

	root, ok := p.document(data)
	if ok {
		p.file(root, f)
		p.crossCheck(f)
	}
	f.Files = p.files
	f.Digest = digest(data, f.Policies)

	slices.SortStableFunc(p.warns, func(a, b Warning) int { return p.comparePos(a.Pos, b.Pos) })
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return p.comparePos(a.Pos, b.Pos) })
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, p.warns, errors.Join(errs...)
	}
	return f, p.warns, nil
}

// digest is the hex SHA-256 of the configuration: the file's bytes, then
// each policy read from a file (by name: its name, length and content), so
// that editing a policy file changes it. Without policy files it is the
// SHA-256 of the file, as sha256sum prints it. Secret files are left out:
// the digest is logged and must not help guess a secret.
func digest(data []byte, policies []Policy) string {
	h := sha256.New()
	h.Write(data) // a YAML file holds no NUL byte: the separator below cannot be forged
	for _, pol := range policies {
		if pol.Source == "" {
			continue // inline: in the file's bytes already
		}
		fmt.Fprintf(h, "\x00policy %s %d\n", pol.Name, len(pol.JSON))
		h.Write(pol.JSON)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// comparePos orders positions in the configuration file first, then by file.
func (p *parser) comparePos(a, b Pos) int {
	if a.File != b.File {
		if a.File == p.name {
			return -1
		}
		if b.File == p.name {
			return 1
		}
		return cmp.Compare(a.File, b.File)
	}
	return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

type parser struct {
	name    string
	baseDir string
	env     func(string) (string, bool)
	now     time.Time // for warnings about expiry; never for errors
	// unresolved leaves env: and file: secrets unread (LoadOptions).
	unresolved bool
	errs       []*Error
	warns      []Warning
	files      []string
	st         *decodeState
	data       []byte
	keyOf      map[*yaml.Node]*yaml.Node // value node -> its key node
	typos      map[*yaml.Node][]string   // mapping -> keys suggested for unknown keys
}

func (p *parser) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: p.name, Line: 1, Col: 1}
	}
	return Pos{File: p.name, Line: n.Line, Col: n.Column}
}

func (p *parser) errorAt(pos Pos, path, msg string) {
	if path != "" {
		msg = path + ": " + msg
	}
	p.errs = append(p.errs, &Error{Pos: pos, Message: msg})
}

func (p *parser) errorf(n *yaml.Node, path, msg string) { p.errorAt(p.pos(n), path, msg) }

func (p *parser) warnf(n *yaml.Node, path, msg string) {
	if path != "" {
		msg = path + ": " + msg
	}
	p.warns = append(p.warns, Warning{Pos: p.pos(n), Message: msg})
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into the root mapping node. An empty document yields
// an empty mapping, so that missing required keys are reported.
func (p *parser) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}, true
		}
		p.yamlError(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			p.yamlError(err)
		} else {
			p.errorf(&extra, "", "the file holds more than one YAML document; put everything in one")
		}
		return nil, false
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}, true
	}
	return doc.Content[0], true
}

func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorAt(Pos{File: p.name, Line: line}, "", "invalid YAML: "+m[2])
		return
	}
	p.errorAt(Pos{File: p.name}, "", "invalid YAML: "+trimYAMLPrefix(msg))
}

func trimYAMLPrefix(s string) string {
	if len(s) > 6 && s[:6] == "yaml: " {
		return s[6:]
	}
	return s
}
