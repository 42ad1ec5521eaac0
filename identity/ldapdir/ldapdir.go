// Package ldapdir authenticates people by user name and password against
// an LDAP directory: a lookup bind finds the user's entry, a bind as that
// entry checks the password, and a search finds the groups. Nothing is
// cached: every sign-in asks the directory.
package ldapdir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Defaults applied to zero-valued Config fields.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultPoolSize       = 4
)

// MaxUsernameLength and MaxPasswordLength bound what is sent to the
// directory.
const (
	MaxUsernameLength = 256
	MaxPasswordLength = 1024
)

// Config configures a [Directory].
type Config struct {
	// Name is the directory's configured name: the Issuer of the
	// identities it authenticates, which trust rules name. Required.
	Name string
	// URL is ldap://host:port or ldaps://host:port. Required.
	URL string
	// StartTLS upgrades an ldap:// connection with StartTLS before
	// anything is sent; invalid with ldaps://.
	StartTLS bool
	// RootCAs are trusted for ldaps and StartTLS; nil means the system
	// roots.
	RootCAs *x509.CertPool
	// LookupBindDN and LookupBindPassword are the service account that
	// searches for users and groups. Required: iamgate never searches
	// anonymously.
	LookupBindDN, LookupBindPassword string
	// UserSearchBase and UserSearchFilter find a user's entry; %s in the
	// filter stands for the user name, escaped. Both required; the search
	// must find exactly one entry.
	UserSearchBase, UserSearchFilter string
	// GroupSearchBase and GroupSearchFilter find the user's groups; %d in
	// the filter stands for the user's DN, %s for the user name, both
	// escaped. An empty base means no group lookup.
	GroupSearchBase, GroupSearchFilter string
	// Attributes are read from the user's entry into the identity's claims.
	Attributes []string
	// DialTimeout bounds a connection (with TLS); RequestTimeout each
	// operation. Zero means the defaults.
	DialTimeout, RequestTimeout time.Duration
	// PoolSize bounds the lookup-bound connections, idle or in use; a
	// sign-in waits for one when all are busy. Zero means DefaultPoolSize.
	PoolSize int
	// Throttle slows down password guessing; the zero value disables it.
	Throttle Throttle
	// Now returns the current time for throttling; nil means time.Now.
	Now func() time.Time
}

// Directory authenticates against one LDAP directory. It is safe for
// concurrent use; Close releases its connections.
type Directory struct {
	cfg    Config
	u      *url.URL
	addr   string
	tlsCfg *tls.Config
	pool   *pool
}

// Attempt is one sign-in.
type Attempt struct {
	Username string
	Password string
	// Source is the caller's address, for throttling; the zero value is
	// not throttled by address.
	Source netip.Addr
}

// Identity is an authenticated directory user.
type Identity struct {
	// Directory is Config.Name.
	Directory string
	// DN is the user's DN, normalized: attribute types in lower case,
	// values as the directory returned them.
	DN string
	// Username is the name the user typed.
	Username string
	// Groups are the DNs of the user's groups (normalized like DN).
	Groups []string
	// Attributes holds the values of Config.Attributes the entry has.
	Attributes map[string][]string
}

// Claims returns the identity as token-like claims for trust rules,
// policies and audit: sub and dn (the DN), username and
// preferred_username (the typed name), groups (a list, possibly empty),
// and each attribute (its value, or a list when it has several).
func (id *Identity) Claims() map[string]any {
	c := map[string]any{"sub": id.DN, "dn": id.DN, "username": id.Username, "preferred_username": id.Username}
	groups := make([]any, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = g
	}
	for name, vals := range id.Attributes {
		switch len(vals) {
		case 0:
		case 1:
			c[name] = vals[0]
		default:
			l := make([]any, len(vals))
			for i, v := range vals {
				l[i] = v
			}
			c[name] = l
		}
	}
	c["groups"] = groups
	return c
}

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

// reservedClaims cannot be attribute names: they hold the identity itself.
var reservedClaims = []string{"sub", "dn", "username", "preferred_username", "groups"}

