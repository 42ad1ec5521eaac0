package sigv4

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/s3err"
)

// AuthPost marks an Auth parsed from the fields of a browser form upload
// (POST Object, checklist §1.14) by ParsePostAuth.
const AuthPost AuthType = AuthPresigned + 1

// Form fields of a SigV4 POST upload, lower case.
const (
	FieldPolicy        = "policy"
	FieldAlgorithm     = "x-amz-algorithm"
	FieldCredential    = "x-amz-credential"
	FieldDate          = "x-amz-date"
	FieldSignature     = "x-amz-signature"
	FieldSecurityToken = "x-amz-security-token"
	FieldKey           = "key"
	FieldBucket        = "bucket"
	FieldFile          = "file"
)

// Conditions of a POST policy.
const (
	CondEq         = "eq"
	CondStartsWith = "starts-with"
	condLength     = "content-length-range"
)

// MaxPostObjectSize is the largest object a form upload may carry (5 GiB),
// and the content-length-range used when a policy names none.
const MaxPostObjectSize = 5 << 30

// PostForm holds the fields of a browser upload form that precede the
// file, keyed by lower-case field name (form field names are
// case-insensitive). Values are as sent.
type PostForm map[string]string

// PostPolicy is a decoded POST policy document.
type PostPolicy struct {
	Expiration time.Time
	Conditions []PostCondition
	// MinLength and MaxLength bound the size of the file: the
	// content-length-range condition (the intersection, when a policy has
	// several), or 0 and MaxPostObjectSize.
	MinLength, MaxLength int64
	// HasLengthRange is set when the policy has a content-length-range.
	HasLengthRange bool
}

// PostCondition is one eq or starts-with condition.
type PostCondition struct {
	Op    string // CondEq or CondStartsWith
	Field string // lower case, without the leading "$"
	Value string
}

func (c PostCondition) String() string {
	return fmt.Sprintf("[%q, %q, %q]", c.Op, "$"+c.Field, c.Value)
}

// errPostField is the answer to a missing or malformed authentication field.
func errPostField(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidArgument", msg)
}

func errPolicyDocument(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: "+msg)
}

func errByPolicy(msg string) *s3err.Error {
	return s3err.New(http.StatusForbidden, "AccessDenied", "Invalid according to Policy: "+msg)
}

