package authz

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// varKind says where the value of a policy variable comes from.
type varKind uint8

const (
	varClaim    varKind = iota // ${jwt:<claim path>}
	varUsername                // ${aws:username}
	varUserID                  // ${aws:userid}
	varRole                    // ${iamgate:role}
	varRequest                 // a single-valued key of the request: ${aws:SourceIp}, ${s3:prefix} ...
)

// varDef is one distinct variable (with its default, if any) used by the
// policies compiled into one table.
type varDef struct {
	kind       varKind
	claim      string  // claim path for varClaim
	key        keyKind // the condition key for varRequest
	def        string
	hasDefault bool
}

// varTable interns the variables (and jwt:* condition keys) used by a set
// of policies, so a Principal can resolve each of them once and evaluation
// finds their values by index.
type varTable struct {
	defs []varDef
	ids  map[varDef]int32
}

func newVarTable() *varTable { return &varTable{ids: map[varDef]int32{}} }

func (t *varTable) intern(d varDef) int32 {
	if id, ok := t.ids[d]; ok {
		return id
	}
	id := int32(len(t.defs))
	t.defs = append(t.defs, d)
	t.ids[d] = id
	return id
}

// tokKind is the kind of one compiled pattern piece.
type tokKind uint8

const (
	tokLit  tokKind = iota // literal text
	tokStar                // '*': any sequence of characters, including '/'
	tokOne                 // '?': exactly one Unicode character
	tokVar                 // a policy variable; its values are literal text
)

// roleVar is the variable id of ${iamgate:role}, whose value is the
// name of the role being evaluated rather than a property of the principal.
const roleVar = -1

type token struct {
	kind tokKind
	lit  string
	v    int32 // variable id for tokVar
}

// pattern is a compiled resource pattern, action pattern or condition
// value. Variables are kept as tokens and matched against the input
// directly, never substituted into a new string: a variable's value is
// always literal, so a '*' inside a claim cannot act as a wildcard.
type pattern struct {
	raw    string
	toks   []token
	prefix string // literal text every match starts with
	hasVar bool
	// any is true when the pattern matches every resource ("*",
	// "arn:aws:s3:::*"); a request without a resource ("*") matches only
	// such patterns.
	any bool
}

type patternOpts struct {
	glob bool      // '*' and '?' are wildcards
	vars *varTable // nil: "${" is literal text (no variables allowed)
	// noVars: variable syntax is an error (Version 2008-10-17).
	noVars bool
}

