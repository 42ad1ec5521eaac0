package minioimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// render writes the configuration.
func (c *converter) render() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# iamgate configuration imported from MinIO by `iamgate import minio`.\n")
	if c.opts.ExportName != "" {
		w("# IAM export: %s (%s)\n", c.opts.ExportName, strings.Join(c.exp.Files, ", "))
	}
	if c.opts.IdentityName != "" {
		w("# Identity settings: %s\n", c.opts.IdentityName)
	}
	w("# Read the import report before using it; check with: iamgate check --config FILE --compat minio\n\n")
	endpoint := c.opts.Endpoint
	w("upstream:\n  endpoint: %s\n  access_key_id: env:%s\n  secret_access_key: env:%s\n", yamlString(endpoint), EnvUpstreamKey, EnvUpstreamSecret)
	// MinIO's clients got temporary credentials from its STS; iamgate's
	// STS gives them for the imported roles (web identity and LDAP).
	w("\n# The STS: AssumeRoleWithWebIdentity and AssumeRoleWithLDAPIdentity, as MinIO offers them.\n")
	w("sts:\n  session_keys:\n    - id: k1\n      secret: env:%s   # openssl rand -hex 32\n", EnvSessionKey)
	if len(c.issuers) > 0 {
		w("\nissuers:\n")
		for _, is := range c.issuers {
			w("  # %s\n  - name: %s\n    url: %s\n", oneLine(is.comment), is.name, yamlString(is.url))
			if is.anyAudience {
				w("    allow_any_audience: true\n")
			} else {
				w("    audiences: %s\n", yamlList(is.audiences))
			}
		}
	}
	if len(c.ldap) > 0 {
		w("\nldap:\n")
		for _, d := range c.ldap {
			w("  # %s\n", d.comment)
			for i, kv := range d.kv {
				lead := "    "
				if i == 0 {
					lead = "  - "
				}
				w("%s%s: %s\n", lead, kv[0], kv[1])
			}
		}
	}
	if len(c.roles) > 0 {
		w("\nroles:\n")
		for _, r := range c.roles {
			if len(r.trust) == 0 {
				continue
			}
			w("  # %s\n  - name: %s\n    kind: %s\n", oneLine(r.comment), yamlString(r.name), r.kind)
			w("    trust:\n")
			for _, t := range r.trust {
				if t.claim == "" {
					w("      - issuer: %s\n", t.issuer)
					continue
				}
				w("      - issuer: %s\n        claims: {%s: %s}\n", t.issuer, yamlString(t.claim), yamlString(t.value))
			}
			var names []string
			for _, p := range r.policies {
				names = append(names, c.policyName[p])
			}
			w("    policies: %s\n", yamlList(names))
		}
	}
	if len(c.creds) > 0 {
		w("\n# Static keys carried from MinIO. They expire: move their clients to SSO/STS.\nservice_credentials:\n")
		for _, cr := range c.creds {
			w("  # %s\n  - name: %s\n    access_key_id: %s\n    secret_access_key: file:%s\n    role: %s\n    expires: %s\n",
				oneLine(cr.comment), cr.name, cr.accessKey, cr.secretFile, yamlString(cr.role), cr.expires.UTC().Format(time.RFC3339))
		}
	}
	var used []string
	for _, name := range sortedKeys(c.exp.Policies) {
		if c.used[name] && c.policyDoc[name] != nil {
			used = append(used, name)
		}
	}
	if len(used) > 0 {
		w("\npolicies:\n")
		for _, name := range used {
			src := "policies.json " + fmt.Sprintf("%q", name)
			if b, ok := builtin[name]; ok {
				src += " (" + b + ")"
			}
			if n := c.policyNote[name]; n != "" {
				src += "; " + n
			}
			w("  # %s\n  %s: {file: %s}\n", oneLine(src), yamlString(c.policyName[name]), yamlString(c.policyPath(name)))
		}
	}
	return b.Bytes()
}

// oneLine keeps a comment or message on one line.
func oneLine(v any) string {
	s := fmt.Sprint(v)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_./@][A-Za-z0-9_./@+=-]*$`)

// yamlString writes s as a YAML scalar that reads back as the string s:
// plain when that is unambiguous, else double-quoted (JSON's escapes are
// YAML's).
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "", "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
	default:
		if plainYAML.MatchString(s) {
			return s
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func yamlList(l []string) string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = yamlString(s)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// uniqueName shortens name to max bytes and makes it unique among taken
// (adding "-2", "-3" ...), then takes it.
func uniqueName(name string, max int, taken map[string]bool) string {
	if name == "" || name == "-" {
		name = "x"
	}
	if len(name) > max {
		name = name[:max]
	}
	n := name
	for i := 2; taken[n]; i++ {
		suffix := fmt.Sprintf("-%d", i)
		base := name
		if len(base)+len(suffix) > max {
			base = base[:max-len(suffix)]
		}
		n = base + suffix
	}
	taken[n] = true
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
