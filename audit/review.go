package audit

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultRunClaim is the claim an access review groups agents' activity
// by.
const DefaultRunClaim = "agent_run"

// Role kinds as charted by an access review; events whose role kind is
// none of the configured ones (no role: anonymous, failed
// authentication) are charted as RoleKindOther.
const (
	RoleKindHuman   = "human"
	RoleKindMachine = "machine"
	RoleKindAgent   = "agent"
	RoleKindOther   = "other"
)

// ReviewKinds are the role kinds of a review's time series, in chart
// order.
var ReviewKinds = []string{RoleKindHuman, RoleKindMachine, RoleKindAgent, RoleKindOther}

// ReviewOptions configures a ReviewBuilder: the access review of a period
// (see ReviewConfig) and what the evidence adds to it.
type ReviewOptions struct {
	ReviewConfig

	// ConfigPath and ConfigDigest name the configuration reviewed; the
	// digest is compared with those recorded by start and config_reload
	// events.
	ConfigPath   string
	ConfigDigest string

	// PublicKey checks the checkpoint signatures. nil: they are not
	// checked, and the review says so.
	PublicKey ed25519.PublicKey

	// RunClaim is the claim that names an agent's run. "": DefaultRunClaim.
	RunClaim string

	// TrustMatch returns the index of the trust rule of role that matched
	// the identity of e (an allowed request by a token's holder), or -1
	// when the event cannot tell (the rules' claims are not all recorded).
	// nil: a rule is credited only when it is the role's one rule for the
	// event's issuer.
	TrustMatch func(role string, e *Event) int
}

// Review is the evidence of an access review: the AccessReview of `audit
// report` with its roles extended (first use and volume per identity, the
// last match of each trust rule), plus what the configuration in force
// was, whether the log's chain verifies, agents' runs and time series.
// Its JSON form is stable: fields may be added, never renamed or removed.
type Review struct {
	AccessReview
	Roles []RoleReview `json:"roles"` // in configuration order, then roles only the events name

	Config ConfigEvidence `json:"config"`
	Chain  ChainEvidence  `json:"chain"`

	UnusedTrustRules           []UnusedTrustRule `json:"unused_trust_rules"`
	UnusedServiceCredentials   []string          `json:"unused_service_credentials"`
	ExpiringServiceCredentials []string          `json:"expiring_service_credentials"` // expired, or expiring within expiry_warning_seconds of as_of
	ExpiryWarning              int64             `json:"expiry_warning_seconds"`

	// Denials are the denied requests per identity and action, most
	// denied first; DenialsN counts them before the Top limit.
	Denials  []IdentityActionDenial `json:"denials"`
	DenialsN int                    `json:"denials_total"`

	Runs   *ClaimReport `json:"runs"` // activity per value of RunClaim
	Series Series       `json:"series"`
}

// RoleReview is a role's use with what a reviewer signs off on.
type RoleReview struct {
	RoleUsage
	// Identities used the role (an allowed request), most requests first.
	Identities []RoleIdentity `json:"identities"`
	Trust      []TrustReview  `json:"trust"`
}

// RoleIdentity is one identity's use of a role: the counts of RoleUsage,
// when it first used the role in the period, and the bytes of its allowed
// S3 requests.
type RoleIdentity struct {
	IdentityUsage
	FirstUsed    *time.Time `json:"first_used,omitempty"`
	BytesRead    int64      `json:"bytes_read"`    // sum of bytes_out
	BytesWritten int64      `json:"bytes_written"` // sum of bytes_in
}

// TrustReview is a trust rule of a role, when it last matched and whom.
// Matches counts the allowed requests credited to the rule. When the log
// cannot tell which of a role's rules for an issuer matched (Status
// TrustUndetermined), IssuerLastUse and IssuerLastUseBy say when an
// identity of the rule's issuer last used the role.
type TrustReview struct {
	TrustUsage
	Matches         int        `json:"matches"`
	LastMatch       *time.Time `json:"last_match,omitempty"`
	LastMatchBy     *Identity  `json:"last_match_by,omitempty"`
	IssuerLastUse   *time.Time `json:"issuer_last_use,omitempty"`
	IssuerLastUseBy *Identity  `json:"issuer_last_use_by,omitempty"`
}

