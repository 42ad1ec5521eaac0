package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/s3req"
)

var explainCmd = cliCommand{
	Name: "explain",
	Usage: `[flags] METHOD PATH
[flags] --op OPERATION --bucket B [--key K] [--prefix P] [--copy-source SRC]`,
	About: `Which roles trust an identity, and what they may do with a request: every
check of the request, every statement of the identity's roles and whether it
applies, with the identity's values of the policy variables (${aws:username},
${jwt:...}) in place. Exit status 0 if the request is allowed, 1 if it is
denied, 2 for a usage error: usable as a check in scripts.

The identity is a token (--token, --token-file; decoded, not verified: explain
works offline and answers "what would happen if this identity asked") or a
claims file (--claims). METHOD PATH is an S3 request as it would arrive; quote
a PATH with a query. --op builds one from an operation: ListBuckets,
ListObjectsV2, ListObjects, GetObject, HeadObject, PutObject, DeleteObject,
CopyObject, CreateBucket, DeleteBucket, DeleteObjects (with --delete-body).
Flags may also follow METHOD PATH.

Delegation: an identity whose claims carry an act claim (RFC 8693) is
explained as a delegated session, as iamgate serves such a bearer token: the
actor's roles are those that trust the actor, and a request is allowed only
when both the identity's roles and the actor's allow it. --actor-token,
--actor-token-file or --actor-claims give the actor of a token exchange
instead; --actor-role picks one of the actor's roles, as ActorRoleArn or
actor_role do at the STS.`,
	Examples: []string{
		"iamgate explain --config iamgate.yaml --claims claims.json GET /demo/home/bob/notes.txt",
		"iamgate explain --config iamgate.yaml --claims claims.json GET '/demo?list-type=2&prefix=home/alice/'",
		"iamgate explain --config iamgate.yaml --claims claims.json --op PutObject --bucket demo --key home/alice/notes.txt",
		"iamgate explain --config iamgate.yaml --claims claims.json --actor-claims agent.json GET /demo/home/alice/notes.txt",
		"iamgate explain --config iamgate.yaml --claims claims.json --actor-claims agent.json --op PutObject --bucket demo --key home/alice/notes.txt",
	},
}

// staticTags are the object tags given with --object-tags.
type staticTags authz.TagSet

func (t staticTags) ObjectTags() (authz.TagSet, error) { return authz.TagSet(t), nil }

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type explainOutput struct {
	Identity struct {
		Issuer   string         `json:"issuer"`
		Subject  string         `json:"subject"`
		Verified bool           `json:"signature_verified"`
		Claims   map[string]any `json:"claims"`
	} `json:"identity"`
	Roles []explainRole `json:"roles"`
	// Actor is the agent acting for the identity in a delegated session.
	Actor     *explainActor  `json:"actor,omitempty"`
	Operation string         `json:"operation,omitempty"`
	Error     string         `json:"error,omitempty"`
	Checks    []explainCheck `json:"checks,omitempty"`
	// Guards say what the destructive-action guards of the roles do to
	// the operation when it is served.
	Guards  []string `json:"guards,omitempty"`
	Allowed bool     `json:"allowed"`
	Summary string   `json:"summary"`
}

type explainActor struct {
	Issuer  string         `json:"issuer"`
	Subject string         `json:"subject"`
	Source  string         `json:"source"` // "act claim" or "actor token"
	Claims  map[string]any `json:"claims"`
	Roles   []explainRole  `json:"roles"`
}

type explainRole struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Applies bool   `json:"applies"`
	Why     string `json:"why,omitempty"`
}

type explainCheck struct {
	Action     string             `json:"action"`
	Resource   string             `json:"resource"`
	Decision   explainDecision    `json:"decision"`
	Statements []explainStatement `json:"statements"`
}

