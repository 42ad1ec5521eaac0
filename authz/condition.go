package authz

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/internal/editdist"
)

type opKind uint8

const (
	opString opKind = iota
	opStringIgnoreCase
	opStringLike
	opArn
	opNumeric
	opDate
	opBool
	opIP
	opNull
)

type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type setQual uint8

const (
	setNone setQual = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

type opInfo struct {
	kind   opKind
	cmp    cmpKind
	negate bool
}

// operators maps condition operator names (without set prefix and
// IfExists suffix) to their meaning. Names are case-sensitive, as in AWS.
var operators = map[string]opInfo{
	"StringEquals":              {kind: opString},
	"StringNotEquals":           {kind: opString, negate: true},
	"StringEqualsIgnoreCase":    {kind: opStringIgnoreCase},
	"StringNotEqualsIgnoreCase": {kind: opStringIgnoreCase, negate: true},
	"StringLike":                {kind: opStringLike},
	"StringNotLike":             {kind: opStringLike, negate: true},
	"NumericEquals":             {kind: opNumeric},
	"NumericNotEquals":          {kind: opNumeric, negate: true},
	"NumericLessThan":           {kind: opNumeric, cmp: cmpLt},
	"NumericLessThanEquals":     {kind: opNumeric, cmp: cmpLe},
	"NumericGreaterThan":        {kind: opNumeric, cmp: cmpGt},
	"NumericGreaterThanEquals":  {kind: opNumeric, cmp: cmpGe},
	"DateEquals":                {kind: opDate},
	"DateNotEquals":             {kind: opDate, negate: true},
	"DateLessThan":              {kind: opDate, cmp: cmpLt},
	"DateLessThanEquals":        {kind: opDate, cmp: cmpLe},
	"DateGreaterThan":           {kind: opDate, cmp: cmpGt},
	"DateGreaterThanEquals":     {kind: opDate, cmp: cmpGe},
	"Bool":                      {kind: opBool},
	"IpAddress":                 {kind: opIP},
	"NotIpAddress":              {kind: opIP, negate: true},
	"ArnEquals":                 {kind: opArn},
	"ArnLike":                   {kind: opArn},
	"ArnNotEquals":              {kind: opArn, negate: true},
	"ArnNotLike":                {kind: opArn, negate: true},
	"Null":                      {kind: opNull},
}

type keyKind uint8

const (
	keySourceIP keyKind = iota
	keySecureTransport
	keyCurrentTime
	keyEpochTime
	keyUserAgent
	keyReferer
	keyPrefix
	keyDelimiter
	keyMaxKeys
	keyCopySource
	keySSE
	keyVersionID
	keySignatureVersion
	keyAuthType
	keyTLSVersion
	keyContentSHA256
	keyLockMode
	keyLockRetainUntil
	keyLockLegalHold
	keyLockRemainingDays
	keyLocationConstraint
	keyACL
	keyGrantFullControl
	keyGrantRead
	keyGrantReadACP
	keyGrantWrite
	keyGrantWriteACP
	keyStorageClass
	keyMetadataDirective
	keySSEKMSKeyID
	keySSECustomerAlgorithm
	keyWebsiteRedirect
	keyObjectOwnership
	keyIfMatch
	keyIfNoneMatch
	keyRequestTagKeys // multi-valued
	keyRequestTag     // s3:RequestObjectTag/<key>
	keyExistingTag    // s3:ExistingObjectTag/<key>: fetched lazily
	keyVar            // jwt:<claim>, aws:username, aws:userid: resolved per principal
)

// keyNames are the condition keys a policy may use, as AWS spells them
// (names match case-insensitively, as in AWS). "jwt:<claim>" and the tag
// keys, which take a tag key after the slash, are handled separately.
var keyNames = []struct {
	name string
	kind keyKind
}{
	{"aws:SourceIp", keySourceIP},
	{"aws:SecureTransport", keySecureTransport},
	{"aws:CurrentTime", keyCurrentTime},
	{"aws:EpochTime", keyEpochTime},
	{"aws:UserAgent", keyUserAgent},
	{"aws:Referer", keyReferer},
	{"aws:username", keyVar},
	{"aws:userid", keyVar},
	{"s3:prefix", keyPrefix},
	{"s3:delimiter", keyDelimiter},
	{"s3:max-keys", keyMaxKeys},
	{"s3:x-amz-copy-source", keyCopySource},
	{"s3:x-amz-server-side-encryption", keySSE},
	{"s3:versionid", keyVersionID},
	{"s3:signatureversion", keySignatureVersion},
	{"s3:authType", keyAuthType},
	{"s3:TlsVersion", keyTLSVersion},
	{"s3:x-amz-content-sha256", keyContentSHA256},
	{"s3:object-lock-mode", keyLockMode},
	{"s3:object-lock-retain-until-date", keyLockRetainUntil},
	{"s3:object-lock-legal-hold", keyLockLegalHold},
	{"s3:object-lock-remaining-retention-days", keyLockRemainingDays},
	{"s3:locationconstraint", keyLocationConstraint},
	{"s3:x-amz-acl", keyACL},
	{"s3:x-amz-grant-full-control", keyGrantFullControl},
	{"s3:x-amz-grant-read", keyGrantRead},
	{"s3:x-amz-grant-read-acp", keyGrantReadACP},
	{"s3:x-amz-grant-write", keyGrantWrite},
	{"s3:x-amz-grant-write-acp", keyGrantWriteACP},
	{"s3:x-amz-storage-class", keyStorageClass},
	{"s3:x-amz-metadata-directive", keyMetadataDirective},
	{"s3:x-amz-server-side-encryption-aws-kms-key-id", keySSEKMSKeyID},
	{"s3:x-amz-server-side-encryption-customer-algorithm", keySSECustomerAlgorithm},
	{"s3:x-amz-website-redirect-location", keyWebsiteRedirect},
	{"s3:x-amz-object-ownership", keyObjectOwnership},
	{"s3:if-match", keyIfMatch},
	{"s3:if-none-match", keyIfNoneMatch},
	{"s3:RequestObjectTagKeys", keyRequestTagKeys},
}

// Tag keys: the prefix (case-insensitive) is followed by a tag key, which
// is case-sensitive like the tags S3 stores.
const (
	prefixRequestTag  = "s3:requestobjecttag/"
	prefixExistingTag = "s3:existingobjecttag/"
)

// conditionKeys maps lower-cased condition key names to keys.
var conditionKeys = func() map[string]keyKind {
	m := make(map[string]keyKind, len(keyNames))
	for _, k := range keyNames {
		m[strings.ToLower(k.name)] = k.kind
	}
	return m
}()

// unsuppliedKeys are condition keys of Amazon S3 and of AWS that iamgate
// never has a value for: they are refused with this explanation rather
// than as typos. A statement relying on one could never be decided the
// way its author meant.
var unsuppliedKeys = map[string]string{
	"s3:accessgrantsinstancearn":           "S3 Access Grants",
	"s3:accesspointnetworkorigin":          "access points",
	"s3:dataaccesspointaccount":            "access points",
	"s3:dataaccesspointarn":                "access points",
	"s3:existingjoboperation":              "S3 Batch Operations",
	"s3:existingjobpriority":               "S3 Batch Operations",
	"s3:jobsuspendedcause":                 "S3 Batch Operations",
	"s3:requestjoboperation":               "S3 Batch Operations",
	"s3:requestjobpriority":                "S3 Batch Operations",
	"s3:inventoryaccessibleoptionalfields": "S3 Inventory",
	"s3:destinationregion":                 "replication",
	"s3:isreplicationpauserequest":         "replication",
	"s3:resourceaccount":                   "AWS accounts",
	"s3:objectcreationoperation":           "conditional writes",
	"s3:signatureage":                      "signature age",
	"aws:tagkeys":                          "resource tags",
	"aws:principaltype":                    "principal types",
	"aws:groups":                           "MinIO groups (use jwt:groups)",
}

// condition is one (operator, key, values) triple of a Condition block.
type condition struct {
	opName   string
	keyName  string
	values   []string // as written, for traces
	op       opInfo
	ifExists bool
	set      setQual
	key      keyKind
	v        int32  // variable id for keyVar
	tag      string // tag key of keyRequestTag and keyExistingTag

	strs  []pattern
	nums  []float64
	times []time.Time
	bools []bool
	nets  []netip.Prefix
}

// compileConditions compiles a Condition block. Operators and keys within
// a block are ANDed; values of one key are ORed (for negated operators:
// the key must match none of them).
func compileConditions(v any, opts patternOpts) ([]*condition, []string) {
	block, ok := v.(*object)
	if !ok {
		return nil, []string{fmt.Sprintf("Condition must be an object, got %s", jsonType(v))}
	}
	var conds []*condition
	var errs []string
	for _, opName := range block.keys {
		keys, ok := block.vals[opName].(*object)
		if !ok {
			errs = append(errs, fmt.Sprintf("Condition %q must be an object of condition keys, got %s", opName, jsonType(block.vals[opName])))
			continue
		}
		base := opName
		var set setQual
		switch {
		case strings.HasPrefix(base, "ForAnyValue:"):
			set, base = setAny, base[len("ForAnyValue:"):]
		case strings.HasPrefix(base, "ForAllValues:"):
			set, base = setAll, base[len("ForAllValues:"):]
		}
		ifExists := false
		if b, ok := strings.CutSuffix(base, "IfExists"); ok {
			base, ifExists = b, true
		}
		info, known := operators[base]
		if !known {
			errs = append(errs, fmt.Sprintf("unknown condition operator %q", opName))
			continue
		}
		if info.kind == opNull && (ifExists || set != setNone) {
			errs = append(errs, fmt.Sprintf("condition operator %q: Null takes no IfExists suffix or ForAnyValue/ForAllValues prefix", opName))
			continue
		}
		if len(keys.keys) == 0 {
			errs = append(errs, fmt.Sprintf("condition operator %q has no keys", opName))
		}
		for _, keyName := range keys.keys {
			c := &condition{opName: opName, keyName: keyName, op: info, ifExists: ifExists, set: set}
			if msg := c.compileKey(opts.vars); msg != "" {
				errs = append(errs, fmt.Sprintf("%s %q: %s", opName, keyName, msg))
				continue
			}
			vals, msg := conditionValues(keys.vals[keyName])
			if msg != "" {
				errs = append(errs, fmt.Sprintf("%s %q: %s", opName, keyName, msg))
				continue
			}
			c.values = vals
			bad := false
			for _, val := range vals {
				if msg := c.addValue(val, opts); msg != "" {
					errs = append(errs, fmt.Sprintf("%s %q: value %q: %s", opName, keyName, val, msg))
					bad = true
				}
			}
			if !bad {
				conds = append(conds, c)
			}
		}
	}
	return conds, errs
}

func (c *condition) compileKey(vars *varTable) string {
	lower := strings.ToLower(c.keyName)
	if strings.HasPrefix(lower, "jwt:") {
		if len(c.keyName) == 4 {
			return "jwt: key needs a claim name, e.g. \"jwt:groups\""
		}
		c.key, c.v = keyVar, vars.intern(varDef{kind: varClaim, claim: c.keyName[4:]})
		return ""
	}
	for _, t := range []struct {
		prefix string
		kind   keyKind
	}{{prefixRequestTag, keyRequestTag}, {prefixExistingTag, keyExistingTag}} {
		if strings.HasPrefix(lower, t.prefix) {
			c.tag = c.keyName[len(t.prefix):]
			if c.tag == "" {
				return "the key needs a tag key after the slash, e.g. \"" + c.keyName + "classification\""
			}
			c.key = t.kind
			return ""
		}
	}
	k, ok := conditionKeys[lower]
	if !ok {
		return unknownKeyMessage(c.keyName)
	}
	c.key = k
	switch lower {
	case "aws:username":
		c.v = vars.intern(varDef{kind: varUsername})
	case "aws:userid":
		c.v = vars.intern(varDef{kind: varUserID})
	}
	return ""
}

// unknownKeyMessage explains why name is not a condition key iamgate
// knows: a key it never has a value for, or a probable typo (with the
// closest key as a suggestion).
func unknownKeyMessage(name string) string {
	lower := strings.ToLower(name)
	if what, ok := unsuppliedKeys[lower]; ok {
		return "iamgate does not supply this condition key (" + what + "), so a statement using it could never be decided as written"
	}
	if strings.HasPrefix(lower, "aws:principaltag/") {
		return "iamgate does not supply this condition key (the principal's attributes are token claims: use jwt:<claim>)"
	}
	for _, p := range []string{"aws:requesttag/", "aws:resourcetag/"} {
		if strings.HasPrefix(lower, p) {
			return "iamgate does not supply this condition key (object tags are s3:ExistingObjectTag/<key> and s3:RequestObjectTag/<key>)"
		}
	}
	if s := closestKey(lower); s != "" {
		return "unknown condition key (did you mean \"" + s + "\"?)"
	}
	return "unknown condition key"
}

// closestKey returns the condition key closest to name (lower case) by
// edit distance, or "" when none is close enough to be a typo.
func closestKey(name string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestD := "", 0
	try := func(cand string) {
		d := editdist.Levenshtein(name, strings.ToLower(cand))
		if best == "" || d < bestD {
			best, bestD = cand, d
		}
	}
	for _, k := range keyNames {
		try(k.name)
	}
	for _, p := range []string{"s3:RequestObjectTag/", "s3:ExistingObjectTag/"} {
		if i := strings.IndexByte(name, '/'); i >= 0 {
			d := editdist.Levenshtein(name[:i+1], strings.ToLower(p))
			if best == "" || d < bestD {
				best, bestD = p+name[i+1:], d
			}
		}
	}
	if best == "" || bestD > typoLimit(name) {
		return ""
	}
	return best
}

// conditionValues accepts a string, number or boolean, or a non-empty array
// of them, and returns their text.
func conditionValues(v any) ([]string, string) {
	one := func(e any) (string, bool) {
		switch e := e.(type) {
		case string:
			return e, true
		case json.Number:
			return e.String(), true
		case bool:
			return strconv.FormatBool(e), true
		}
		return "", false
	}
	if a, ok := v.([]any); ok {
		if len(a) == 0 {
			return nil, "empty value list"
		}
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := one(e)
			if !ok {
				return nil, fmt.Sprintf("values must be strings, numbers or booleans, found %s", jsonType(e))
			}
			out = append(out, s)
		}
		return out, ""
	}
	s, ok := one(v)
	if !ok {
		return nil, fmt.Sprintf("value must be a string, number, boolean or an array of them, got %s", jsonType(v))
	}
	return []string{s}, ""
}

