package audit

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of a ReviewConfig.
const (
	DefaultReviewTop     = 10
	DefaultExpiryWarning = 30 * 24 * time.Hour
	maxSkippedShown      = 10
)

// Usage statuses of a role in an AccessReview. Only allowed requests
// (decision "allow": S3 requests served, STS credentials issued) are use:
// a refused attempt naming a role neither makes it used nor marks a trust
// rule matched; it is listed in RoleUsage.Refused.
const (
	RoleUsed             = "used"                        // an identity whose token the role trusts used it
	RoleServiceOnly      = "used_by_service_credentials" // only service credentials used it: no trust rule matched
	RoleUnused           = "unused"                      // no allowed request used it
	TrustMatched         = "matched"                     // the rule matched somebody who used the role
	TrustUnmatched       = "unmatched"                   // the rule matched nobody who used the role
	TrustUndetermined    = "undetermined"                // the role was used by its issuer, but the log cannot tell which of its rules matched
	serviceCredentialIss = "service-credential"
)

// ReviewConfig configures a Reviewer: the period and what the
// configuration declares, so that what was never used can be told.
type ReviewConfig struct {
	// Since and Until bound the period: an event counts if
	// Since <= time < Until. A zero bound is open.
	Since, Until time.Time

	// AsOf is when credential expiry is judged. Zero: time.Now().
	AsOf time.Time

	// ExpiryWarning flags service credentials expiring within it of AsOf.
	// 0: DefaultExpiryWarning.
	ExpiryWarning time.Duration

	// Top limits the denied-identity, denied-action and traffic lists.
	// 0: DefaultReviewTop; negative: no limit.
	Top int

	Roles              []ReviewRole       // in configuration order
	ServiceCredentials []ReviewCredential // in configuration order
}

// ReviewRole is a configured role and its trust rules.
type ReviewRole struct {
	Name  string
	Kind  string
	Trust []ReviewTrustRule
}

// ReviewTrustRule is one trust rule of a role.
type ReviewTrustRule struct {
	Issuer string
	Claims map[string]any
	Source string // where it is configured, e.g. "iamgate.yaml:12:7"
}

// ReviewCredential is a configured service credential.
type ReviewCredential struct {
	Name        string
	AccessKeyID string
	Role        string
	Expires     time.Time
}

// AccessReview is what a Reviewer found. Its JSON form is stable: fields
// may be added, never renamed or removed.
type AccessReview struct {
	Since      *time.Time `json:"since,omitempty"` // the requested period; absent: open
	Until      *time.Time `json:"until,omitempty"`
	AsOf       time.Time  `json:"as_of"`                 // when expiry was judged
	FirstEvent *time.Time `json:"first_event,omitempty"` // of the events counted
	LastEvent  *time.Time `json:"last_event,omitempty"`
	Top        int        `json:"top"` // list limit; 0: none

	Files        []string      `json:"files"`
	Events       int           `json:"events"`        // s3, sts and auth_failure events in the period
	OutOfPeriod  int           `json:"out_of_period"` // events outside the period
	Ignored      int           `json:"ignored"`       // other kinds (checkpoint, start, stop, config_reload)
	Skipped      int           `json:"skipped"`       // lines that are not audit events
	SkippedLines []SkippedLine `json:"skipped_lines"` // the first of them

	Roles              []RoleUsage       `json:"roles"`
	ServiceCredentials []CredentialUsage `json:"service_credentials"`
	DeniedIdentities   []DeniedIdentity  `json:"denied_identities"`       // most denied first
	DeniedIdentitiesN  int               `json:"denied_identities_total"` // before the Top limit
	DeniedActions      []DeniedAction    `json:"denied_actions"`          // most denied first
	DeniedActionsN     int               `json:"denied_actions_total"`    // before the Top limit
	Traffic            []IdentityTraffic `json:"traffic"`                 // most bytes read first
	TrafficN           int               `json:"traffic_total"`           // before the Top limit
}

