package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	issuerName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	roleName   = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	policyName = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)
)

// Algorithms lists the JWS algorithms an issuer may restrict itself to.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (p *parser) issuers(n *yaml.Node, path string) []Issuer {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of issuers, got "+describe(n))
		return nil
	}
	var out []Issuer
	names := map[string]*yaml.Node{}
	urls := map[string]string{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		is := Issuer{ClockSkew: DefaultClockSkew, Pos: p.pos(c)}
		var nameNode, urlNode *yaml.Node
		present, ok := p.mapping(c, ip, []field{
			{"name", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !issuerName.MatchString(s) {
						p.errorf(v, path, "invalid issuer name "+quote(s)+"; use 1-64 of a-z 0-9 _ -")
						return
					}
					is.Name, nameNode = s, v
				}
			}},
			{"url", func(path string, v *yaml.Node) {
				is.URL = p.issuerURL(v, path)
				urlNode = v
			}},
			{"audiences", func(path string, v *yaml.Node) { is.Audiences = p.strList(v, path) }},
			{"allow_any_audience", func(path string, v *yaml.Node) { is.AllowAnyAudience, _ = p.boolean(v, path) }},
			{"clock_skew", func(path string, v *yaml.Node) {
				if d, ok := p.duration(v, path, 0, MaxClockSkew); ok {
					is.ClockSkew = d
				}
			}},
			{"required_claims", func(path string, v *yaml.Node) {
				for _, it := range p.strItems(v, path) {
					if !validClaimPath(it.s) {
						p.errorf(it.n, it.path, "invalid claim name "+quote(it.s))
						continue
					}
					is.RequiredClaims = append(is.RequiredClaims, it.s)
				}
			}},
			{"algorithms", func(path string, v *yaml.Node) { is.Algorithms = p.algorithms(v, path) }},
			{"jwks_url", func(path string, v *yaml.Node) { is.JWKSURL = p.issuerURL(v, path) }},
			{"client_id", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if s == "" || len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
						p.errorf(v, path, "invalid client_id; use the client ID registered at the provider (printable, no spaces)")
						return
					}
					is.ClientID = s
				}
			}},
			{"client_secret", func(path string, v *yaml.Node) {
				if s, ok := p.secret(v, path); ok {
					is.ClientSecret = &s
				}
			}},
			{"scopes", func(path string, v *yaml.Node) {
				for _, it := range p.strItems(v, path) {
					if it.s == "" || strings.ContainsAny(it.s, " \t\"") {
						p.errorf(it.n, it.path, "invalid scope "+quote(it.s))
						continue
					}
					is.Scopes = append(is.Scopes, it.s)
				}
				if len(is.Scopes) > 0 && !slices.Contains(is.Scopes, "openid") {
					p.errorf(v, path, "must include openid (sign-in needs an ID token)")
				}
			}},
			{"login_label", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if s == "" || len(s) > 100 {
						p.errorf(v, path, "must be 1 to 100 characters")
						return
					}
					is.LoginLabel = s
				}
			}},
		})
		if !ok {
			continue
		}
		p.require(c, ip, present, "name", "url")
		if is.ClientID == "" && present["client_id"] == nil {
			for _, k := range []string{"client_secret", "scopes", "login_label"} {
				if present[k] != nil {
					p.errorf(present[k], ip+"."+k, "is for browser sign-in and needs client_id")
				}
			}
		}
		if is.ClientID != "" {
			p.st.loginIssuers = append(p.st.loginIssuers, present["client_id"])
			p.st.loginPaths = append(p.st.loginPaths, ip+".client_id")
		}
		switch {
		case is.AllowAnyAudience && present["audiences"] != nil:
			p.errorf(present["allow_any_audience"], ip, "audiences and allow_any_audience: true exclude each other; drop one")
		case !is.AllowAnyAudience && present["audiences"] == nil:
			p.errorf(c, ip, "missing required key \"audiences\" (or set allow_any_audience: true to accept tokens for any audience)")
		}
		if is.Name != "" {
			if first := names[is.Name]; first != nil {
				p.errorf(nameNode, ip+".name", fmt.Sprintf("duplicate issuer name %q (first at line %d)", is.Name, first.Line))
			} else {
				names[is.Name] = nameNode
			}
		}
		if is.URL != "" {
			if other, dup := urls[is.URL]; dup {
				p.errorf(urlNode, ip+".url", other+" already uses this URL; one issuer per URL (list several audiences instead)")
			} else if is.Name != "" {
				urls[is.URL] = "issuer " + quote(is.Name)
			} else {
				urls[is.URL] = ip
			}
		}
		out = append(out, is)
	}
	return out
}