func (c *condition) addValue(val string, opts patternOpts) string {
	switch c.op.kind {
	case opString, opStringIgnoreCase, opStringLike, opArn:
		o := opts
		o.glob = c.op.kind == opStringLike || c.op.kind == opArn
		p, err := compilePattern(val, o)
		if err != nil {
			return err.Error()
		}
		c.strs = append(c.strs, p)
	case opNumeric:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(f) {
			return "not a number"
		}
		c.nums = append(c.nums, f)
	case opDate:
		t, ok := parseDate(val)
		if !ok {
			return "not a date (use ISO 8601, e.g. \"2026-01-02T15:04:05Z\", or epoch seconds)"
		}
		c.times = append(c.times, t)
	case opBool, opNull:
		b, ok := parseBool(val)
		if !ok {
			return "not \"true\" or \"false\""
		}
		c.bools = append(c.bools, b)
	case opIP:
		if p, err := netip.ParsePrefix(val); err == nil {
			c.nets = append(c.nets, p.Masked())
		} else if a, err := netip.ParseAddr(val); err == nil {
			c.nets = append(c.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			return "not an IP address or CIDR block"
		}
	}
	return ""
}

// parseBool accepts "true" and "false" in any letter case.
func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
}

// parseDate accepts ISO 8601 dates and times (UTC unless a zone is given)
// and epoch seconds.
func parseDate(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e15 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	return time.Time{}, false
}

