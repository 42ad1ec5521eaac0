package authz

import (
	"fmt"
	"strconv"
	"strings"
)

// ReasonCode says why a decision came out as it did. The set is closed and
// small, so it is safe as a metrics label.
type ReasonCode string

const (
	ReasonAllowed       ReasonCode = "allowed"        // a role statement allowed (and the session policy, if any)
	ReasonExplicitDeny  ReasonCode = "explicit_deny"  // a Deny statement matched, in a role or the session policy
	ReasonNoAllow       ReasonCode = "no_allow"       // no role statement allows the request (default deny)
	ReasonNoRole        ReasonCode = "no_role"        // the principal holds no role
	ReasonSessionPolicy ReasonCode = "session_policy" // the roles allow, the session policy does not
	// ReasonUnavailable: a statement that could decide the request reads a
	// value that could not be obtained (the object's tags for
	// s3:ExistingObjectTag/<key>), and no other statement decided it. The
	// request is refused, as a failure to decide rather than a deny.
	ReasonUnavailable ReasonCode = "condition_unavailable"
)

// Decision is the outcome of one authorization question. A deny is a
// value, never an error.
type Decision struct {
	Allowed bool
	Reason  ReasonCode
	Role    string // role whose statement decided (allow and explicit deny)
	Policy  string
	Sid     string
	Detail  string // deny only: plain words for logs and `iamgate explain`
	// Actor is true when the decision was made by the roles of the actor
	// of a delegated principal (see [Principal.WithActor]): the person's
	// roles allowed, or did not decide, and the actor's decided.
	Actor bool
}

// Principal is an identity together with the roles it holds, with every
// policy variable its roles use already resolved. Build it once per
// verified token (NewPrincipal) and reuse it for every request; it is
// immutable and safe for concurrent use.
type Principal struct {
	engine    *Engine
	id        Identity
	roles     []*Role
	roleNames []string
	vals      [][]string // by engine variable id

	session     *Policy
	sessionVals [][]string // by session policy variable id

	// actor, when set, is the principal acting for this one (delegation):
	// a request is allowed only if both allow it.
	actor *Principal
}

// NewPrincipal binds id to roles (normally those Trust returned) and
// resolves the policy variables:
//
//   - ${jwt:<claim>}: the claim's value; a dotted path descends into nested
//     objects (${jwt:org.team}); an array has one value per element.
//   - ${aws:username}: claim preferred_username, else email, else sub
//     (else Identity.Subject).
//   - ${aws:userid}: claim sub (else Identity.Subject).
//   - ${iamgate:role}: the name of the role whose policy is evaluated; in a
//     session policy, the names of all the principal's roles.
//
// A variable without a value (and without a default) matches nothing.
func (e *Engine) NewPrincipal(id *Identity, roles []*Role) *Principal {
	p := &Principal{engine: e, roles: append([]*Role(nil), roles...)}
	if id != nil {
		p.id = *id
	}
	p.vals = make([][]string, len(e.vars.defs))
	done := make([]bool, len(e.vars.defs))
	for _, r := range p.roles {
		p.roleNames = append(p.roleNames, r.name)
		for _, v := range r.varIDs {
			if !done[v] {
				done[v] = true
				p.vals[v] = resolveVar(e.vars.defs[v], &p.id)
			}
		}
	}
	return p
}

// ReadsExistingObjectTags reports whether a statement of p's roles or
// session policy that applies to action reads s3:ExistingObjectTag/<key>.
// It is decided when the policies are compiled; when it is false,
// Authorize never calls Request.ExistingTags for the action, so a caller
// need not set it up.
func (p *Principal) ReadsExistingObjectTags(action Action) bool {
	if p == nil {
		return false
	}
	act := resolveAction(action)
	for _, r := range p.roles {
		if r.tags.reads(&act) {
			return true
		}
	}
	if p.session != nil && p.session.tags.reads(&act) {
		return true
	}
	return p.actor.ReadsExistingObjectTags(action)
}

// WithActor returns a copy of p for a delegated session: actor (an agent,
// with its own roles) acts for p (a person). A request is then allowed
// only if both p and actor allow it; an explicit deny in either wins. The
// actor's own actor, if any, is ignored: a chain of delegation is decided
// by the person and the current actor. A nil actor removes delegation.
func (p *Principal) WithActor(actor *Principal) *Principal {
	c := *p
	c.actor = nil
	if actor != nil {
		a := *actor
		a.actor = nil
		c.actor = &a
	}
	return &c
}