// issuerURL decodes an https URL, or an http URL on a loopback host.
func (p *parser) issuerURL(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.errorf(n, path, "invalid URL "+quote(s))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		p.errorf(n, path, "must not contain credentials, a query or a fragment")
	case u.Scheme == "https":
		return s
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return s
	case u.Scheme == "http":
		p.errorf(n, path, "must use https (http is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost)")
	default:
		p.errorf(n, path, "scheme must be https, got "+quote(u.Scheme))
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

func (p *parser) algorithms(n *yaml.Node, path string) []string {
	var out []string
	for _, it := range p.strItems(n, path) {
		a := it.s
		switch {
		case slices.Contains(Algorithms, a):
			out = append(out, a)
		case strings.EqualFold(a, "none"):
			p.errorf(it.n, it.path, `"none" is never accepted: unsigned tokens prove nothing`)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			p.errorf(it.n, it.path, quote(a)+" is not accepted: HMAC algorithms need a secret shared with the issuer; use an asymmetric algorithm")
		default:
			msg := "unknown algorithm " + quote(a)
			if g := suggest(a, Algorithms); g != "" {
				msg += " (did you mean " + quote(g) + "?)"
			}
			p.errorf(it.n, it.path, msg+"; supported: "+strings.Join(Algorithms, ", "))
		}
	}
	return out
}

func validClaimPath(s string) bool {
	if s == "" {
		return false
	}
	for seg := range strings.SplitSeq(s, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

func (p *parser) roles(n *yaml.Node, path string) []Role {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of roles, got "+describe(n))
		return nil
	}
	var out []Role
	names := map[string]*yaml.Node{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		r := Role{MaxSession: DefaultMaxSession, Pos: p.pos(c)}
		var nameNode *yaml.Node
		present, ok := p.mapping(c, ip, []field{
			{"name", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !roleName.MatchString(s) {
						p.errorf(v, path, "invalid role name "+quote(s)+"; use 1-64 of A-Z a-z 0-9 + = , . @ _ -")
						return
					}
					r.Name, nameNode = s, v
				}
			}},
			{"kind", func(path string, v *yaml.Node) { r.Kind, _ = p.enum(v, path, KindHuman, KindMachine, KindAgent) }},
			{"description", func(path string, v *yaml.Node) { r.Description, _ = p.str(v, path) }},
			{"trust", func(path string, v *yaml.Node) { r.Trust = p.trust(v, path) }},
			{"policies", func(path string, v *yaml.Node) {
				for _, it := range p.strItems(v, path) {
					r.Policies = append(r.Policies, it.s)
					p.st.refs = append(p.st.refs, ref{kind: "policy", name: it.s, node: it.n, path: it.path})
				}
				if len(v.Content) == 0 {
					p.errorf(v, path, "must name at least one policy")
				}
			}},
			{"max_session", func(path string, v *yaml.Node) {
				if d, ok := p.duration(v, path, MinMaxSession, MaxMaxSession); ok {
					r.MaxSession = d
				}
			}},
			{"session_may_outlive_token", func(path string, v *yaml.Node) { r.SessionMayOutliveToken, _ = p.boolean(v, path) }},
			{"protect", func(path string, v *yaml.Node) { r.Protect = p.protect(v, path) }},
			{"limits", func(path string, v *yaml.Node) { r.Limits = p.limits(v, path) }},
			{"escalation", func(path string, v *yaml.Node) { r.Escalation = p.escalation(v, path) }},
			{"requestable", func(path string, v *yaml.Node) { r.Requestable = p.requestable(v, path) }},
		})
		if !ok {
			continue
		}
		p.checkRoleLimits(&r, ip, c)
		if present["requestable"] != nil {
			// A role held only through approved requests trusts nobody
			// by itself.
			p.require(c, ip, present, "name", "kind", "policies")
		} else {
			p.require(c, ip, present, "name", "kind", "trust", "policies")
		}
		if r.Name != "" {
			if first := names[r.Name]; first != nil {
				p.errorf(nameNode, ip+".name", fmt.Sprintf("duplicate role name %q (first at line %d)", r.Name, first.Line))
			} else {
				names[r.Name] = nameNode
			}
		}
		out = append(out, r)
	}
	return out
}

