package authz

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Policy is a compiled identity policy. Policies named by roles are
// compiled by Compile; ParsePolicy compiles a stand-alone one, such as an
// STS session policy.
type Policy struct {
	name  string
	stmts []*statement
	vars  *varTable
	// per known action, the statements that apply to it
	deny, allow stmtIndex
	allDeny     []int32
	allAllow    []int32
	denyDetail  []string // per statement, for explicit denies in a session policy
	tags        tagActions
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// statement is one compiled policy statement.
type statement struct {
	num         int // 1-based position in its policy
	line, col   int // of the statement's opening brace in the document
	sid         string
	deny        bool
	notAction   bool
	actions     []pattern // lower-cased
	actionRaw   []string
	notResource bool
	resources   []pattern
	conds       []*condition
	// existingTags: a condition reads s3:ExistingObjectTag/<key>, which
	// may need a request to the store.
	existingTags bool
}

func (s *statement) effect() string {
	if s.deny {
		return "Deny"
	}
	return "Allow"
}

// label names the statement in messages: `statement 2 "ReadAll"`.
func (s *statement) label() string {
	if s.sid != "" {
		return fmt.Sprintf("statement %d (Sid %q)", s.num, s.sid)
	}
	return fmt.Sprintf("statement %d", s.num)
}

// matchesActionName reports whether the statement applies to action, given
// in lower case.
func (s *statement) matchesActionName(lower string) bool {
	m := false
	for i := range s.actions {
		if globMatch(&s.actions[i], lower) {
			m = true
			break
		}
	}
	return m != s.notAction
}

// stmtIndex lists, for each known action, the statements (by position in
// a statement list) that apply to it: idx[off[a]:off[a+1]].
type stmtIndex struct {
	off []int32
	idx []int32
}

func (x *stmtIndex) of(a int) []int32 { return x.idx[x.off[a]:x.off[a+1]] }

// buildIndex indexes stmts by known action; deny and allow statements go to
// separate indexes so explicit denies can be checked first.
func buildIndex(stmts []*statement) (deny, allow stmtIndex, allDeny, allAllow []int32) {
	deny.off = make([]int32, len(knownLower)+1)
	allow.off = make([]int32, len(knownLower)+1)
	for a, name := range knownLower {
		for i, s := range stmts {
			if !s.matchesActionName(name) {
				continue
			}
			if s.deny {
				deny.idx = append(deny.idx, int32(i))
			} else {
				allow.idx = append(allow.idx, int32(i))
			}
		}
		deny.off[a+1] = int32(len(deny.idx))
		allow.off[a+1] = int32(len(allow.idx))
	}
	for i, s := range stmts {
		if s.deny {
			allDeny = append(allDeny, int32(i))
		} else {
			allAllow = append(allAllow, int32(i))
		}
	}
	return
}

// tagActions records, per known action, whether a statement that applies
// to it reads s3:ExistingObjectTag/<key>; any is set when any statement
// does (for actions iamgate does not know).
type tagActions struct {
	known []bool
	any   bool
}

func buildTagActions(stmts []*statement, deny, allow *stmtIndex) tagActions {
	t := tagActions{known: make([]bool, len(knownLower))}
	for _, s := range stmts {
		t.any = t.any || s.existingTags
	}
	if !t.any {
		return t
	}
	for a := range knownLower {
		for _, x := range [2]*stmtIndex{deny, allow} {
			for _, i := range x.of(a) {
				if stmts[i].existingTags {
					t.known[a] = true
				}
			}
		}
	}
	return t
}

func (t *tagActions) reads(a *actionRef) bool {
	if a.idx >= 0 {
		return t.known[a.idx]
	}
	return t.any
}

// Policy language versions.
const (
	version2012 = "2012-10-17"
	version2008 = "2008-10-17"
)

// ParsePolicy compiles one stand-alone identity policy, with the same
// validation as Compile. All problems are reported at once. Warnings are
// not reported; Compile returns them for configured policies.
func ParsePolicy(name string, doc []byte) (*Policy, error) {
	p, errs, _ := parsePolicy(name, doc, newVarTable())
	if len(errs) > 0 {
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = errors.New(e.msg)
		}
		return nil, errors.Join(joined...)
	}
	p.finish()
	return p, nil
}

