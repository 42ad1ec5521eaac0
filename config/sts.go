package config

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	sessionKeyID   = regexp.MustCompile(`^[a-z0-9-]{1,16}$`)
	credentialName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	accessKeyID    = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

func (p *parser) sts(n *yaml.Node, path string) *STS {
	s := &STS{MaxPolicySize: DefaultMaxPolicySize, Pos: p.pos(n)}
	present, ok := p.mapping(n, path, []field{
		{"session_keys", func(path string, v *yaml.Node) { s.SessionKeys = p.sessionKeys(v, path) }},
		{"max_policy_size", func(path string, v *yaml.Node) {
			if i, ok := p.intRange(v, path, MinMaxPolicySize, MaxMaxPolicySize); ok {
				s.MaxPolicySize = int(i)
			}
		}},
	})
	if !ok {
		return nil
	}
	p.require(n, path, present, "session_keys")
	return s
}

func (p *parser) sessionKeys(n *yaml.Node, path string) []SessionKey {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of keys, got "+describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "must hold at least one key; the first one seals new session tokens")
		return nil
	}
	var out []SessionKey
	ids := map[string]*yaml.Node{}
	secrets := map[string]string{} // secret value -> id of the first key with it
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		k := SessionKey{Pos: p.pos(c)}
		var idNode, secretNode *yaml.Node
		present, ok := p.mapping(c, ip, []field{
			{"id", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !sessionKeyID.MatchString(s) {
						p.errorf(v, path, "invalid key id "+quote(s)+"; use 1-16 of a-z 0-9 -")
						return
					}
					k.ID, idNode = s, v
				}
			}},
			{"secret", func(path string, v *yaml.Node) {
				s, ok := p.secret(v, path)
				if !ok {
					return
				}
				if s.Resolved() && len(s.Reveal()) < MinSessionKeyBytes {
					p.errorf(v, path, fmt.Sprintf("secret is %d bytes; use at least %d (for example: openssl rand -hex 32)", len(s.Reveal()), MinSessionKeyBytes))
					return
				}
				k.Secret, secretNode = s, v
			}},
		})
		if !ok {
			continue
		}
		p.require(c, ip, present, "id", "secret")
		if k.ID != "" {
			if first := ids[k.ID]; first != nil {
				p.errorf(idNode, ip+".id", fmt.Sprintf("duplicate key id %q (first at line %d)", k.ID, first.Line))
			} else {
				ids[k.ID] = idNode
			}
		}
		if secretNode != nil && k.Secret.Resolved() {
			if other, dup := secrets[k.Secret.Reveal()]; dup {
				p.warnf(secretNode, ip+".secret", "same secret as session key "+quote(other)+"; a new key needs a new secret")
			} else {
				secrets[k.Secret.Reveal()] = cmp.Or(k.ID, ip)
			}
		}
		out = append(out, k)
	}
	return out
}

