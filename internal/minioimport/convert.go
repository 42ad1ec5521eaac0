package minioimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
)

// Options say what Convert cannot learn from MinIO.
type Options struct {
	// Endpoint is the S3 endpoint iamgate forwards to (the MinIO server).
	Endpoint string
	// ExportName and IdentityName name the inputs in comments.
	ExportName, IdentityName string
	// IssuerURL, if set, is the OpenID Connect provider that replaces
	// MinIO's internal users and groups: their roles trust its
	// preferred_username and groups claims. Without it, the first OpenID
	// issuer imported is used, if any.
	IssuerURL string
	// Audience is the audience of tokens from IssuerURL; "iamgate" if empty.
	Audience string
	// ServiceCredentials carries enabled internal users and service
	// accounts as iamgate service credentials (static keys), expiring at
	// Expires. Their secrets go to Secrets, never into the configuration.
	ServiceCredentials bool
	Expires            time.Time
	// PolicyDir is where policy files are written, relative to the
	// configuration; "policies" if empty. SecretDir likewise, "secrets".
	PolicyDir, SecretDir string
}

// Result is the imported configuration.
type Result struct {
	Config   []byte            // the YAML configuration
	Policies map[string][]byte // path relative to the configuration → policy document
	Secrets  map[string][]byte // path relative to the configuration → secret (write with mode 0600)
	Report   Report
}

// Outcome says whether something was carried over.
type Outcome string

// Outcomes.
const (
	Carried    Outcome = "carried"
	Changed    Outcome = "changed"     // carried, with a difference the operator must know
	NotCarried Outcome = "not_carried" // left out; Detail says why and what to do
)

// Item is one entry of the report.
type Item struct {
	Kind    string  `json:"kind"` // policy, user, group, service_account, mapping, openid, ldap, setting
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	As      string  `json:"as,omitempty"` // what it became: "role user-alice", "policy readdata"
	Detail  string  `json:"detail,omitempty"`
	Source  string  `json:"source,omitempty"` // "users.json", "minio-idp.txt:3"
}

// Report lists what was and was not carried over, and the statements of
// the carried policies that MinIO decides differently from iamgate.
type Report struct {
	Items  []Item                `json:"items"`
	Compat []authz.CompatFinding `json:"compat"`
	// Env lists the environment variables the configuration reads.
	Env []string `json:"env"`
}