// Actor returns the principal acting for p, or nil.
func (p *Principal) Actor() *Principal {
	if p == nil {
		return nil
	}
	return p.actor
}

// Roles returns the roles the principal holds.
func (p *Principal) Roles() []*Role { return append([]*Role(nil), p.roles...) }

// WithSessionPolicy returns a copy of p narrowed by sp: a request is then
// allowed only if the roles allow it and sp allows it too; an explicit deny
// in either wins. A nil sp removes the session policy.
func (p *Principal) WithSessionPolicy(sp *Policy) *Principal {
	c := *p
	c.session, c.sessionVals = sp, nil
	if sp != nil {
		c.sessionVals = make([][]string, len(sp.vars.defs))
		for i, d := range sp.vars.defs {
			c.sessionVals[i] = resolveVar(d, &c.id)
		}
	}
	return &c
}

// Username is the value of ${aws:username} for an identity: the claim
// preferred_username, else email, else sub, else the subject. Audit
// events and the console show the same name.
func Username(claims map[string]any, subject string) string {
	for _, c := range []string{"preferred_username", "email", "sub"} {
		if s, ok := claims[c].(string); ok && s != "" {
			return s
		}
	}
	return subject
}

func resolveVar(d varDef, id *Identity) []string {
	var vals []string
	switch d.kind {
	case varRequest:
		return nil // per request: evalCtx.values
	case varClaim:
		if v, ok := lookupClaim(id.Claims, d.claim); ok {
			vals = claimStrings(v)
		}
	case varUsername:
		if u := Username(id.Claims, id.Subject); u != "" {
			vals = []string{u}
		}
	case varUserID:
		if s, ok := id.Claims["sub"].(string); ok && s != "" {
			vals = []string{s}
		} else if id.Subject != "" {
			vals = []string{id.Subject}
		}
	}
	if len(vals) == 0 && d.hasDefault {
		vals = []string{d.def}
	}
	return vals
}

// evalCtx is what statement matching reads; it lives on the stack.
type evalCtx struct {
	req  *Request
	defs []varDef // the variables vals resolves
	vals [][]string
	role []string // values of ${iamgate:role}
	// tagErr is the first error of Request.ExistingTags.
	tagErr error
}

func (c *evalCtx) values(id int32) []string {
	switch {
	case id == roleVar:
		return c.role
	case int(id) < len(c.vals):
		return c.vals[id]
	}
	return nil
}

// requestVar returns the value of variable id if it is a request
// variable (${aws:SourceIp}, ${s3:prefix} ...): isReq is false for the
// other variables, ok is false when the request has no value (and the
// variable no default).
func (c *evalCtx) requestVar(id int32) (val string, isReq, ok bool) {
	if c == nil || id < 0 || int(id) >= len(c.defs) || c.defs[id].kind != varRequest {
		return "", false, false
	}
	d := &c.defs[id]
	if k := lookupKey(d.key, "", 0, c); k.n == 1 {
		return k.str(0), true, true
	}
	if d.hasDefault {
		return d.def, true, true
	}
	return "", true, false
}

// matches reports whether the statement's resource and conditions match;
// the action has been checked by the caller.
func (s *statement) matches(c *evalCtx) tri {
	if !s.matchResource(c) {
		return triFalse
	}
	if failed, undecided := s.matchConditions(c); failed >= 0 {
		return triFalse
	} else if undecided {
		return triUndecided
	}
	return triTrue
}

func (s *statement) matchResource(c *evalCtx) bool {
	m := false
	for i := range s.resources {
		if s.resources[i].matchResource(c.req.Resource, c) {
			m = true
			break
		}
	}
	return m != s.notResource
}

// matchConditions returns the index of the first condition that does not
// hold, or -1; undecided reports that none failed but one could not be
// decided. Conditions on the object's existing tags, which may need a
// request to the store, are evaluated last, and only when every other
// condition holds.
func (s *statement) matchConditions(c *evalCtx) (failed int, undecided bool) {
	for pass := 0; pass < 2; pass++ {
		if pass == 1 && !s.existingTags {
			break
		}
		for i, cond := range s.conds {
			if (cond.key == keyExistingTag) != (pass == 1) {
				continue
			}
			switch cond.eval(c) {
			case triFalse:
				return i, false
			case triUndecided:
				undecided = true
			}
		}
	}
	return -1, undecided
}