// trust decodes one rule or a list of rules.
func (p *parser) trust(n *yaml.Node, path string) []TrustRule {
	switch n.Kind {
	case yaml.MappingNode:
		if r, ok := p.trustRule(n, path); ok {
			return []TrustRule{r}
		}
		return nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.errorf(n, path, "must hold at least one rule")
			return nil
		}
		var out []TrustRule
		for i, c := range n.Content {
			if r, ok := p.trustRule(deref(c), fmt.Sprintf("%s[%d]", path, i)); ok {
				out = append(out, r)
			}
		}
		return out
	}
	p.errorf(n, path, "expected a rule (mapping) or a list of rules, got "+describe(n))
	return nil
}

func (p *parser) trustRule(n *yaml.Node, path string) (TrustRule, bool) {
	r := TrustRule{Pos: p.pos(n)}
	present, ok := p.mapping(n, path, []field{
		{"issuer", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				r.Issuer = s
				p.st.refs = append(p.st.refs, ref{kind: "issuer", name: s, node: v, path: path})
			}
		}},
		{"claims", func(path string, v *yaml.Node) { r.Claims = p.claims(v, path) }},
		{"limits", func(path string, v *yaml.Node) { r.Limits = p.limits(v, path) }},
	})
	if !ok {
		return r, false
	}
	p.require(n, path, present, "issuer")
	if present["claims"] == nil {
		p.warnf(n, path, "no claims: every token from issuer "+quote(r.Issuer)+" gets this role")
	}
	return r, true
}

func (p *parser) claims(n *yaml.Node, path string) map[string]any {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping of claim names to values, got "+describe(n))
		return nil
	}
	out := make(map[string]any, len(n.Content)/2)
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !validClaimPath(k.Value) {
			p.errorf(k, path, "invalid claim name "+quote(k.Value)+"; use a name or a dotted path such as realm_access.roles")
			continue
		}
		kp := path + "." + quoteIfDotted(k.Value)
		if line, dup := lines[k.Value]; dup {
			p.errorf(k, path, fmt.Sprintf("duplicate claim %q (first at line %d)", k.Value, line))
			continue
		}
		lines[k.Value] = k.Line
		switch v.Kind {
		case yaml.ScalarNode:
			if x, ok := p.claimScalar(v, kp); ok {
				out[k.Value] = x
			}
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				p.errorf(v, kp, "empty list never matches; list at least one value")
				continue
			}
			list := make([]any, 0, len(v.Content))
			good := true
			for j, c := range v.Content {
				c = deref(c)
				ip := fmt.Sprintf("%s[%d]", kp, j)
				if c.Kind != yaml.ScalarNode {
					p.errorf(c, ip, "expected a string, number or boolean, got "+describe(c))
					good = false
					continue
				}
				x, ok := p.claimScalar(c, ip)
				good = good && ok
				list = append(list, x)
			}
			if good {
				out[k.Value] = list
			}
		default:
			p.errorf(v, kp, "expected a value or a list of values, got "+describe(v))
		}
	}
	return out
}

func quoteIfDotted(s string) string {
	if strings.Contains(s, ".") {
		return quote(s)
	}
	return s
}

// claimScalar decodes a claim value: string, bool, int64 or float64.
func (p *parser) claimScalar(n *yaml.Node, path string) (any, bool) {
	switch n.ShortTag() {
	case "!!str":
		return n.Value, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, true
		}
		p.errorf(n, path, "integer out of range; quote it to compare as a string")
		return nil, false
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
		p.errorf(n, path, "not a finite number")
		return nil, false
	case "!!null":
		p.errorf(n, path, "null never matches; a missing claim never matches anything")
		return nil, false
	}
	p.errorf(n, path, "expected a string, number or boolean, got "+describe(n))
	return nil, false
}

