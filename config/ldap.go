package config

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of an ldap entry.
const (
	DefaultLDAPDialTimeout    = 5 * time.Second
	DefaultLDAPRequestTimeout = 10 * time.Second
	DefaultLDAPPoolSize       = 4
	// Throttling of failed sign-ins (ldap[].throttle).
	DefaultLDAPMaxFailures       = 5
	DefaultLDAPSourceMaxFailures = 20
	DefaultLDAPThrottleWindow    = 15 * time.Minute
	DefaultLDAPThrottleLockout   = time.Minute
)

// LDAP is a directory people sign in to with a user name and password:
// through the STS (AssumeRoleWithLDAPIdentity) and, with LoginLabel, the
// console. Its Name shares one namespace with the issuers: trust rules and
// revocations name it as an issuer.
type LDAP struct {
	Name string
	URL  string // ldap://host:port or ldaps://host:port
	// StartTLS upgrades an ldap:// URL with StartTLS.
	StartTLS bool
	// CAFile is a PEM bundle trusted for ldaps and StartTLS; "" = system
	// roots.
	CAFile             string
	LookupBindDN       string
	LookupBindPassword Secret
	UserDNSearchBase   string
	// UserDNSearchFilter holds %s, the escaped user name.
	UserDNSearchFilter string
	// GroupSearchBase "" means no group lookup; GroupSearchFilter holds
	// %d (the escaped user DN) and/or %s (the escaped user name).
	GroupSearchBase   string
	GroupSearchFilter string
	Attributes        []string
	DialTimeout       time.Duration
	RequestTimeout    time.Duration
	PoolSize          int
	// LoginLabel is the title of the console's sign-in form for this
	// directory; "" = no console sign-in with it.
	LoginLabel string
	Throttle   LDAPThrottle
	Pos        Pos
}

// LDAPThrottle limits failed sign-ins: per user name MaxFailures, per
// source address SourceMaxFailures, counted within Window after the latest
// failure; at the limit, sign-ins are refused for Lockout, doubled with
// every further failure up to Window.
type LDAPThrottle struct {
	MaxFailures       int
	SourceMaxFailures int
	Window            time.Duration
	Lockout           time.Duration
}

// LoginDirectories returns the directories people may sign in to on the
// console (those with a login_label), or nil when the console is off.
func (f *File) LoginDirectories() []LDAP {
	if f.Console != nil && !f.Console.Enabled {
		return nil
	}
	var out []LDAP
	for _, d := range f.LDAP {
		if d.LoginLabel != "" {
			out = append(out, d)
		}
	}
	return out
}

