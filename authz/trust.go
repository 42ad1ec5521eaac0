package authz

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Identity is a verified token's holder: the issuer name it was verified
// against, its subject and its decoded claims (JSON types: string,
// float64, json.Number, bool, []any, map[string]any).
type Identity struct {
	Issuer  string
	Subject string
	Claims  map[string]any
}

// TrustMiss says why a role does not trust an identity.
type TrustMiss struct {
	Role   string
	Reason string
}

type trustRule struct {
	issuer string
	claims []claimRule
}

type claimRule struct {
	path   string
	expect []claimExpect
}

type claimExpect struct {
	text string
	glob *pattern // nil: exact match of text
}

func (c *claimRule) describe() string {
	q := make([]string, len(c.expect))
	for i, e := range c.expect {
		q[i] = strconv.Quote(e.text)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "any of " + strings.Join(q, ", ")
}

// compileTrustRule validates and compiles one trust rule; see the package
// documentation for the claim syntax.
func compileTrustRule(tr TrustRule) (trustRule, []string) {
	var errs []string
	r := trustRule{issuer: tr.Issuer}
	if tr.Issuer == "" {
		errs = append(errs, "issuer is empty")
	}
	paths := make([]string, 0, len(tr.Claims))
	for p := range tr.Claims {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		cr := claimRule{path: path}
		if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
			errs = append(errs, fmt.Sprintf("claim path %q is malformed", path))
			continue
		}
		var list []any
		switch v := tr.Claims[path].(type) {
		case []any:
			list = v
		case []string:
			for _, s := range v {
				list = append(list, s)
			}
		default:
			list = []any{v}
		}
		if len(list) == 0 {
			errs = append(errs, fmt.Sprintf("claim %q: expected value list is empty", path))
			continue
		}
		ok := true
		for _, e := range list {
			text, isStr, valid := scalarText(e)
			if !valid {
				errs = append(errs, fmt.Sprintf("claim %q: expected value must be a string, number or boolean (or a list of them), got %T", path, e))
				ok = false
				continue
			}
			ce := claimExpect{text: text}
			if isStr && strings.ContainsAny(text, "*?") {
				p, _ := compilePattern(text, patternOpts{glob: true})
				ce.glob = &p
			}
			cr.expect = append(cr.expect, ce)
		}
		if ok {
			r.claims = append(r.claims, cr)
		}
	}
	return r, errs
}

// scalarText returns the JSON text of a scalar (strings as themselves).
func scalarText(v any) (text string, isString, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true, true
	case json.Number:
		return v.String(), false, true
	case bool:
		return strconv.FormatBool(v), false, true
	case float64, float32, int, int64, int32, uint, uint64, uint32:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false, false
		}
		return string(b), false, true
	}
	return "", false, false
}

// lookupClaim finds a claim by path. A literal key is tried first (claim
// names may contain dots, e.g. URLs); otherwise the path descends into
// nested objects at each dot.
func lookupClaim(claims map[string]any, path string) (any, bool) {
	if claims == nil {
		return nil, false
	}
	if v, ok := claims[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := claims[path[:i]].(map[string]any); ok {
			if v, ok := lookupClaim(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// claimStrings returns the text of a claim's values: one for a scalar, one
// per scalar element for an array. Objects and null have no values.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, e := range v {
			if s, _, ok := scalarText(e); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	if s, _, ok := scalarText(v); ok {
		return []string{s}
	}
	return nil
}

// check returns "" if the rule trusts id, else the reason it does not.
func (r *trustRule) check(id *Identity) string {
	if id.Issuer != r.issuer {
		return fmt.Sprintf("issuer is %q, role trusts %q", id.Issuer, r.issuer)
	}
	for i := range r.claims {
		c := &r.claims[i]
		v, ok := lookupClaim(id.Claims, c.path)
		if !ok {
			return fmt.Sprintf("claim %q is missing (expected %s)", c.path, c.describe())
		}
		if !c.matches(claimStrings(v)) {
			return fmt.Sprintf("claim %q has no value matching %s", c.path, c.describe())
		}
	}
	return ""
}

func (c *claimRule) matches(vals []string) bool {
	for _, v := range vals {
		for j := range c.expect {
			e := &c.expect[j]
			if e.glob != nil {
				if globMatch(e.glob, v) {
					return true
				}
			} else if v == e.text {
				return true
			}
		}
	}
	return false
}

// Trust returns the roles that trust id (in configuration order) and, for
// every other role, why not.
func (e *Engine) Trust(id *Identity) (trusted []*Role, misses []TrustMiss) {
	for _, r := range e.roles {
		if reason := r.trusts(id); reason == "" {
			trusted = append(trusted, r)
		} else {
			misses = append(misses, TrustMiss{Role: r.name, Reason: reason})
		}
	}
	return trusted, misses
}

func (r *Role) trusts(id *Identity) string {
	if len(r.trust) == 0 {
		return "role has no trust rules"
	}
	if len(r.trust) == 1 {
		return r.trust[0].check(id)
	}
	var reasons []string
	for i := range r.trust {
		why := r.trust[i].check(id)
		if why == "" {
			return ""
		}
		reasons = append(reasons, fmt.Sprintf("rule %d: %s", i+1, why))
	}
	return strings.Join(reasons, "; ")
}