// Precomputed details, so the common deny needs no allocation.
var (
	noAllowDetail = detailsFor("no statement allows ")
	sessionDetail = detailsFor("session policy does not allow ")
)

func detailsFor(prefix string) []string {
	out := make([]string, len(KnownActions))
	for i, a := range KnownActions {
		out[i] = prefix + string(a)
	}
	return out
}

// actionRef is a request's action resolved against the known actions.
type actionRef struct {
	idx   int    // index into KnownActions, or -1
	lower string // lower-case action name when idx < 0
}

func resolveAction(a Action) actionRef {
	if i, ok := knownIndex[a]; ok {
		return actionRef{idx: i}
	}
	lower := strings.ToLower(string(a))
	if i, ok := knownLowerIndex[Action(lower)]; ok {
		return actionRef{idx: i}
	}
	return actionRef{idx: -1, lower: lower}
}

func (a *actionRef) candidates(x *stmtIndex, all []int32) []int32 {
	if a.idx >= 0 {
		return x.of(a.idx)
	}
	return all
}

// appliesTo reports whether st covers the action; statements from an index
// are known to.
func (a *actionRef) appliesTo(st *statement) bool {
	return a.idx >= 0 || st.matchesActionName(a.lower)
}

// Authorize decides whether p may perform r. Evaluation follows AWS: an
// explicit Deny in any of p's roles or in its session policy wins;
// otherwise the request is allowed if a statement of one of p's roles
// allows it and, when a session policy is set, the session policy allows
// it too; otherwise it is denied by default. Authorize does not allocate
// for known actions.
func (e *Engine) Authorize(p *Principal, r *Request) Decision {
	if p != nil && p.actor != nil {
		return e.authorizeDelegated(p, r)
	}
	return e.authorize(p, r)
}

// authorizeDelegated decides for a principal with an actor: the
// intersection of both. An explicit deny of either wins, then a decision
// that could not be made, then a default deny of either (the person's
// first); the allow names the person's role.
func (e *Engine) authorizeDelegated(p *Principal, r *Request) Decision {
	person := e.authorize(p, r)
	if person.Reason == ReasonExplicitDeny || person.Reason == ReasonNoRole {
		return person
	}
	actor := e.authorize(p.actor, r)
	actor.Actor = true
	switch {
	case actor.Reason == ReasonExplicitDeny || actor.Reason == ReasonNoRole:
		return actor
	case person.Reason == ReasonUnavailable:
		return person
	case actor.Reason == ReasonUnavailable:
		return actor
	case !person.Allowed:
		return person
	case !actor.Allowed:
		return actor
	}
	return person
}

