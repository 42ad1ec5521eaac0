package authz

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Config is everything the engine compiles.
type Config struct {
	Policies []PolicyDoc
	Roles    []RoleConfig
}

// PolicyDoc is a named IAM policy document.
type PolicyDoc struct {
	Name   string
	JSON   []byte
	Source string // "file.yaml:12", prefixed to error messages; may be empty

	// Locate, if set, names the place of a line and column of JSON for
	// messages about one statement ("read.json:7:5"), so that they point at
	// the statement rather than at Source. It returns "" for a place it
	// cannot name; Source is used then.
	Locate func(line, col int) string
}

// Warning is a problem in a policy that does not stop it from compiling,
// but that is probably a mistake: an entry that can never match anything
// (s3:ListBucket on "arn:aws:s3:::b/*"), or one iamgate ignores
// (admin:ServerInfo).
type Warning struct {
	Source  string // where the statement is (see PolicyDoc.Locate); may be empty
	Message string // names the policy and the statement
}

func (w Warning) String() string {
	if w.Source == "" {
		return w.Message
	}
	return w.Source + ": " + w.Message
}

// RoleConfig is one role: who may hold it (Trust) and what it may do
// (Policies).
type RoleConfig struct {
	Name     string
	Kind     string      // "human", "machine" or "agent"
	Trust    []TrustRule // the role trusts an identity if any rule matches
	Policies []string    // names of PolicyDocs
	Source   string      // "file.yaml:30", prefixed to error messages; may be empty
	// Requestable, when set, lets people request the role for a while,
	// approved by someone its Approvers match (just-in-time access).
	Requestable *Requestable
}

// TrustRule matches identities of one issuer whose claims match; see the
// package documentation for the claim syntax.
type TrustRule struct {
	Issuer string         // issuer name as configured; required
	Claims map[string]any // claim path -> expected value(s); all entries must match
}

// Role kinds.
const (
	KindHuman   = "human"
	KindMachine = "machine"
	KindAgent   = "agent"
)

// Engine is a compiled set of roles and policies. It is immutable and safe
// for concurrent use; on reload, compile a new one and swap it.
type Engine struct {
	roles    []*Role
	byName   map[string]*Role
	policies map[string]*Policy
	vars     *varTable
	warnings []Warning
}

// Role is a compiled role.
type Role struct {
	name        string
	kind        string
	policyNames []string
	trust       []trustRule

	stmts       []roleStmt
	deny, allow stmtIndex
	allDeny     []int32
	allAllow    []int32
	nameVals    []string // []string{name}, the value of ${iamgate:role}
	varIDs      []int32  // variables its policies use
	tags        tagActions
	// requestable: approvers and the longest grant; nil: not requestable.
	requestable *requestable
}

type roleStmt struct {
	st     *statement
	policy string
	detail string // explicit deny detail
}

// Name returns the role's name.
func (r *Role) Name() string { return r.name }

// Kind returns "human", "machine" or "agent".
func (r *Role) Kind() string { return r.kind }

// SharedKind is the kind the roles share, or "" when they differ.
func SharedKind(roles []*Role) string {
	k := ""
	for i, r := range roles {
		if i > 0 && r.kind != k {
			return ""
		}
		k = r.kind
	}
	return k
}

// PolicyNames returns the names of the role's policies.
func (r *Role) PolicyNames() []string { return append([]string(nil), r.policyNames...) }