type explainDecision struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
	// ByActor: a delegated session's request refused by the actor's
	// roles.
	ByActor bool   `json:"by_actor,omitempty"`
	Role    string `json:"role,omitempty"`
	Policy  string `json:"policy,omitempty"`
	Sid     string `json:"sid,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

type explainStatement struct {
	Actor     bool   `json:"actor,omitempty"` // a statement of the actor's role
	Role      string `json:"role"`
	Policy    string `json:"policy"`
	Statement int    `json:"statement"`
	Sid       string `json:"sid,omitempty"`
	Effect    string `json:"effect"`
	Applies   bool   `json:"applies"`
	Why       string `json:"why,omitempty"`
}

func newExplainCheck(c s3req.Check, d authz.Decision, traces []authz.StatementTrace) explainCheck {
	ec := explainCheck{Action: string(c.Action), Resource: c.Resource, Decision: explainDecision{
		Allowed: d.Allowed, Reason: string(d.Reason), ByActor: d.Actor && !d.Allowed, Role: d.Role, Policy: d.Policy, Sid: d.Sid, Detail: d.Detail}}
	for _, t := range traces {
		ec.Statements = append(ec.Statements, explainStatement{Actor: t.Actor, Role: t.Role, Policy: t.Policy, Statement: t.Statement,
			Sid: t.Sid, Effect: t.Effect, Applies: t.Matched, Why: t.Why})
	}
	return ec
}

func cmdExplain(args []string, stdout, stderr io.Writer) error {
	c := &explainCmd
	fs := c.flagSet()
	path := fs.String("config", "iamgate.yaml", "configuration `file`")
	token := fs.String("token", "", "the identity's `JWT`")
	tokenFile := fs.String("token-file", "", "`file` holding the identity's JWT")
	claimsFile := fs.String("claims", "", "JSON `file` with the identity's claims")
	issuer := fs.String("issuer", "", "issuer `name` in the configuration (default: the one whose url is the claims' iss)")
	role := fs.String("role", "", "explain only this `role` of the ones that trust the identity")
	sourceIP := fs.String("source-ip", "127.0.0.1", "the client `address` (aws:SourceIp)")
	secure := fs.Bool("secure", false, "the request came over TLS (aws:SecureTransport)")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	op := fs.String("op", "", "build the request from an S3 `operation` instead of METHOD PATH")
	bucket := fs.String("bucket", "", "bucket of --op")
	key := fs.String("key", "", "object key of --op")
	prefix := fs.String("prefix", "", "prefix of --op ListObjectsV2 and ListObjects")
	copySource := fs.String("copy-source", "", "`bucket/key` source of --op CopyObject")
	deleteBody := fs.String("delete-body", "", "`file` with the request body of DeleteObjects")
	bodyFile := fs.String("body", "", "`file` with a body that holds condition values (PUT ?tagging, ?retention, ?legal-hold, CreateBucket, DeleteObjects)")
	actorToken := fs.String("actor-token", "", "the actor's `JWT` (a token exchange's actor_token)")
	actorTokenFile := fs.String("actor-token-file", "", "`file` holding the actor's JWT")
	actorClaims := fs.String("actor-claims", "", "JSON `file` with the actor's claims")
	actorIssuer := fs.String("actor-issuer", "", "the actor's issuer `name` (default: the one whose url is its iss)")
	actorRole := fs.String("actor-role", "", "explain only this `role` of the ones that trust the actor")
	objectTags := fs.String("object-tags", "", "the object's current `tags`, as 'k=v&k2=v2' (s3:ExistingObjectTag), which serve reads from the store")
	var headers headerFlags
	fs.Var(&headers, "H", "a request `header`, 'Name: value' (repeatable)")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	rest := fs.Args()
	// Allow flags after METHOD PATH too.
	if len(rest) > 2 {
		if err := c.parse(fs, rest[2:], stdout); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return c.usagef("unexpected argument %q after METHOD PATH", fs.Arg(0))
		}
		rest = rest[:2]
	}
	switch {
	case *op != "" && len(rest) > 0:
		return c.usagef("give METHOD PATH or --op, not both")
	case *op == "" && len(rest) == 1:
		if m, p, ok := strings.Cut(rest[0], " "); ok {
			return c.usagef("%q is one argument; give METHOD and PATH as two: %s '%s'", rest[0], m, strings.TrimSpace(p))
		}
		return c.usagef("give METHOD PATH (e.g. GET /bucket/key) or --op")
	case *op == "" && len(rest) == 0:
		return c.usagef("give the request: METHOD PATH (e.g. GET /bucket/key) or --op OPERATION")
	}
	if *token == "" && *tokenFile == "" && *claimsFile == "" {
		return c.usagef("give the identity: --token, --token-file or --claims")
	}

	f, _, err := config.Load(*path)
	if err != nil {
		printErrors(stderr, err)
		return fmt.Errorf("%s: configuration is invalid", *path)
	}
	engine, err := compileEngine(f)
	if err != nil {
		printErrors(stderr, err)
		return fmt.Errorf("%s: configuration is invalid", *path)
	}

	id, err := explainIdentity(f, *token, *tokenFile, *claimsFile, *issuer)
	if err != nil {
		return err
	}
	var r *http.Request
	switch {
	case *op != "":
		r, err = requestForOp(*op, *bucket, *key, *prefix, *copySource)
	default:
		r, err = requestFor(rest[0], rest[1])
	}
	if err != nil {
		return err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	ip, err := netip.ParseAddr(*sourceIP)
	if err != nil {
		return fmt.Errorf("--source-ip: %w", err)
	}

	var out explainOutput
	out.Identity.Issuer, out.Identity.Subject, out.Identity.Claims = id.Issuer, id.Subject, id.Claims
	var applied []*authz.Role
	out.Roles, applied = explainRoles(engine, id, *role, "--role", "this identity")
	p := engine.NewPrincipal(id, applied)

	actorID, source, err := explainActorIdentity(f, id, *actorToken, *actorTokenFile, *actorClaims, *actorIssuer)
	if err != nil {
		return err
	}
	if actorID == nil && *actorRole != "" {
		return c.usagef("--actor-role needs an actor: --actor-token, --actor-token-file, --actor-claims, or an act claim")
	}
	if actorID != nil {
		a := &explainActor{Issuer: actorID.Issuer, Subject: actorID.Subject, Source: source, Claims: actorID.Claims}
		var actorRoles []*authz.Role
		a.Roles, actorRoles = explainRoles(engine, actorID, *actorRole, "--actor-role", "the actor")
		out.Actor = a
		p = p.WithActor(engine.NewPrincipal(actorID, actorRoles))
	}

	req, serr := s3req.Classify(r, s3req.Config{VirtualHostDomains: f.VirtualHostDomains})
	switch {
	case serr != nil:
		out.Error = serr.Code + ": " + serr.Message
		out.Summary = "DENY: the request itself is rejected before authorization: " + out.Error
	default:
		out.Operation = string(req.Op)
		checks := req.Checks
		if *deleteBody == "" {
			*deleteBody = *bodyFile
		}
		if req.Body != s3req.BodyNone && *bodyFile != "" {
			data, err := os.ReadFile(*bodyFile)
			if err != nil {
				return err
			}
			if _, berr := req.ApplyBody(data); berr != nil {
				return fmt.Errorf("%s: %s", *bodyFile, berr.Message)
			}
		}
		var tags authz.TagSource
		if *objectTags != "" {
			set, terr := s3req.ParseTaggingHeader(*objectTags)
			if terr != nil {
				return fmt.Errorf("--object-tags: %s", terr.Message)
			}
			tags = staticTags(set)
		}
		if req.Op == s3req.OpDeleteObjects {
			if *deleteBody == "" {
				return errors.New("DeleteObjects: give the request body with --delete-body FILE")
			}
			data, err := os.ReadFile(*deleteBody)
			if err != nil {
				return err
			}
			del, derr := s3req.ParseDeleteObjects(data)
			if derr != nil {
				return fmt.Errorf("%s: %s", *deleteBody, derr.Message)
			}
			checks = append(checks, del.Checks(req.Bucket)...)
		}
		ar := authz.Request{SourceIP: ip, SecureTransport: *secure, Time: time.Now(), UserAgent: r.UserAgent(), S3: req.S3}
		if ref := r.Referer(); ref != "" {
			ar.Referer = authz.V(ref)
		}
		out.Allowed = true
		for _, c := range checks {
			ar.Action, ar.Resource = c.Action, c.Resource
			ar.ExistingTags = nil
			if req.ExistingTagsOf(c) != nil && tags != nil {
				ar.ExistingTags = tags
			}
			d, traces := engine.Explain(p, &ar)
			out.Checks = append(out.Checks, newExplainCheck(c, d, traces))
			if !d.Allowed && out.Allowed {
				out.Allowed = false
				out.Summary = fmt.Sprintf("DENY (%s): %s", d.Reason, d.Detail)
				if d.Actor {
					out.Summary = fmt.Sprintf("DENY (%s) by the actor's roles: %s", d.Reason, d.Detail)
				}
			}
		}
		guards := protections(f)
		if a := p.Actor(); a != nil {
			applied = append(applied, a.Roles()...)
		}
		for _, role := range applied {
			for _, g := range proxy.DescribeGuards(req.Op, req.S3.VersionID.Present, guards[role.Name()]) {
				out.Guards = append(out.Guards, fmt.Sprintf("role %q %s", role.Name(), g))
			}
		}
		if out.Allowed {
			last := out.Checks[len(out.Checks)-1].Decision
			out.Summary = fmt.Sprintf("ALLOW: role %q policy %q statement %q", last.Role, last.Policy, last.Sid)
			if out.Actor != nil {
				out.Summary += ", and the actor's roles allow it too"
			}
		}
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printExplain(stdout, &out)
	}
	if !out.Allowed {
		return errDenied
	}
	return nil
}

// errDenied is explain's answer DENY: exit status 1, nothing more to print.
var errDenied = &exitError{code: 1, err: errors.New("denied"), quiet: true}

func printExplain(w io.Writer, out *explainOutput) {
	fmt.Fprintf(w, "Identity: issuer %q, subject %q (token decoded, signature not verified)\n", out.Identity.Issuer, out.Identity.Subject)
	fmt.Fprintln(w, "Roles:")
	for _, r := range out.Roles {
		mark, why := "  no ", r.Why
		if r.Applies {
			mark, why = "  yes", "trusts this identity"
		}
		fmt.Fprintf(w, "%s %s (%s): %s\n", mark, r.Name, r.Kind, why)
	}
	if a := out.Actor; a != nil {
		fmt.Fprintf(w, "Acting for it (%s): issuer %q, subject %q; a request must be allowed by both\n", a.Source, a.Issuer, a.Subject)
		fmt.Fprintln(w, "Actor's roles:")
		for _, r := range a.Roles {
			mark, why := "  no ", r.Why
			if r.Applies {
				mark, why = "  yes", "trusts the actor"
			}
			fmt.Fprintf(w, "%s %s (%s): %s\n", mark, r.Name, r.Kind, why)
		}
	}
	if out.Error != "" {
		fmt.Fprintln(w, out.Summary)
		return
	}
	fmt.Fprintf(w, "Operation: %s\n", out.Operation)
	for i, c := range out.Checks {
		verdict := "ALLOW"
		if !c.Decision.Allowed {
			verdict = "DENY (" + c.Decision.Reason + ")"
			if c.Decision.ByActor {
				verdict += " by the actor's roles"
			}
		}
		fmt.Fprintf(w, "Check %d: %s on %s: %s\n", i+1, c.Action, c.Resource, verdict)
		if c.Decision.Detail != "" {
			fmt.Fprintf(w, "  %s\n", c.Decision.Detail)
		}
		for _, s := range c.Statements {
			name := s.Sid
			if name == "" {
				name = fmt.Sprintf("#%d", s.Statement)
			}
			status := "applies"
			if !s.Applies {
				status = "does not apply: " + s.Why
			}
			who := ""
			if s.Actor {
				who = "actor "
			}
			fmt.Fprintf(w, "    %s%s/%s %s (%s) %s\n", who, s.Role, s.Policy, name, s.Effect, status)
		}
	}
	for _, g := range out.Guards {
		fmt.Fprintf(w, "Guard: %s\n", g)
	}
	fmt.Fprintf(w, "Decision: %s\n", out.Summary)
}

// explainRoles says which roles trust id, and returns those that apply
// (only the role named by only, when given; flag names it in the reason,
// who names id).
func explainRoles(engine *authz.Engine, id *authz.Identity, only, flag, who string) ([]explainRole, []*authz.Role) {
	trusted, misses := engine.Trust(id)
	var (
		out     []explainRole
		applied []*authz.Role
	)
	for _, ro := range engine.Roles() {
		er := explainRole{Name: ro.Name(), Kind: ro.Kind()}
		for _, t := range trusted {
			if t == ro {
				er.Applies = true
			}
		}
		for _, m := range misses {
			if m.Role == ro.Name() {
				er.Why = m.Reason
			}
		}
		if only != "" && ro.Name() != only && er.Applies {
			er.Applies = false
			er.Why = "trusts " + who + ", but " + flag + " names another role"
		}
		if er.Applies {
			applied = append(applied, ro)
		}
		out = append(out, er)
	}
	return out, applied
}

// explainActorIdentity is the actor of a delegated session: from the
// actor flags (a token exchange), else from id's act claim; nil when
// there is none.
func explainActorIdentity(f *config.File, id *authz.Identity, token, tokenFile, claimsFile, issuer string) (*authz.Identity, string, error) {
	if token != "" || tokenFile != "" || claimsFile != "" {
		a, err := explainIdentity(f, token, tokenFile, claimsFile, issuer)
		if err != nil {
			return nil, "", fmt.Errorf("actor: %w", err)
		}
		return a, "actor token", nil
	}
	act, err := identity.ParseActor(id.Claims)
	switch {
	case errors.Is(err, identity.ErrNoActor):
		return nil, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("the identity's act claim is malformed: %w", err)
	}
	name := id.Issuer
	if act.IssuerURL != "" {
		name = issuer // --actor-issuer
		for _, is := range f.Issuers {
			if name == "" && is.URL == act.IssuerURL {
				name = is.Name
			}
		}
		if name == "" {
			return nil, "", fmt.Errorf("the actor's issuer %q (act.iss) is not a configured issuer; name one with --actor-issuer", act.IssuerURL)
		}
	}
	return &authz.Identity{Issuer: name, Subject: act.Subject, Claims: act.Claims}, "act claim", nil
}

// explainIdentity builds the identity from a token (decoded, unverified)
// or a claims file.
func explainIdentity(f *config.File, token, tokenFile, claimsFile, issuer string) (*authz.Identity, error) {
	var claims map[string]any
	switch {
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
		fallthrough
	case token != "":
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return nil, errors.New("token: not a JWS compact serialization")
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return nil, fmt.Errorf("token payload: %w", err)
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			return nil, fmt.Errorf("token payload: %w", err)
		}
	case claimsFile != "":
		b, err := os.ReadFile(claimsFile)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &claims); err != nil {
			return nil, fmt.Errorf("%s: %w", claimsFile, err)
		}
	default:
		return nil, errors.New("give --token, --token-file or --claims")
	}
	if issuer == "" {
		iss, _ := claims["iss"].(string)
		for _, is := range f.Issuers {
			if is.URL == iss {
				issuer = is.Name
			}
		}
		if issuer == "" {
			return nil, fmt.Errorf("no configured issuer has url %q; name one with --issuer", iss)
		}
	}
	sub, _ := claims["sub"].(string)
	return &authz.Identity{Issuer: issuer, Subject: sub, Claims: claims}, nil
}

func requestFor(method, target string) (*http.Request, error) {
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("path %q must start with /", target)
	}
	if _, err := url.ParseRequestURI(target); err != nil {
		return nil, fmt.Errorf("path %q: %w", target, err)
	}
	r := httptest.NewRequest(strings.ToUpper(method), target, nil)
	r.Host = "localhost"
	return r, nil
}

func requestForOp(op, bucket, key, prefix, copySource string) (*http.Request, error) {
	obj := "/" + bucket + "/" + s3req.UriEncodePath(key)
	var method, target string
	switch op {
	case "ListBuckets":
		method, target = "GET", "/"
	case "ListObjectsV2":
		method, target = "GET", "/"+bucket+"?list-type=2"
		if prefix != "" {
			target += "&prefix=" + url.QueryEscape(prefix)
		}
	case "ListObjects":
		method, target = "GET", "/"+bucket
		if prefix != "" {
			target += "?prefix=" + url.QueryEscape(prefix)
		}
	case "GetObject":
		method, target = "GET", obj
	case "HeadObject":
		method, target = "HEAD", obj
	case "PutObject", "CopyObject":
		method, target = "PUT", obj
	case "DeleteObject":
		method, target = "DELETE", obj
	case "CreateBucket":
		method, target = "PUT", "/"+bucket
	case "DeleteBucket":
		method, target = "DELETE", "/"+bucket
	case "DeleteObjects":
		method, target = "POST", "/"+bucket+"?delete"
	default:
		return nil, fmt.Errorf("--op %q: not one of the operations explain builds; give METHOD PATH instead", op)
	}
	if bucket == "" && op != "ListBuckets" {
		return nil, errors.New("--bucket is required")
	}
	r, err := requestFor(method, target)
	if err != nil {
		return nil, err
	}
	if op == "CopyObject" {
		if copySource == "" {
			return nil, errors.New("CopyObject needs --copy-source bucket/key")
		}
		r.Header.Set("X-Amz-Copy-Source", copySource)
	}
	return r, nil
}