func (e *Engine) authorize(p *Principal, r *Request) Decision {
	if p == nil || len(p.roles) == 0 {
		return Decision{Reason: ReasonNoRole, Detail: "the principal holds no role"}
	}
	if p.engine != e {
		return Decision{Reason: ReasonNoRole, Detail: "the principal was built by a different engine"}
	}
	act := resolveAction(r.Action)
	ctx := evalCtx{req: r, defs: e.vars.defs, vals: p.vals}

	// A Deny that cannot be decided (the tags it reads could not be
	// fetched) may apply. Unless another Deny applies, or no Allow does
	// anyway, the request is refused as undecidable. The first such
	// statement is remembered for the Decision; the same goes for an
	// Allow that cannot be decided when no other Allow applies.
	var denyUndecided, allowUndecided Decision
	for _, role := range p.roles {
		ctx.role = role.nameVals
		for _, i := range act.candidates(&role.deny, role.allDeny) {
			rs := &role.stmts[i]
			if !act.appliesTo(rs.st) {
				continue
			}
			switch rs.st.matches(&ctx) {
			case triTrue:
				return Decision{Reason: ReasonExplicitDeny, Role: role.name, Policy: rs.policy, Sid: rs.st.sid, Detail: rs.detail}
			case triUndecided:
				if denyUndecided.Reason == "" {
					denyUndecided = unavailable(role.name, rs.policy, rs.st, ctx.tagErr)
				}
			}
		}
	}
	sp := p.session
	if sp != nil {
		sctx := evalCtx{req: r, defs: sp.vars.defs, vals: p.sessionVals, role: p.roleNames}
		for _, i := range act.candidates(&sp.deny, sp.allDeny) {
			st := sp.stmts[i]
			if !act.appliesTo(st) {
				continue
			}
			switch st.matches(&sctx) {
			case triTrue:
				return Decision{Reason: ReasonExplicitDeny, Policy: sp.name, Sid: st.sid, Detail: sp.denyDetail[i]}
			case triUndecided:
				if denyUndecided.Reason == "" {
					denyUndecided = unavailable("", sp.name, st, sctx.tagErr)
				}
			}
		}
	}

	var allowRole *Role
	var allowStmt *roleStmt
roles:
	for _, role := range p.roles {
		ctx.role = role.nameVals
		for _, i := range act.candidates(&role.allow, role.allAllow) {
			rs := &role.stmts[i]
			if !act.appliesTo(rs.st) {
				continue
			}
			switch rs.st.matches(&ctx) {
			case triTrue:
				allowRole, allowStmt = role, rs
				break roles
			case triUndecided:
				if allowUndecided.Reason == "" {
					allowUndecided = unavailable(role.name, rs.policy, rs.st, ctx.tagErr)
				}
			}
		}
	}
	if allowStmt == nil {
		if allowUndecided.Reason != "" {
			return allowUndecided
		}
		d := Decision{Reason: ReasonNoAllow}
		if act.idx >= 0 {
			d.Detail = noAllowDetail[act.idx]
		} else {
			d.Detail = "no statement allows " + string(r.Action)
		}
		return d
	}
	if sp != nil {
		sctx := evalCtx{req: r, defs: sp.vars.defs, vals: p.sessionVals, role: p.roleNames}
		ok := false
		var sessionUndecided Decision
	session:
		for _, i := range act.candidates(&sp.allow, sp.allAllow) {
			st := sp.stmts[i]
			if !act.appliesTo(st) {
				continue
			}
			switch st.matches(&sctx) {
			case triTrue:
				ok = true
				break session
			case triUndecided:
				if sessionUndecided.Reason == "" {
					sessionUndecided = unavailable("", sp.name, st, sctx.tagErr)
				}
			}
		}
		if !ok {
			if sessionUndecided.Reason != "" {
				return sessionUndecided
			}
			d := Decision{Reason: ReasonSessionPolicy, Role: allowRole.name, Policy: allowStmt.policy, Sid: allowStmt.st.sid}
			if act.idx >= 0 {
				d.Detail = sessionDetail[act.idx]
			} else {
				d.Detail = "session policy does not allow " + string(r.Action)
			}
			return d
		}
	}
	if denyUndecided.Reason != "" {
		return denyUndecided
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Role: allowRole.name, Policy: allowStmt.policy, Sid: allowStmt.st.sid}
}

// unavailable is the Decision for a request that a statement which could
// not be decided might have decided.
func unavailable(role, policy string, st *statement, cause error) Decision {
	where := "policy " + strconv.Quote(policy) + " " + st.label()
	if role != "" {
		where = "role " + strconv.Quote(role) + " " + where
	}
	msg := "the object's tags could not be read"
	if cause != nil {
		msg += " (" + cause.Error() + ")"
	}
	return Decision{Reason: ReasonUnavailable, Role: role, Policy: policy, Sid: st.sid,
		Detail: st.effect() + " in " + where + " reads s3:ExistingObjectTag, and " + msg}
}

// StatementTrace is how one statement fared in Explain.
type StatementTrace struct {
	// Actor: the statement is of a role of the actor of a delegated
	// principal.
	Actor     bool
	Role      string // "" for the session policy
	Policy    string
	Statement int // 1-based position in the policy
	Sid       string
	Effect    string // "Allow" or "Deny"

	ActionMatched     bool
	ResourceMatched   bool
	ConditionsMatched bool
	// Matched: action, resource and conditions all matched, so the
	// statement applies to the request.
	Matched bool
	// Undecided: no condition failed, but one could not be evaluated
	// (the object's tags could not be read).
	Undecided bool
	// Why says, when not Matched, what did not match, in plain words.
	Why string
}