func (p *parser) policies(n *yaml.Node, path string) []Policy {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping of policy names to JSON documents, got "+describe(n))
		return nil
	}
	var out []Policy
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !policyName.MatchString(k.Value) {
			p.errorf(k, path, "invalid policy name "+quote(k.Value)+"; use 1-128 of A-Z a-z 0-9 + = , . @ _ -")
			continue
		}
		kp := path + "." + quoteIfDotted(k.Value)
		if first := p.st.policyNodes[k.Value]; first != nil {
			p.errorf(k, path, fmt.Sprintf("duplicate policy %q (first at line %d)", k.Value, first.Line))
			continue
		}
		p.st.policyNodes[k.Value] = k
		pol := Policy{Name: k.Value, Pos: p.pos(v)}
		switch {
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str":
			pol.JSON = []byte(v.Value)
			pol.Block, _ = p.blockStart(v)
			if msg, line, col := checkJSONAt(pol.JSON); msg != "" {
				p.inlineJSONError(v, kp, msg, line, col)
				continue
			}
		case v.Kind == yaml.MappingNode:
			var file string
			present, ok := p.mapping(v, kp, []field{
				{"file", func(path string, fv *yaml.Node) {
					if s, ok := p.str(fv, path); ok && s != "" {
						file = s
					} else if ok {
						p.errorf(fv, path, "must not be empty")
					}
				}},
			})
			if !ok || file == "" {
				if ok && present["file"] == nil {
					p.errorf(v, kp, "missing required key \"file\"")
				}
				continue
			}
			pol.Source = p.path(file)
			data, err := readFile(pol.Source)
			if err != nil {
				p.errorf(present["file"], kp+".file", "cannot read policy file "+pol.Source+": "+fsReason(err))
				continue
			}
			p.files = append(p.files, pol.Source)
			pol.JSON = data
			if msg, line, col := checkJSONAt(data); msg != "" {
				p.errorAt(Pos{File: pol.Source, Line: line, Col: col}, "", msg+" (policy "+quote(pol.Name)+")")
				continue
			}
		default:
			p.errorf(v, kp, "expected an inline JSON document (a string) or {file: PATH}, got "+describe(v))
			continue
		}
		out = append(out, pol)
	}
	slices.SortFunc(out, func(a, b Policy) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// inlineJSONError reports a JSON error in an inline policy. In a literal
// block scalar (|) the position maps onto the configuration file; otherwise
// it is given relative to the document.
func (p *parser) inlineJSONError(v *yaml.Node, path, msg string, line, col int) {
	if line == 0 {
		p.errorf(v, path, msg)
		return
	}
	if start, ok := p.blockStart(v); ok {
		p.errorAt(Pos{File: p.name, Line: start.Line + line - 1, Col: start.Col + col - 1}, path, msg)
		return
	}
	p.errorf(v, path, fmt.Sprintf("%s at line %d, column %d of the document", msg, line, col))
}

// blockStart returns where the first character of a literal block scalar
// (|) is in the configuration file: the text of such a block keeps its
// lines, only the indentation is removed.
func (p *parser) blockStart(v *yaml.Node) (Pos, bool) {
	if v.Style != yaml.LiteralStyle {
		return Pos{}, false
	}
	lines := bytes.Split(p.data, []byte("\n"))
	// The content starts on the line after the indicator (v.Line, 1-based);
	// the first non-blank line sets the indentation.
	for i := v.Line; i < len(lines); i++ {
		l := bytes.TrimRight(lines[i], "\r")
		if len(bytes.TrimLeft(l, " ")) == 0 {
			continue
		}
		indent := len(l) - len(bytes.TrimLeft(l, " "))
		return Pos{File: p.name, Line: v.Line + 1, Col: indent + 1}, true
	}
	return Pos{}, false
}

func checkJSONAt(data []byte) (msg string, line, col int) {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		if _, ok := v.(map[string]any); !ok {
			return "a policy must be a JSON object ({\"Version\": ..., \"Statement\": ...})", 0, 0
		}
		return "", 0, 0
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := offsetPos(data, se.Offset)
		return "invalid JSON: " + se.Error(), line, col
	}
	var ue *json.UnmarshalTypeError
	if errors.As(err, &ue) {
		line, col := offsetPos(data, ue.Offset)
		return "invalid JSON: " + ue.Error(), line, col
	}
	return "invalid JSON: " + err.Error(), 0, 0
}