func (p *parser) revocations(n *yaml.Node, path string) []Revocation {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of revocations, got "+describe(n))
		return nil
	}
	var out []Revocation
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		r := Revocation{Pos: p.pos(c)}
		var beforeNode *yaml.Node
		typeErr := false // a selector of the wrong type is reported already
		selector := func(dst *string, kind string) func(string, *yaml.Node) {
			return func(path string, v *yaml.Node) {
				s, ok := p.str(v, path)
				if !ok {
					typeErr = true
					return
				}
				*dst = s
				if kind != "" && s != "" {
					p.st.refs = append(p.st.refs, ref{kind: kind, name: s, node: v, path: path})
				}
			}
		}
		selectors := []string{"subject", "issuer", "role", "session_id"}
		present, ok := p.mapping(c, ip, []field{
			{"subject", selector(&r.Subject, "")},
			{"issuer", selector(&r.Issuer, "issuer")},
			{"role", selector(&r.Role, "role")},
			{"session_id", selector(&r.SessionID, "")},
			{"issued_before", func(path string, v *yaml.Node) {
				if t, ok := p.timestamp(v, path, false); ok {
					r.IssuedBefore, beforeNode = t, v
				}
			}},
			{"reason", func(path string, v *yaml.Node) { r.Reason, _ = p.str(v, path) }},
		})
		if !ok {
			continue
		}
		misspelt := slices.ContainsFunc(p.typos[c], func(k string) bool { return slices.Contains(selectors, k) })
		if r.Subject == "" && r.Issuer == "" && r.Role == "" && r.SessionID == "" && !typeErr && !misspelt {
			p.errorf(c, ip, "matches every session: set at least one of subject, issuer, role, session_id (an empty value counts as unset); to void every session, replace all sts.session_keys")
		}
		if present["issued_before"] == nil && !slices.Contains(p.typos[c], "issued_before") {
			p.errorf(c, ip, `missing required key "issued_before" (sessions issued before this time are void; an RFC 3339 time such as 2026-11-27T12:00:00Z)`)
		}
		if beforeNode != nil && r.IssuedBefore.After(p.now) {
			p.warnf(beforeNode, ip+".issued_before", "is in the future: until then, no matching session can be issued")
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) serviceCredentials(n *yaml.Node, path string) []ServiceCredential {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of service credentials, got "+describe(n))
		return nil
	}
	var out []ServiceCredential
	names := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		sc := ServiceCredential{Pos: p.pos(c)}
		var nameNode, keyNode, expiresNode *yaml.Node
		present, ok := p.mapping(c, ip, []field{
			{"name", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !credentialName.MatchString(s) {
						p.errorf(v, path, "invalid name "+quote(s)+"; use 1-64 of a-z 0-9 _ -")
						return
					}
					sc.Name, nameNode = s, v
				}
			}},
			{"access_key_id", func(path string, v *yaml.Node) {
				if s, ok := p.accessKeyID(v, path); ok {
					sc.AccessKeyID, keyNode = s, v
				}
			}},
			{"secret_access_key", func(path string, v *yaml.Node) {
				s, ok := p.secret(v, path)
				if !ok {
					return
				}
				if s.Resolved() && len(s.Reveal()) < MinServiceSecretBytes {
					p.errorf(v, path, fmt.Sprintf("secret is %d bytes; use at least %d (for example: openssl rand -base64 30)", len(s.Reveal()), MinServiceSecretBytes))
					return
				}
				sc.SecretAccessKey = s
			}},
			{"role", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					sc.Role = s
					p.st.refs = append(p.st.refs, ref{kind: "role", name: s, node: v, path: path})
				}
			}},
			{"expires", func(path string, v *yaml.Node) {
				if t, ok := p.timestamp(v, path, true); ok {
					sc.Expires, expiresNode = t, v
				}
			}},
			{"description", func(path string, v *yaml.Node) { sc.Description, _ = p.str(v, path) }},
		})
		if !ok {
			continue
		}
		p.require(c, ip, present, "name", "access_key_id", "secret_access_key", "role")
		if present["expires"] == nil && !slices.Contains(p.typos[c], "expires") {
			p.errorf(c, ip, `missing required key "expires": a service credential must expire (a date such as 2027-03-01, or an RFC 3339 time)`)
		}
		if sc.Name != "" {
			if first := names[sc.Name]; first != nil {
				p.errorf(nameNode, ip+".name", fmt.Sprintf("duplicate service credential name %q (first at line %d)", sc.Name, first.Line))
			} else {
				names[sc.Name] = nameNode
			}
		}
		if sc.AccessKeyID != "" {
			if first := keys[sc.AccessKeyID]; first != nil {
				p.errorf(keyNode, ip+".access_key_id", fmt.Sprintf("duplicate access key id %q (first at line %d)", sc.AccessKeyID, first.Line))
			} else {
				keys[sc.AccessKeyID] = keyNode
			}
		}
		if expiresNode != nil {
			switch {
			case !sc.Expires.After(p.now):
				p.warnf(expiresNode, ip+".expires", "expired on "+fmtExpiry(sc.Expires)+"; requests with it are refused")
			case sc.Expires.After(p.now.AddDate(1, 0, 0)):
				p.warnf(expiresNode, ip+".expires", "expires on "+fmtExpiry(sc.Expires)+", more than a year ahead; prefer a shorter life and rotate")
			}
		}
		out = append(out, sc)
	}
	return out
}

func (p *parser) accessKeyID(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	switch {
	case strings.HasPrefix(strings.ToUpper(s), SessionAccessKeyPrefix):
		p.errorf(n, path, quote(s)+" must not start with "+SessionAccessKeyPrefix+": that prefix is reserved for STS session credentials")
	case accessKeyID.MatchString(strings.ToUpper(s)) && strings.ToUpper(s) != s:
		p.errorf(n, path, quote(s)+" must be upper case (write "+quote(strings.ToUpper(s))+")")
	case !accessKeyID.MatchString(s):
		p.errorf(n, path, fmt.Sprintf("invalid access key id %q (%d characters); use 16-128 of A-Z 0-9", s, len(s)))
	default:
		return s, true
	}
	return "", false
}

// timestamp decodes an RFC 3339 time or, with dateOK, also a date
// (YYYY-MM-DD, meaning 00:00 UTC). The result is in UTC.
func (p *parser) timestamp(n *yaml.Node, path string, dateOK bool) (time.Time, bool) {
	example := "an RFC 3339 time such as 2026-11-27T12:00:00Z"
	if dateOK {
		example = "a date such as 2027-03-01 or " + example
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
		p.errorf(n, path, "expected "+example+", got "+describe(n))
		return time.Time{}, false
	}
	if t, err := time.Parse(time.DateOnly, n.Value); err == nil {
		if dateOK {
			return t, true
		}
		p.errorf(n, path, "a date alone is ambiguous here; give the time too, such as "+n.Value+"T00:00:00Z")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		p.errorf(n, path, "invalid time "+quote(n.Value)+"; use "+example)
		return time.Time{}, false
	}
	return t.UTC(), true
}

// fmtExpiry prints midnight UTC as a date and anything else as RFC 3339.
func fmtExpiry(t time.Time) string {
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}