func (p *parser) ldap(n *yaml.Node, path string) []LDAP {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of directories, got "+describe(n))
		return nil
	}
	var out []LDAP
	names := map[string]*yaml.Node{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		d := LDAP{DialTimeout: DefaultLDAPDialTimeout, RequestTimeout: DefaultLDAPRequestTimeout, PoolSize: DefaultLDAPPoolSize,
			Throttle: LDAPThrottle{MaxFailures: DefaultLDAPMaxFailures, SourceMaxFailures: DefaultLDAPSourceMaxFailures,
				Window: DefaultLDAPThrottleWindow, Lockout: DefaultLDAPThrottleLockout},
			Pos: p.pos(c)}
		var nameNode, urlNode *yaml.Node
		dn := func(dst *string) func(string, *yaml.Node) {
			return func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if s == "" || len(s) > 1024 || strings.ContainsAny(s, "\x00\n\r") || !strings.Contains(s, "=") {
						p.errorf(v, path, "invalid DN "+quote(s)+"; e.g. ou=people,dc=example,dc=org")
						return
					}
					*dst = s
				}
			}
		}
		filter := func(dst *string, holes string) func(string, *yaml.Node) {
			return func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if msg := checkLDAPFilter(s, holes); msg != "" {
						p.errorf(v, path, msg)
						return
					}
					*dst = s
				}
			}
		}
		present, ok := p.mapping(c, ip, []field{
			{"name", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !issuerName.MatchString(s) {
						p.errorf(v, path, "invalid directory name "+quote(s)+"; use 1-64 of a-z 0-9 _ -")
						return
					}
					d.Name, nameNode = s, v
				}
			}},
			{"url", func(path string, v *yaml.Node) {
				s, ok := p.str(v, path)
				if !ok {
					return
				}
				urlNode = v
				u, err := url.Parse(s)
				switch {
				case err != nil || u.Host == "" || u.Opaque != "" || u.User != nil:
					p.errorf(v, path, "invalid URL "+quote(s)+"; use ldaps://host:port or ldap://host:port")
				case u.Scheme != "ldap" && u.Scheme != "ldaps":
					p.errorf(v, path, "scheme must be ldaps or ldap, got "+quote(u.Scheme))
				case u.Port() == "":
					p.errorf(v, path, "needs a port, e.g. "+u.Scheme+"://"+u.Host+":"+map[string]string{"ldap": "389", "ldaps": "636"}[u.Scheme])
				case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
					p.errorf(v, path, "must not have a path, query or fragment")
				default:
					d.URL = u.Scheme + "://" + u.Host
				}
			}},
			{"start_tls", func(path string, v *yaml.Node) { d.StartTLS, _ = p.boolean(v, path) }},
			{"ca_file", func(path string, v *yaml.Node) {
				if d.CAFile = p.existingFile(v, path); d.CAFile == "" {
					return
				}
				pem, err := readFile(d.CAFile)
				if err != nil {
					p.errorf(v, path, "cannot read "+d.CAFile+": "+fsReason(err))
					return
				}
				if !x509.NewCertPool().AppendCertsFromPEM(pem) {
					p.errorf(v, path, d.CAFile+" holds no PEM certificate")
				}
			}},
			{"lookup_bind_dn", dn(&d.LookupBindDN)},
			{"lookup_bind_password", func(path string, v *yaml.Node) { d.LookupBindPassword, _ = p.secret(v, path) }},
			{"user_dn_search_base", dn(&d.UserDNSearchBase)},
			{"user_dn_search_filter", filter(&d.UserDNSearchFilter, "s")},
			{"group_search_base", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok && s != "" {
					dn(&d.GroupSearchBase)(path, v)
				}
			}},
			{"group_search_filter", filter(&d.GroupSearchFilter, "ds")},
			{"attributes", func(path string, v *yaml.Node) {
				seen := map[string]bool{}
				for _, it := range p.strItems(v, path) {
					switch {
					case !ldapAttr.MatchString(it.s):
						p.errorf(it.n, it.path, "invalid attribute name "+quote(it.s))
					case isReservedLDAPClaim(it.s):
						p.errorf(it.n, it.path, "attribute "+quote(it.s)+" would replace the claim of the same name (sub, dn, username, preferred_username and groups are set by iamgate)")
					case seen[strings.ToLower(it.s)]:
						p.errorf(it.n, it.path, "attribute "+quote(it.s)+" is listed twice")
					default:
						seen[strings.ToLower(it.s)] = true
						d.Attributes = append(d.Attributes, it.s)
					}
				}
			}},
			{"dial_timeout", func(path string, v *yaml.Node) {
				if t, ok := p.duration(v, path, 100*time.Millisecond, 5*time.Minute); ok {
					d.DialTimeout = t
				}
			}},
			{"request_timeout", func(path string, v *yaml.Node) {
				if t, ok := p.duration(v, path, 100*time.Millisecond, 5*time.Minute); ok {
					d.RequestTimeout = t
				}
			}},
			{"pool_size", func(path string, v *yaml.Node) {
				if n, ok := p.intRange(v, path, 1, 1024); ok {
					d.PoolSize = int(n)
				}
			}},
			{"login_label", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if len(s) > 100 {
						p.errorf(v, path, "must be at most 100 characters")
						return
					}
					d.LoginLabel = s
				}
			}},
			{"throttle", func(path string, v *yaml.Node) { p.ldapThrottle(v, path, &d.Throttle) }},
		})
		if !ok {
			continue
		}
		p.require(c, ip, present, "name", "url", "lookup_bind_dn", "lookup_bind_password", "user_dn_search_base", "user_dn_search_filter")
		if d.StartTLS && strings.HasPrefix(d.URL, "ldaps://") {
			p.errorf(present["start_tls"], ip+".start_tls", "is for ldap:// URLs; ldaps:// is TLS from the start")
		}
		if d.URL != "" && strings.HasPrefix(d.URL, "ldap://") && !d.StartTLS {
			if u, _ := url.Parse(d.URL); u != nil && !isLoopback(u.Hostname()) {
				p.warnf(urlNode, ip+".url", "ldap:// without start_tls: passwords travel to the directory in clear text")
			}
			if present["ca_file"] != nil {
				p.warnf(present["ca_file"], ip+".ca_file", "ignored: the URL uses ldap:// without start_tls")
			}
		}
		if d.GroupSearchBase != "" && present["group_search_filter"] == nil {
			p.errorf(present["group_search_base"], ip+".group_search_base", "needs group_search_filter")
		}
		if d.GroupSearchFilter != "" && d.GroupSearchBase == "" {
			p.warnf(present["group_search_filter"], ip+".group_search_filter", "ignored: group_search_base is empty, so no groups are looked up")
		}
		if d.Name != "" {
			if first := names[d.Name]; first != nil {
				p.errorf(nameNode, ip+".name", fmt.Sprintf("duplicate directory name %q (first at line %d)", d.Name, first.Line))
			} else {
				names[d.Name] = nameNode
				p.st.ldapNames = append(p.st.ldapNames, ref{kind: "ldap", name: d.Name, node: nameNode, path: ip + ".name"})
			}
		}
		if d.LoginLabel != "" {
			p.st.loginIssuers = append(p.st.loginIssuers, present["login_label"])
			p.st.loginPaths = append(p.st.loginPaths, ip+".login_label")
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) ldapThrottle(n *yaml.Node, path string, t *LDAPThrottle) {
	present, ok := p.mapping(n, path, []field{
		{"max_failures", func(path string, v *yaml.Node) {
			if n, ok := p.intRange(v, path, 1, 10000); ok {
				t.MaxFailures = int(n)
			}
		}},
		{"source_max_failures", func(path string, v *yaml.Node) {
			if n, ok := p.intRange(v, path, 1, 1_000_000); ok {
				t.SourceMaxFailures = int(n)
			}
		}},
		{"window", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Second, 24*time.Hour); ok {
				t.Window = d
			}
		}},
		{"lockout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Second, 24*time.Hour); ok {
				t.Lockout = d
			}
		}},
	})
	if ok && t.Lockout > t.Window {
		at := present["lockout"]
		if at == nil {
			at = present["window"]
		}
		p.errorf(at, path, fmt.Sprintf("lockout (%s) must not exceed window (%s)", fmtDuration(t.Lockout), fmtDuration(t.Window)))
	}
}

