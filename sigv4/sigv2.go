package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/s3err"
)

// Signature Version 2 (AWS's "RESTAuthentication"), inbound only: the
// Authorization header "AWS AKID:signature", query authentication
// (AWSAccessKeyId, Expires, Signature) and the fields of a browser form
// (AWSAccessKeyId, signature, policy). The signature is
// base64(HMAC-SHA1(secret, StringToSign)) with
//
//	StringToSign = Verb "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//	               CanonicalizedAmzHeaders CanonicalizedResource
//
// Date is the Date header, empty when x-amz-date is present (which is then
// signed among the x-amz-* headers), or the Expires parameter for query
// authentication. What the signature does not cover (headers other than
// Content-MD5, Content-Type and x-amz-*, query parameters that are not
// sub-resources, the body) is exactly what a Signature Version 2 client
// leaves open to anyone on the path; the proxy authorizes, and forwards,
// what arrives.

// Query parameters of Signature Version 2 query authentication.
const (
	V2AccessKeyParam = "AWSAccessKeyId"
	V2SignatureParam = "Signature"
	V2ExpiresParam   = "Expires"
)

// Form fields of a Signature Version 2 browser form upload, lower case.
const (
	FieldV2AccessKey = "awsaccesskeyid"
	FieldV2Signature = "signature"
)

// v2Subresources are the query parameters CanonicalizedResource includes,
// sorted: every sub-resource S3, MinIO, botocore, the AWS SDK for Java v1
// and s3cmd sign, and every other parameter that selects an operation or
// a version (all of them are routed on by the classifier).
var v2Subresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "defaultObjectAcl", "delete", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics",
	"notification", "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus",
	"replication", "requestPayment", "response-cache-control", "response-content-disposition",
	"response-content-encoding", "response-content-language", "response-content-type",
	"response-expires", "restore", "retention", "select", "select-type", "storageClass", "tagging",
	"torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
}

// v2CommonSubresources are the sub-resources every Signature Version 2
// client signs (the AWS documentation's list, delete, cors and the
// response-* overrides). The others are signed by some clients only: a
// signature that matches only without them did not cover the operation.
var v2CommonSubresources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "torrent": true,
	"uploadId": true, "uploads": true, "versionId": true, "versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

func isV2Subresource(k string) bool {
	_, ok := slices.BinarySearch(v2Subresources, k)
	return ok
}

// V2Auth is what a Signature Version 2 request or form claims, parsed but
// not yet verified.
type V2Auth struct {
	Type        AuthType // AuthHeader, AuthPresigned or AuthPost
	AccessKeyID string
	// Signature is the base64 signature as sent (query-decoded).
	Signature string
	// SecurityToken is x-amz-security-token (header, query parameter or
	// form field); "" if absent. It is not validated here.
	SecurityToken string
	// Date is the request time of header authentication (x-amz-date, or
	// Date); Expires the expiry of query authentication.
	Date    time.Time
	Expires time.Time
	// rawExpires is the Expires parameter as sent: the string to sign
	// holds it verbatim.
	rawExpires string
}

// ErrExpired is the cause of the error for an expired Signature Version 2
// presigned URL.
var ErrExpired = errors.New("sigv4: the presigned request has expired")

// ErrV2Unsigned is the cause of the error for a Signature Version 2
// request whose signature does not cover a sub-resource it sends.
var ErrV2Unsigned = errors.New("sigv4: a sub-resource is not covered by the signature")

// v2DateLayouts are the request time formats accepted for Date and
// x-amz-date: RFC 1123 (with GMT or a numeric zone, one- or two-digit
// day), RFC 850, ANSI C and ISO 8601 basic. A zone abbreviation other than
// GMT is refused rather than guessed.
var v2DateLayouts = []string{
	http.TimeFormat,
	"Mon, 2 Jan 2006 15:04:05 GMT",
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Monday, 02-Jan-06 15:04:05 GMT",
	time.ANSIC,
	iso8601,
}

