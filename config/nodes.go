package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/iamgate/iamgate/internal/editdist"
)

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the YAML type of n for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "an unexpected YAML node"
}

// field is one key of a mapping in the schema.
type field struct {
	key string
	set func(path string, v *yaml.Node)
}

// mapping decodes a mapping node against fields. Unknown and duplicate keys
// are reported; keys whose value is null are treated as absent. It returns
// the key node of each key present.
func (p *parser) mapping(n *yaml.Node, path string, fields []field) (map[string]*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping, got "+describe(n))
		return nil, false
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	present := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "keys must be plain strings, got "+describe(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			p.errorf(k, path, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, path, fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first.Line))
			continue
		}
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			keys := make([]string, len(fields))
			for j := range fields {
				keys[j] = fields[j].key
			}
			msg := "unknown key " + quote(k.Value)
			if s := suggest(k.Value, keys); s != "" {
				msg += " (did you mean " + quote(s) + "?)"
				p.typos[n] = append(p.typos[n], s)
			}
			msg += "; valid keys: " + strings.Join(keys, ", ")
			p.errorf(k, path, msg)
			continue
		}
		seen[k.Value] = k
		if isNull(v) {
			continue
		}
		present[k.Value] = k
		p.keyOf[deref(v)] = k
		f.set(kp, deref(v))
	}
	return present, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func quote(s string) string { return strconv.Quote(s) }

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		msg := "expected a string, got " + describe(n)
		if n.Kind == yaml.ScalarNode {
			msg += " (quote it if it is meant as a string)"
		}
		p.errorf(n, path, msg)
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, path, "expected true or false, got "+describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, path, "expected true or false")
		return false, false
	}
	return b, true
}

// integer decodes a positive integer no larger than max.
func (p *parser) integer(n *yaml.Node, path string, max int64) (int64, bool) {
	return p.intRange(n, path, 1, max)
}

// intRange decodes an integer within [min, max].
func (p *parser) intRange(n *yaml.Node, path string, min, max int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, path, "expected an integer, got "+describe(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		p.errorf(n, path, "integer out of range")
		return 0, false
	}
	if v < min || v > max {
		p.errorf(n, path, fmt.Sprintf("must be between %d and %d, got %d", min, max, v))
		return 0, false
	}
	return v, true
}

// duration decodes a Go duration string within [min, max].
func (p *parser) duration(n *yaml.Node, path string, min, max time.Duration) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, path, "expected a duration such as 30s, 5m or 1h, got "+describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, path, "invalid duration "+quote(n.Value)+"; use a number with a unit, such as 30s, 5m or 1h30m")
		return 0, false
	}
	if d < min || d > max {
		p.errorf(n, path, fmt.Sprintf("%s is out of range; must be between %s and %s", n.Value, fmtDuration(min), fmtDuration(max)))
		return 0, false
	}
	return d, true
}

// sizeUnits are the suffixes of a size, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1},
}

// size decodes a byte size within [min, max]: an integer number of bytes,
// or a whole number with a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB).
func (p *parser) size(n *yaml.Node, path string, min, max int64) (int64, bool) {
	const how = "; use a whole number with a unit, such as 512KiB, 100MiB or 1GiB"
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		p.errorf(n, path, "expected a size such as 100MiB or 1GiB, got "+describe(n))
		return 0, false
	}
	num, mult := strings.TrimSpace(n.Value), int64(1)
	for _, u := range sizeUnits {
		if s, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(s), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 {
		p.errorf(n, path, "invalid size "+quote(n.Value)+how)
		return 0, false
	}
	if v > max/mult || v*mult < min || v*mult > max {
		p.errorf(n, path, fmt.Sprintf("%s is out of range; must be between %s and %s", n.Value, fmtSize(min), fmtSize(max)))
		return 0, false
	}
	return v * mult, true
}

// fmtSize prints a size in the largest binary unit that divides it.
func fmtSize(b int64) string {
	for _, u := range sizeUnits[:4] {
		if b >= u.mult && b%u.mult == 0 {
			return strconv.FormatInt(b/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(b, 10) + "B"
}

// fmtDuration prints 1h0m0s as 1h and 10m0s as 10m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// strList decodes a list of non-empty strings, reporting duplicates.
func (p *parser) strList(n *yaml.Node, path string) []string {
	items := p.strItems(n, path)
	if items == nil {
		return nil
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.s
	}
	return out
}

type strItem struct {
	s    string
	n    *yaml.Node
	path string
}

// strItems is strList keeping the node and path of each string.
func (p *parser) strItems(n *yaml.Node, path string) []strItem {
	if n.Kind != yaml.SequenceNode {
		msg := "expected a list, got " + describe(n)
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			msg += " (write [" + n.Value + "])"
		}
		p.errorf(n, path, msg)
		return nil
	}
	out := make([]strItem, 0, len(n.Content))
	seen := map[string]bool{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		s, good := p.str(c, ip)
		if !good {
			continue
		}
		if s == "" {
			p.errorf(c, ip, "must not be empty")
			continue
		}
		if seen[s] {
			p.errorf(c, ip, "duplicate entry "+quote(s))
			continue
		}
		seen[s] = true
		out = append(out, strItem{s, c, ip})
	}
	return out
}

// secret decodes and resolves a secret reference; a literal value is
// allowed with a warning.
func (p *parser) secret(n *yaml.Node, path string) (Secret, bool) {
	return p.secretRef(n, path, true)
}

// identifier decodes a value that may be given as a secret reference but is
// no secret itself (an access key ID): a literal value is not warned about.
func (p *parser) identifier(n *yaml.Node, path string) (Secret, bool) {
	return p.secretRef(n, path, false)
}

func (p *parser) secretRef(n *yaml.Node, path string, warnLiteral bool) (Secret, bool) {
	ref, ok := p.str(n, path)
	if !ok {
		return Secret{}, false
	}
	if ref == "" {
		p.errorf(n, path, "must not be empty")
		return Secret{}, false
	}
	s, problem, literal := p.resolveSecret(ref)
	if problem != "" {
		p.errorf(n, path, problem)
		return Secret{}, false
	}
	if literal && warnLiteral {
		p.warnf(n, path, "literal secret in config file; prefer env: or file:")
	}
	return s, true
}

// suggest returns the candidate closest to s, if it is close enough to be a
// likely typo.
func suggest(s string, candidates []string) string {
	if len(s) > 64 {
		return ""
	}
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editdist.Levenshtein(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) <= 3 {
		limit = 1
	}
	if len(s) >= 10 {
		limit = 3
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}