type valType uint8

const (
	typString valType = iota
	typIP
	typTime
	typEpoch
	typBool
	typNum
)

// keyVal is a condition key's value(s) in a request; n == 0 means absent.
// It is returned by value so evaluation does not allocate. undecided is
// set when the value exists but could not be obtained (the object's tags
// could not be fetched).
type keyVal struct {
	n         int
	typ       valType
	s         string
	multi     []string
	ip        netip.Addr
	t         time.Time
	b         bool
	f         float64
	undecided bool
}

func strVal(v Value) keyVal {
	if !v.Present {
		return keyVal{}
	}
	return keyVal{n: 1, s: v.S}
}

func (c *condition) lookup(ctx *evalCtx) keyVal {
	return lookupKey(c.key, c.tag, c.v, ctx)
}

// lookupKey returns the value of key (with its tag key, or variable id)
// in the request.
func lookupKey(key keyKind, tag string, v int32, ctx *evalCtx) keyVal {
	r := ctx.req
	switch key {
	case keySourceIP:
		if !r.SourceIP.IsValid() {
			return keyVal{}
		}
		return keyVal{n: 1, typ: typIP, ip: r.SourceIP.Unmap()}
	case keySecureTransport:
		return keyVal{n: 1, typ: typBool, b: r.SecureTransport}
	case keyCurrentTime, keyEpochTime:
		if r.Time.IsZero() {
			return keyVal{}
		}
		t := typTime
		if key == keyEpochTime {
			t = typEpoch
		}
		return keyVal{n: 1, typ: t, t: r.Time}
	case keyUserAgent:
		return keyVal{n: 1, s: r.UserAgent} // always present, as in AWS
	case keyReferer:
		return strVal(r.Referer)
	case keyPrefix:
		return strVal(r.S3.Prefix)
	case keyDelimiter:
		return strVal(r.S3.Delimiter)
	case keyMaxKeys:
		return strVal(r.S3.MaxKeys)
	case keyCopySource:
		return strVal(r.S3.CopySource)
	case keySSE:
		return strVal(r.S3.ServerSideEncryption)
	case keyVersionID:
		return strVal(r.S3.VersionID)
	case keySignatureVersion:
		return strVal(r.S3.SignatureVersion)
	case keyAuthType:
		return strVal(r.S3.AuthType)
	case keyTLSVersion:
		return strVal(r.S3.TLSVersion)
	case keyContentSHA256:
		return strVal(r.S3.ContentSHA256)
	case keyLockMode:
		return strVal(r.S3.ObjectLockMode)
	case keyLockRetainUntil:
		return strVal(r.S3.ObjectLockRetainUntilDate)
	case keyLockLegalHold:
		return strVal(r.S3.ObjectLockLegalHold)
	case keyLockRemainingDays:
		return remainingDays(r)
	case keyLocationConstraint:
		return strVal(r.S3.LocationConstraint)
	case keyACL:
		return strVal(r.S3.ACL)
	case keyGrantFullControl:
		return strVal(r.S3.GrantFullControl)
	case keyGrantRead:
		return strVal(r.S3.GrantRead)
	case keyGrantReadACP:
		return strVal(r.S3.GrantReadACP)
	case keyGrantWrite:
		return strVal(r.S3.GrantWrite)
	case keyGrantWriteACP:
		return strVal(r.S3.GrantWriteACP)
	case keyStorageClass:
		return strVal(r.S3.StorageClass)
	case keyMetadataDirective:
		return strVal(r.S3.MetadataDirective)
	case keySSEKMSKeyID:
		return strVal(r.S3.SSEKMSKeyID)
	case keySSECustomerAlgorithm:
		return strVal(r.S3.SSECustomerAlgorithm)
	case keyWebsiteRedirect:
		return strVal(r.S3.WebsiteRedirectLocation)
	case keyObjectOwnership:
		return strVal(r.S3.ObjectOwnership)
	case keyIfMatch:
		return strVal(r.S3.IfMatch)
	case keyIfNoneMatch:
		return strVal(r.S3.IfNoneMatch)
	case keyRequestTagKeys:
		if n := r.S3.RequestTags.Len(); n > 0 {
			return keyVal{n: n, multi: r.S3.RequestTags.Keys}
		}
		return keyVal{}
	case keyRequestTag:
		if val, ok := r.S3.RequestTags.Get(tag); ok {
			return keyVal{n: 1, s: val}
		}
		return keyVal{}
	case keyExistingTag:
		if r.ExistingTags == nil {
			return keyVal{}
		}
		tags, err := r.ExistingTags.ObjectTags()
		if err != nil {
			if ctx.tagErr == nil {
				ctx.tagErr = err
			}
			return keyVal{undecided: true}
		}
		if val, ok := tags.Get(tag); ok {
			return keyVal{n: 1, s: val}
		}
		return keyVal{}
	case keyVar:
		vals := ctx.values(v)
		if len(vals) == 1 {
			return keyVal{n: 1, s: vals[0]}
		}
		return keyVal{n: len(vals), multi: vals}
	}
	return keyVal{}
}