func parseV2Date(s string) (time.Time, bool) {
	for _, l := range v2DateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// V2Query reports whether a query carries Signature Version 2 query
// authentication parameters (AWSAccessKeyId or Signature).
func V2Query(q url.Values) bool {
	return has(q, V2AccessKeyParam) || has(q, V2SignatureParam)
}

// V2Signed reports whether a Signature Version 2 signature covers the
// header name (canonical form): Content-MD5, Content-Type, every x-amz-*
// header, and Date when dateSigned (header authentication without
// x-amz-date).
func V2Signed(name string, dateSigned bool) bool {
	switch {
	case name == "Content-Md5", name == "Content-Type":
		return true
	case name == "Date":
		return dateSigned
	}
	return len(name) >= 6 && strings.EqualFold(name[:6], "x-amz-")
}

func errV2Header() *s3err.Error {
	e := s3err.New(http.StatusBadRequest, "InvalidArgument",
		"AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
	e.Extra = [][2]string{{"ArgumentName", "Authorization"}}
	return e
}

func errV2QueryParams() *s3err.Error {
	return s3err.New(http.StatusForbidden, "AccessDenied",
		"Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
}

// ParseV2Request parses the Signature Version 2 authentication of r: the
// Authorization header "AWS AKID:signature", or query authentication. It
// checks format and time only; verify the signature with VerifyV2Signature
// once the secret is known.
//
// Header authentication needs x-amz-date or Date (RFC 1123 and the other
// HTTP date formats, or ISO 8601 basic) within MaxSkew of now: otherwise
// AccessDenied or RequestTimeTooSkewed. Query authentication needs
// AWSAccessKeyId, Signature and Expires (seconds since the epoch), each
// once (AccessDenied otherwise), and Expires not before now (AccessDenied
// "Request has expired", with ErrExpired as the cause). The security token
// is x-amz-security-token, as a header or a query parameter; given twice,
// or empty, it is InvalidToken. A request that also carries SigV4, or two
// Authorization headers, is InvalidRequest or InvalidArgument.
func ParseV2Request(r *http.Request, now time.Time) (*V2Auth, *s3err.Error) {
	q, authz, serr := authParts(r)
	if serr != nil {
		return nil, serr
	}
	v4 := has(q, qAlgorithm) || has(q, qCredential) || has(q, qSignature) || has(q, qSignedHeaders)
	if n := btoi(len(authz) == 1) + btoi(V2Query(q)) + btoi(v4); n > 1 {
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	}
	var a *V2Auth
	switch {
	case V2Query(q):
		a, serr = parseV2Query(q, now)
	case len(authz) == 1 && strings.HasPrefix(authz[0], "AWS "):
		a, serr = parseV2Header(r, authz[0], now)
	default:
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest", "The request is not signed with Signature Version 2.")
	}
	if serr != nil {
		return nil, serr
	}
	// The token: the header or the query parameter (where botocore and the
	// AWS SDK for Java put it for query authentication); both are signed.
	tokens := r.Header.Values("X-Amz-Security-Token")
	for k, vv := range q {
		if strings.EqualFold(k, "x-amz-security-token") {
			tokens = append(tokens, vv...)
		}
	}
	for _, tok := range tokens {
		if tok == "" || a.SecurityToken != "" && tok != a.SecurityToken {
			return nil, errInvalidToken()
		}
		a.SecurityToken = tok
	}
	return a, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseV2Header parses "AWS AKID:signature" and checks the request time.
func parseV2Header(r *http.Request, header string, now time.Time) (*V2Auth, *s3err.Error) {
	rest := header[len("AWS "):]
	akid, sig, ok := strings.Cut(rest, ":")
	if !ok || akid == "" || sig == "" || strings.ContainsAny(rest, " \t") || strings.Contains(sig, ":") {
		return nil, errV2Header()
	}
	a := &V2Auth{Type: AuthHeader, AccessKeyID: akid, Signature: sig}
	vals := r.Header.Values("X-Amz-Date")
	if len(vals) == 0 {
		vals = r.Header.Values("Date")
	}
	var raw string
	if len(vals) == 1 {
		raw = vals[0]
		a.Date, ok = parseV2Date(raw)
	}
	if len(vals) != 1 || !ok {
		return nil, errMissingDate()
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
	return a, nil
}

// maxV2Expires bounds the digits of Expires (year 33658 and beyond are
// not a time).
const maxV2Expires = 12

// parseV2Query parses AWSAccessKeyId, Signature and Expires.
func parseV2Query(q url.Values, now time.Time) (*V2Auth, *s3err.Error) {
	for _, k := range []string{V2AccessKeyParam, V2SignatureParam, V2ExpiresParam} {
		switch vv := q[k]; {
		case len(vv) == 0 || vv[0] == "":
			return nil, errV2QueryParams()
		case len(vv) > 1:
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "The query parameter "+k+" must appear at most once.")
		}
	}
	a := &V2Auth{Type: AuthPresigned, AccessKeyID: q.Get(V2AccessKeyParam), Signature: q.Get(V2SignatureParam),
		rawExpires: q.Get(V2ExpiresParam)}
	secs, ok := int64(0), len(a.rawExpires) <= maxV2Expires
	for i := 0; ok && i < len(a.rawExpires); i++ {
		c := a.rawExpires[i]
		ok = '0' <= c && c <= '9'
		secs = secs*10 + int64(c-'0')
	}
	if !ok {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied",
			"Invalid date (should be seconds since epoch): "+a.rawExpires)
	}
	a.Expires = time.Unix(secs, 0).UTC()
	if now.Unix() > secs {
		e := s3err.New(http.StatusForbidden, "AccessDenied", "Request has expired")
		e.Extra = [][2]string{
			{"Expires", a.Expires.Format(time.RFC3339)},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
		}
		e.Cause = ErrExpired
		return nil, e
	}
	return a, nil
}

// v2StringToSign returns the string to sign of r for a. bucket is the
// bucket the Host header names in virtual-hosted style ("" for path
// style): CanonicalizedResource starts with "/"+bucket then.
//
// CanonicalizedResource holds the path exactly as the client sent it
// (percent-encoding and letter case included), which must decode to the
// r.URL.Path the request is classified by (InvalidURI otherwise), and the
// sub-resources present, decoded, sorted by name. The path of a request
// on a bucket itself is "/bucket/", as S3 has it, whether or not the
// client sent the slash (botocore signs "/bucket/" and sends "/bucket");
// a signature over the path as sent is accepted too. CanonicalizedAmzHeaders
// holds every x-amz-* header and every x-amz-* query parameter (how
// presigned URLs carry headers; the proxy forwards those it knows as
// headers), lower-cased, sorted, values of one name joined with ','; a
// name given both ways with different values is InvalidArgument.
func v2StringToSign(r *http.Request, a *V2Auth, bucket string) (string, *s3err.Error) {
	c, serr := newV2Canon(r, a, bucket)
	if serr != nil {
		return "", serr
	}
	return c.stringToSign(c.resources[0], c.subs, false), nil
}

// v2Canon is a request taken apart for its string to sign.
type v2Canon struct {
	head string // Verb, Content-MD5, Content-Type, Date lines and the x-amz-* headers
	// resources are the path parts of CanonicalizedResource a client may
	// have signed: S3's first, then, for a request on a bucket, the path
	// exactly as sent when it differs (with or without the final slash).
	resources []string
	subs      []v2Sub
}

type v2Sub struct {
	k, v  string
	equal bool // sent as "k=" with an empty value
}

func newV2Canon(r *http.Request, a *V2Auth, bucket string) (*v2Canon, *s3err.Error) {
	path, ok := requestPath(r)
	if !ok {
		return nil, s3err.New(http.StatusBadRequest, "InvalidURI",
			"The request path could not be read as the client sent it; a Signature Version 2 signature covers the path exactly as sent.")
	}
	c := &v2Canon{resources: []string{path}}
	switch {
	case bucket != "":
		c.resources[0] = "/" + bucket + path
	case strings.IndexByte(path, '%') >= 0:
		// Not a bucket name, which never needs escaping: "/a%2Fb/" is key
		// "b/" in bucket a, "/a%2Fb" key "b".
	case path != "/" && strings.IndexByte(path[1:], '/') < 0:
		c.resources = []string{path + "/", path} // "/bucket"
	case len(path) > 2 && strings.IndexByte(path[1:], '/') == len(path)-2:
		c.resources = append(c.resources, path[:len(path)-1]) // "/bucket/"
	}
	amz := map[string]string{}
	names := []string{}
	for k, vv := range r.Header {
		if len(k) >= 6 && strings.EqualFold(k[:6], "x-amz-") {
			lk := strings.ToLower(k)
			amz[lk] = strings.Join(vv, ",")
			names = append(names, lk)
		}
	}
	fromQuery := map[string]string{}
	for raw := r.URL.RawQuery; raw != ""; {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		rk, rv, eq := strings.Cut(seg, "=")
		k, err1 := url.QueryUnescape(rk)
		v, err2 := url.QueryUnescape(rv)
		if err1 != nil || err2 != nil {
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "The query string is malformed.")
		}
		switch {
		case isV2Subresource(k):
			for _, s := range c.subs {
				if s.k == k {
					return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "The query parameter "+k+" must appear at most once.")
				}
			}
			c.subs = append(c.subs, v2Sub{k: k, v: v, equal: eq && v == ""})
		case len(k) >= 6 && strings.EqualFold(k[:6], "x-amz-"):
			lk := strings.ToLower(k)
			if cur, ok := fromQuery[lk]; ok {
				fromQuery[lk] = cur + "," + v
			} else {
				fromQuery[lk] = v
			}
		}
	}
	for lk, v := range fromQuery {
		if cur, ok := amz[lk]; ok {
			if cur != v {
				return nil, s3err.New(http.StatusBadRequest, "InvalidArgument",
					"Query parameter "+lk+" and header "+lk+" are both given, with different values.")
			}
			continue
		}
		amz[lk] = v
		names = append(names, lk)
	}
	slices.Sort(names)
	slices.SortFunc(c.subs, func(x, y v2Sub) int { return strings.Compare(x.k, y.k) })

	date := a.rawExpires
	if a.Type == AuthHeader {
		date = ""
		if _, ok := r.Header["X-Amz-Date"]; !ok {
			date = strings.Join(r.Header.Values("Date"), ",")
		}
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(strings.Join(r.Header.Values("Content-Md5"), ","))
	b.WriteByte('\n')
	b.WriteString(strings.Join(r.Header.Values("Content-Type"), ","))
	b.WriteByte('\n')
	b.WriteString(date)
	b.WriteByte('\n')
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(amz[n])
		b.WriteByte('\n')
	}
	c.head = b.String()
	return c, nil
}

// stringToSign joins the head, resource and subs. An empty value is
// written "k", as S3, MinIO and s3cmd sign it; with keepEqual, a
// parameter sent as "k=" is written "k=", as botocore and the AWS SDK for
// Java sign it.
func (c *v2Canon) stringToSign(resource string, subs []v2Sub, keepEqual bool) string {
	var b strings.Builder
	b.WriteString(c.head)
	b.WriteString(resource)
	for i, s := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(s.k)
		if s.v != "" || keepEqual && s.equal {
			b.WriteByte('=')
			b.WriteString(s.v)
		}
	}
	return b.String()
}