// problem is an error or a warning found in a policy document, with the
// line and column of the statement it concerns (0 when it concerns the
// document as a whole). msg names the policy and the statement.
type problem struct {
	line, col int
	msg       string
}

func (p *Policy) finish() {
	p.deny, p.allow, p.allDeny, p.allAllow = buildIndex(p.stmts)
	p.tags = buildTagActions(p.stmts, &p.deny, &p.allow)
	p.denyDetail = make([]string, len(p.stmts))
	for i, s := range p.stmts {
		p.denyDetail[i] = "explicit deny in session policy " + strconv.Quote(p.name) + " " + s.label()
	}
}

// parsePolicy compiles doc, interning its variables into vars. Errors and
// warnings are prefixed with the policy name and, where it applies, the
// statement.
//
// A missing Version is treated as "2012-10-17" (AWS would fall back to
// "2008-10-17", where policy variables are plain text); "2008-10-17" is
// accepted, but a policy that uses variables must say "2012-10-17".
func parsePolicy(name string, doc []byte, vars *varTable) (p *Policy, errs, warns []problem) {
	p = &Policy{name: name, vars: vars}
	prefix := fmt.Sprintf("policy %q: ", name)
	fail := func(format string, args ...any) {
		errs = append(errs, problem{msg: prefix + fmt.Sprintf(format, args...)})
	}
	if name == "" {
		fail("policy name is empty")
	}
	v, err := decodeJSON(doc)
	if err != nil {
		fail("%v", err)
		return p, errs, warns
	}
	top, ok := v.(*object)
	if !ok {
		fail("policy document must be a JSON object, got %s", jsonType(v))
		return p, errs, warns
	}
	version := version2012
	for _, k := range top.keys {
		val := top.vals[k]
		switch k {
		case "Version":
			s, _ := val.(string)
			if s != version2012 && s != version2008 {
				fail("Version must be %q or %q, got %s", version2012, version2008, show(val))
			} else {
				version = s
			}
		case "Id":
			if _, ok := val.(string); !ok {
				fail("Id must be a string, got %s", jsonType(val))
			}
		case "Statement":
		default:
			fail("unknown top-level key %q (expected Version, Id, Statement)", k)
		}
	}
	raw, ok := top.vals["Statement"]
	if !ok {
		fail("missing Statement")
		return p, errs, warns
	}
	var list []any
	switch s := raw.(type) {
	case *object:
		list = []any{s}
	case []any:
		list = s
	default:
		fail("Statement must be an object or an array of objects, got %s", jsonType(raw))
		return p, errs, warns
	}
	if len(list) == 0 {
		fail("Statement is empty")
	}
	sids := map[string]int{}
	opts := patternOpts{vars: vars, noVars: version != version2012}
	for i, item := range list {
		st := &statement{num: i + 1}
		o, ok := item.(*object)
		if !ok {
			fail("statement %d: must be an object, got %s", i+1, jsonType(item))
			continue
		}
		if sid, ok := o.vals["Sid"].(string); ok {
			st.sid = sid
		}
		serrs, swarns := compileStatement(st, o, opts)
		if st.sid != "" {
			if prev, dup := sids[st.sid]; dup {
				serrs = append(serrs, fmt.Sprintf("Sid %q is already used by statement %d", st.sid, prev))
			} else {
				sids[st.sid] = st.num
			}
		}
		line, col := docPos(doc, o.off)
		st.line, st.col = line, col
		for _, e := range serrs {
			errs = append(errs, problem{line: line, col: col, msg: prefix + st.label() + ": " + e})
		}
		for _, w := range swarns {
			warns = append(warns, problem{line: line, col: col, msg: prefix + st.label() + ": " + w})
		}
		if len(serrs) == 0 {
			p.stmts = append(p.stmts, st)
		}
	}
	return p, errs, warns
}

// show renders a decoded JSON value for an error message.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	case *object, []any:
		return jsonType(v)
	}
	return fmt.Sprint(v)
}

// stringList accepts a string or a non-empty array of strings.
func stringList(key string, v any) ([]string, string) {
	switch v := v.(type) {
	case string:
		return []string{v}, ""
	case []any:
		if len(v) == 0 {
			return nil, key + " is an empty array"
		}
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Sprintf("%s must contain only strings, found %s", key, jsonType(e))
			}
			out = append(out, s)
		}
		return out, ""
	}
	return nil, fmt.Sprintf("%s must be a string or an array of strings, got %s", key, jsonType(v))
}