// Explain returns the same decision as Authorize (with the resource named
// in a default-deny Detail) and a trace of every statement of p's roles
// and session policy, in order. It allocates freely; use it for
// diagnostics, not per request.
func (e *Engine) Explain(p *Principal, r *Request) (Decision, []StatementTrace) {
	d := e.Authorize(p, r)
	switch d.Reason {
	case ReasonNoAllow, ReasonSessionPolicy:
		d.Detail += " on " + r.Resource
	}
	if p == nil || p.engine != e {
		return d, nil
	}
	act := resolveAction(r.Action)
	lower := act.lower
	if act.idx >= 0 {
		lower = knownLower[act.idx]
	}
	var traces []StatementTrace
	for _, role := range p.roles {
		ctx := evalCtx{req: r, defs: e.vars.defs, vals: p.vals, role: role.nameVals}
		for i := range role.stmts {
			rs := &role.stmts[i]
			traces = append(traces, traceStatement(rs.st, &ctx, r, lower, role.name, rs.policy))
		}
	}
	if sp := p.session; sp != nil {
		ctx := evalCtx{req: r, defs: sp.vars.defs, vals: p.sessionVals, role: p.roleNames}
		for _, st := range sp.stmts {
			traces = append(traces, traceStatement(st, &ctx, r, lower, "", sp.name))
		}
	}
	if a := p.actor; a != nil && a.engine == e {
		for _, role := range a.roles {
			ctx := evalCtx{req: r, defs: e.vars.defs, vals: a.vals, role: role.nameVals}
			for i := range role.stmts {
				rs := &role.stmts[i]
				t := traceStatement(rs.st, &ctx, r, lower, role.name, rs.policy)
				t.Actor = true
				traces = append(traces, t)
			}
		}
	}
	return d, traces
}

func traceStatement(st *statement, ctx *evalCtx, r *Request, lowerAction, role, policy string) StatementTrace {
	t := StatementTrace{Role: role, Policy: policy, Statement: st.num, Sid: st.sid, Effect: st.effect()}
	t.ActionMatched = st.matchesActionName(lowerAction)
	t.ResourceMatched = st.matchResource(ctx)
	failed, undecided := st.matchConditions(ctx)
	t.ConditionsMatched = failed < 0 && !undecided
	t.Undecided = failed < 0 && undecided
	t.Matched = t.ActionMatched && t.ResourceMatched && t.ConditionsMatched
	var why []string
	if !t.ActionMatched {
		key := "Action"
		if st.notAction {
			key = "NotAction"
		}
		why = append(why, fmt.Sprintf("action %s is not covered by %s %s", r.Action, key, quoteList(st.actionRaw)))
	}
	if !t.ResourceMatched {
		raws := make([]string, len(st.resources))
		for i, p := range st.resources {
			raws[i] = p.raw
		}
		shown := quoteExpanded(raws, st.resources, ctx)
		if st.notResource {
			why = append(why, fmt.Sprintf("resource %s matches NotResource %s", r.Resource, shown))
		} else {
			why = append(why, fmt.Sprintf("resource %s matches no Resource in %s", r.Resource, shown))
		}
	}
	if failed >= 0 {
		why = append(why, describeFailed(st.conds[failed], ctx))
	} else if undecided {
		msg := "a condition on s3:ExistingObjectTag could not be evaluated: the object's tags could not be read"
		if ctx.tagErr != nil {
			msg += " (" + ctx.tagErr.Error() + ")"
		}
		why = append(why, msg)
	}
	t.Why = strings.Join(why, "; ")
	return t
}

func describeFailed(c *condition, ctx *evalCtx) string {
	k := c.lookup(ctx)
	var have string
	switch {
	case k.n == 0:
		have = "the key is absent"
	case k.n == 1:
		have = "the request has " + strconv.Quote(k.str(0))
	default:
		vals := make([]string, k.n)
		for i := range vals {
			vals[i] = k.str(i)
		}
		have = "the request has " + quoteList(vals)
	}
	shown := quoteList(c.values)
	if len(c.strs) == len(c.values) {
		shown = quoteExpanded(c.values, c.strs, ctx)
	}
	return fmt.Sprintf("condition %s %q %s does not hold: %s", c.opName, c.keyName, shown, have)
}

// quoteExpanded quotes the patterns as written and, when policy variables
// in them have values for this principal and request, the patterns with
// the values in place: `["home/alice/*"] (from ["home/${aws:username}/*"])`.
func quoteExpanded(raws []string, pats []pattern, ctx *evalCtx) string {
	var expanded []string
	changed := false
	for i := range pats {
		if vals, ok := pats[i].expand(ctx); ok {
			expanded = append(expanded, vals...)
			changed = true
		} else {
			expanded = append(expanded, raws[i])
		}
	}
	if !changed {
		return quoteList(raws)
	}
	return quoteList(expanded) + " (from " + quoteList(raws) + ")"
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