// requestPath returns the path of r as the client sent it (from
// RequestURI; for a request built in-process, from the URL), and whether
// it decodes to r.URL.Path: the path that is verified must be the path
// that is classified.
func requestPath(r *http.Request) (string, bool) {
	raw := r.RequestURI
	if raw == "" {
		raw = r.URL.EscapedPath()
	}
	if raw == "" {
		raw = "/"
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if !strings.HasPrefix(raw, "/") {
		// absolute-form: scheme://authority/path
		_, rest, ok := strings.Cut(raw, "://")
		if !ok {
			return "", false
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", false
		}
		raw = rest[i:]
	}
	dec, err := url.PathUnescape(raw)
	want := r.URL.Path
	if want == "" {
		want = "/"
	}
	return raw, err == nil && dec == want
}

// signV2 returns base64(HMAC-SHA1(secret, s)).
func signV2(secret, s string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// v2Equal compares a base64 signature as sent with the computed one, in
// constant time, by their decoded bytes.
func v2Equal(sent, want string) bool {
	got, err := base64.StdEncoding.DecodeString(sent)
	w, _ := base64.StdEncoding.DecodeString(want)
	return err == nil && subtle.ConstantTimeCompare(got, w) == 1
}

// VerifyV2Signature checks the Signature Version 2 signature of r, parsed
// into a by ParseV2Request, with the caller's secret. bucket is the bucket
// the Host header names in virtual-hosted style, "" for path style (see
// v2StringToSign). The comparison takes constant time.
//
// A mismatch is SignatureDoesNotMatch (403) with the AWSAccessKeyId,
// StringToSign (x-amz-security-token redacted) and SignatureProvided
// elements. A signature that matches only when a sub-resource the request
// sends is left out, because the client does not sign it (botocore does
// not sign ?encryption, s3cmd not ?tagging), did not cover the operation:
// AccessDenied naming the parameter, with ErrV2Unsigned as the cause.
func VerifyV2Signature(r *http.Request, a *V2Auth, secret, bucket string) *s3err.Error {
	c, serr := newV2Canon(r, a, bucket)
	if serr != nil {
		return serr
	}
	if c.matches(a.Signature, secret, c.subs) {
		return nil
	}
	var common []v2Sub
	var unsigned []string
	for _, s := range c.subs {
		if v2CommonSubresources[s.k] {
			common = append(common, s)
		} else {
			unsigned = append(unsigned, s.k)
		}
	}
	if len(unsigned) > 0 && c.matches(a.Signature, secret, common) {
		e := s3err.New(http.StatusForbidden, "AccessDenied",
			"The Signature Version 2 signature does not cover the query parameter "+strings.Join(unsigned, ", ")+
				", which selects what the request does; this client does not sign it. Sign the request with SigV4.")
		e.Cause = ErrV2Unsigned
		return e
	}
	e := errSignature()
	e.Extra = [][2]string{{"AWSAccessKeyId", a.AccessKeyID}, {"StringToSign", redactToken(c.stringToSign(c.resources[0], c.subs, false))},
		{"SignatureProvided", a.Signature}}
	return e
}

// matches reports whether sig signs one of the forms of the request with
// subs: each resource, with empty values written "k" and, if one was sent
// as "k=", "k=". Every form describes the same request.
func (c *v2Canon) matches(sig, secret string, subs []v2Sub) bool {
	keepEqual := slices.ContainsFunc(subs, func(s v2Sub) bool { return s.equal })
	for _, res := range c.resources {
		if v2Equal(sig, signV2(secret, c.stringToSign(res, subs, false))) ||
			keepEqual && v2Equal(sig, signV2(secret, c.stringToSign(res, subs, true))) {
			return true
		}
	}
	return false
}

// redactToken hides the value of the x-amz-security-token line of a
// string to sign: the error document must not echo a session token.
func redactToken(sts string) string {
	const name = "\nx-amz-security-token:"
	i := strings.Index(sts, name)
	if i < 0 {
		return sts
	}
	j := strings.IndexByte(sts[i+len(name):], '\n')
	if j < 0 {
		return sts
	}
	return sts[:i+len(name)] + "REDACTED" + sts[i+len(name)+j:]
}

// ParseV2PostAuth parses the Signature Version 2 fields of a browser form:
// AWSAccessKeyId, signature and policy (all required: InvalidArgument
// naming the missing one) and the optional x-amz-security-token. A form
// that also carries SigV4 fields is InvalidRequest.
func ParseV2PostAuth(form PostForm) (*V2Auth, *s3err.Error) {
	for _, f := range []string{FieldAlgorithm, FieldCredential, FieldSignature} {
		if _, ok := form[f]; ok {
			return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
				"Only one auth mechanism allowed: the form carries both Signature Version 2 (AWSAccessKeyId, signature) and SigV4 (x-amz-*) fields.")
		}
	}
	for _, f := range [][2]string{{FieldV2AccessKey, "AWSAccessKeyId"}, {FieldV2Signature, "signature"}, {FieldPolicy, "policy"}} {
		if form[f[0]] == "" {
			return nil, errPostField("Bucket POST must contain a field named '" + f[1] + "'. If it is specified, please check the order of the fields.")
		}
	}
	a := &V2Auth{Type: AuthPost, AccessKeyID: form[FieldV2AccessKey], Signature: form[FieldV2Signature]}
	if tok, ok := form[FieldSecurityToken]; ok {
		if tok == "" {
			return nil, errInvalidToken()
		}
		a.SecurityToken = tok
	}
	return a, nil
}

// VerifyV2PostSignature checks that a.Signature is
// base64(HMAC-SHA1(secret, policy)), policy being the base64 policy field
// exactly as sent. The comparison takes constant time. A mismatch is
// SignatureDoesNotMatch (403).
func VerifyV2PostSignature(a *V2Auth, policy, secret string) *s3err.Error {
	if !v2Equal(a.Signature, signV2(secret, policy)) {
		e := errSignature()
		e.Extra = [][2]string{{"AWSAccessKeyId", a.AccessKeyID}}
		return e
	}
	return nil
}