// SkippedLine is a line that is not an audit event.
type SkippedLine struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Counts are request counts; Requests includes decision "error". LastUsed
// is the time of the last allowed request: refused attempts are not use.
type Counts struct {
	Requests int        `json:"requests"`
	Allowed  int        `json:"allowed"`
	Denied   int        `json:"denied"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

// Identity names a caller. Subject is "" for a request that was anonymous
// or failed authentication; Username then says which.
type Identity struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Username string `json:"username,omitempty"`
}

// RoleUsage is how a role was used in the period.
type RoleUsage struct {
	Name     string `json:"name"`
	Kind     string `json:"kind,omitempty"`
	InConfig bool   `json:"in_config"` // false: events name a role the configuration lacks
	Status   string `json:"status"`    // RoleUsed, RoleServiceOnly or RoleUnused
	Counts          // every request naming the role, allowed or refused
	// Identities are those that used the role: at least one allowed
	// request. Their counts include their refused ones.
	Identities []IdentityUsage `json:"identities"`
	// Refused lists, per identity, the refused requests naming the role
	// (denied S3 requests, refused STS calls): attempts, not use.
	Refused []RefusedAttempt `json:"refused"`
	Trust   []TrustUsage     `json:"trust"`
}

// RefusedAttempt is one identity's refused requests naming a role.
type RefusedAttempt struct {
	Identity
	ServiceCredential bool `json:"service_credential,omitempty"`
	Denied
}

// IdentityUsage is one identity's use of a role.
type IdentityUsage struct {
	Identity
	ServiceCredential bool `json:"service_credential,omitempty"`
	Counts
}

// TrustUsage is one trust rule and whether it matched anybody. Events name
// the role, not the rule: a rule is TrustMatched only when it is the
// role's one rule for an issuer whose identities used the role,
// TrustUnmatched when no identity of its issuer used the role by trust,
// and TrustUndetermined otherwise.
type TrustUsage struct {
	Index  int            `json:"index"`
	Issuer string         `json:"issuer"`
	Claims map[string]any `json:"claims,omitempty"`
	Source string         `json:"source,omitempty"`
	Status string         `json:"status"`
}

// CredentialUsage is how a service credential was used in the period.
type CredentialUsage struct {
	Name        string     `json:"name"`
	AccessKeyID string     `json:"access_key_id,omitempty"`
	Role        string     `json:"role,omitempty"`
	Expires     *time.Time `json:"expires,omitempty"`
	InConfig    bool       `json:"in_config"`
	Counts
	Unused      bool `json:"unused"`       // no allowed request in the period (refused attempts do not count)
	Expired     bool `json:"expired"`      // expires at or before as_of
	ExpiresSoon bool `json:"expires_soon"` // expires after as_of, within the warning window
}

// DeniedIdentity is an identity with denied requests.
type DeniedIdentity struct {
	Identity
	Denied
}

// DeniedAction is an action that was denied. Action is the IAM action
// that was refused; it is "" when the request was refused before
// authorization (authentication failures, no role).
type DeniedAction struct {
	Action    string `json:"action"`
	Operation string `json:"operation"`
	Denied
}

// Denied counts denials and keeps the latest one's reason.
type Denied struct {
	Count      int       `json:"count"`
	LastReason string    `json:"last_reason"`
	LastTime   time.Time `json:"last_time"`
}

// IdentityTraffic is what an identity moved through allowed S3 requests.
type IdentityTraffic struct {
	Identity
	Requests     int   `json:"requests"`
	BytesRead    int64 `json:"bytes_read"`    // sum of bytes_out
	BytesWritten int64 `json:"bytes_written"` // sum of bytes_in
}

// Event holds the fields a Reviewer reads of a line.

type idKey struct{ issuer, subject, note string }

type actionKey struct{ action, operation string }

type roleAgg struct {
	counts  Counts
	ids     map[idKey]*IdentityUsage
	refused map[idKey]*RefusedAttempt
}

type denyAgg struct {
	id Identity
	d  Denied
}

// Reviewer aggregates audit events into an AccessReview as it reads them;
// it keeps counts per role, identity, credential and action, never the
// events. Read each file, then call Finish.
type Reviewer struct {
	cfg       ReviewConfig
	r         AccessReview
	first     time.Time
	last      time.Time
	roles     map[string]*roleAgg
	creds     map[string]*CredentialUsage
	credByKey map[string]string
	denyIDs   map[idKey]*denyAgg
	denyActs  map[actionKey]*Denied
	traffic   map[idKey]*IdentityTraffic
	usernames map[idKey]string
}

// NewReviewer returns a Reviewer for cfg.
func NewReviewer(cfg ReviewConfig) *Reviewer {
	if cfg.AsOf.IsZero() {
		cfg.AsOf = time.Now()
	}
	if cfg.ExpiryWarning == 0 {
		cfg.ExpiryWarning = DefaultExpiryWarning
	}
	if cfg.Top == 0 {
		cfg.Top = DefaultReviewTop
	}
	rv := &Reviewer{
		cfg:       cfg,
		roles:     map[string]*roleAgg{},
		creds:     map[string]*CredentialUsage{},
		credByKey: map[string]string{},
		denyIDs:   map[idKey]*denyAgg{},
		denyActs:  map[actionKey]*Denied{},
		traffic:   map[idKey]*IdentityTraffic{},
		usernames: map[idKey]string{},
	}
	for _, c := range cfg.ServiceCredentials {
		rv.credByKey[c.AccessKeyID] = c.Name
	}
	return rv
}

// Read aggregates the lines of one file, named name in the review. It
// returns only read errors; lines that are not audit events are counted
// as skipped. Lines are decoded in parallel and aggregated in order.
func (rv *Reviewer) Read(name string, r io.Reader) error {
	rv.r.Files = append(rv.r.Files, name)
	return scanParallel(name, r, decodeBlock, func(b *block, d *decoded) error {
		for i := range d.lines {
			l := &d.lines[i]
			if l.err != nil {
				rv.skip(name, l.n, reviewLine(l.err.Error()))
				continue
			}
			rv.event(name, l.n, &l.v.Event)
		}
		putDecoded(d)
		return nil
	})
}

// decoded is the decoded lines of a block; blank lines are left out.
type decoded struct {
	lines []decodedLine
}

type decodedLine struct {
	n   int
	v   view
	err error
}

var decodedPool = sync.Pool{New: func() any { return &decoded{} }}

// putDecoded returns d to the pool. Its lines keep their strings until
// they are decoded over: clearing them here, and again before decoding,
// would zero each line's view (about 800 bytes) three times.
func putDecoded(d *decoded) {
	d.lines = d.lines[:0]
	decodedPool.Put(d)
}

// decodeBlock decodes the lines of b.
func decodeBlock(b *block) *decoded {
	d := decodedPool.Get().(*decoded)
	table := getStrTable()
	defer strTables.Put(table)
	b.lines(func(n int, line []byte) {
		if len(bytes.TrimSpace(line)) == 0 {
			return
		}
		d.lines = slices.Grow(d.lines, 1)[:len(d.lines)+1]
		l := &d.lines[len(d.lines)-1] // decoding sets every field of l.v
		l.n = n
		l.err = decodeViewOpts(line, &l.v, reportFields, table)
	})
	return d
}

func (rv *Reviewer) skip(name string, n int, reason string) {
	rv.r.Skipped++
	if len(rv.r.SkippedLines) < maxSkippedShown {
		rv.r.SkippedLines = append(rv.r.SkippedLines, SkippedLine{File: name, Line: n, Reason: reason})
	}
}

// event aggregates the event of line n; it may change e.
func (rv *Reviewer) event(name string, n int, ep *Event) {
	e := ep
	if e.Kind == "" || e.Time.IsZero() {
		rv.skip(name, n, "not an audit event: no kind or time")
		return
	}
	if !rv.cfg.Since.IsZero() && e.Time.Before(rv.cfg.Since) || !rv.cfg.Until.IsZero() && !e.Time.Before(rv.cfg.Until) {
		rv.r.OutOfPeriod++
		return
	}
	switch e.Kind {
	case "s3", "sts", "auth_failure":
	default:
		rv.r.Ignored++
		return
	}
	rv.r.Events++
	if rv.first.IsZero() || e.Time.Before(rv.first) {
		rv.first = e.Time
	}
	if e.Time.After(rv.last) {
		rv.last = e.Time
	}
	key, id := rv.identity(e) // may fill in a service credential's name
	service := e.AuthMethod == "service-credential" || e.Issuer == serviceCredentialIss

	for _, role := range e.Roles {
		ra := rv.roles[role]
		if ra == nil {
			ra = &roleAgg{ids: map[idKey]*IdentityUsage{}, refused: map[idKey]*RefusedAttempt{}}
			rv.roles[role] = ra
		}
		addUse(&ra.counts, e)
		iu := ra.ids[key]
		if iu == nil {
			iu = &IdentityUsage{ServiceCredential: service}
			ra.ids[key] = iu
		}
		iu.Identity = id
		addUse(&iu.Counts, e)
		if e.Decision != "allow" {
			ref := ra.refused[key]
			if ref == nil {
				ref = &RefusedAttempt{ServiceCredential: service}
				ra.refused[key] = ref
			}
			ref.Identity = id
			addDenial(&ref.Denied, e)
		}
	}

	if service {
		if name := e.Subject; name != "" {
			cu := rv.creds[name]
			if cu == nil {
				cu = &CredentialUsage{Name: name}
				rv.creds[name] = cu
			}
			if cu.AccessKeyID == "" {
				cu.AccessKeyID = e.AccessKeyID
			}
			addUse(&cu.Counts, e)
		}
	}

	if e.Decision == "deny" {
		da := rv.denyIDs[key]
		if da == nil {
			da = &denyAgg{}
			rv.denyIDs[key] = da
		}
		da.id = id
		addDenial(&da.d, e)
		ak := actionKey{action: e.Action, operation: e.Operation}
		d := rv.denyActs[ak]
		if d == nil {
			d = &Denied{}
			rv.denyActs[ak] = d
		}
		addDenial(d, e)
	}

	if e.Kind == "s3" && e.Decision == "allow" {
		t := rv.traffic[key]
		if t == nil {
			t = &IdentityTraffic{}
			rv.traffic[key] = t
		}
		t.Identity = id
		t.Requests++
		t.BytesRead += e.BytesOut
		t.BytesWritten += e.BytesIn
	}
}

// identity returns the key and the identity of e's caller. The username
// kept is the latest non-empty one seen for the key.
func (rv *Reviewer) identity(e *Event) (idKey, Identity) {
	if e.Subject == "" && e.AuthMethod == "service-credential" {
		if name := rv.credByKey[e.AccessKeyID]; name != "" {
			e.Issuer, e.Subject, e.Username = serviceCredentialIss, name, name
		}
	}
	k := idKey{issuer: e.Issuer, subject: e.Subject}
	if e.Subject == "" {
		switch {
		case e.AuthMethod == "none":
			k.note = "(anonymous)"
		case e.Kind == "auth_failure" || e.Decision != "allow":
			k.note = "(not authenticated)"
		default:
			k.note = "(unknown)"
		}
		return k, Identity{Issuer: e.Issuer, Username: k.note}
	}
	name := rv.usernames[k]
	if e.Username != "" && e.Username != name {
		rv.usernames[k] = e.Username
		name = e.Username
	}
	return k, Identity{Issuer: e.Issuer, Subject: e.Subject, Username: name}
}

// addUse counts e; only an allowed request is use (LastUsed).
func addUse(c *Counts, e *Event) {
	c.Requests++
	switch e.Decision {
	case "allow":
		c.Allowed++
	case "deny":
		c.Denied++
	}
	switch {
	case e.Decision != "allow":
	case c.LastUsed == nil:
		t := e.Time
		c.LastUsed = &t
	case e.Time.After(*c.LastUsed):
		*c.LastUsed = e.Time // c's own: no other Counts shares it
	}
}

func addDenial(d *Denied, e *Event) {
	d.Count++
	if d.LastTime.IsZero() || !e.Time.Before(d.LastTime) {
		d.LastTime = e.Time
		d.LastReason = e.Reason
	}
}

// Finish returns the review of everything read.
func (rv *Reviewer) Finish() *AccessReview {
	r := rv.r
	r.AsOf = rv.cfg.AsOf.UTC()
	if !rv.cfg.Since.IsZero() {
		t := rv.cfg.Since.UTC()
		r.Since = &t
	}
	if !rv.cfg.Until.IsZero() {
		t := rv.cfg.Until.UTC()
		r.Until = &t
	}
	if !rv.first.IsZero() {
		f, l := rv.first.UTC(), rv.last.UTC()
		r.FirstEvent, r.LastEvent = &f, &l
	}
	if rv.cfg.Top > 0 {
		r.Top = rv.cfg.Top
	}
	if r.Files == nil {
		r.Files = []string{}
	}
	if r.SkippedLines == nil {
		r.SkippedLines = []SkippedLine{}
	}

	r.Roles = []RoleUsage{}
	seen := map[string]bool{}
	for _, cr := range rv.cfg.Roles {
		seen[cr.Name] = true
		r.Roles = append(r.Roles, rv.roleUsage(cr, true))
	}
	for _, name := range slices.Sorted(maps.Keys(rv.roles)) {
		if !seen[name] {
			r.Roles = append(r.Roles, rv.roleUsage(ReviewRole{Name: name}, false))
		}
	}

	r.ServiceCredentials = []CredentialUsage{}
	seen = map[string]bool{}
	for _, c := range rv.cfg.ServiceCredentials {
		seen[c.Name] = true
		cu := CredentialUsage{Name: c.Name}
		if u := rv.creds[c.Name]; u != nil {
			cu = *u
		}
		cu.AccessKeyID, cu.Role, cu.InConfig = c.AccessKeyID, c.Role, true
		exp := c.Expires.UTC()
		cu.Expires = &exp
		cu.Expired = !rv.cfg.AsOf.Before(c.Expires)
		cu.ExpiresSoon = !cu.Expired && c.Expires.Sub(rv.cfg.AsOf) <= rv.cfg.ExpiryWarning
		cu.Unused = cu.Allowed == 0
		r.ServiceCredentials = append(r.ServiceCredentials, cu)
	}
	for _, name := range slices.Sorted(maps.Keys(rv.creds)) {
		if !seen[name] {
			r.ServiceCredentials = append(r.ServiceCredentials, *rv.creds[name])
		}
	}

	r.DeniedIdentities = []DeniedIdentity{}
	for _, d := range rv.denyIDs {
		r.DeniedIdentities = append(r.DeniedIdentities, DeniedIdentity{Identity: d.id, Denied: d.d})
	}
	slices.SortFunc(r.DeniedIdentities, func(a, b DeniedIdentity) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return compareIdentities(a.Identity, b.Identity)
	})
	r.DeniedIdentitiesN = len(r.DeniedIdentities)
	r.DeniedIdentities = firstN(r.DeniedIdentities, r.Top)

	r.DeniedActions = []DeniedAction{}
	for a, d := range rv.denyActs {
		r.DeniedActions = append(r.DeniedActions, DeniedAction{Action: a.action, Operation: a.operation, Denied: *d})
	}
	slices.SortFunc(r.DeniedActions, func(a, b DeniedAction) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if c := strings.Compare(a.Action, b.Action); c != 0 {
			return c
		}
		return strings.Compare(a.Operation, b.Operation)
	})
	r.DeniedActionsN = len(r.DeniedActions)
	r.DeniedActions = firstN(r.DeniedActions, r.Top)

	r.Traffic = []IdentityTraffic{}
	for _, t := range rv.traffic {
		r.Traffic = append(r.Traffic, *t)
	}
	slices.SortFunc(r.Traffic, func(a, b IdentityTraffic) int {
		switch {
		case a.BytesRead != b.BytesRead:
			return compareInt64(b.BytesRead, a.BytesRead)
		case a.BytesWritten != b.BytesWritten:
			return compareInt64(b.BytesWritten, a.BytesWritten)
		}
		return compareIdentities(a.Identity, b.Identity)
	})
	r.TrafficN = len(r.Traffic)
	r.Traffic = firstN(r.Traffic, r.Top)
	return &r
}

func (rv *Reviewer) roleUsage(cr ReviewRole, inConfig bool) RoleUsage {
	ru := RoleUsage{Name: cr.Name, Kind: cr.Kind, InConfig: inConfig, Status: RoleUnused,
		Identities: []IdentityUsage{}, Refused: []RefusedAttempt{}, Trust: []TrustUsage{}}
	trustIssuers := map[string]bool{}
	if ra := rv.roles[cr.Name]; ra != nil {
		ru.Counts = ra.counts
		for _, iu := range ra.ids {
			if iu.Allowed == 0 {
				continue // only refused: listed in Refused, not a use
			}
			ru.Identities = append(ru.Identities, *iu)
			if ru.Status == RoleUnused {
				ru.Status = RoleServiceOnly
			}
			if !iu.ServiceCredential {
				ru.Status = RoleUsed
				trustIssuers[iu.Issuer] = true
			}
		}
		slices.SortFunc(ru.Identities, func(a, b IdentityUsage) int {
			if a.Requests != b.Requests {
				return b.Requests - a.Requests
			}
			return compareIdentities(a.Identity, b.Identity)
		})
		for _, r := range ra.refused {
			ru.Refused = append(ru.Refused, *r)
		}
		slices.SortFunc(ru.Refused, func(a, b RefusedAttempt) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return compareIdentities(a.Identity, b.Identity)
		})
	}
	rulesPerIssuer := map[string]int{}
	for _, t := range cr.Trust {
		rulesPerIssuer[t.Issuer]++
	}
	for i, t := range cr.Trust {
		tu := TrustUsage{Index: i, Issuer: t.Issuer, Claims: t.Claims, Source: t.Source, Status: TrustUndetermined}
		switch {
		case !trustIssuers[t.Issuer]:
			tu.Status = TrustUnmatched
		case rulesPerIssuer[t.Issuer] == 1:
			tu.Status = TrustMatched
		}
		ru.Trust = append(ru.Trust, tu)
	}
	return ru
}

func compareIdentities(a, b Identity) int {
	if c := strings.Compare(a.Issuer, b.Issuer); c != 0 {
		return c
	}
	if c := strings.Compare(a.Subject, b.Subject); c != 0 {
		return c
	}
	return strings.Compare(a.Username, b.Username)
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func firstN[T any](s []T, n int) []T {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

func reviewLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
