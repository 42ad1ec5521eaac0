package minioimport

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/iamgate/iamgate/authz"
)

// identity maps the identity_openid and identity_ldap settings.
func (c *converter) identity() {
	for i := range c.idp {
		s := &c.idp[i]
		if strings.EqualFold(s.Get("enable"), "off") {
			c.note(kindOf(s), s.Label(), NotCarried, "", "disabled in MinIO (enable=off)", s.Where())
			continue
		}
		switch s.Kind {
		case SubsysOpenID:
			c.openID(s)
		case SubsysLDAP:
			c.ldapConfig(s)
		}
	}
}

func kindOf(s *Subsystem) string {
	if s.Kind == SubsysLDAP {
		return "ldap"
	}
	return "openid"
}

func (c *converter) issuerName(s *Subsystem, def string) string {
	n := def
	if s.Name != "" {
		n = issuerNameRE.ReplaceAllString(strings.ToLower(s.Name), "-")
	}
	taken := map[string]bool{}
	for _, is := range c.issuers {
		taken[is.name] = true
	}
	for _, d := range c.ldap {
		taken[d.name] = true
	}
	return uniqueName(n, 64, taken)
}

func (c *converter) openID(s *Subsystem) {
	cfgURL := s.Get("config_url")
	if cfgURL == "" {
		c.note("openid", s.Label(), NotCarried, "", "no config_url", s.Where())
		return
	}
	issURL := strings.TrimSuffix(cfgURL, "/.well-known/openid-configuration")
	if issURL == cfgURL {
		c.note("openid", s.Label(), NotCarried, "", "config_url "+cfgURL+" does not end in /.well-known/openid-configuration; add the issuer by hand", s.Where())
		return
	}
	is := issuer{name: c.issuerName(s, "openid"), url: issURL,
		comment: fmt.Sprintf("%s (%s): config_url %s", s.Label(), s.Where(), cfgURL)}
	if id := s.Get("client_id"); id != "" {
		is.audiences = strings.Split(id, ",")
	} else {
		is.anyAudience = true
		c.note("openid", s.Label(), Changed, "issuer "+is.name, "no client_id: tokens for any audience are accepted (allow_any_audience); list the audiences iamgate's tokens carry", s.Where())
	}
	if u, err := url.Parse(issURL); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
		c.note("openid", s.Label(), Changed, "issuer "+is.name, "iamgate needs an https issuer URL (http only on loopback): "+issURL, s.Where())
	}
	if i := slices.IndexFunc(c.issuers, func(o issuer) bool { return o.url == issURL }); i >= 0 {
		// Two sub-systems for one provider (several clients): one issuer
		// with both audiences, as iamgate allows one issuer per URL.
		o := &c.issuers[i]
		for _, a := range is.audiences {
			if !slices.Contains(o.audiences, a) {
				o.audiences = append(o.audiences, a)
			}
		}
		o.anyAudience = o.anyAudience || is.anyAudience
		if o.anyAudience {
			o.audiences = nil
		}
		is.name = o.name
		c.note("openid", s.Label(), Changed, "issuer "+is.name, "the same provider as an earlier sub-system: one issuer with the audiences of both", s.Where())
	} else {
		c.issuers = append(c.issuers, is)
	}
	c.note("openid", s.Label(), Carried, "issuer "+is.name, "issuer URL "+issURL+" (config_url without /.well-known/openid-configuration): it must equal the discovery document's \"issuer\" exactly", s.Where())
	for _, k := range []string{"client_secret", "redirect_uri", "redirect_uri_dynamic", "scopes", "display_name"} {
		if v := s.Get(k); v != "" && v != "off" {
			c.note("setting", s.Label()+" "+k, NotCarried, "", "browser sign-in is configured on the issuer (client_id, client_secret, scopes, login_label; see docs/console.md); the client secret is never copied", s.Where())
			break
		}
	}
	if v := s.Get("claim_userinfo"); v == "on" {
		c.note("setting", s.Label()+" claim_userinfo", NotCarried, "", "iamgate reads claims from the token only, never from the userinfo endpoint: make the provider put the claim in the token", s.Where())
	}
	for _, k := range []string{"vendor", "keycloak_realm", "keycloak_admin_url"} {
		if v := s.Get(k); v != "" {
			c.note("setting", s.Label()+" "+k, NotCarried, "", "vendor-specific session checks are not done; revoke with iamgate's revocations instead", s.Where())
		}
	}
	if rp := s.Get("role_policy"); rp != "" {
		pols := c.usePolicies(Mapping{Policy: rp}.PolicyNames(), s.Label()+" role_policy", s.Where())
		if len(pols) == 0 {
			c.note("openid", s.Label()+" role_policy", NotCarried, "", "none of its policies is carried", s.Where())
			return
		}
		r := &role{name: is.name + "-role", kind: authz.KindHuman, policies: pols,
			comment: fmt.Sprintf("%s role_policy=%s: every token of the issuer", s.Label(), rp)}
		if len(is.audiences) > 0 {
			r.trust = []trust{{issuer: is.name, claim: "aud", value: is.audiences[0]}}
		} else {
			r.trust = []trust{{issuer: is.name}}
		}
		c.note("openid", s.Label()+" role_policy", Carried, "role "+c.addRole(r), "", s.Where())
		return
	}
	claim := s.Get("claim_name")
	if claim == "" {
		claim = "policy"
	}
	if p := s.Get("claim_prefix"); p != "" {
		claim = p + claim
	}
	n := 0
	for _, name := range sortedKeys(c.exp.Policies) {
		if c.policyDoc[name] == nil {
			continue
		}
		c.addRole(&role{name: is.name + "-" + c.policyName[name], kind: authz.KindHuman, policies: []string{name},
			trust:   []trust{{issuer: is.name, claim: claim, value: name}},
			comment: fmt.Sprintf("%s: tokens whose %q claim names policy %q", s.Label(), claim, name)})
		n++
	}
	c.note("openid", s.Label()+" claim "+claim, Changed, fmt.Sprintf("%d roles %s-<policy>", n, is.name),
		"one role per policy, trusting tokens whose claim names it; without X-Iamgate-Role all matching roles apply together, as MinIO unions the policies, but an STS session holds one role. A claim written as one comma-separated string (\"a,b\") matches no role: make it a list", s.Where())
}

func loopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *converter) ldapConfig(s *Subsystem) {
	addr := s.Get("server_addr")
	if addr == "" {
		c.note("ldap", s.Label(), NotCarried, "", "no server_addr", s.Where())
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "636")
		if s.Get("server_starttls") == "on" || s.Get("server_insecure") == "on" {
			addr = strings.TrimSuffix(addr, "636") + "389"
		}
	}
	d := ldapDir{name: c.issuerName(s, "ldap"), comment: fmt.Sprintf("%s (%s)", s.Label(), s.Where())}
	scheme, startTLS := "ldaps", false
	switch {
	case s.Get("server_starttls") == "on":
		scheme, startTLS = "ldap", true
	case s.Get("server_insecure") == "on":
		scheme = "ldap"
		c.note("ldap", s.Label()+" server_insecure", Changed, "", "MinIO talks to the directory without TLS (server_insecure=on); the ldap:// URL keeps that: passwords cross the network in clear text", s.Where())
	}
	d.kv = append(d.kv, [2]string{"name", d.name}, [2]string{"url", yamlString(scheme + "://" + addr)})
	if startTLS {
		d.kv = append(d.kv, [2]string{"start_tls", "true"})
	}
	if v := s.Get("lookup_bind_dn"); v != "" {
		d.kv = append(d.kv, [2]string{"lookup_bind_dn", yamlString(v)})
		d.kv = append(d.kv, [2]string{"lookup_bind_password", "env:" + EnvLDAPPassword})
		c.note("setting", s.Label()+" lookup_bind_password", Changed, "env:"+EnvLDAPPassword, "the password is never copied: set "+EnvLDAPPassword+" (or write a file: reference)", s.Where())
	}
	for _, m := range [][2]string{{"user_dn_search_base_dn", "user_dn_search_base"}, {"user_dn_search_filter", "user_dn_search_filter"},
		{"group_search_base_dn", "group_search_base"}, {"group_search_filter", "group_search_filter"}} {
		if v := s.Get(m[0]); v != "" {
			if m[0] == "user_dn_search_base_dn" && strings.Contains(v, ";") {
				c.note("setting", s.Label()+" "+m[0], Changed, "", "several base DNs; only the first is carried: "+v, s.Where())
				v, _, _ = strings.Cut(v, ";")
			}
			d.kv = append(d.kv, [2]string{m[1], yamlString(v)})
		}
	}
	if v := s.Get("user_dn_attributes"); v != "" {
		var attrs []string
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				attrs = append(attrs, yamlString(a))
			}
		}
		d.kv = append(d.kv, [2]string{"attributes", "[" + strings.Join(attrs, ", ") + "]"})
	}
	if s.Get("tls_skip_verify") == "on" {
		c.note("setting", s.Label()+" tls_skip_verify", NotCarried, "", "iamgate always verifies the directory's certificate; give its CA with ca_file", s.Where())
	}
	if v := s.Get("srv_record_name"); v != "" {
		c.note("setting", s.Label()+" srv_record_name", NotCarried, "", "DNS SRV lookup is not supported; server_addr is used", s.Where())
	}
	c.ldap = append(c.ldap, d)
	c.note("ldap", s.Label(), Carried, "ldap "+d.name, "", s.Where())
}
