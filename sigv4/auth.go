package sigv4

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/s3err"
)

// AuthType says how a request carries its SigV4 signature.
type AuthType int

// Auth types.
const (
	AuthNone      AuthType = iota // no SigV4 at all
	AuthHeader                    // Authorization: AWS4-HMAC-SHA256 …
	AuthPresigned                 // X-Amz-Algorithm … in the query
)

func (t AuthType) String() string {
	switch t {
	case AuthHeader:
		return "header"
	case AuthPresigned:
		return "presigned"
	case AuthPost:
		return "post-policy"
	}
	return "none"
}

// Payload hash values of x-amz-content-sha256 besides a hex SHA-256 and the
// ones declared in transport.go.
const (
	StreamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingECDSA         = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer  = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
)

// IsStreaming reports whether payloadHash announces an aws-chunked body.
func IsStreaming(payloadHash string) bool {
	return payloadHash == StreamingSigned || payloadHash == StreamingSignedTrailer || payloadHash == StreamingUnsignedTrail
}

const (
	algorithm      = "AWS4-HMAC-SHA256"
	algorithmECDSA = "AWS4-ECDSA-P256-SHA256"
	iso8601        = "20060102T150405Z"
	yyyymmdd       = "20060102"
	serviceS3      = "s3"
	scopeTerminal  = "aws4_request"

	// MaxSkew is how far X-Amz-Date may be from the server clock for
	// header auth, and how far in the future a presigned URL may start.
	MaxSkew = 15 * time.Minute
	// MaxPresignExpires is the longest X-Amz-Expires accepted (7 days).
	MaxPresignExpires = 7 * 24 * time.Hour
)

// Query parameters of a presigned URL.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
	qContentSHA256 = "X-Amz-Content-Sha256"
)

// PresignParams are the query parameters that carry presigned
// authentication. The proxy removes exactly these before it re-signs toward
// the store (checklist §2.9); every other parameter is forwarded.
var PresignParams = []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature, qSecurityToken, qContentSHA256}

// Auth is what a SigV4 request claims, parsed but not yet verified.
type Auth struct {
	Type          AuthType
	AccessKeyID   string
	Date          time.Time // X-Amz-Date (or Date, per §1.3)
	ScopeDate     string    // yyyymmdd
	Region        string
	Service       string
	SignedHeaders []string // lower-case, as sent
	Signature     string   // 64 hex
	// SecurityToken is X-Amz-Security-Token (the header, or the query for
	// presigned URLs); "" if absent. It is not validated here.
	SecurityToken string
	// PayloadHash is the x-amz-content-sha256 value for header auth (the
	// hash of the empty string when the header is absent, as MinIO does),
	// and for presigned URLs UNSIGNED-PAYLOAD unless X-Amz-Content-Sha256 is
	// in the query. The proxy must act on this value, never on the header.
	PayloadHash string
	Expires     time.Duration // presigned only
}

// scope is the credential scope "yyyymmdd/region/s3/aws4_request".
func (a *Auth) scope() string {
	return a.ScopeDate + "/" + a.Region + "/" + a.Service + "/" + scopeTerminal
}

// amzDate is the request time as it appears in the string to sign.
func (a *Auth) amzDate() string { return a.Date.UTC().Format(iso8601) }

// SeedSignature is the signature aws-chunked chunk signatures chain from.
func (a *Auth) SeedSignature() string { return a.Signature }

// Errors returned by ParseRequest that callers may want to compare against
// by Code; each call returns a fresh copy.
func errMalformed(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; "+msg)
}

func errQuery(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "AuthorizationQueryParametersError", msg)
}

func errMissingDate() *s3err.Error {
	return s3err.New(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
}

func errInvalidToken() *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidToken", "The provided token is malformed or otherwise invalid.")
}

func errUnsignedHeaders(names []string) *s3err.Error {
	e := s3err.New(http.StatusForbidden, "AccessDenied", "There were headers present in the request which were not signed")
	e.Extra = [][2]string{{"HeadersNotSigned", strings.Join(names, ", ")}}
	return e
}