// Compile validates and compiles cfg. It reports every problem at once
// (joined with errors.Join); each message starts with the place of the
// statement (PolicyDoc.Locate) or the Source of the policy or role, and
// names the role, policy and statement concerned. Warnings returns what
// compiled but looks like a mistake.
func Compile(cfg Config) (*Engine, error) {
	e := &Engine{byName: map[string]*Role{}, policies: map[string]*Policy{}, vars: newVarTable()}
	var errs []error
	prefixed := func(source string, err error) error {
		if source == "" {
			return err
		}
		return fmt.Errorf("%s: %w", source, err)
	}
	for _, d := range cfg.Policies {
		if _, dup := e.policies[d.Name]; dup && d.Name != "" {
			errs = append(errs, prefixed(d.Source, fmt.Errorf("policy %q: defined more than once", d.Name)))
			continue
		}
		p, perrs, pwarns := parsePolicy(d.Name, d.JSON, e.vars)
		for _, pr := range perrs {
			errs = append(errs, prefixed(d.at(pr), errors.New(pr.msg)))
		}
		for _, pr := range pwarns {
			e.warnings = append(e.warnings, Warning{Source: d.at(pr), Message: pr.msg})
		}
		if len(perrs) == 0 {
			e.policies[d.Name] = p
		} else if d.Name != "" {
			e.policies[d.Name] = nil // known name, so roles do not also report it unknown
		}
	}
	for _, rc := range cfg.Roles {
		r, rerrs := e.compileRole(rc)
		for _, msg := range rerrs {
			errs = append(errs, prefixed(rc.Source, fmt.Errorf("role %q: %s", rc.Name, msg)))
		}
		if r == nil {
			continue
		}
		if _, dup := e.byName[r.name]; dup {
			errs = append(errs, prefixed(rc.Source, fmt.Errorf("role %q: defined more than once", rc.Name)))
			continue
		}
		e.byName[r.name] = r
		e.roles = append(e.roles, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// at names the place of a problem in d.
func (d *PolicyDoc) at(pr problem) string {
	if pr.line > 0 && d.Locate != nil {
		if s := d.Locate(pr.line, pr.col); s != "" {
			return s
		}
	}
	return d.Source
}

// Warnings returns the problems found while compiling that did not stop
// the policies from compiling, in the order of Config.Policies.
func (e *Engine) Warnings() []Warning { return append([]Warning(nil), e.warnings...) }

func (e *Engine) compileRole(rc RoleConfig) (*Role, []string) {
	var errs []string
	r := &Role{name: rc.Name, kind: rc.Kind, policyNames: append([]string(nil), rc.Policies...), nameVals: []string{rc.Name}}
	if rc.Name == "" {
		errs = append(errs, "name is empty")
	}
	switch rc.Kind {
	case KindHuman, KindMachine, KindAgent:
	default:
		errs = append(errs, fmt.Sprintf("kind must be %q, %q or %q, got %q", KindHuman, KindMachine, KindAgent, rc.Kind))
	}
	for i, tr := range rc.Trust {
		rule, terrs := compileTrustRule(tr)
		for _, msg := range terrs {
			errs = append(errs, fmt.Sprintf("trust rule %d: %s", i+1, msg))
		}
		r.trust = append(r.trust, rule)
	}
	if rc.Requestable != nil {
		var rerrs []string
		r.requestable, rerrs = compileRequestable(rc.Requestable)
		errs = append(errs, rerrs...)
	}
	seen := map[string]bool{}
	var stmts []*statement
	varSeen := map[int32]bool{}
	for _, name := range rc.Policies {
		if seen[name] {
			errs = append(errs, fmt.Sprintf("policy %q is listed twice", name))
			continue
		}
		seen[name] = true
		p, ok := e.policies[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("unknown policy %q", name))
			continue
		}
		if p == nil {
			continue // invalid; already reported
		}
		for _, st := range p.stmts {
			stmts = append(stmts, st)
			r.stmts = append(r.stmts, roleStmt{
				st:     st,
				policy: name,
				detail: "explicit deny in role " + strconv.Quote(r.name) + " policy " + strconv.Quote(name) + " " + st.label(),
			})
			for _, id := range st.varIDs() {
				if !varSeen[id] {
					varSeen[id] = true
					r.varIDs = append(r.varIDs, id)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	r.deny, r.allow, r.allDeny, r.allAllow = buildIndex(stmts)
	r.tags = buildTagActions(stmts, &r.deny, &r.allow)
	return r, nil
}

// varIDs lists the variables a statement reads.
func (s *statement) varIDs() []int32 {
	var ids []int32
	for _, p := range s.resources {
		for _, t := range p.toks {
			if t.kind == tokVar && t.v >= 0 {
				ids = append(ids, t.v)
			}
		}
	}
	for _, c := range s.conds {
		if c.key == keyVar {
			ids = append(ids, c.v)
		}
		for _, p := range c.strs {
			for _, t := range p.toks {
				if t.kind == tokVar && t.v >= 0 {
					ids = append(ids, t.v)
				}
			}
		}
	}
	return ids
}

// Role returns the role with the given name.
func (e *Engine) Role(name string) (*Role, bool) {
	r, ok := e.byName[name]
	return r, ok
}

// Roles returns all roles in configuration order.
func (e *Engine) Roles() []*Role { return append([]*Role(nil), e.roles...) }

// knownLower holds KnownActions in lower case; knownIndex maps each known
// action (as spelled in actions.go) to its position, and knownLowerIndex
// does the same for lower-case spellings. They are read-only.
var (
	knownLower      = lowerActions(KnownActions)
	knownIndex      = indexActions(KnownActions)
	knownLowerIndex = indexActions(func() []Action {
		out := make([]Action, len(knownLower))
		for i, s := range knownLower {
			out[i] = Action(s)
		}
		return out
	}())
)

func lowerActions(as []Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = strings.ToLower(string(a))
	}
	return out
}

func indexActions(as []Action) map[Action]int {
	m := make(map[Action]int, len(as))
	for i, a := range as {
		m[a] = i
	}
	return m
}