// New validates cfg and returns a Directory. It does no I/O: connections
// are made at the first sign-in.
func New(cfg Config) (*Directory, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ldap %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		bad("a name is required")
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "":
		bad("URL %q must be ldap://host:port or ldaps://host:port", cfg.URL)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("URL scheme must be ldap or ldaps, got %q", u.Scheme)
	case u.Scheme == "ldaps" && cfg.StartTLS:
		bad("StartTLS is for ldap:// URLs; ldaps:// is TLS already")
	}
	if cfg.LookupBindDN == "" || cfg.LookupBindPassword == "" {
		bad("the lookup bind DN and password are required")
	}
	if cfg.UserSearchBase == "" || !strings.Contains(cfg.UserSearchFilter, "%s") {
		bad("the user search base and a filter with %%s are required")
	}
	if cfg.GroupSearchBase != "" && cfg.GroupSearchFilter == "" {
		bad("a group search base needs a group search filter")
	}
	for _, f := range []string{cfg.UserSearchFilter, cfg.GroupSearchFilter} {
		if f == "" {
			continue
		}
		test := strings.NewReplacer("%s", "x", "%d", "x").Replace(f)
		if _, err := ldap.CompileFilter(test); err != nil {
			bad("filter %q is not a valid LDAP filter: %v", f, err)
		}
	}
	for _, a := range cfg.Attributes {
		if !attrName.MatchString(a) {
			bad("attribute %q is not an attribute name", a)
		}
		for _, r := range reservedClaims {
			if strings.EqualFold(a, r) {
				bad("attribute %q would replace the claim %s", a, r)
			}
		}
	}
	if cfg.DialTimeout < 0 || cfg.RequestTimeout < 0 || cfg.PoolSize < 0 {
		bad("timeouts and the pool size must not be negative")
	}
	if err := cfg.Throttle.validate(); err != nil {
		bad("%v", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Attributes = append([]string(nil), cfg.Attributes...)
	d := &Directory{cfg: cfg, u: u, addr: u.Host}
	if u.Scheme == "ldaps" || cfg.StartTLS {
		d.tlsCfg = &tls.Config{ServerName: u.Hostname(), RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	d.pool = newPool(cfg.PoolSize, d.dial)
	return d, nil
}

// Name returns Config.Name.
func (d *Directory) Name() string { return d.cfg.Name }

// Close closes the idle connections, and those in use as they are
// returned; sign-ins that still reach the Directory work, without keeping
// connections.
func (d *Directory) Close() { d.pool.close() }

// dial connects, upgrades to TLS as configured and binds as the lookup
// account.
func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.DialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	isTLS := false
	if d.u.Scheme == "ldaps" {
		tc := tls.Client(raw, d.tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		raw, isTLS = tc, true
	}
	_ = raw.SetDeadline(time.Time{})
	c := ldap.NewConn(raw, isTLS)
	c.Start()
	c.SetTimeout(d.cfg.RequestTimeout)
	if d.cfg.StartTLS {
		if err := c.StartTLS(d.tlsCfg); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if err := d.lookupBind(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (d *Directory) lookupBind(c *ldap.Conn) error {
	if err := c.Bind(d.cfg.LookupBindDN, d.cfg.LookupBindPassword); err != nil {
		return fmt.Errorf("lookup bind as %s: %w", d.cfg.LookupBindDN, err)
	}
	return nil
}

// Authenticate checks a user name and password. On failure the error is
// an [*Error]; its Error text is safe to show (it does not say whether the
// user exists), its Reason and Detail are for audit.
func (d *Directory) Authenticate(ctx context.Context, a Attempt) (*Identity, error) {
	if a.Username == "" || a.Password == "" {
		// An empty password would make an unauthenticated bind, which
		// directories accept.
		return nil, d.fail(ReasonMissingCredentials, "the user name or password is empty", nil)
	}
	if len(a.Username) > MaxUsernameLength || len(a.Password) > MaxPasswordLength || strings.ContainsRune(a.Username, 0) {
		return nil, d.fail(ReasonInvalidCredentials, "the user name or password is too long or not text", nil)
	}
	keys := d.throttleKeys(a)
	if err := d.checkThrottle(ctx, keys); err != nil {
		return nil, err
	}
	id, err := d.authenticate(ctx, a, &keys)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Reason.countsAsFailure() {
			d.recordFailure(ctx, keys)
		}
		return nil, err
	}
	d.recordSuccess(ctx, keys)
	return id, nil
}

// authenticate asks the directory. Once the user's entry is found, its DN
// is added to keys and checked too, so that spellings of the user name
// that the directory matches alike share one count.
func (d *Directory) authenticate(ctx context.Context, a Attempt, keys *[]throttleKey) (*Identity, error) {
	filter := strings.ReplaceAll(d.cfg.UserSearchFilter, "%s", ldap.EscapeFilter(a.Username))
	attrs := []string{"1.1"} // no attributes
	if len(d.cfg.Attributes) > 0 {
		attrs = d.cfg.Attributes
	}
	search := ldap.NewSearchRequest(d.cfg.UserSearchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.cfg.RequestTimeout/time.Second), false, filter, attrs, nil)
	var (
		c   *ldap.Conn
		res *ldap.SearchResult
		err error
	)
	// An idle connection may have been closed by the server meanwhile:
	// the search is tried once more on a new connection.
	for try := 0; try < 2; try++ {
		c, err = d.pool.get(ctx)
		if err != nil {
			return nil, d.fail(ReasonUnavailable, "the directory cannot be reached", err)
		}
		res, err = c.Search(search)
		if err == nil || !isDown(err) || try == 1 {
			break
		}
		d.pool.put(c, false)
	}
	healthy := false
	defer func() { d.pool.put(c, healthy) }()
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			healthy = true
			return nil, d.fail(ReasonUserNotFound, "the user search base does not exist", err)
		}
		return nil, d.fail(ReasonUnavailable, "the user search failed", err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		healthy = true
		return nil, d.fail(ReasonUserNotFound, "no entry matches the user name", nil)
	case len(res.Entries) > 1:
		healthy = true
		return nil, d.fail(ReasonUserAmbiguous, "several entries match the user name", nil)
	}
	entry := res.Entries[0]
	if k := d.dnThrottleKey(entry.DN); k != nil {
		healthy = true
		if err := d.checkThrottle(ctx, []throttleKey{*k}); err != nil {
			return nil, err
		}
		*keys = append(*keys, *k)
		healthy = false
	}

	// Bind as the user: the directory checks the password (and its
	// password policy). Then bind back as the lookup account.
	bindReq := ldap.NewSimpleBindRequest(entry.DN, a.Password, []ldap.Control{ldap.NewControlBeheraPasswordPolicy()})
	bres, berr := c.SimpleBind(bindReq)
	if berr != nil {
		if ldap.IsErrorWithCode(berr, ldap.LDAPResultInvalidCredentials) {
			reason, detail := ReasonInvalidCredentials, "the directory refused the password"
			if pp := policyControl(bres); pp != nil && pp.Error >= 0 {
				detail += " (password policy: " + pp.ErrorString + ")"
				if pp.Error == ppolicyAccountLocked {
					reason = ReasonAccountLocked
				}
			}
			if d.lookupBind(c) == nil {
				healthy = true
			}
			return nil, d.fail(reason, detail, berr)
		}
		if isDown(berr) {
			return nil, d.fail(ReasonUnavailable, "the user bind failed", berr)
		}
		if d.lookupBind(c) == nil {
			healthy = true
		}
		return nil, d.fail(ReasonRefused, "the directory refused the bind", berr)
	}
	if err := d.lookupBind(c); err != nil {
		return nil, d.fail(ReasonUnavailable, "the lookup bind after the user bind failed", err)
	}

	id := &Identity{Directory: d.cfg.Name, DN: normalizeDN(entry.DN), Username: a.Username, Attributes: map[string][]string{}}
	for _, name := range d.cfg.Attributes {
		if v := entry.GetAttributeValues(name); len(v) > 0 {
			id.Attributes[name] = v
		}
	}
	if d.cfg.GroupSearchBase != "" {
		gf := strings.NewReplacer("%d", ldap.EscapeFilter(entry.DN), "%s", ldap.EscapeFilter(a.Username)).Replace(d.cfg.GroupSearchFilter)
		gres, err := c.Search(ldap.NewSearchRequest(d.cfg.GroupSearchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, int(d.cfg.RequestTimeout/time.Second), false, gf, []string{"1.1"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, d.fail(ReasonUnavailable, "the group search failed", err)
		}
		if gres != nil {
			for _, g := range gres.Entries {
				id.Groups = append(id.Groups, normalizeDN(g.DN))
			}
		}
	}
	healthy = true
	return id, nil
}

// ppolicyAccountLocked is the password policy control's accountLocked
// error.
const ppolicyAccountLocked = 1

func policyControl(res *ldap.SimpleBindResult) *ldap.ControlBeheraPasswordPolicy {
	if res == nil {
		return nil
	}
	if c, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy); ok {
		return c
	}
	return nil
}

// isDown reports whether err means the connection or the server failed,
// rather than that the server answered.
func isDown(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError, ldap.LDAPResultOther)
}

// normalizeDN lower-cases the attribute types of dn and keeps the values;
// a DN that does not parse is kept as it is.
func normalizeDN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 {
		return dn
	}
	return p.String()
}