// UnusedTrustRule is a trust rule that matched nobody in the period.
type UnusedTrustRule struct {
	Role   string         `json:"role"`
	Index  int            `json:"index"`
	Issuer string         `json:"issuer"`
	Claims map[string]any `json:"claims,omitempty"`
	Source string         `json:"source,omitempty"`
}

// IdentityActionDenial is one identity's denied requests for one action.
type IdentityActionDenial struct {
	Identity
	Action    string `json:"action"`
	Operation string `json:"operation"`
	Denied
}

// ConfigEvidence is the configuration reviewed and those in force.
type ConfigEvidence struct {
	Path   string `json:"path,omitempty"`
	Digest string `json:"digest,omitempty"` // of the configuration reviewed
	// InForce are the digests recorded by start and config_reload events:
	// the last one before the period (in force when it began), then those
	// of the period, in order of first appearance.
	InForce []DigestInForce `json:"in_force"`
	// Matches: the configuration reviewed is the last one in force.
	Matches bool `json:"matches"`
}

// DigestInForce is one configuration digest the events record.
type DigestInForce struct {
	Digest       string    `json:"digest"`
	First        time.Time `json:"first"` // the first start or config_reload event recording it
	Last         time.Time `json:"last"`
	Events       int       `json:"events"`
	BeforePeriod bool      `json:"before_period,omitempty"` // recorded before the period only: in force when it began
	Reviewed     bool      `json:"reviewed"`                // the digest of the configuration reviewed
}

// ChainEvidence is the result of verifying the files' hash chain and
// checkpoint signatures, as `audit verify` does. It covers every line of
// the files, not only the period.
type ChainEvidence struct {
	OK bool `json:"ok"` // no problem (warnings allowed)
	*Report
	// SignaturesChecked: a public key was given, and KeyID is its key id
	// (as checkpoints record it), PublicKey its base64 form.
	SignaturesChecked bool   `json:"signatures_checked"`
	KeyID             string `json:"key_id,omitempty"`
	PublicKey         string `json:"public_key,omitempty"`
	// CheckpointKeys are the key ids the signed checkpoints name.
	CheckpointKeys []CheckpointKey `json:"checkpoint_keys"`
}

// CheckpointKey is a key id named by signed checkpoints.
type CheckpointKey struct {
	KeyID       string `json:"key_id"`
	Checkpoints int    `json:"checkpoints"`
	Given       bool   `json:"given"` // the key id of the public key given
}

// Series is the period's activity in time buckets of Step: requests and
// bytes (read and written) of each role kind, and denials.
type Series struct {
	Start  time.Time     `json:"start"`
	Step   time.Duration `json:"step_ns"`
	Points []SeriesPoint `json:"points"`
}

// SeriesPoint is one bucket, [Time, Time+Step).
type SeriesPoint struct {
	Time     time.Time        `json:"time"`
	Requests map[string]int64 `json:"requests"` // by role kind
	Bytes    map[string]int64 `json:"bytes"`    // by role kind
	Denials  int64            `json:"denials"`
}

// reviewSteps are the bucket sizes a Series may use, smallest first.
var reviewSteps = []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 28 * 24 * time.Hour}

// maxSeriesPoints bounds the buckets of a Series.
const maxSeriesPoints = 90

type roleIDKey struct {
	role string
	id   idKey
}

type roleIdentityAgg struct {
	usage        IdentityUsage
	first        time.Time
	bytesRead    int64
	bytesWritten int64
}

type trustAgg struct {
	matches int
	last    time.Time
	by      Identity
}

type issuerUse struct {
	last      time.Time
	by        Identity
	undecided int // allowed requests not credited to a rule
}

type denialKey struct {
	id        idKey
	action    string
	operation string
}

type hourAgg struct {
	requests [4]int64
	bytes    [4]int64
	denials  int64
}

type digestAgg struct {
	d     DigestInForce
	order int
}