// offsetPos converts a byte offset just past an error into line and column.
func offsetPos(data []byte, off int64) (line, col int) {
	i := min(max(off-1, 0), int64(len(data)))
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(i) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// crossCheck checks what spans sections.
func (p *parser) crossCheck(f *File) {
	issuers := make([]string, 0, len(f.Issuers))
	for _, is := range f.Issuers {
		issuers = append(issuers, is.Name)
	}
	for _, d := range p.st.ldapNames {
		if slices.Contains(issuers, d.name) {
			p.errorf(d.node, d.path, "name "+quote(d.name)+" is already an issuer's; directories and issuers share one namespace (trust rules name both)")
			continue
		}
		issuers = append(issuers, d.name)
	}
	for i, d := range f.LDAP {
		if f.STS == nil && d.LoginLabel == "" {
			p.warns = append(p.warns, Warning{Pos: d.Pos, Message: fmt.Sprintf("ldap[%d]: used by nothing: the STS is off (no sts section) and it has no login_label for the console", i)})
		}
	}
	roles := make([]string, 0, len(f.Roles))
	for _, r := range f.Roles {
		roles = append(roles, r.Name)
	}
	used := map[string]bool{}
	for _, r := range p.st.refs {
		var known []string
		switch r.kind {
		case "issuer":
			known = issuers
		case "role":
			known = roles
		default:
			used[r.name] = true
			if p.st.policyNodes[r.name] != nil {
				continue // defined, even if its document has errors
			}
			for name := range p.st.policyNodes {
				known = append(known, name)
			}
			slices.Sort(known)
		}
		if slices.Contains(known, r.name) {
			continue
		}
		msg := "unknown " + r.kind + " " + quote(r.name)
		if s := suggest(r.name, known); s != "" {
			msg += " (did you mean " + quote(s) + "?)"
		} else if len(known) == 0 {
			msg += " (no " + r.kind + "s are defined)"
		}
		p.errorf(r.node, r.path, msg)
	}
	for _, pol := range f.Policies {
		if !used[pol.Name] {
			p.warns = append(p.warns, Warning{Pos: pol.Pos, Message: "policies." + pol.Name + ": not used by any role"})
		}
	}
	if f.MetricsListen != "" && f.MetricsListen == f.Listen && !strings.HasSuffix(f.Listen, ":0") {
		p.errorf(p.st.metricsNode, "metrics_listen", "must differ from listen")
	}
	if f.Upstream.CAFile != "" && strings.HasPrefix(f.Upstream.Endpoint, "http://") {
		p.warnf(p.st.caNode, "upstream.ca_file", "ignored: the endpoint uses http")
	}
	if p.st.auditStdout != nil && !*p.st.auditStdout && f.Audit.File == "" && p.st.webhookNode == nil {
		p.errorf(p.st.auditNode, "audit", "no audit sink: set stdout: true, a file or a webhook")
	}
	if f.Console == nil || f.Console.Enabled {
		if len(p.st.loginIssuers) > 0 && f.STS == nil {
			p.errorf(p.st.loginIssuers[0], p.st.loginPaths[0], "browser sign-in needs sts.session_keys: they seal the session cookies (or set console.enabled: false)")
		}
		if f.Console != nil && p.st.consoleEnabled != nil && len(p.st.loginIssuers) == 0 {
			p.errorf(p.st.consoleEnabled, "console.enabled", "the console needs an issuer with client_id or a directory with login_label to sign people in")
		}
	}
	if p.st.rotateNode != nil && f.Audit.File == "" {
		p.errorf(p.st.rotateNode, "audit.rotate", "rotates the audit file, but audit.file is not set")
	}
}