// ParseRequest detects and parses SigV4 (checklist §1.1–§1.3, §1.11): header
// or presigned. It checks format only; no secret is needed. A request with
// no SigV4 at all (anonymous, or an OIDC "Authorization: Bearer") returns
// (nil, nil), unless it also carries presigned or SigV2 query parameters.
//
// Rejected: SigV2 (header or query) with InvalidRequest; SigV4a with
// NotImplemented; more than one mechanism with InvalidRequest; a malformed
// query string with InvalidArgument. Checked: credential scope shape,
// service s3, terminal aws4_request, region == expectedRegion
// (AuthorizationHeaderMalformed with a <Region> element naming
// expectedRegion, or AuthorizationQueryParametersError for presigned
// URLs), scope date == request date, host signed, clock skew for every
// header-auth payload type (RequestTimeTooSkewed), presigned X-Amz-Expires
// in 0..604800 and not expired (AccessDenied "Request has expired"; 0 has
// always expired), x-amz-content-sha256 syntax, and streaming payloads
// only on PUT with header auth.
func ParseRequest(r *http.Request, expectedRegion string, now time.Time) (*Auth, *s3err.Error) {
	query, authz, serr := authParts(r)
	if serr != nil {
		return nil, serr
	}
	var header string
	if len(authz) == 1 {
		header = authz[0]
	}
	presigned := has(query, qAlgorithm) || has(query, qCredential) || has(query, qSignature) || has(query, qSignedHeaders)
	v2Query := has(query, "AWSAccessKeyId") || has(query, "Signature")
	scheme, _, _ := strings.Cut(header, " ")

	mechanisms := 0
	for _, b := range []bool{header != "", presigned, v2Query} {
		if b {
			mechanisms++
		}
	}
	if mechanisms > 1 {
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	}
	switch {
	case v2Query:
		return nil, errV2()
	case presigned:
		return parsePresigned(r, query, expectedRegion, now)
	case header == "":
		return nil, nil
	}
	switch scheme {
	case algorithm:
		return parseHeader(r, header, expectedRegion, now)
	case algorithmECDSA:
		return nil, s3err.New(http.StatusNotImplemented, "NotImplemented", "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
	case "AWS":
		return nil, errV2()
	case "Bearer":
		return nil, nil
	}
	return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "Unsupported Authorization Type")
}

func errV2() *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidRequest",
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
}

func has(q url.Values, k string) bool { _, ok := q[k]; return ok }

// parseHeader parses "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func parseHeader(r *http.Request, header, region string, now time.Time) (*Auth, *s3err.Error) {
	a, e := parseAuthorization(header)
	if e != nil {
		return nil, e
	}
	if e := a.checkScope(region, errMalformed); e != nil {
		return nil, e
	}
	a.Type = AuthHeader

	raw, e := requestDate(r.Header)
	if e != nil {
		return nil, e
	}
	a.Date, _ = time.Parse(iso8601, raw) // validated by requestDate
	if a.ScopeDate != raw[:8] {
		return nil, errMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if d := now.Sub(a.Date); d > MaxSkew || d < -MaxSkew {
		e := s3err.New(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
		e.Extra = [][2]string{
			{"RequestTime", raw},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
			{"MaxAllowedSkewMilliseconds", strconv.FormatInt(MaxSkew.Milliseconds(), 10)},
		}
		return nil, e
	}

	tok := r.Header.Values("X-Amz-Security-Token")
	switch {
	case len(tok) > 1, len(tok) == 1 && tok[0] == "":
		return nil, errInvalidToken()
	case len(tok) == 1:
		a.SecurityToken = tok[0]
	}

	hashes := r.Header.Values("X-Amz-Content-Sha256")
	switch len(hashes) {
	case 0:
		a.PayloadHash = emptySHA256
	case 1:
		a.PayloadHash = hashes[0]
	default:
		return nil, errBadContentSHA256()
	}
	switch {
	case a.PayloadHash == streamingECDSA || a.PayloadHash == streamingECDSATrailer:
		return nil, s3err.New(http.StatusNotImplemented, "NotImplemented", "SigV4a streaming payloads are not supported.")
	case IsStreaming(a.PayloadHash):
		if r.Method != http.MethodPut {
			return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
				"Streaming payloads (aws-chunked) are only allowed when uploading objects and parts.")
		}
	case a.PayloadHash == UnsignedPayload, isHexSHA256(a.PayloadHash):
	default:
		return nil, errBadContentSHA256()
	}
	return a, nil
}