// ReviewBuilder builds a Review from audit files: it reads each line once
// and hands it to a Reviewer (the access review), a ClaimTally (agents'
// runs) and a Verifier (the chain), and keeps what the evidence adds. It
// keeps counts, never the events (the Verifier keeps a few bytes per line
// to check the chain). Read each file, then call Finish.
type ReviewBuilder struct {
	opts   ReviewOptions
	rv     *Reviewer
	runs   *ClaimTally
	verify *Verifier

	kinds     map[string]string // role -> kind, from the configuration
	rules     map[string][]ReviewTrustRule
	ids       map[roleIDKey]*roleIdentityAgg
	trust     map[string][]trustAgg            // role -> per rule
	issuers   map[string]map[string]*issuerUse // role -> issuer
	denials   map[denialKey]*IdentityActionDenial
	hours     map[int64]*hourAgg // by Unix hour
	digests   map[string]*digestAgg
	preDigest *DigestInForce // the last one recorded before the period
	keys      map[string]int
}

// NewReviewBuilder returns a ReviewBuilder for opts.
func NewReviewBuilder(opts ReviewOptions) *ReviewBuilder {
	if opts.AsOf.IsZero() {
		opts.AsOf = time.Now()
	}
	if opts.RunClaim == "" {
		opts.RunClaim = DefaultRunClaim
	}
	b := &ReviewBuilder{
		opts:    opts,
		rv:      NewReviewer(opts.ReviewConfig),
		runs:    NewClaimTally(opts.RunClaim, opts.Since, opts.Until),
		verify:  NewVerifier(VerifyConfig{PublicKey: opts.PublicKey}),
		kinds:   map[string]string{},
		rules:   map[string][]ReviewTrustRule{},
		ids:     map[roleIDKey]*roleIdentityAgg{},
		trust:   map[string][]trustAgg{},
		issuers: map[string]map[string]*issuerUse{},
		denials: map[denialKey]*IdentityActionDenial{},
		hours:   map[int64]*hourAgg{},
		digests: map[string]*digestAgg{},
		keys:    map[string]int{},
	}
	b.opts.ReviewConfig = b.rv.cfg // with its defaults
	for _, r := range opts.Roles {
		b.kinds[r.Name] = r.Kind
		b.rules[r.Name] = r.Trust
		b.trust[r.Name] = make([]trustAgg, len(r.Trust))
	}
	return b
}

// Read reads the lines of one file, named name in the review. It returns
// only read errors; lines that are not audit events are counted as
// skipped, and as problems of the chain. Lines are decoded, hashed and
// their signatures checked in parallel, once for every part of the
// review, and counted in order.
func (b *ReviewBuilder) Read(name string, r io.Reader) error {
	b.rv.r.Files = append(b.rv.r.Files, name)
	b.runs.r.Files = append(b.runs.r.Files, name)
	fi := len(b.verify.files)
	b.verify.files = append(b.verify.files, name)
	return scanParallel(name, r, b.parseBlock, func(_ *block, ls *[]reviewedLine) error {
		for i := range *ls {
			l := &(*ls)[i]
			b.verify.line(fi, &l.chain)
			switch {
			case l.blank:
			case l.err != nil:
				b.rv.skip(name, l.n, reviewLine(l.err.Error()))
				b.runs.r.Skipped++
			default:
				e := &l.v.Event
				if e.Kind != "" && !e.Time.IsZero() {
					b.event(e)
				}
				b.runs.event(e)
				b.rv.event(name, l.n, e) // last: it may change e
			}
		}
		clear(*ls)
		*ls = (*ls)[:0]
		reviewedLinePool.Put(ls)
		return nil
	})
}

// reviewedLine is a line as the review reads it, in parallel: its chain
// fields and hash, and its event.
type reviewedLine struct {
	n     int
	chain chainLine
	blank bool
	v     view
	err   error
}

var reviewedLinePool = sync.Pool{New: func() any { return new([]reviewedLine) }}

func (b *ReviewBuilder) parseBlock(bl *block) *[]reviewedLine {
	ls := reviewedLinePool.Get().(*[]reviewedLine)
	table := getStrTable()
	defer strTables.Put(table)
	bl.lines(func(n int, data []byte) {
		*ls = append(*ls, reviewedLine{n: n})
		l := &(*ls)[len(*ls)-1]
		b.verify.parseLine(n, data, &l.chain)
		if len(bytes.TrimSpace(data)) == 0 {
			l.blank = true
			return
		}
		if l.err = decodeViewOpts(data, &l.v, withChain, table); l.err == nil && l.v.Claims == nil && len(l.v.claims) > 0 {
			var m map[string]any
			if json.Unmarshal(l.v.claims, &m) == nil {
				l.v.Claims = m
			}
		}
	})
	return ls
}

