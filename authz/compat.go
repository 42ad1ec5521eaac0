package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Quirk names one way MinIO's policy engine decides a request differently
// from AWS's, which iamgate follows.
type Quirk string

// The differences CompatMinIO reports.
const (
	// QuirkBoolSpelling: a Bool value other than "true" or "false"; MinIO
	// accepts "TRUE" or "False" and then never matches, iamgate compares
	// it as a boolean.
	QuirkBoolSpelling Quirk = "bool-spelling"
	// QuirkObjectARNOnBucket: MinIO matches bucket requests against
	// "bucket/", so "arn:aws:s3:::b/*" also grants (or denies) bucket
	// operations on b there.
	QuirkObjectARNOnBucket Quirk = "object-arn-on-bucket"
	// QuirkBucketWildcard: a bucket pattern such as "arn:aws:s3:::b-?"
	// never matches a bucket request in MinIO ("b-a/" has a byte too many).
	QuirkBucketWildcard Quirk = "bucket-wildcard"
	// QuirkListBuckets: MinIO lists the buckets where ListBucket or
	// GetBucketLocation is allowed, without s3:ListAllMyBuckets and even
	// when it is denied.
	QuirkListBuckets Quirk = "listbuckets-fallback"
	// QuirkPutObjectTagging: PutObject with x-amz-tagging needs only
	// s3:PutObject in MinIO; AWS also requires s3:PutObjectTagging.
	QuirkPutObjectTagging Quirk = "putobject-tagging"
	// QuirkGetObjectVersion: s3:GetObjectVersion alone also grants plain
	// GetObject and HeadObject in MinIO.
	QuirkGetObjectVersion Quirk = "getobjectversion"
	// QuirkListBucketVersions: ListObjectVersions falls back to
	// s3:ListBucket in MinIO; AWS needs s3:ListBucketVersions.
	QuirkListBucketVersions Quirk = "listbucketversions"
	// QuirkByteWildcard: "?" matches one byte in MinIO, one character in
	// AWS and iamgate.
	QuirkByteWildcard Quirk = "wildcard-byte"
	// QuirkForwardedFor: MinIO takes aws:SourceIp from a client-sent
	// X-Forwarded-For header.
	QuirkForwardedFor Quirk = "x-forwarded-for"
	// QuirkDeleteObjects: DeleteObjects is decided key by key in both, but
	// with x-amz-bypass-governance-retention iamgate asks for
	// s3:BypassGovernanceRetention on every key, MinIO only on locked
	// versions.
	QuirkDeleteObjects Quirk = "deleteobjects-per-key"
	// QuirkRefererNull: aws:Referer is always present (empty) in MinIO.
	QuirkRefererNull Quirk = "referer-null"
	// QuirkExistingTagOnWrite: MinIO reads s3:ExistingObjectTag from the
	// request's new tags on PutObject and PutObjectTagging.
	QuirkExistingTagOnWrite Quirk = "existing-tag-on-write"
	// QuirkHeadBucket: MinIO authorizes HeadBucket with its own
	// s3:HeadBucket; AWS with s3:ListBucket.
	QuirkHeadBucket Quirk = "headbucket"
)

// CompatFinding is one policy statement that MinIO decides differently
// from iamgate for some request.
type CompatFinding struct {
	Source    string `json:"source,omitempty"` // where the statement is (PolicyDoc.Locate), else PolicyDoc.Source
	Policy    string `json:"policy"`
	Statement string `json:"statement"` // "statement 2 (Sid \"ListAll\")"
	Quirk     Quirk  `json:"quirk"`
	// Request is a request that is decided differently, and how:
	// "GET /data?versions (s3:ListBucket, no s3:ListBucketVersions): MinIO allows, iamgate denies".
	Request string `json:"request"`
}

// Quirks lists every Quirk CompatMinIO reports.
var Quirks = []Quirk{QuirkBoolSpelling, QuirkObjectARNOnBucket, QuirkBucketWildcard, QuirkListBuckets, QuirkPutObjectTagging,
	QuirkGetObjectVersion, QuirkListBucketVersions, QuirkByteWildcard, QuirkForwardedFor, QuirkDeleteObjects,
	QuirkRefererNull, QuirkExistingTagOnWrite, QuirkHeadBucket}

func (f CompatFinding) String() string {
	s := fmt.Sprintf("policy %q: %s: %s: %s", f.Policy, f.Statement, f.Quirk, f.Request)
	if f.Source != "" {
		s = f.Source + ": " + s
	}
	return s
}