func errBadContentSHA256() *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidArgument",
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a lower-case hex SHA-256.")
}

// requestDate returns the raw request time: X-Amz-Date, or Date when it is
// absent and parses in the same basic ISO 8601 format (MinIO's rule).
func requestDate(h http.Header) (string, *s3err.Error) {
	vals := h.Values("X-Amz-Date")
	if len(vals) == 0 {
		vals = h.Values("Date")
	}
	if len(vals) != 1 || !validDate(vals[0]) {
		return "", errMissingDate()
	}
	return vals[0], nil
}

// validDate reports whether s is exactly yyyymmddThhmmssZ.
func validDate(s string) bool {
	t, err := time.Parse(iso8601, s)
	return err == nil && t.Format(iso8601) == s
}

// parseAuthorization parses the Authorization header value. Components may
// come in any order, separated by commas with optional spaces; each must
// appear exactly once.
func parseAuthorization(v string) (*Auth, *s3err.Error) {
	rest, ok := strings.CutPrefix(v, algorithm+" ")
	if !ok {
		return nil, errMalformed("the algorithm must be " + algorithm + ".")
	}
	var cred, signed, sig string
	var seen [3]bool
	parts := strings.Split(rest, ",")
	if len(parts) != 3 {
		return nil, errMalformed("it must have exactly the Credential, SignedHeaders and Signature components.")
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		k, val, ok := strings.Cut(p, "=")
		i := -1
		switch k {
		case "Credential":
			i, cred = 0, val
		case "SignedHeaders":
			i, signed = 1, val
		case "Signature":
			i, sig = 2, val
		}
		if !ok || i < 0 || seen[i] {
			return nil, errMalformed("it must have exactly the Credential, SignedHeaders and Signature components.")
		}
		seen[i] = true
	}
	a := &Auth{}
	if e := a.parseCredential(cred, errMalformed); e != nil {
		return nil, e
	}
	if e := a.parseSignedHeaders(signed, errMalformed); e != nil {
		return nil, e
	}
	if !isHex64(sig) {
		return nil, errMalformed("the signature must be 64 hexadecimal characters.")
	}
	a.Signature = sig
	return a, nil
}

type errFunc func(string) *s3err.Error

// parseCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func (a *Auth) parseCredential(v string, bad errFunc) *s3err.Error {
	parts := strings.Split(v, "/")
	if len(parts) != 5 || parts[0] == "" {
		return bad("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	a.AccessKeyID, a.ScopeDate, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
	if t, err := time.Parse(yyyymmdd, a.ScopeDate); err != nil || t.Format(yyyymmdd) != a.ScopeDate {
		return bad("incorrect date format \"" + a.ScopeDate + "\". This date in the credential must be in the format \"yyyyMMdd\".")
	}
	if a.Region == "" {
		return bad("the region in the Credential is empty.")
	}
	if a.Service != serviceS3 {
		return bad("incorrect service \"" + a.Service + "\". This endpoint belongs to \"s3\".")
	}
	if parts[4] != scopeTerminal {
		return bad("incorrect terminal \"" + parts[4] + "\". This endpoint uses \"aws4_request\".")
	}
	return nil
}

// checkScope compares the region with the configured one. The <Region>
// element lets botocore's region redirector retry with the right region.
func (a *Auth) checkScope(region string, bad errFunc) *s3err.Error {
	if a.Region != region {
		e := bad("the region '" + a.Region + "' is wrong; expecting '" + region + "'")
		e.Extra = [][2]string{{"Region", region}}
		return e
	}
	return nil
}

// parseSignedHeaders parses "a;b;c": lower-case header names, no
// duplicates, host included.
func (a *Auth) parseSignedHeaders(v string, bad errFunc) *s3err.Error {
	if v == "" {
		return bad("SignedHeaders is empty.")
	}
	names := strings.Split(v, ";")
	hostSeen := false
	for i, n := range names {
		if !validHeaderName(n) {
			return bad("SignedHeaders must list lower-case header names separated by ';'.")
		}
		for _, m := range names[:i] {
			if m == n {
				return bad("SignedHeaders lists \"" + n + "\" twice.")
			}
		}
		hostSeen = hostSeen || n == "host"
	}
	if !hostSeen {
		return errUnsignedHeaders([]string{"host"})
	}
	a.SignedHeaders = names
	return nil
}

// validHeaderName reports whether n is a non-empty lower-case HTTP token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isHex64 reports whether s is 64 hex digits of either case. Upper-case
// digits parse but never match (the computed signature is lower-case).
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parsePresigned parses query authentication (§1.11).
func parsePresigned(r *http.Request, q url.Values, region string, now time.Time) (*Auth, *s3err.Error) {
	for _, k := range []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature} {
		if len(q[k]) == 0 {
			return nil, errQuery("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	for _, k := range PresignParams {
		if len(q[k]) > 1 {
			return nil, errQuery("The query parameter " + k + " must appear at most once.")
		}
	}
	switch alg := q.Get(qAlgorithm); alg {
	case algorithm:
	case algorithmECDSA:
		return nil, s3err.New(http.StatusNotImplemented, "NotImplemented", "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
	default:
		return nil, errQuery("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	a := &Auth{Type: AuthPresigned}
	if e := a.parseCredential(q.Get(qCredential), errQuery); e != nil {
		return nil, e
	}
	if e := a.checkScope(region, errQuery); e != nil {
		return nil, e
	}
	raw := q.Get(qDate)
	if !validDate(raw) {
		return nil, errQuery("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.Date, _ = time.Parse(iso8601, raw)
	if a.ScopeDate != raw[:8] {
		return nil, errQuery("Invalid credential date \"" + a.ScopeDate + "\". This date is not the same as X-Amz-Date: \"" + raw[:8] + "\".")
	}
	exp := q.Get(qExpires)
	secs, ok := parseDecimal(exp)
	switch {
	case !ok:
		return nil, errQuery("X-Amz-Expires should be a number")
	case secs > int64(MaxPresignExpires/time.Second):
		return nil, errQuery("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	a.Expires = time.Duration(secs) * time.Second
	if e := a.parseSignedHeaders(q.Get(qSignedHeaders), errQuery); e != nil {
		return nil, e
	}
	sig := q.Get(qSignature)
	if !isHex64(sig) {
		return nil, errQuery("X-Amz-Signature must be 64 hexadecimal characters.")
	}
	a.Signature = sig

	if a.Date.After(now.Add(MaxSkew)) {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied", "Request is not valid yet")
	}
	// X-Amz-Expires=0 has expired when it is signed, as S3 answers it.
	if expiry := a.Date.Add(a.Expires); a.Expires == 0 || now.After(expiry) {
		e := s3err.New(http.StatusForbidden, "AccessDenied", "Request has expired")
		e.Extra = [][2]string{
			{"X-Amz-Expires", exp},
			{"Expires", expiry.UTC().Format(time.RFC3339)},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
		}
		return nil, e
	}

	if tok, ok := q[qSecurityToken]; ok {
		if tok[0] == "" {
			return nil, errInvalidToken()
		}
		a.SecurityToken = tok[0]
	}
	a.PayloadHash = UnsignedPayload
	if h, ok := q[qContentSHA256]; ok {
		if h[0] != UnsignedPayload && !isHexSHA256(h[0]) {
			return nil, errQuery("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a lower-case hex SHA-256.")
		}
		a.PayloadHash = h[0]
	}
	return a, nil
}

// parseDecimal parses 1 to 7 decimal digits: no sign, no fraction, no
// spaces (MinIO's time.ParseDuration would also take "1.5").
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// authParts returns r's query, parsed, and its Authorization header
// values: a malformed query, or more than one Authorization header, is
// InvalidArgument.
func authParts(r *http.Request) (url.Values, []string, *s3err.Error) {
	var q url.Values
	if r.URL.RawQuery != "" {
		var err error
		if q, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			e := s3err.New(http.StatusBadRequest, "InvalidArgument", "The query string is malformed.")
			e.Cause = err
			return nil, nil, e
		}
	}
	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		return nil, nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "Only one Authorization header is allowed.")
	}
	return q, authz, nil
}