func (b *ReviewBuilder) inPeriod(t time.Time) bool {
	return (b.opts.Since.IsZero() || !t.Before(b.opts.Since)) && (b.opts.Until.IsZero() || t.Before(b.opts.Until))
}

// event keeps what the Reviewer does not, of one decoded event: digests,
// checkpoint keys, the per-role identities, trust rule matches, denials
// per identity and action, and the time series.
func (b *ReviewBuilder) event(e *Event) {
	if e.Kind == KindCheckpoint && e.KeyID != "" && e.Signature != "" {
		b.keys[e.KeyID]++
	}
	if e.ConfigDigest != "" {
		b.digest(e)
	}
	if !b.inPeriod(e.Time) {
		return
	}
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure:
	default:
		return
	}
	key, id := b.rv.identity(e) // as the Reviewer names it
	service := e.AuthMethod == "service-credential" || e.Issuer == serviceCredentialIss
	for _, role := range e.Roles {
		b.roleUse(role, key, id, service, e)
	}
	if e.Decision == "deny" {
		dk := denialKey{id: key, action: e.Action, operation: e.Operation}
		d := b.denials[dk]
		if d == nil {
			d = &IdentityActionDenial{Action: e.Action, Operation: e.Operation}
			b.denials[dk] = d
		}
		d.Identity = id
		addDenial(&d.Denied, e)
	}
	h := b.hours[e.Time.Unix()/3600]
	if h == nil {
		h = &hourAgg{}
		b.hours[e.Time.Unix()/3600] = h
	}
	k := kindIndex(e.RoleKind)
	h.requests[k]++
	h.bytes[k] += e.BytesIn + e.BytesOut
	if e.Decision == "deny" {
		h.denials++
	}
}

func kindIndex(kind string) int {
	switch kind {
	case RoleKindHuman:
		return 0
	case RoleKindMachine:
		return 1
	case RoleKindAgent:
		return 2
	}
	return 3
}

func (b *ReviewBuilder) digest(e *Event) {
	if !b.opts.Since.IsZero() && e.Time.Before(b.opts.Since) {
		if b.preDigest == nil || !e.Time.Before(b.preDigest.First) {
			b.preDigest = &DigestInForce{Digest: e.ConfigDigest, First: e.Time, Last: e.Time, Events: 1, BeforePeriod: true}
		}
		return
	}
	if !b.inPeriod(e.Time) {
		return
	}
	d := b.digests[e.ConfigDigest]
	if d == nil {
		d = &digestAgg{d: DigestInForce{Digest: e.ConfigDigest, First: e.Time, Last: e.Time}, order: len(b.digests)}
		b.digests[e.ConfigDigest] = d
	}
	d.d.Events++
	if e.Time.Before(d.d.First) {
		d.d.First = e.Time
	}
	if e.Time.After(d.d.Last) {
		d.d.Last = e.Time
	}
}

func (b *ReviewBuilder) roleUse(role string, key idKey, id Identity, service bool, e *Event) {
	rk := roleIDKey{role: role, id: key}
	a := b.ids[rk]
	if a == nil {
		a = &roleIdentityAgg{usage: IdentityUsage{ServiceCredential: service}}
		b.ids[rk] = a
	}
	a.usage.Identity = id
	addUse(&a.usage.Counts, e)
	if e.Decision != "allow" {
		return
	}
	if a.first.IsZero() || e.Time.Before(a.first) {
		a.first = e.Time
	}
	if e.Kind == KindS3 {
		a.bytesRead += e.BytesOut
		a.bytesWritten += e.BytesIn
	}
	if service {
		return
	}
	rules, ok := b.rules[role]
	if !ok {
		return
	}
	byIssuer := b.issuers[role]
	if byIssuer == nil {
		byIssuer = map[string]*issuerUse{}
		b.issuers[role] = byIssuer
	}
	iu := byIssuer[e.Issuer]
	if iu == nil {
		iu = &issuerUse{}
		byIssuer[e.Issuer] = iu
	}
	if !e.Time.Before(iu.last) {
		iu.last, iu.by = e.Time, id
	}
	i := -1
	if b.opts.TrustMatch != nil {
		i = b.opts.TrustMatch(role, e)
	}
	if i < 0 || i >= len(rules) || rules[i].Issuer != e.Issuer {
		i = -1
		for j, r := range rules {
			if r.Issuer != e.Issuer {
				continue
			}
			if i >= 0 { // a second rule for the issuer: cannot tell
				i = -1
				break
			}
			i = j
		}
	}
	if i < 0 {
		iu.undecided++
		return
	}
	t := &b.trust[role][i]
	t.matches++
	if !e.Time.Before(t.last) {
		t.last, t.by = e.Time, id
	}
}