var (
	issuerNameRE = regexp.MustCompile(`[^a-z0-9_-]+`)
	roleNameRE   = regexp.MustCompile(`[^A-Za-z0-9+=,.@_-]+`)
	credNameRE   = regexp.MustCompile(`[^a-z0-9_-]+`)
	accessKeyRE  = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

// builtin describes MinIO's built-in policies.
var builtin = map[string]string{
	"readwrite":    "MinIO built-in: s3:* on every bucket",
	"readonly":     "MinIO built-in: s3:GetBucketLocation and s3:GetObject on every bucket",
	"writeonly":    "MinIO built-in: s3:PutObject on every bucket",
	"diagnostics":  "MinIO built-in: admin API only",
	"consoleAdmin": "MinIO built-in: admin:*, kms:* and s3:*",
}

// Env variables the configuration names.
const (
	EnvUpstreamKey    = "IAMGATE_UPSTREAM_ACCESS_KEY_ID"
	EnvUpstreamSecret = "IAMGATE_UPSTREAM_SECRET_ACCESS_KEY"
	EnvLDAPPassword   = "IAMGATE_LDAP_LOOKUP_PASSWORD"
	// EnvSessionKey seals the STS session tokens (openssl rand -hex 32).
	EnvSessionKey = "IAMGATE_SESSION_KEY"
)

type role struct {
	name     string
	comment  string
	kind     string
	trust    []trust
	policies []string // MinIO policy names
}

type trust struct {
	issuer string
	claim  string
	value  string
}

type issuer struct {
	name, url, comment string
	audiences          []string
	anyAudience        bool
}

type ldapDir struct {
	name, comment string
	kv            [][2]string // key, YAML value (already rendered)
}

type credential struct {
	name, accessKey, secretFile, role, comment string
	expires                                    time.Time
}

type converter struct {
	exp   *Export
	idp   []Subsystem
	opts  Options
	rep   Report
	roles []*role
	// roleNames and credNames hold the names taken.
	roleNames, credNames map[string]bool
	issuers              []issuer
	ldap                 []ldapDir
	creds                []credential
	secrets              map[string][]byte
	// policies: MinIO name → iamgate name and document; nil doc = not carried.
	policyName map[string]string
	policyDoc  map[string][]byte
	policyNote map[string]string
	used       map[string]bool
	userRole   map[string]string // internal user → its role
}

func (c *converter) note(kind, name string, o Outcome, as, detail, source string) {
	c.rep.Items = append(c.rep.Items, Item{Kind: kind, Name: name, Outcome: o, As: as, Detail: detail, Source: source})
}

// Convert builds an iamgate configuration from an export and MinIO's
// identity settings (either may be empty).
func Convert(exp *Export, idp []Subsystem, opts Options) (*Result, error) {
	if exp == nil {
		exp = &Export{}
	}
	if opts.PolicyDir == "" {
		opts.PolicyDir = "policies"
	}
	if opts.SecretDir == "" {
		opts.SecretDir = "secrets"
	}
	if opts.Audience == "" {
		opts.Audience = "iamgate"
	}
	if opts.ServiceCredentials && opts.Expires.IsZero() {
		return nil, fmt.Errorf("service credentials need an expiry")
	}
	c := &converter{exp: exp, idp: idp, opts: opts, roleNames: map[string]bool{}, credNames: map[string]bool{},
		secrets: map[string][]byte{}, policyName: map[string]string{}, policyDoc: map[string][]byte{},
		policyNote: map[string]string{}, used: map[string]bool{}, userRole: map[string]string{}}
	c.preparePolicies()
	c.identity()
	c.internal()
	c.ldapMappings()
	c.serviceAccounts()
	c.unusedPolicies()
	res := &Result{Policies: map[string][]byte{}, Secrets: c.secrets}
	for name, doc := range c.policyDoc {
		if c.used[name] && doc != nil {
			res.Policies[c.policyPath(name)] = doc
		}
	}
	if len(c.issuers) == 0 && len(c.ldap) == 0 {
		c.note("setting", "issuers", NotCarried, "", "no OpenID or LDAP settings were imported and no --issuer was given: the configuration needs at least one issuer, and without one no user, group or mapping becomes a role", "")
	}
	res.Config = c.render()
	findings, err := c.compat()
	if err != nil {
		return nil, err
	}
	c.rep.Compat = findings
	c.rep.Env = []string{EnvUpstreamKey, EnvUpstreamSecret, EnvSessionKey}
	if len(c.ldap) > 0 {
		c.rep.Env = append(c.rep.Env, EnvLDAPPassword)
	}
	res.Report = c.rep
	return res, nil
}

func (c *converter) policyPath(minioName string) string {
	return c.opts.PolicyDir + "/" + c.policyName[minioName] + ".json"
}

// preparePolicies compiles every exported policy as iamgate would, and
// keeps the ones that load (dropping admin- and kms-only statements
// without Resource, as in consoleAdmin).
func (c *converter) preparePolicies() {
	taken := map[string]bool{}
	for _, name := range sortedKeys(c.exp.Policies) {
		iname := uniqueName(roleNameRE.ReplaceAllString(name, "-"), 128, taken)
		c.policyName[name] = iname
		doc, note, err := loadablePolicy(iname, c.exp.Policies[name])
		if err != nil {
			c.note("policy", name, NotCarried, "", "iamgate refuses it: "+oneLine(err), filePolicies)
			continue
		}
		if doc == nil {
			c.note("policy", name, NotCarried, "", "it grants only MinIO admin, KMS or STS actions, which iamgate never forwards (it proxies S3 only)", filePolicies)
			continue
		}
		c.policyDoc[name] = doc
		c.policyNote[name] = note
	}
}

// loadablePolicy returns the document as iamgate will read it (indented),
// a note on what was changed, or nil when nothing in it concerns S3.
func loadablePolicy(name string, raw json.RawMessage) ([]byte, string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, "", err
	}
	var stmts []json.RawMessage
	if err := json.Unmarshal(top["Statement"], &stmts); err != nil {
		var one json.RawMessage
		if json.Unmarshal(top["Statement"], &one) != nil {
			return nil, "", fmt.Errorf("statement list: %w", err)
		}
		stmts = []json.RawMessage{one}
	}
	var kept []json.RawMessage
	dropped := 0
	for _, s := range stmts {
		var st struct {
			Action   any             `json:"Action"`
			Resource json.RawMessage `json:"Resource"`
		}
		_ = json.Unmarshal(s, &st)
		if onlyOtherServices(st.Action) {
			dropped++
			continue
		}
		kept = append(kept, s)
	}
	if len(kept) == 0 {
		return nil, "", nil
	}
	doc := raw
	note := ""
	if dropped > 0 {
		note = fmt.Sprintf("%d statement(s) of only admin:, kms: or sts: actions left out (iamgate never forwards MinIO's admin API)", dropped)
		version := top["Version"]
		if version == nil {
			version = json.RawMessage(`"2012-10-17"`)
		}
		list, _ := json.Marshal(kept)
		doc = []byte(`{"Version":` + string(version) + `,"Statement":` + string(list) + `}`)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return nil, "", err
	}
	out.WriteByte('\n')
	if _, err := authz.ParsePolicy(name, out.Bytes()); err != nil {
		return nil, "", err
	}
	return out.Bytes(), note, nil
}