// CompatMinIO lists, for every statement of docs, the requests MinIO's
// policy engine decides differently from iamgate's (which follows AWS):
// each finding names the statement, the difference and a concrete request.
// A statement may have several findings. Documents that do not compile
// are an error, as for Compile.
func CompatMinIO(docs []PolicyDoc) ([]CompatFinding, error) {
	var out []CompatFinding
	var errs []error
	vars := newVarTable()
	for i := range docs {
		d := &docs[i]
		p, perrs, _ := parsePolicy(d.Name, d.JSON, vars)
		for _, pr := range perrs {
			msg := pr.msg
			if at := d.at(pr); at != "" {
				msg = at + ": " + msg
			}
			errs = append(errs, errors.New(msg))
		}
		if len(perrs) > 0 {
			continue
		}
		for _, st := range p.stmts {
			src := d.at(problem{line: st.line, col: st.col})
			for _, q := range compatStatement(st, vars) {
				out = append(out, CompatFinding{Source: src, Policy: d.Name, Statement: st.label(), Quirk: q.quirk, Request: q.request})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

type compatNote struct {
	quirk   Quirk
	request string
}

// compatStatement checks one statement against every quirk, in the order
// of the Quirk constants.
func compatStatement(st *statement, vars *varTable) []compatNote {
	var notes []compatNote
	add := func(q Quirk, format string, args ...any) {
		notes = append(notes, compatNote{quirk: q, request: fmt.Sprintf(format, args...)})
	}
	applies := func(a Action) bool { return st.matchesActionName(strings.ToLower(string(a))) }
	allow := !st.deny
	// outcome says who allows a request the statement decides in MinIO
	// only (minioMatches) or in iamgate only.
	outcome := func(minioMatches bool) string {
		switch {
		case allow && minioMatches:
			return "MinIO allows, iamgate denies"
		case allow:
			return "iamgate allows, MinIO denies"
		case minioMatches:
			return "MinIO denies, iamgate does not apply this Deny"
		}
		return "iamgate denies, MinIO does not apply this Deny"
	}
	bucket := st.exampleBucket()

	// Bool spellings.
	for _, c := range st.conds {
		if c.op.kind != opBool {
			continue
		}
		for _, v := range c.values {
			if v == "true" || v == "false" {
				continue
			}
			add(QuirkBoolSpelling, "a request whose %s is %s (%s %q: %q): MinIO never matches this spelling, iamgate compares it as %s; %s",
				c.keyName, strings.ToLower(v), c.opName, c.keyName, v, strings.ToLower(v), outcome(false))
		}
	}

	// Bucket requests matched against "bucket/" in MinIO.
	if !st.notResource {
		bucketActions := st.bucketActions()
		if len(bucketActions) > 0 {
			for i := range st.resources {
				r := &st.resources[i]
				switch resourceBucketShape(r) {
				case shapeObjectsOnly:
					b := exampleText(bucketPart(r.raw), "bucket")
					add(QuirkObjectARNOnBucket, "%s (%s on arn:aws:s3:::%s): MinIO matches it against %q with %q; %s",
						exampleBucketRequest(bucketActions[0], b), bucketActions[0], b, b+"/", r.raw, outcome(true))
				case shapeWildcardBucket:
					b := exampleText(strings.TrimPrefix(r.raw, "arn:aws:s3:::"), "bucket")
					add(QuirkBucketWildcard, "%s (%s on arn:aws:s3:::%s): iamgate matches %q, MinIO matches bucket requests against %q and never does; %s",
						exampleBucketRequest(bucketActions[0], b), bucketActions[0], b, r.raw, b+"/", outcome(false))
				}
			}
		}
	}

	// ListBuckets.
	switch {
	case allow && (applies(ListBucket) || applies(GetBucketLocation)) && !applies(ListAllMyBuckets):
		add(QuirkListBuckets, "GET / (ListBuckets) by a role without s3:ListAllMyBuckets: MinIO lists the buckets this statement allows s3:ListBucket or s3:GetBucketLocation on, iamgate denies")
	case !allow && applies(ListAllMyBuckets):
		add(QuirkListBuckets, "GET / (ListBuckets) by a role that may s3:ListBucket or s3:GetBucketLocation some bucket: MinIO ignores this Deny and lists those buckets, iamgate denies")
	}

	if allow {
		if applies(PutObject) && !applies(PutObjectTagging) {
			add(QuirkPutObjectTagging, "PUT /%s/key with x-amz-tagging: k=v (s3:PutObject, no s3:PutObjectTagging): MinIO allows, iamgate denies", bucket)
		}
		if applies(GetObjectVersion) && !applies(GetObject) {
			add(QuirkGetObjectVersion, "GET /%s/key without versionId, and HEAD (s3:GetObjectVersion, no s3:GetObject): MinIO allows, iamgate denies", bucket)
		}
		if applies(ListBucket) && !applies(ListBucketVersions) {
			add(QuirkListBucketVersions, "GET /%s?versions (ListObjectVersions; s3:ListBucket, no s3:ListBucketVersions): MinIO allows, iamgate denies", bucket)
		}
	}

	// "?" as a byte.
	var byteWild []string
	if !st.notResource {
		for i := range st.resources {
			if hasOne(&st.resources[i]) {
				byteWild = append(byteWild, st.resources[i].raw)
			}
		}
	}
	for _, c := range st.conds {
		if c.op.kind != opStringLike && c.op.kind != opArn {
			continue
		}
		for i := range c.strs {
			if hasOne(&c.strs[i]) {
				byteWild = append(byteWild, c.strs[i].raw)
			}
		}
	}
	for _, raw := range byteWild {
		add(QuirkByteWildcard, "a name with a multi-byte character where %q has \"?\" (%q): iamgate matches, MinIO does not (\"?\" is one byte there); %s",
			raw, exampleOne(raw), outcome(false))
	}

	// aws:SourceIp.
	for _, c := range st.conds {
		if c.key != keySourceIP {
			continue
		}
		inside := "203.0.113.7"
		if len(c.nets) > 0 {
			a := c.nets[0].Addr()
			if c.nets[0].Bits() < a.BitLen() {
				a = a.Next()
			}
			inside = a.String()
		}
		add(QuirkForwardedFor, "a request from a peer outside %s (%s %q) with X-Forwarded-For: %s: MinIO decides on the header, iamgate on the peer (and on X-Forwarded-For only from trusted_proxies); %s",
			strings.Join(c.values, ", "), c.opName, c.keyName, inside, outcome(!c.op.negate))
	}
	if !st.notResource && usesSourceIPVar(st, vars) {
		add(QuirkForwardedFor, "a request with X-Forwarded-For: 203.0.113.7: MinIO's ${aws:SourceIp} is the header's address, iamgate's the peer (or the header only from trusted_proxies)")
	}

	// DeleteObjects.
	if allow && (applies(DeleteObject) || applies(DeleteObjectVersion)) && !applies(BypassGovernanceRetention) {
		add(QuirkDeleteObjects, "POST /%s?delete with x-amz-bypass-governance-retention: true (s3:DeleteObject, no s3:BypassGovernanceRetention): MinIO deletes the keys that are not locked, iamgate answers AccessDenied for every key", bucket)
	}

	// aws:Referer.
	for _, c := range st.conds {
		if c.key == keyReferer && c.op.kind == opNull {
			add(QuirkRefererNull, "a request without Referer (Null %q): MinIO treats the key as present and empty, iamgate as absent; %s",
				c.keyName, nullOutcome(c, allow))
		}
	}

	// s3:ExistingObjectTag on writes.
	for _, c := range st.conds {
		if c.key != keyExistingTag {
			continue
		}
		if applies(PutObjectTagging) {
			add(QuirkExistingTagOnWrite, "PUT /%s/key?tagging (%s %q): MinIO compares the new tags, iamgate (like AWS) the object's stored tags", bucket, c.opName, c.keyName)
		}
		if applies(PutObject) {
			add(QuirkExistingTagOnWrite, "PUT /%s/key with x-amz-tagging (%s %q): MinIO reads the request's tags as the existing ones, iamgate (like AWS) has no such key on PutObject", bucket, c.opName, c.keyName)
		}
	}

	// s3:HeadBucket.
	if !st.notAction {
		for _, a := range st.actionRaw {
			if strings.EqualFold(a, "s3:HeadBucket") {
				if allow {
					add(QuirkHeadBucket, "HEAD /%s (HeadBucket): MinIO allows with s3:HeadBucket, iamgate (like AWS) asks for s3:ListBucket", bucket)
				} else {
					add(QuirkHeadBucket, "HEAD /%s (HeadBucket): MinIO denies with s3:HeadBucket, iamgate (like AWS) asks for s3:ListBucket and this Deny does not match", bucket)
				}
			}
		}
	}
	return notes
}

func nullOutcome(c *condition, allow bool) string {
	// Null "true" matches in iamgate only; Null "false" in MinIO only.
	iamgateOnly := len(c.bools) > 0 && c.bools[0]
	switch {
	case allow && iamgateOnly:
		return "iamgate allows, MinIO denies"
	case allow:
		return "MinIO allows, iamgate denies"
	case iamgateOnly:
		return "iamgate denies, MinIO does not apply this Deny"
	}
	return "MinIO denies, iamgate does not apply this Deny"
}

// bucketActions returns the bucket-level actions iamgate classifies
// requests into that st applies to, most common first.
func (st *statement) bucketActions() []Action {
	var out []Action
	for _, a := range []Action{ListBucket, GetBucketLocation, ListBucketMultipartUploads, ListBucketVersions,
		GetBucketVersioning, GetBucketPolicy, GetBucketTagging, DeleteBucket, PutBucketPolicy, PutBucketVersioning} {
		if st.matchesActionName(strings.ToLower(string(a))) {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, a := range KnownActions {
		if i, ok := s3ActionIndex[strings.ToLower(string(a))]; ok && s3Actions[i].scope == scopeBucket &&
			st.matchesActionName(strings.ToLower(string(a))) {
			out = append(out, a)
		}
	}
	return out
}

type bucketShape uint8

const (
	shapeOther          bucketShape = iota
	shapeObjectsOnly                // "arn:aws:s3:::b/*": MinIO also matches "b/"
	shapeWildcardBucket             // "arn:aws:s3:::b-?": never matches "b-a/" in MinIO
)

// resourceBucketShape says how MinIO's matching of bucket requests against
// "bucket/" changes what r matches. Patterns with variables are left out.
func resourceBucketShape(r *pattern) bucketShape {
	const s3Prefix = "arn:aws:s3:::"
	if r.any || r.hasVar || len(r.toks) == 0 || r.toks[0].kind != tokLit || !strings.HasPrefix(r.toks[0].lit, s3Prefix) {
		return shapeOther
	}
	toks := append([]token{{kind: tokLit, lit: r.toks[0].lit[len(s3Prefix):]}}, r.toks[1:]...)
	// Find the first "/" in a literal.
	for i, t := range toks {
		if t.kind != tokLit {
			continue
		}
		j := strings.IndexByte(t.lit, '/')
		if j < 0 {
			continue
		}
		if j != len(t.lit)-1 {
			return shapeOther // a literal after the slash: names objects only, in MinIO too
		}
		rest := toks[i+1:]
		if len(rest) == 0 {
			return shapeOther // "b/": MinIO matches it, iamgate treats it as an object ARN with an empty key
		}
		for _, t := range rest {
			if t.kind != tokStar {
				return shapeOther
			}
		}
		if j == 0 && i == 0 {
			return shapeOther // "arn:aws:s3:::/*"
		}
		return shapeObjectsOnly
	}
	// No slash: a bucket pattern. With a wildcard and not ending in "*",
	// MinIO never matches a bucket request ("b-a/") with it.
	wild := false
	for _, t := range toks {
		if t.kind == tokStar || t.kind == tokOne {
			wild = true
		}
	}
	if wild && toks[len(toks)-1].kind != tokStar {
		return shapeWildcardBucket
	}
	return shapeOther
}

func bucketPart(raw string) string {
	s := strings.TrimPrefix(raw, "arn:aws:s3:::")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// exampleText turns a pattern into a name it matches: "*" stands for
// nothing, "?" for "x".
func exampleText(s, def string) string {
	s = strings.ReplaceAll(s, "*", "")
	s = strings.ReplaceAll(s, "?", "x")
	if s == "" {
		return def
	}
	return s
}

// exampleOne shows a name a "?" pattern matches with a two-byte character.
func exampleOne(raw string) string {
	s := strings.TrimPrefix(raw, "arn:aws:s3:::")
	s = strings.Replace(s, "?", "é", 1)
	return exampleText(s, "é")
}

// exampleBucket is a bucket the statement's first resource names.
func (st *statement) exampleBucket() string {
	if st.notResource || len(st.resources) == 0 {
		return "bucket"
	}
	r := st.resources[0].raw
	if !strings.HasPrefix(r, "arn:aws:s3:::") || strings.Contains(bucketPart(r), "${") {
		return "bucket"
	}
	return exampleText(bucketPart(r), "bucket")
}

func exampleBucketRequest(a Action, bucket string) string {
	switch a {
	case ListBucket:
		return "GET /" + bucket + "?list-type=2"
	case GetBucketLocation:
		return "GET /" + bucket + "?location"
	case ListBucketMultipartUploads:
		return "GET /" + bucket + "?uploads"
	case ListBucketVersions:
		return "GET /" + bucket + "?versions"
	case DeleteBucket:
		return "DELETE /" + bucket
	}
	return "a bucket request on " + bucket
}

func hasOne(p *pattern) bool {
	for _, t := range p.toks {
		if t.kind == tokOne {
			return true
		}
	}
	return false
}

// usesSourceIPVar reports whether a resource of st uses ${aws:SourceIp}.
func usesSourceIPVar(st *statement, vars *varTable) bool {
	for _, r := range st.resources {
		for _, t := range r.toks {
			if t.kind == tokVar && t.v >= 0 && int(t.v) < len(vars.defs) {
				if d := vars.defs[t.v]; d.kind == varRequest && d.key == keySourceIP {
					return true
				}
			}
		}
	}
	return false
}