// Finish returns the review of everything read.
func (b *ReviewBuilder) Finish() *Review {
	ar := b.rv.Finish()
	r := &Review{AccessReview: *ar}
	top := b.opts.Top
	r.ExpiryWarning = int64(b.opts.ExpiryWarning / time.Second)
	r.ExpiryWarning = int64(b.opts.ExpiryWarning / time.Second)

	for _, ru := range ar.Roles {
		r.Roles = append(r.Roles, b.roleReview(ru))
	}
	r.AccessReview.Roles = nil // the extended r.Roles replace them
	if r.Roles == nil {
		r.Roles = []RoleReview{}
	}

	r.UnusedTrustRules = []UnusedTrustRule{}
	for _, rr := range r.Roles {
		for _, t := range rr.Trust {
			if t.Status == TrustUnmatched {
				r.UnusedTrustRules = append(r.UnusedTrustRules, UnusedTrustRule{Role: rr.Name, Index: t.Index, Issuer: t.Issuer, Claims: t.Claims, Source: t.Source})
			}
		}
	}
	r.UnusedServiceCredentials = []string{}
	r.ExpiringServiceCredentials = []string{}
	for _, c := range ar.ServiceCredentials {
		if c.InConfig && c.Unused {
			r.UnusedServiceCredentials = append(r.UnusedServiceCredentials, c.Name)
		}
		if c.Expired || c.ExpiresSoon {
			r.ExpiringServiceCredentials = append(r.ExpiringServiceCredentials, c.Name)
		}
	}

	r.Denials = make([]IdentityActionDenial, 0, len(b.denials))
	for _, d := range b.denials {
		r.Denials = append(r.Denials, *d)
	}
	slices.SortFunc(r.Denials, func(a, b IdentityActionDenial) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), compareIdentities(a.Identity, b.Identity),
			strings.Compare(a.Action, b.Action), strings.Compare(a.Operation, b.Operation))
	})
	r.DenialsN = len(r.Denials)
	r.Denials = firstN(r.Denials, top)

	r.Config = b.config()
	r.Chain = b.chain()
	r.Runs = b.runs.Finish()
	if r.Runs.Files == nil {
		r.Runs.Files = []string{}
	}
	r.Runs.Values = firstN(r.Runs.Values, top)
	r.Series = b.series(ar)
	return r
}

func (b *ReviewBuilder) roleReview(ru RoleUsage) RoleReview {
	rr := RoleReview{RoleUsage: ru, Identities: []RoleIdentity{}, Trust: []TrustReview{}}
	rr.RoleUsage.Identities, rr.RoleUsage.Trust = nil, nil
	for k, a := range b.ids {
		if k.role != ru.Name || a.usage.Allowed == 0 {
			continue
		}
		ri := RoleIdentity{IdentityUsage: a.usage, BytesRead: a.bytesRead, BytesWritten: a.bytesWritten}
		f := a.first.UTC()
		ri.FirstUsed = &f
		rr.Identities = append(rr.Identities, ri)
	}
	slices.SortFunc(rr.Identities, func(a, b RoleIdentity) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), compareIdentities(a.Identity, b.Identity))
	})
	aggs := b.trust[ru.Name]
	for _, tu := range ru.Trust {
		tr := TrustReview{TrustUsage: tu}
		iu := b.issuers[ru.Name][tu.Issuer]
		if tu.Index < len(aggs) {
			if a := aggs[tu.Index]; a.matches > 0 {
				last, by := a.last.UTC(), a.by
				tr.Matches, tr.LastMatch, tr.LastMatchBy = a.matches, &last, &by
			}
		}
		switch {
		case tr.Matches > 0:
			tr.Status = TrustMatched
		case iu == nil:
			tr.Status = TrustUnmatched
		case iu.undecided == 0:
			tr.Status = TrustUnmatched // every use was credited to another rule
		default:
			tr.Status = TrustUndetermined
		}
		if tr.Status == TrustUndetermined {
			last, by := iu.last.UTC(), iu.by
			tr.IssuerLastUse, tr.IssuerLastUseBy = &last, &by
		}
		rr.Trust = append(rr.Trust, tr)
	}
	return rr
}