// onlyOtherServices reports whether an Action value names only actions of
// MinIO's admin, kms and sts services.
func onlyOtherServices(a any) bool {
	var list []any
	switch v := a.(type) {
	case string:
		list = []any{v}
	case []any:
		list = v
	default:
		return false
	}
	if len(list) == 0 {
		return false
	}
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return false
		}
		svc, _, _ := strings.Cut(strings.ToLower(s), ":")
		if svc != "admin" && svc != "kms" && svc != "sts" {
			return false
		}
	}
	return true
}

// usePolicies returns the iamgate names of the carried policies among
// names, and reports the others for what.
func (c *converter) usePolicies(names []string, what, source string) []string {
	var out []string
	for _, n := range names {
		if c.policyDoc[n] == nil {
			if _, exported := c.exp.Policies[n]; !exported {
				c.note("mapping", what, Changed, "", fmt.Sprintf("policy %q is not in the export; left out", n), source)
			} else {
				c.note("mapping", what, Changed, "", fmt.Sprintf("policy %q is not carried (see above); left out", n), source)
			}
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// addRole adds r under a unique name, which it returns; its policies are
// then carried.
func (c *converter) addRole(r *role) string {
	for _, p := range r.policies {
		c.used[p] = true
	}
	r.name = uniqueName(r.name, 64, c.roleNames)
	c.roles = append(c.roles, r)
	return r.name
}

// groupsIssuer returns the issuer whose claims internal users and groups
// are matched on: Options.IssuerURL (added if no imported issuer has that
// URL), else the first OpenID issuer imported, else "".
func (c *converter) groupsIssuer() string {
	if c.opts.IssuerURL == "" {
		if len(c.issuers) > 0 {
			return c.issuers[0].name
		}
		return ""
	}
	taken := map[string]bool{}
	for _, is := range c.issuers {
		if is.url == c.opts.IssuerURL {
			return is.name
		}
		taken[is.name] = true
	}
	name := uniqueName("sso", 64, taken)
	c.issuers = append(c.issuers, issuer{name: name, url: c.opts.IssuerURL, audiences: []string{c.opts.Audience},
		comment: "the provider that replaces MinIO's internal users and groups (--issuer)"})
	return name
}

// internal maps internal users, groups and their policy mappings.
func (c *converter) internal() {
	iss := ""
	if len(c.exp.Users) > 0 || len(c.exp.Groups) > 0 {
		iss = c.groupsIssuer()
	}
	// Groups.
	groupRole := map[string]string{}
	for _, g := range sortedKeys(c.exp.Groups) {
		grp := c.exp.Groups[g]
		if grp.Status == "disabled" {
			c.note("group", g, NotCarried, "", "disabled in MinIO", fileGroups)
			continue
		}
		pols := c.usePolicies(c.exp.GroupMappings[g].PolicyNames(), "group "+g, fileGroupMappings)
		if len(pols) == 0 {
			c.note("group", g, NotCarried, "", "no policy attached", fileGroups)
			continue
		}
		if iss == "" {
			c.note("group", g, NotCarried, "", "no issuer to match members with: give --issuer URL (members then need the provider's groups claim to contain "+g+")", fileGroups)
			continue
		}
		name := c.addRole(&role{name: "group-" + roleNameRE.ReplaceAllString(g, "-"), kind: authz.KindHuman, policies: pols,
			trust:   []trust{{issuer: iss, claim: "groups", value: g}},
			comment: fmt.Sprintf("groups.json %q (members: %s)", g, strings.Join(grp.Members, ", "))})
		groupRole[g] = name
		c.note("group", g, Changed, "role "+name, fmt.Sprintf("members are matched by the %q claim of issuer %q containing %q; MinIO's member list (%s) is not used", "groups", iss, g, strings.Join(grp.Members, ", ")), fileGroups)
	}
	// Users.
	for _, u := range sortedKeys(c.exp.Users) {
		usr := c.exp.Users[u]
		if usr.Status == "disabled" {
			c.note("user", u, NotCarried, "", "disabled in MinIO", fileUsers)
			continue
		}
		own := c.exp.UserMappings[u].PolicyNames()
		if len(own) == 0 && usr.Policy != "" {
			own = Mapping{Policy: usr.Policy}.PolicyNames()
		}
		all := slices.Clone(own)
		var groups []string
		for _, g := range sortedKeys(c.exp.Groups) {
			if c.exp.Groups[g].Status != "disabled" && slices.Contains(c.exp.Groups[g].Members, u) {
				groups = append(groups, g)
				all = append(all, c.exp.GroupMappings[g].PolicyNames()...)
			}
		}
		pols := c.usePolicies(all, "user "+u, fileUserMappings)
		if len(pols) == 0 {
			c.note("user", u, NotCarried, "", "no policy attached (directly or through a group)", fileUsers)
			continue
		}
		if iss == "" {
			c.note("user", u, NotCarried, "", "a static MinIO key; not carried: use SSO/STS (give --issuer URL to map the user to a token's preferred_username; with --service-credentials-expire its key is carried too)", fileUsers)
			continue
		}
		comment := fmt.Sprintf("users.json %q: policies %s", u, strings.Join(own, ", "))
		if len(groups) > 0 {
			comment += "; groups " + strings.Join(groups, ", ")
		}
		name := c.addRole(&role{name: "user-" + roleNameRE.ReplaceAllString(u, "-"), kind: authz.KindHuman, policies: pols, comment: comment,
			trust: []trust{{issuer: iss, claim: "preferred_username", value: u}}})
		c.userRole[u] = name
		detail := fmt.Sprintf("the user's and its groups' policies in one role; it trusts tokens of %q whose preferred_username is %q (check that your provider uses that name)", iss, u)
		if !c.opts.ServiceCredentials {
			c.note("user", u, Changed, "role "+name, detail+"; the static key is not carried: use SSO/STS (or --service-credentials-expire)", fileUsers)
			continue
		}
		if c.credential(u, usr.SecretKey, name, fmt.Sprintf("users.json %q", u), c.opts.Expires, fileUsers) {
			c.note("user", u, Changed, "role "+name+" and a service credential", detail+"; its static key is a service credential that expires "+c.opts.Expires.Format(time.RFC3339)+": move its clients to SSO/STS before then", fileUsers)
		} else {
			c.note("user", u, Changed, "role "+name, detail, fileUsers)
		}
	}
	for _, u := range sortedKeys(c.exp.UserMappings) {
		if _, ok := c.exp.Users[u]; !ok {
			if _, sa := c.exp.ServiceAccounts[u]; !sa {
				c.note("mapping", u, NotCarried, "", "a policy mapping for a user not in users.json", fileUserMappings)
			}
		}
	}
}

// credential adds a service credential; it reports why not and returns
// false when the key cannot be one.
func (c *converter) credential(accessKey, secret, role, comment string, expires time.Time, source string) bool {
	switch {
	case !accessKeyRE.MatchString(accessKey) || strings.HasPrefix(accessKey, "ASIA"):
		c.note("service_credential", accessKey, NotCarried, "", "iamgate access keys are 16-128 of A-Z 0-9 (not starting with ASIA); give the clients a new key", source)
		return false
	case len(secret) < 16:
		c.note("service_credential", accessKey, NotCarried, "", "the secret is shorter than iamgate's minimum of 16 bytes; give the clients a new key", source)
		return false
	}
	name := uniqueName(credNameRE.ReplaceAllString(strings.ToLower(accessKey), "-"), 64, c.credNames)
	file := c.opts.SecretDir + "/" + name
	c.secrets[file] = []byte(secret + "\n")
	c.creds = append(c.creds, credential{name: name, accessKey: accessKey, secretFile: file, role: role, comment: comment, expires: expires})
	return true
}

// ldapMappings maps the policy mappings of LDAP users (stsuser_mappings)
// and LDAP groups (group mappings whose name is a DN).
func (c *converter) ldapMappings() {
	dir := ""
	if len(c.ldap) > 0 {
		dir = c.ldap[0].name
	}
	for _, dn := range sortedKeys(c.exp.STSUserMappings) {
		c.ldapRole(dir, dn, "dn", "ldap-user-", c.exp.STSUserMappings[dn], fileSTSUserMappings)
	}
	for _, g := range sortedKeys(c.exp.GroupMappings) {
		if _, internal := c.exp.Groups[g]; internal {
			continue
		}
		if !strings.Contains(g, "=") {
			c.note("mapping", g, NotCarried, "", "a group mapping for a group not in groups.json", fileGroupMappings)
			continue
		}
		c.ldapRole(dir, g, "groups", "ldap-group-", c.exp.GroupMappings[g], fileGroupMappings)
	}
}

func (c *converter) ldapRole(dir, dn, claim, prefix string, m Mapping, source string) {
	if dir == "" {
		c.note("mapping", dn, NotCarried, "", "an LDAP mapping, but no identity_ldap settings were given (--idp-config)", source)
		return
	}
	pols := c.usePolicies(m.PolicyNames(), dn, source)
	if len(pols) == 0 {
		c.note("mapping", dn, NotCarried, "", "none of its policies is carried", source)
		return
	}
	short := dn
	if _, v, ok := strings.Cut(strings.SplitN(dn, ",", 2)[0], "="); ok {
		short = v
	}
	name := c.addRole(&role{name: prefix + roleNameRE.ReplaceAllString(short, "-"), kind: authz.KindHuman, policies: pols,
		trust: []trust{{issuer: dir, claim: claim, value: dn}}, comment: fmt.Sprintf("%s %q", source, dn)})
	c.note("mapping", dn, Carried, "role "+name, "", source)
}

// serviceAccounts maps MinIO service accounts.
func (c *converter) serviceAccounts() {
	for _, k := range sortedKeys(c.exp.ServiceAccounts) {
		sa := c.exp.ServiceAccounts[k]
		if sa.AccessKey == "" {
			sa.AccessKey = k
		}
		switch {
		case sa.Status == "off":
			c.note("service_account", k, NotCarried, "", "disabled in MinIO", fileSvcAccts)
			continue
		case !c.opts.ServiceCredentials:
			c.note("service_account", k, NotCarried, "", "a static key of "+sa.Parent+": not carried, use SSO/STS (or --service-credentials-expire)", fileSvcAccts)
			continue
		case sa.HasPolicy():
			c.note("service_account", k, NotCarried, "", "it has its own policy, which MinIO intersects with its parent's; iamgate cannot: make a role with what it needs and a service credential for it", fileSvcAccts)
			continue
		}
		parent := c.userRole[sa.Parent]
		if parent == "" {
			c.note("service_account", k, NotCarried, "", "its parent "+sa.Parent+" is not an internal user carried as a role", fileSvcAccts)
			continue
		}
		exp := c.opts.Expires
		if t, ok := sa.Expires(); ok && t.Before(exp) {
			exp = t
		}
		comment := fmt.Sprintf("svcaccts.json %q (parent %s)", k, sa.Parent)
		if c.credential(sa.AccessKey, sa.SecretKey, parent, comment, exp, fileSvcAccts) {
			c.note("service_account", k, Changed, "service credential for role "+parent, "expires "+exp.Format(time.RFC3339), fileSvcAccts)
		}
	}
}

func (c *converter) unusedPolicies() {
	for _, name := range sortedKeys(c.exp.Policies) {
		if c.policyDoc[name] == nil {
			continue
		}
		detail := c.policyNote[name]
		if b, ok := builtin[name]; ok {
			detail = strings.TrimPrefix(strings.Join([]string{b, detail}, "; "), "; ")
			detail = strings.TrimSuffix(detail, "; ")
		}
		if !c.used[name] {
			c.note("policy", name, NotCarried, "", strings.TrimPrefix(detail+"; no user, group, mapping or claim-based issuer uses it", "; "), filePolicies)
			continue
		}
		o := Carried
		if c.policyNote[name] != "" {
			o = Changed
		}
		c.note("policy", name, o, "policy "+c.policyName[name], detail, filePolicies)
	}
}

// compat lists the carried policies' statements MinIO decides differently.
func (c *converter) compat() ([]authz.CompatFinding, error) {
	var docs []authz.PolicyDoc
	for _, name := range sortedKeys(c.exp.Policies) {
		if !c.used[name] || c.policyDoc[name] == nil {
			continue
		}
		p := c.policyPath(name)
		docs = append(docs, authz.PolicyDoc{Name: c.policyName[name], JSON: c.policyDoc[name], Source: p,
			Locate: func(line, col int) string { return fmt.Sprintf("%s:%d:%d", p, line, col) }})
	}
	return authz.CompatMinIO(docs)
}