// remainingDays is s3:object-lock-remaining-retention-days: the whole days,
// rounded up, from the request's time to the retain-until date it sets (0
// for a date that has passed, which the store refuses anyway).
func remainingDays(r *Request) keyVal {
	if !r.S3.ObjectLockRetainUntilDate.Present || r.Time.IsZero() {
		return keyVal{}
	}
	until, ok := parseDate(r.S3.ObjectLockRetainUntilDate.S)
	if !ok {
		return keyVal{}
	}
	days := math.Ceil(until.Sub(r.Time).Hours() / 24)
	if days < 0 {
		days = 0
	}
	return keyVal{n: 1, typ: typNum, f: days}
}

// str returns value i as text (typed values are formatted; this allocates
// and only happens when a string operator is used on a typed key).
func (k *keyVal) str(i int) string {
	switch k.typ {
	case typIP:
		return k.ip.String()
	case typTime:
		return k.t.UTC().Format(time.RFC3339)
	case typEpoch:
		return strconv.FormatInt(k.t.Unix(), 10)
	case typBool:
		return strconv.FormatBool(k.b)
	case typNum:
		return strconv.FormatFloat(k.f, 'f', -1, 64)
	}
	if k.multi != nil {
		return k.multi[i]
	}
	return k.s
}

// tri is the outcome of evaluating a condition or a statement: it holds,
// it does not, or it cannot be decided because a value it reads could not
// be obtained.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUndecided
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// eval reports whether the condition holds for the request.
func (c *condition) eval(ctx *evalCtx) tri {
	k := c.lookup(ctx)
	if k.undecided {
		return triUndecided
	}
	if c.op.kind == opNull {
		absent := k.n == 0
		for _, b := range c.bools {
			if b == absent {
				return triTrue
			}
		}
		return triFalse
	}
	if k.n == 0 {
		switch {
		case c.set == setAll:
			return triTrue // vacuously true, as in AWS
		case c.ifExists:
			return triTrue
		case c.set == setAny:
			return triFalse
		}
		// A missing key matches no value: positive operators fail and
		// negated ones hold (AWS).
		return triOf(c.op.negate)
	}
	switch c.set {
	case setAny:
		for i := 0; i < k.n; i++ {
			if m, ok := c.matchItem(ctx, &k, i); ok && m != c.op.negate {
				return triTrue
			}
		}
		return triFalse
	case setAll:
		for i := 0; i < k.n; i++ {
			if m, ok := c.matchItem(ctx, &k, i); !ok || m == c.op.negate {
				return triFalse
			}
		}
		return triTrue
	}
	// No set qualifier: a multi-valued key (a claim array) matches if any
	// of its values matches; a negated operator holds if none does.
	for i := 0; i < k.n; i++ {
		m, ok := c.matchItem(ctx, &k, i)
		if !ok {
			return triFalse
		}
		if m {
			return triOf(!c.op.negate)
		}
	}
	return triOf(c.op.negate)
}