func (b *ReviewBuilder) config() ConfigEvidence {
	c := ConfigEvidence{Path: b.opts.ConfigPath, Digest: b.opts.ConfigDigest, InForce: []DigestInForce{}}
	if b.preDigest != nil {
		if _, again := b.digests[b.preDigest.Digest]; !again {
			c.InForce = append(c.InForce, *b.preDigest)
		}
	}
	ds := slices.Collect(maps.Values(b.digests))
	slices.SortFunc(ds, func(x, y *digestAgg) int { return cmp.Or(x.d.First.Compare(y.d.First), cmp.Compare(x.order, y.order)) })
	for _, d := range ds {
		c.InForce = append(c.InForce, d.d)
	}
	var last *DigestInForce
	for i := range c.InForce {
		d := &c.InForce[i]
		d.First, d.Last = d.First.UTC(), d.Last.UTC()
		d.Reviewed = d.Digest == c.Digest && c.Digest != ""
		if last == nil || !d.Last.Before(last.Last) {
			last = d
		}
	}
	c.Matches = last != nil && last.Reviewed
	return c
}

func (b *ReviewBuilder) chain() ChainEvidence {
	rep := b.verify.Finish()
	c := ChainEvidence{OK: rep.OK(), Report: rep, CheckpointKeys: []CheckpointKey{}}
	if b.opts.PublicKey != nil {
		c.SignaturesChecked = true
		c.KeyID = KeyID(b.opts.PublicKey)
		c.PublicKey = base64.StdEncoding.EncodeToString(b.opts.PublicKey)
	}
	for _, k := range slices.Sorted(maps.Keys(b.keys)) {
		c.CheckpointKeys = append(c.CheckpointKeys, CheckpointKey{KeyID: k, Checkpoints: b.keys[k], Given: k == c.KeyID})
	}
	return c
}

// series buckets the hours counted over the period (or, where it is open,
// the events' first and last time) in the smallest step that keeps the
// buckets under maxSeriesPoints.
func (b *ReviewBuilder) series(ar *AccessReview) Series {
	s := Series{Points: []SeriesPoint{}}
	start, end := b.opts.Since, b.opts.Until
	if start.IsZero() && ar.FirstEvent != nil {
		start = *ar.FirstEvent
	}
	if end.IsZero() && ar.LastEvent != nil {
		end = ar.LastEvent.Add(time.Nanosecond)
	}
	if start.IsZero() || end.IsZero() || !start.Before(end) {
		return s
	}
	start, end = start.UTC(), end.UTC()
	// Beyond the largest step (an open period whose events span years),
	// whole days that keep the buckets under the bound.
	const day = 24 * time.Hour
	step := (end.Sub(start)/maxSeriesPoints/day + 1) * day
	for _, st := range reviewSteps {
		if end.Sub(start.Truncate(st))/st+1 <= maxSeriesPoints {
			step = st
			break
		}
	}
	s.Start, s.Step = start.Truncate(step), step // Truncate is from the zero time: days start at 00:00 UTC
	n := int((end.Sub(s.Start) + step - 1) / step)
	for i := range n {
		p := SeriesPoint{Time: s.Start.Add(time.Duration(i) * step), Requests: map[string]int64{}, Bytes: map[string]int64{}}
		for _, k := range ReviewKinds {
			p.Requests[k], p.Bytes[k] = 0, 0
		}
		s.Points = append(s.Points, p)
	}
	for hour, h := range b.hours {
		i := int(time.Unix(hour*3600, 0).Sub(s.Start) / step)
		if i < 0 || i >= n {
			continue
		}
		p := &s.Points[i]
		for k, name := range ReviewKinds {
			p.Requests[name] += h.requests[k]
			p.Bytes[name] += h.bytes[k]
		}
		p.Denials += h.denials
	}
	return s
}