// compilePattern compiles s. With opts.vars set, "${...}" is a policy
// variable or one of the escapes ${*}, ${?} and ${$}.
func compilePattern(s string, opts patternOpts) (pattern, error) {
	p := pattern{raw: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.toks = append(p.toks, token{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '$' && i+1 < len(s) && s[i+1] == '{' && (opts.vars != nil || opts.noVars):
			if opts.noVars {
				return p, fmt.Errorf("policy variables such as %q require Version \"2012-10-17\"", varText(s[i:]))
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return p, fmt.Errorf("unterminated policy variable in %q", s)
			}
			inner := s[i+2 : i+end]
			i += end + 1
			switch inner {
			case "*", "?", "$":
				lit.WriteString(inner)
				continue
			}
			d, err := parseVar(inner)
			if err != nil {
				return p, err
			}
			flush()
			id := int32(roleVar)
			if d.kind != varRole {
				id = opts.vars.intern(d)
			}
			p.toks = append(p.toks, token{kind: tokVar, v: id})
			p.hasVar = true
		case opts.glob && c == '*':
			flush()
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != tokStar {
				p.toks = append(p.toks, token{kind: tokStar})
			}
			i++
		case opts.glob && c == '?':
			flush()
			p.toks = append(p.toks, token{kind: tokOne})
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if len(p.toks) > 0 && p.toks[0].kind == tokLit {
		p.prefix = p.toks[0].lit
	}
	switch {
	case len(p.toks) == 1 && p.toks[0].kind == tokStar:
		p.any = true
	case len(p.toks) == 2 && p.toks[0].kind == tokLit && p.toks[0].lit == "arn:aws:s3:::" && p.toks[1].kind == tokStar:
		p.any = true
	}
	return p, nil
}

func varText(s string) string {
	if end := strings.IndexByte(s, '}'); end >= 0 {
		return s[:end+1]
	}
	return s
}

// parseVar parses the inside of "${...}": a variable name and an optional
// default in AWS syntax, `jwt:team, 'none'`.
func parseVar(inner string) (varDef, error) {
	var d varDef
	name := inner
	if comma := strings.IndexByte(inner, ','); comma >= 0 {
		name = inner[:comma]
		def := strings.TrimSpace(inner[comma+1:])
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return d, fmt.Errorf("policy variable \"${%s}\": default value must be in single quotes", inner)
		}
		d.def, d.hasDefault = def[1:len(def)-1], true
	}
	name = strings.TrimSpace(name)
	switch lower := strings.ToLower(name); {
	case lower == "aws:username":
		d.kind = varUsername
	case lower == "aws:userid":
		d.kind = varUserID
	case lower == "iamgate:role":
		d.kind = varRole
	case strings.HasPrefix(lower, "jwt:") && len(name) > 4:
		d.kind, d.claim = varClaim, name[4:]
	default:
		k, ok := conditionKeys[lower]
		if !ok || !requestVariable(k) {
			if strings.HasPrefix(lower, prefixExistingTag) || strings.HasPrefix(lower, prefixRequestTag) || k == keyRequestTagKeys {
				return d, fmt.Errorf("policy variable \"${%s}\": tag keys cannot be used as variables", inner)
			}
			return d, fmt.Errorf("unknown policy variable \"${%s}\" (known: ${jwt:<claim>}, ${aws:username}, ${aws:userid}, ${iamgate:role}, and the single-valued request keys such as ${aws:SourceIp}, ${aws:CurrentTime}, ${aws:Referer}, ${s3:prefix})", inner)
		}
		d.kind, d.key = varRequest, k
	}
	return d, nil
}

// requestVariable reports whether the condition key k can be a policy
// variable whose value comes from the request: any single-valued key
// except the ones resolved per principal and the object's tags.
func requestVariable(k keyKind) bool {
	switch k {
	case keyVar, keyRequestTagKeys, keyRequestTag, keyExistingTag:
		return false
	}
	return true
}

// match reports whether s matches the pattern. fold selects case-insensitive
// comparison of literal text and variable values.
func (p *pattern) match(s string, c *evalCtx, fold bool) bool {
	if !fold && p.prefix != "" {
		// The first token is the literal prefix: check it cheaply and
		// match the rest.
		if !strings.HasPrefix(s, p.prefix) {
			return false
		}
		return matchToks(p.toks[1:], s[len(p.prefix):], c, false)
	}
	return matchToks(p.toks, s, c, fold)
}

// matchResource matches a request resource; "*" (a request without a
// resource, e.g. ListAllMyBuckets) is matched only by patterns that match
// every resource.
func (p *pattern) matchResource(res string, c *evalCtx) bool {
	if res == "*" {
		return p.any
	}
	return p.match(res, c, false)
}

// matchToks is a glob matcher with a single backtracking point (the last
// '*'), linear in practice. A multi-valued variable is the only source of
// branching: each of its values is tried against the rest of the pattern
// by recursion, which is exhaustive, so backtracking to the previous '*'
// afterwards stays correct.
func matchToks(toks []token, s string, c *evalCtx, fold bool) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				starT, starS = ti, si
				ti++
				continue
			case tokLit:
				if n := prefixLen(s[si:], t.lit, fold); n >= 0 {
					si += n
					ti++
					continue
				}
			case tokOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			case tokVar:
				if v, isReq, ok := c.requestVar(t.v); isReq {
					if n := prefixLen(s[si:], v, fold); ok && n >= 0 {
						si += n
						ti++
						continue
					}
					break
				}
				vals := c.values(t.v)
				if len(vals) == 1 {
					if n := prefixLen(s[si:], vals[0], fold); n >= 0 {
						si += n
						ti++
						continue
					}
				} else {
					for _, v := range vals {
						if n := prefixLen(s[si:], v, fold); n >= 0 && matchToks(toks[ti+1:], s[si+n:], c, fold) {
							return true
						}
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last '*' swallow one more character.
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		si, ti = starS, starT+1
	}
}

// prefixLen returns the number of bytes of s matched by lit at its start,
// or -1.
func prefixLen(s, lit string, fold bool) int {
	if !fold {
		if strings.HasPrefix(s, lit) {
			return len(lit)
		}
		return -1
	}
	i := 0
	for _, lr := range lit {
		if i >= len(s) {
			return -1
		}
		sr, n := utf8.DecodeRuneInString(s[i:])
		if sr != lr && !equalFoldRune(sr, lr) {
			return -1
		}
		i += n
	}
	return i
}

func equalFoldRune(a, b rune) bool {
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// globMatch matches s against a glob without variables (trust rules,
// action names).
func globMatch(p *pattern, s string) bool { return matchToks(p.toks, s, nil, false) }

// maxExpansions bounds how many strings expand returns for a pattern whose
// variables have several values.
const maxExpansions = 16

// expand returns the pattern as text with its policy variables replaced by
// their values in c, for explanations: one string per combination of the
// values of multi-valued variables (at most maxExpansions). ok is false
// when a variable has no value, or the pattern has no variable.
func (p *pattern) expand(c *evalCtx) (out []string, ok bool) {
	if !p.hasVar {
		return nil, false
	}
	out = []string{""}
	for _, t := range p.toks {
		var vals []string
		switch t.kind {
		case tokLit:
			vals = []string{t.lit}
		case tokStar:
			vals = []string{"*"}
		case tokOne:
			vals = []string{"?"}
		case tokVar:
			if v, isReq, has := c.requestVar(t.v); isReq {
				if !has {
					return nil, false
				}
				vals = []string{v}
			} else {
				vals = c.values(t.v)
			}
		}
		if len(vals) == 0 {
			return nil, false
		}
		next := make([]string, 0, len(out)*len(vals))
		for _, o := range out {
			for _, v := range vals {
				if len(next) < maxExpansions {
					next = append(next, o+v)
				}
			}
		}
		out = next
	}
	return out, true
}