// ParsePostAuth parses the SigV4 fields of a form upload: x-amz-algorithm
// (AWS4-HMAC-SHA256 only), x-amz-credential (scope checked as for header
// auth: region == expectedRegion, service s3, aws4_request), x-amz-date
// (whose day must be the scope date), x-amz-signature, policy and the
// optional x-amz-security-token. It checks format only; verify the
// signature with VerifyPostSignature once the secret is known.
//
// A form with none of these fields is anonymous: AccessDenied. A form with
// some but not all of them, or with malformed ones: InvalidArgument. SigV2
// forms (AWSAccessKeyId, signature): InvalidRequest.
func ParsePostAuth(form PostForm, expectedRegion string) (*Auth, *s3err.Error) {
	if _, ok := form["awsaccesskeyid"]; ok {
		return nil, errV2()
	}
	if _, ok := form["signature"]; ok {
		return nil, errV2()
	}
	required := []string{FieldPolicy, FieldAlgorithm, FieldCredential, FieldDate, FieldSignature}
	present := 0
	for _, f := range required {
		if _, ok := form[f]; ok {
			present++
		}
	}
	if present == 0 {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied",
			"Access Denied: the form is not signed; anonymous form uploads are not allowed.")
	}
	for _, f := range required {
		if _, ok := form[f]; !ok {
			return nil, errPostField("Bucket POST must contain a field named '" + f + "'. If it is specified, please check the order of the fields.")
		}
	}
	switch form[FieldAlgorithm] {
	case algorithm:
	case algorithmECDSA:
		return nil, s3err.New(http.StatusNotImplemented, "NotImplemented", "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
	default:
		return nil, errPostField("x-amz-algorithm only supports \"AWS4-HMAC-SHA256\".")
	}
	a := &Auth{Type: AuthPost, PayloadHash: UnsignedPayload}
	if e := a.parseCredential(form[FieldCredential], func(m string) *s3err.Error { return errPostField("x-amz-credential: " + m) }); e != nil {
		return nil, e
	}
	if e := a.checkScope(expectedRegion, func(m string) *s3err.Error { return errPostField("x-amz-credential: " + m) }); e != nil {
		return nil, e
	}
	raw := form[FieldDate]
	if !validDate(raw) {
		return nil, errPostField("x-amz-date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	a.Date, _ = time.Parse(iso8601, raw)
	if a.ScopeDate != raw[:8] {
		return nil, errPostField("Invalid credential date \"" + a.ScopeDate + "\". This date is not the same as x-amz-date: \"" + raw[:8] + "\".")
	}
	if !isHex64(form[FieldSignature]) {
		return nil, errPostField("x-amz-signature must be 64 hexadecimal characters.")
	}
	a.Signature = form[FieldSignature]
	if tok, ok := form[FieldSecurityToken]; ok {
		if tok == "" {
			return nil, errInvalidToken()
		}
		a.SecurityToken = tok
	}
	return a, nil
}

// VerifyPostSignature checks that a.Signature is hex(HMAC(signing key,
// policy)), where policy is the base64 policy field exactly as sent and the
// signing key is derived from secret for a's scope. The comparison takes
// constant time. A mismatch is SignatureDoesNotMatch (403).
func VerifyPostSignature(a *Auth, policy, secret string) *s3err.Error {
	want := signHex(signingKey(secret, a.ScopeDate, a.Region), policy)
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) != 1 {
		e := errSignature()
		e.Extra = [][2]string{{"AWSAccessKeyId", a.AccessKeyID}}
		return e
	}
	return nil
}

// maxPolicyDepth bounds the nesting of a policy document.
const maxPolicyDepth = 4

// ParsePostPolicy decodes the base64 policy field: a JSON object with
// exactly "expiration" (ISO 8601) and "conditions". Conditions are
// {"field": "value"} objects (exact matches), ["eq", "$field", "value"],
// ["starts-with", "$field", "prefix"] and ["content-length-range", min,
// max]. Operators and field names are case-insensitive. Duplicate JSON
// keys, unknown keys and unknown operators are rejected with
// InvalidPolicyDocument, as is starts-with on bucket, x-amz-algorithm,
// x-amz-credential and x-amz-date (exact match only, as in MinIO).
func ParsePostPolicy(policy string) (*PostPolicy, *s3err.Error) {
	raw, err := base64.StdEncoding.DecodeString(policy)
	if err != nil {
		return nil, errPolicyDocument("the policy field is not valid base64.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	doc, err := decodeStrict(dec, 0)
	if err != nil {
		return nil, errPolicyDocument(err.Error() + ".")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errPolicyDocument("trailing data after the policy document.")
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, errPolicyDocument("the policy must be a JSON object.")
	}
	p := &PostPolicy{MaxLength: MaxPostObjectSize}
	for k := range top {
		if k != "expiration" && k != "conditions" {
			return nil, errPolicyDocument(fmt.Sprintf("unexpected key %q.", k))
		}
	}
	exp, ok := top["expiration"].(string)
	if !ok {
		return nil, errPolicyDocument("the policy must have an expiration string.")
	}
	if p.Expiration, err = time.Parse(time.RFC3339Nano, exp); err != nil {
		return nil, errPolicyDocument("expiration is not an ISO 8601 time such as \"2007-12-01T12:00:00.000Z\".")
	}
	conds, ok := top["conditions"].([]any)
	if !ok {
		return nil, errPolicyDocument("the policy must have a conditions array.")
	}
	for _, c := range conds {
		switch c := c.(type) {
		case map[string]any:
			names := make([]string, 0, len(c))
			for k := range c {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				v, ok := c[k].(string)
				if !ok {
					return nil, errPolicyDocument(fmt.Sprintf("the value of condition %q must be a string.", k))
				}
				p.Conditions = append(p.Conditions, PostCondition{Op: CondEq, Field: strings.ToLower(k), Value: v})
			}
		case []any:
			if e := p.addArrayCondition(c); e != nil {
				return nil, e
			}
		default:
			return nil, errPolicyDocument("a condition must be an object or an array.")
		}
	}
	for _, c := range p.Conditions {
		if c.Op == CondStartsWith && !startsWithAllowed(c.Field) {
			return nil, errPolicyDocument("starts-with is not allowed on $" + c.Field + ".")
		}
	}
	return p, nil
}

func (p *PostPolicy) addArrayCondition(c []any) *s3err.Error {
	if len(c) != 3 {
		return errPolicyDocument("an array condition must have three elements.")
	}
	op, ok := c[0].(string)
	if !ok {
		return errPolicyDocument("the first element of an array condition must be an operator.")
	}
	switch op = strings.ToLower(op); op {
	case CondEq, CondStartsWith:
		field, ok1 := c[1].(string)
		value, ok2 := c[2].(string)
		if !ok1 || !ok2 {
			return errPolicyDocument(fmt.Sprintf("the %s condition takes two strings.", op))
		}
		name, ok := strings.CutPrefix(field, "$")
		if !ok || name == "" {
			return errPolicyDocument(fmt.Sprintf("the field %q of a %s condition must start with '$'.", field, op))
		}
		p.Conditions = append(p.Conditions, PostCondition{Op: op, Field: strings.ToLower(name), Value: value})
	case condLength:
		lo, ok1 := policyInt(c[1])
		hi, ok2 := policyInt(c[2])
		if !ok1 || !ok2 || lo > hi {
			return errPolicyDocument("content-length-range takes two non-negative integers, min <= max.")
		}
		if !p.HasLengthRange {
			p.MinLength, p.MaxLength, p.HasLengthRange = lo, hi, true
		} else {
			p.MinLength, p.MaxLength = max(p.MinLength, lo), min(p.MaxLength, hi)
		}
	default:
		return errPolicyDocument(fmt.Sprintf("unknown condition operator %q.", op))
	}
	return nil
}

// policyInt accepts a non-negative JSON integer or a decimal string.
func policyInt(v any) (int64, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// startsWithAllowed reports whether a starts-with condition may name field.
func startsWithAllowed(field string) bool {
	switch field {
	case FieldBucket, FieldAlgorithm, FieldCredential, FieldDate:
		return false
	}
	return true
}

// decodeStrict decodes one JSON value, rejecting duplicate object keys
// (encoding/json would keep the last one silently) and deep nesting.
func decodeStrict(dec *json.Decoder, depth int) (any, error) {
	if depth > maxPolicyDepth {
		return nil, errors.New("the policy document is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("the policy is not valid JSON")
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, errors.New("the policy is not valid JSON")
			}
			k, _ := kt.(string)
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("the key %q appears more than once", k)
			}
			if m[k], err = decodeStrict(dec, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, errors.New("the policy is not valid JSON")
		}
		return m, nil
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := decodeStrict(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, errors.New("the policy is not valid JSON")
		}
		return a, nil
	}
	return tok, nil
}

// Check applies the policy to the form of an upload into bucket (AWS's
// rules for POST policies, checklist §1.14):
//   - the policy has not expired (AccessDenied "Policy expired");
//   - every condition holds, a field absent from the form counting as the
//     empty string; the bucket field is always the bucket of the request.
//     A starts-with on content-type holds when each comma-separated
//     value starts with the prefix;
//   - every form field except policy, x-amz-signature (AWSAccessKeyId and
//     signature for Signature Version 2), file and x-ignore-* is named by
//     a condition ("Extra input fields").
//
// form must hold the key as it will be stored (${filename} substituted).
// The content-length-range is enforced on the file by the caller (see
// CheckLength).
func (p *PostPolicy) Check(form PostForm, bucket string, now time.Time) *s3err.Error {
	if !p.Expiration.After(now) {
		return errByPolicy("Policy expired.")
	}
	value := func(field string) string {
		if field == FieldBucket {
			return bucket
		}
		return form[field]
	}
	covered := make(map[string]bool, len(p.Conditions))
	for _, c := range p.Conditions {
		covered[c.Field] = true
		if !c.holds(value(c.Field)) {
			return errByPolicy("Policy Condition failed: " + c.String())
		}
	}
	var extra []string
	for name := range form {
		switch {
		case covered[name], name == FieldPolicy, name == FieldSignature, name == FieldFile, name == FieldBucket,
			name == FieldV2AccessKey, name == FieldV2Signature, strings.HasPrefix(name, "x-ignore-"):
		default:
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return errByPolicy("Extra input fields: " + strings.Join(extra, ", "))
	}
	return nil
}

func (c PostCondition) holds(v string) bool {
	if c.Op == CondEq {
		return v == c.Value
	}
	if c.Field == "content-type" && strings.Contains(v, ",") {
		for _, t := range strings.Split(v, ",") {
			if !strings.HasPrefix(strings.TrimSpace(t), c.Value) {
				return false
			}
		}
		return true
	}
	return strings.HasPrefix(v, c.Value)
}

// CheckLength checks n file bytes against the content-length-range:
// EntityTooLarge as soon as n exceeds the maximum, and, when final (the
// whole file was read), EntityTooSmall below the minimum.
func (p *PostPolicy) CheckLength(n int64, final bool) *s3err.Error {
	if n > p.MaxLength {
		e := s3err.New(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
		e.Extra = [][2]string{{"MaxSizeAllowed", strconv.FormatInt(p.MaxLength, 10)}}
		return e
	}
	if final && n < p.MinLength {
		e := s3err.New(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.")
		e.Extra = [][2]string{{"MinSizeAllowed", strconv.FormatInt(p.MinLength, 10)}}
		return e
	}
	return nil
}

// SignPostPolicy writes and signs a POST policy for creds, the way AWS
// SDKs do for presigned posts. The policy binds the bucket, every field in
// fields (which must include the key) with an exact match, the
// authentication fields and content-length-range [minLen, maxLen]; it
// expires at expires. It returns the fields to add to the form: policy,
// x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-signature and, for
// credentials with a session token, x-amz-security-token.
func SignPostPolicy(fields PostForm, bucket string, minLen, maxLen int64, expires time.Time,
	creds Credentials, region string, now time.Time) PostForm {
	now = now.UTC()
	date := now.Format(yyyymmdd)
	auth := PostForm{
		FieldAlgorithm:  algorithm,
		FieldCredential: creds.AccessKeyID + "/" + date + "/" + region + "/" + serviceS3 + "/" + scopeTerminal,
		FieldDate:       now.Format(iso8601),
	}
	if creds.SessionToken != "" {
		auth[FieldSecurityToken] = creds.SessionToken
	}
	conds := []any{map[string]string{FieldBucket: bucket}}
	for _, set := range []PostForm{fields, auth} {
		names := make([]string, 0, len(set))
		for k := range set {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			conds = append(conds, []string{CondEq, "$" + k, set[k]})
		}
	}
	conds = append(conds, []any{condLength, minLen, maxLen})
	doc, _ := json.Marshal(struct {
		Expiration string `json:"expiration"`
		Conditions []any  `json:"conditions"`
	}{expires.UTC().Format("2006-01-02T15:04:05.000Z"), conds})
	policy := base64.StdEncoding.EncodeToString(doc)
	auth[FieldPolicy] = policy
	auth[FieldSignature] = signHex(signingKey(creds.SecretAccessKey, date, region), policy)
	return auth
}

// Credentials returns the access key the transport signs with now; a
// caller that signs a POST policy toward the store (SignPostPolicy) uses
// it.
func (t *Transport) Credentials() Credentials {
	if c := t.creds.Load(); c != nil {
		return *c
	}
	return Credentials{}
}

// ErrNotForm is returned by the FormTransport for a request that is not a
// multipart/form-data POST.
var ErrNotForm = errors.New("sigv4: the form transport only sends multipart/form-data POST requests")

// FormTransport returns a RoundTripper for browser form uploads whose
// form carries a policy signed with SignPostPolicy: it filters headers as
// RoundTrip does but adds no Authorization header, because the form is
// the request's authentication and MinIO refuses a form upload that
// carries both ("multiple authentication types"). It refuses any other
// request with ErrNotForm, so it cannot send unsigned S3 calls.
func (t *Transport) FormTransport() http.RoundTripper { return formTransport{t} }

type formTransport struct{ t *Transport }

func (f formTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ct := req.Header.Get("Content-Type")
	if req.Method != http.MethodPost || !strings.HasPrefix(strings.ToLower(ct), "multipart/form-data;") {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrNotForm
	}
	out := req.Clone(req.Context())
	FilterHeaders(out.Header)
	out.Header.Del("X-Amz-Content-Sha256")
	base := f.t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}