var ldapAttr = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

var reservedLDAPClaims = []string{"sub", "dn", "username", "preferred_username", "groups"}

func isReservedLDAPClaim(s string) bool {
	for _, r := range reservedLDAPClaims {
		if strings.EqualFold(s, r) {
			return true
		}
	}
	return false
}

// checkLDAPFilter checks a search filter with placeholders: balanced
// parentheses, only the allowed %-placeholders (holes: "s", "ds"), and
// at least one of them.
func checkLDAPFilter(s, holes string) string {
	if len(s) > 1024 || !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return "invalid filter " + quote(s) + "; an LDAP filter is in parentheses, e.g. (uid=%s)"
	}
	depth, used := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return "invalid filter " + quote(s) + ": unbalanced parentheses"
			}
		case '%':
			if i+1 >= len(s) || !strings.ContainsRune(holes, rune(s[i+1])) {
				allowed := "%s (the user name)"
				if holes == "ds" {
					allowed = "%d (the user DN) and %s (the user name)"
				}
				return "invalid filter " + quote(s) + ": the only placeholders are " + allowed
			}
			used = true
			i++
		case 0, '\n', '\r':
			return "invalid filter " + quote(s) + ": control characters"
		}
	}
	if depth != 0 {
		return "invalid filter " + quote(s) + ": unbalanced parentheses"
	}
	if !used {
		if holes == "s" {
			return "filter " + quote(s) + " must contain %s, the user name"
		}
		return "filter " + quote(s) + " must contain %d (the user DN) or %s (the user name)"
	}
	return ""
}