// matchItem reports whether value i of the key matches any of the
// condition's values under the positive form of the operator. ok is false
// when the key value cannot be read as the operator's type (e.g. a
// non-numeric value for a Numeric operator); such a condition never holds,
// negated or not.
func (c *condition) matchItem(ctx *evalCtx, k *keyVal, i int) (match, ok bool) {
	switch c.op.kind {
	case opString, opStringLike, opArn, opStringIgnoreCase:
		s := k.str(i)
		fold := c.op.kind == opStringIgnoreCase
		for j := range c.strs {
			if c.strs[j].match(s, ctx, fold) {
				return true, true
			}
		}
		return false, true
	case opNumeric:
		var x float64
		switch k.typ {
		case typEpoch, typTime:
			x = float64(k.t.Unix())
		case typNum:
			x = k.f
		case typString:
			f, err := strconv.ParseFloat(k.str(i), 64)
			if err != nil || math.IsNaN(f) {
				return false, false
			}
			x = f
		default:
			return false, false
		}
		for _, y := range c.nums {
			if compare(cmpFloat(x, y), c.op.cmp) {
				return true, true
			}
		}
		return false, true
	case opDate:
		var t time.Time
		switch k.typ {
		case typEpoch, typTime:
			t = k.t
		case typString:
			var ok bool
			if t, ok = parseDate(k.str(i)); !ok {
				return false, false
			}
		default:
			return false, false
		}
		for _, y := range c.times {
			if compare(t.Compare(y), c.op.cmp) {
				return true, true
			}
		}
		return false, true
	case opBool:
		var b bool
		switch k.typ {
		case typBool:
			b = k.b
		case typString:
			var ok bool
			if b, ok = parseBool(k.str(i)); !ok {
				return false, false
			}
		default:
			return false, false
		}
		for _, y := range c.bools {
			if b == y {
				return true, true
			}
		}
		return false, true
	case opIP:
		var a netip.Addr
		switch k.typ {
		case typIP:
			a = k.ip
		case typString:
			var err error
			if a, err = netip.ParseAddr(k.str(i)); err != nil {
				return false, false
			}
			a = a.Unmap()
		default:
			return false, false
		}
		for _, n := range c.nets {
			if n.Contains(a) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func compare(c int, k cmpKind) bool {
	switch k {
	case cmpEq:
		return c == 0
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	case cmpGe:
		return c >= 0
	}
	return false
}