// compileStatement compiles one statement into st. It returns the errors,
// and the warnings: entries that have no effect, such as an action of a
// service iamgate does not evaluate, or an action whose resources the
// statement never names.
func compileStatement(st *statement, o *object, opts patternOpts) (errs, warns []string) {
	var actionKey, resourceKey string
	var entries []actionEntry
	for _, k := range o.keys {
		v := o.vals[k]
		switch k {
		case "Sid":
			if _, ok := v.(string); !ok {
				errs = append(errs, fmt.Sprintf("Sid must be a string, got %s", jsonType(v)))
			}
		case "Effect":
			switch v {
			case "Allow":
			case "Deny":
				st.deny = true
			default:
				errs = append(errs, fmt.Sprintf("Effect must be \"Allow\" or \"Deny\", got %s", show(v)))
			}
		case "Action", "NotAction":
			if actionKey != "" {
				errs = append(errs, "has both Action and NotAction; use exactly one")
				continue
			}
			actionKey = k
			st.notAction = k == "NotAction"
			list, msg := stringList(k, v)
			if msg != "" {
				errs = append(errs, msg)
				continue
			}
			for _, a := range list {
				e, msg := checkActionEntry(a)
				if msg != "" {
					errs = append(errs, fmt.Sprintf("%s %q: %s", k, a, msg))
					continue
				}
				switch {
				case e.ignored:
					warns = append(warns, fmt.Sprintf("%s %q: iamgate authorizes only S3 requests; this entry has no effect", k, a))
				case e.minio != nil:
					note := ""
					if e.minio.note != "" {
						note = " (" + e.minio.note + ")"
					}
					warns = append(warns, fmt.Sprintf("%s %q: a MinIO extension that iamgate never asks for%s; this entry has no effect", k, a, note))
				}
				p, _ := compilePattern(strings.ToLower(a), patternOpts{glob: true})
				st.actions = append(st.actions, p)
				st.actionRaw = append(st.actionRaw, a)
				entries = append(entries, e)
			}
		case "Resource", "NotResource":
			if resourceKey != "" {
				errs = append(errs, "has both Resource and NotResource; use exactly one")
				continue
			}
			resourceKey = k
			st.notResource = k == "NotResource"
			list, msg := stringList(k, v)
			if msg != "" {
				errs = append(errs, msg)
				continue
			}
			for _, r := range list {
				if msg := checkResource(r); msg != "" {
					errs = append(errs, fmt.Sprintf("%s %q: %s", k, r, msg))
					continue
				}
				o := opts
				o.glob = true
				p, err := compilePattern(r, o)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s %q: %v", k, r, err))
					continue
				}
				st.resources = append(st.resources, p)
			}
		case "Condition":
			conds, cerrs := compileConditions(v, opts)
			st.conds = conds
			for _, c := range conds {
				if c.key == keyExistingTag {
					st.existingTags = true
				}
			}
			errs = append(errs, cerrs...)
		case "Principal", "NotPrincipal":
			errs = append(errs, k+" is not allowed in an identity policy (the principal is whoever holds the role)")
		default:
			errs = append(errs, fmt.Sprintf("unknown key %q", k))
		}
	}
	if _, ok := o.vals["Effect"]; !ok {
		errs = append(errs, "missing Effect")
	}
	if actionKey == "" {
		errs = append(errs, "missing Action or NotAction")
	}
	if resourceKey == "" {
		errs = append(errs, "missing Resource or NotResource")
	}
	if len(errs) == 0 && !st.notAction && !st.notResource {
		warns = append(warns, scopeWarnings(st, entries)...)
	}
	return errs, warns
}

// checkResource validates "*" or an ARN, arn:partition:service:region:account:resource.
func checkResource(r string) string {
	if r == "*" {
		return ""
	}
	parts := strings.SplitN(r, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return `must be "*" or an ARN such as "arn:aws:s3:::bucket/key"`
	}
	if parts[1] == "" || parts[2] == "" {
		return "ARN has an empty partition or service"
	}
	if parts[5] == "" {
		return "ARN has an empty resource part"
	}
	return ""
}
