package s3req

import (
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
)

// Config configures classification. The zero value accepts path-style
// requests only.
type Config struct {
	// VirtualHostDomains are the domains under which virtual-hosted-style
	// requests arrive, without port: with "s3.example.com", Host
	// "my.bkt.s3.example.com[:port]" names bucket "my.bkt". Matching is an
	// anchored, case-insensitive suffix match; the longest matching domain
	// wins. A Host equal to a domain, or matching none, is path style.
	VirtualHostDomains []string
}

// Request is a classified S3 request.
type Request struct {
	Op          Operation
	Bucket      string // "" for ListBuckets and STS
	Key         string // decoded, as MinIO will interpret it; "" for bucket operations
	VirtualHost bool   // the bucket came from the Host header

	// Checks lists every (action, resource) that must be allowed; Checks[0]
	// is the primary one. It is empty for STS and for DeleteObjects, whose
	// checks come from the body: when NeedsBody is set, Checks alone must
	// never authorize the request.
	Checks []Check

	// S3 holds the condition values of the request.
	S3 authz.S3Context

	// CopySource is the normalized source of CopyObject and UploadPartCopy.
	CopySource *ObjectRef

	// UpstreamQuery is the encoded query to send upstream: only the
	// parameters the store reads for Op, with the values classified (see
	// query.upstream). x-amz-* parameters are never part of it: header
	// aliases must be moved into headers before Classify, the rest
	// (presigned authentication) is the caller's.
	UpstreamQuery string

	// UpstreamPath is the decoded path-style path to send upstream: "/"
	// for ListBuckets, "/bucket" for bucket operations, "/bucket/key" for
	// object operations. It is built from Bucket and Key, never from the
	// client's path; encode it with UriEncodePath.
	UpstreamPath string

	// CopySourceHeader is the canonical x-amz-copy-source to forward in
	// place of the client's: "/<bucket>/<UriEncode(key)>[?versionId=<id>]".
	CopySourceHeader string

	// NeedsBody is set when authorization depends on the body:
	// DeleteObjects (parse it with ParseDeleteObjects and add its Checks)
	// and PostObject (the key is a form field; Checks holds only a
	// placeholder on the bucket).
	NeedsBody bool

	// BypassGovernance is set on DeleteObjects with
	// x-amz-bypass-governance-retention: true; every key then also needs
	// s3:BypassGovernanceRetention (see DeleteObjects.ObjectChecks).
	BypassGovernance bool

	// Body is set when the body holds condition values (the tags of
	// PutObjectTagging, the retention of PutObjectRetention, the legal
	// hold of PutObjectLegalHold, the location constraint of
	// CreateBucket): read it and call ApplyBody before authorizing, and
	// forward what ApplyBody returns.
	Body BodyKind

	// TaggingHeader, when not nil, is the x-amz-tagging header to forward
	// in place of the client's: the tags of S3.RequestTags, re-encoded.
	TaggingHeader []string

	// For ExistingTagsOf: the object of Checks[0] when its action reads
	// the object's tags, and the copy source's check.
	object      ObjectRef
	tagsPrimary bool
	copyCheck   Check
	checkBuf    [4]Check
}

// Check is one (action, resource) pair that must be allowed.
type Check struct {
	Action   authz.Action
	Resource string // "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key", or "*" (ListBuckets)
}

// ExistingTagsOf names the object (and version) whose current tags
// s3:ExistingObjectTag/<key> reads for check c of r, or nil where the key
// is absent. AWS supplies the key for the object of GetObject (and
// HeadObject, SelectObjectContent), Get/PutObjectAcl, GetObjectAttributes
// and Get/Put/DeleteObjectTagging, and for the source of CopyObject and
// UploadPartCopy; not for PutObject or DeleteObject, nor for the checks a
// PutObject's headers add.
func (r *Request) ExistingTagsOf(c Check) *ObjectRef {
	switch {
	case r.tagsPrimary && len(r.Checks) > 0 && c == r.Checks[0]:
		return &r.object
	case r.CopySource != nil && c == r.copyCheck:
		return r.CopySource
	}
	return nil
}

// ObjectRef names an object, optionally one version of it.
type ObjectRef struct{ Bucket, Key, VersionID string }

func (r *Request) add(a authz.Action, resource string) {
	r.Checks = append(r.Checks, Check{Action: a, Resource: resource})
}

// Header names read by the classifier, in canonical form.
const (
	hCopySource        = "X-Amz-Copy-Source"
	hCopySourceRange   = "X-Amz-Copy-Source-Range"
	hTagging           = "X-Amz-Tagging"
	hACL               = "X-Amz-Acl"
	hGrantPrefix       = "X-Amz-Grant-"
	hLockMode          = "X-Amz-Object-Lock-Mode"
	hLockRetainUntil   = "X-Amz-Object-Lock-Retain-Until-Date"
	hLegalHold         = "X-Amz-Object-Lock-Legal-Hold"
	hBypassGovernance  = "X-Amz-Bypass-Governance-Retention"
	hSSE               = "X-Amz-Server-Side-Encryption"
	hBucketLockEnabled = "X-Amz-Bucket-Object-Lock-Enabled"
	hObjectOwnership   = "X-Amz-Object-Ownership"
	hContentType       = "Content-Type"
	hContentSHA256     = "X-Amz-Content-Sha256"
	hTaggingDirective  = "X-Amz-Tagging-Directive"
)

// reservedMessage is the answer for MinIO's non-S3 surfaces.
const reservedMessage = "Access Denied: this path is reserved for the storage service's administration API and is not reachable through this service."

// Classify classifies an S3 request. It reads r.Method, r.Host, r.URL.Path
// (decoded), r.URL.RawQuery and r.Header; it never reads the body. The
// error, if any, is the S3 error to return to the caller: 400 for malformed
// names and parameters, 403 for MinIO's reserved surfaces (bucket "minio",
// which holds its admin, health, STS and metrics APIs, and
// /prometheus/metrics), 405 for a method a resource does not support and
// 501 for query parameters outside the allowlist.
//
// In virtual-hosted style a path such as "/minio/x" is an ordinary key of
// the host's bucket; it is forwarded path style as "/bucket/minio/x".
func Classify(r *http.Request, cfg Config) (*Request, *s3err.Error) {
	var q query
	if e := q.parse(r.URL.RawQuery); e != nil {
		return nil, e
	}

	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		return nil, s3err.New(http.StatusBadRequest, "InvalidURI", "The request path must start with '/'.")
	}

	req := &Request{}
	req.Checks = req.checkBuf[:0]
	if v, ok := headerValue(r.Header, hContentSHA256); ok {
		req.S3.ContentSHA256 = authz.V(v)
	}

	// Split the target into bucket and raw object part.
	var bucket, rawObj string
	if b, ok := virtualBucket(r.Host, cfg.VirtualHostDomains); ok {
		bucket, req.VirtualHost = b, true
		if p != "/" {
			rawObj = p[1:]
		}
	} else {
		if p == "/" || p == "//" {
			return classifyRoot(req, r, &q)
		}
		var rest string
		bucket, rest, _ = strings.Cut(p[1:], "/")
		if rest != "" {
			rawObj = rest
		}
	}
	if bucket == "minio" {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied", reservedMessage)
	}
	if e := checkBucket(bucket); e != nil {
		return nil, e
	}
	req.Bucket = bucket
	if r.Method == http.MethodOptions {
		return classifyPreflight(req, rawObj)
	}

	if q.unknown != "" {
		return nil, errUnknownParam(q.unknown)
	}
	if q.action {
		return nil, errUnknownParam("Action")
	}
	if n := bits.OnesCount64(q.subs()); n > 1 {
		first := bits.TrailingZeros64(q.subs())
		second := bits.TrailingZeros64(q.subs() &^ (1 << first))
		return nil, errInvalidArgument("The query names two subresources, " + quoteName(keyNames[first]) +
			" and " + quoteName(keyNames[second]) + "; a request has at most one.")
	}

	if rawObj == "" {
		req.UpstreamPath = "/" + bucket
		return classifyBucket(req, r, &q)
	}

	// MinIO collapses leading slashes of the object part: /b//k is key k.
	key := strings.TrimLeft(rawObj, "/")
	if e := checkKey(key); e != nil {
		return nil, e
	}
	if bucket == "prometheus" && (key == "metrics" || strings.HasPrefix(key, "metrics/")) {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied", reservedMessage)
	}
	req.Key = key
	req.UpstreamPath = "/" + bucket + "/" + key
	return classifyObject(req, r, &q)
}

// classifyPreflight handles OPTIONS on a bucket or an object: a CORS
// preflight, which a browser sends without credentials before a
// cross-origin request. It asks for no action; the query (a presigned
// URL's, say) is not read and not forwarded.
func classifyPreflight(req *Request, rawObj string) (*Request, *s3err.Error) {
	req.Op = OpPreflightRequest
	req.UpstreamPath = "/" + req.Bucket
	if rawObj == "" {
		return req, nil
	}
	key := strings.TrimLeft(rawObj, "/")
	if e := checkKey(key); e != nil {
		return nil, e
	}
	if req.Bucket == "prometheus" && (key == "metrics" || strings.HasPrefix(key, "metrics/")) {
		return nil, s3err.New(http.StatusForbidden, "AccessDenied", reservedMessage)
	}
	req.Key = key
	req.UpstreamPath += "/" + key
	return req, nil
}

// virtualBucket returns the bucket named by a virtual-hosted-style Host.
func virtualBucket(host string, domains []string) (string, bool) {
	if len(domains) == 0 || host == "" || host[0] == '[' {
		return "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	best := -1
	for _, d := range domains {
		d = strings.TrimSuffix(d, ".")
		if strings.EqualFold(host, d) {
			return "", false // the service endpoint itself: path style
		}
		if d == "" || len(host) <= len(d)+1 || len(d) <= best {
			continue
		}
		cut := len(host) - len(d)
		if host[cut-1] == '.' && strings.EqualFold(host[cut:], d) {
			best = len(d)
		}
	}
	if best < 0 {
		return "", false
	}
	// Host names are case-insensitive; bucket names are lower case.
	return strings.ToLower(host[:len(host)-best-1]), true
}

// classifyRoot handles "/" in path style: ListBuckets, or STS.
func classifyRoot(req *Request, r *http.Request, q *query) (*Request, *s3err.Error) {
	req.UpstreamPath = "/"
	if q.action && (r.Method == http.MethodGet || r.Method == http.MethodPost) ||
		r.Method == http.MethodPost && strings.HasPrefix(strings.ToLower(firstHeader(r.Header, hContentType)), "application/x-www-form-urlencoded") {
		req.Op = OpSTS
		return req, nil
	}
	if r.Method != http.MethodGet {
		return nil, methodNotAllowed(r.Method, "the service root")
	}
	if q.unknown != "" {
		return nil, errUnknownParam(q.unknown)
	}
	if q.action {
		return nil, errUnknownParam("Action")
	}
	if e := onlyModifiers(q, OpListBuckets); e != nil {
		return nil, e
	}
	if q.subs() != 0 {
		return nil, errInvalidArgument("Subresource " + quoteName(keyNames[bits.TrailingZeros64(q.subs())]) + " is not valid on the service root.")
	}
	req.Op = OpListBuckets
	req.add(authz.ListAllMyBuckets, "*")
	req.UpstreamQuery = q.upstream(OpListBuckets, numSub, nil)
	return req, nil
}

func methodNotAllowed(method, what string) *s3err.Error {
	return s3err.New(http.StatusMethodNotAllowed, "MethodNotAllowed",
		"The method "+quoteName(method)+" is not allowed on "+what+".")
}

// singleSub returns the routing subresource present, or numSub for none.
func singleSub(q *query) qk {
	if s := q.subs(); s != 0 {
		return qk(bits.TrailingZeros64(s))
	}
	return numSub
}

// onlyModifiers fails when q has a modifier parameter not in allowed.
func onlyModifiers(q *query, op Operation, allowed ...qk) *s3err.Error {
	m := q.modifiers()
	for _, k := range allowed {
		m &^= 1 << k
	}
	if m == 0 {
		return nil
	}
	k := bits.TrailingZeros64(m)
	return errInvalidArgument("Query parameter " + quoteName(keyNames[k]) + " is not valid for " + string(op) + ".")
}

// bucketConfigOp is one (operation, action) of a bucket configuration
// subresource.
type bucketConfigOp struct {
	op  Operation
	act authz.Action
}

// bucketConfig maps a configuration subresource to its GET, PUT and DELETE
// operations; a zero entry is a method the subresource does not support.
// Deletes use the action AWS requires (DeleteBucketCors is authorized by
// s3:PutBucketCORS, and so on).
var bucketConfig = [numSub][3]bucketConfigOp{
	kPolicy: {
		{OpGetBucketPolicy, authz.GetBucketPolicy},
		{OpPutBucketPolicy, authz.PutBucketPolicy},
		{OpDeleteBucketPolicy, authz.DeleteBucketPolicy}},
	kPolicyStatus: {{OpGetBucketPolicyStatus, authz.GetBucketPolicyStatus}, {}, {}},
	kLifecycle: {
		{OpGetBucketLifecycleConfiguration, authz.GetLifecycleConfiguration},
		{OpPutBucketLifecycleConfiguration, authz.PutLifecycleConfiguration},
		{OpDeleteBucketLifecycle, authz.PutLifecycleConfiguration}},
	kCors: {
		{OpGetBucketCors, authz.GetBucketCORS},
		{OpPutBucketCors, authz.PutBucketCORS},
		{OpDeleteBucketCors, authz.PutBucketCORS}},
	kTagging: {
		{OpGetBucketTagging, authz.GetBucketTagging},
		{OpPutBucketTagging, authz.PutBucketTagging},
		{OpDeleteBucketTagging, authz.PutBucketTagging}},
	kVersioning: {
		{OpGetBucketVersioning, authz.GetBucketVersioning},
		{OpPutBucketVersioning, authz.PutBucketVersioning}, {}},
	kEncryption: {
		{OpGetBucketEncryption, authz.GetEncryptionConfiguration},
		{OpPutBucketEncryption, authz.PutEncryptionConfiguration},
		{OpDeleteBucketEncryption, authz.PutEncryptionConfiguration}},
	kObjectLock: {
		{OpGetObjectLockConfiguration, authz.GetBucketObjectLockConfiguration},
		{OpPutObjectLockConfiguration, authz.PutBucketObjectLockConfiguration}, {}},
	kReplication: {
		{OpGetBucketReplication, authz.GetReplicationConfiguration},
		{OpPutBucketReplication, authz.PutReplicationConfiguration},
		{OpDeleteBucketReplication, authz.PutReplicationConfiguration}},
	kNotification: {
		{OpGetBucketNotificationConfiguration, authz.GetBucketNotification},
		{OpPutBucketNotificationConfiguration, authz.PutBucketNotification}, {}},
	kAcl: {
		{OpGetBucketAcl, authz.GetBucketAcl},
		{OpPutBucketAcl, authz.PutBucketAcl}, {}},
	kWebsite: {
		{OpGetBucketWebsite, authz.GetBucketWebsite},
		{OpPutBucketWebsite, authz.PutBucketWebsite},
		{OpDeleteBucketWebsite, authz.DeleteBucketWebsite}},
	kLogging: {
		{OpGetBucketLogging, authz.GetBucketLogging},
		{OpPutBucketLogging, authz.PutBucketLogging}, {}},
	kOwnershipControls: {
		{OpGetBucketOwnershipControls, authz.GetBucketOwnershipControls},
		{OpPutBucketOwnershipControls, authz.PutBucketOwnershipControls},
		{OpDeleteBucketOwnershipControls, authz.PutBucketOwnershipControls}},
	kRequestPayment: {{OpGetBucketRequestPayment, authz.GetBucketRequestPayment}, {}, {}},
	kAccelerate:     {{OpGetBucketAccelerateConfiguration, authz.GetAccelerateConfiguration}, {}, {}},
	kPublicAccessBlock: {
		{OpGetPublicAccessBlock, authz.GetBucketPublicAccessBlock},
		{OpPutPublicAccessBlock, authz.PutBucketPublicAccessBlock},
		{OpDeletePublicAccessBlock, authz.PutBucketPublicAccessBlock}},
}

// bucketOpFallback marks the bucket configuration requests (PUT, DELETE)
// that MinIO's router has no handler for: it hands them to CreateBucket
// and DeleteBucket, so forwarding one would create or delete the bucket
// under an authorization for something else. They are answered
// NotImplemented, as MinIO means to answer them.
var bucketOpFallback = [numSub][2]bool{
	kWebsite:           {true, false},
	kLogging:           {true, false},
	kOwnershipControls: {true, true},
	kPublicAccessBlock: {true, true},
}

// classifyBucket handles "/bucket" and "/bucket/".
func classifyBucket(req *Request, r *http.Request, q *query) (*Request, *s3err.Error) {
	res := bucketARN(req.Bucket)
	sub := singleSub(q)
	where := "a bucket"
	if sub != numSub {
		where = "a bucket with subresource " + quoteName(keyNames[sub])
	}

	if r.Method == http.MethodPost && strings.Contains(firstHeader(r.Header, hContentType), "multipart/form-data") {
		// MinIO routes any POST /bucket with a form content type to its
		// POST policy handler, before looking at ?delete.
		if sub != numSub {
			return nil, errInvalidArgument("A browser form upload (multipart/form-data) takes no subresource, got " + quoteName(keyNames[sub]) + ".")
		}
		if e := onlyModifiers(q, OpPostObject); e != nil {
			return nil, e
		}
		// PLACEHOLDER CHECK: the object key is a form field in the body.
		// The caller must parse the form and authorize s3:PutObject on
		// the final key (after ${filename} substitution) before anything
		// is forwarded; this check on the bucket only classifies.
		req.Op = OpPostObject
		req.add(authz.PutObject, res)
		req.NeedsBody = true
		return req, nil
	}

	var op Operation
	var act authz.Action
	var mods []qk
	switch {
	case sub == numSub:
		switch r.Method {
		case http.MethodGet:
			if q.has(kListType) {
				if q.get(kListType) != "2" {
					return nil, errInvalidArgument("Query parameter \"list-type\" must be 2.")
				}
				op, act, mods = OpListObjectsV2, authz.ListBucket, []qk{kPrefix, kDelimiter, kListType}
			} else {
				op, act, mods = OpListObjects, authz.ListBucket, []qk{kPrefix, kDelimiter}
			}
		case http.MethodHead:
			op, act = OpHeadBucket, authz.ListBucket
		case http.MethodPut:
			op, act = OpCreateBucket, authz.CreateBucket
		case http.MethodDelete:
			op, act = OpDeleteBucket, authz.DeleteBucket
		}
	case sub == kVersions && r.Method == http.MethodGet:
		op, act, mods = OpListObjectVersions, authz.ListBucketVersions, []qk{kPrefix, kDelimiter}
	case sub == kUploads && r.Method == http.MethodGet:
		op, act, mods = OpListMultipartUploads, authz.ListBucketMultipartUploads, []qk{kPrefix, kDelimiter}
	case sub == kLocation && r.Method == http.MethodGet:
		op, act = OpGetBucketLocation, authz.GetBucketLocation
	case sub == kDelete && r.Method == http.MethodPost:
		op = OpDeleteObjects
	default:
		var i int
		switch r.Method {
		case http.MethodGet:
			i = 0
		case http.MethodPut:
			i = 1
		case http.MethodDelete:
			i = 2
		default:
			i = -1
		}
		if i >= 0 {
			c := bucketConfig[sub][i]
			op, act = c.op, c.act
		}
		if i > 0 && op != "" && bucketOpFallback[sub][i-1] {
			bucketOp := "CreateBucket"
			if i == 2 {
				bucketOp = "DeleteBucket"
			}
			return nil, s3err.New(http.StatusNotImplemented, "NotImplemented",
				string(op)+" is not supported: the storage service would run it as "+bucketOp+".")
		}
	}
	if op == "" {
		if sub != numSub && !isBucketSub(sub) {
			return nil, errInvalidArgument("Subresource " + quoteName(keyNames[sub]) + " applies to objects, not to a bucket.")
		}
		return nil, methodNotAllowed(r.Method, where)
	}
	if e := onlyModifiers(q, op, mods...); e != nil {
		return nil, e
	}
	req.Op = op
	req.UpstreamQuery = q.upstream(op, sub, mods)

	switch op {
	case OpDeleteObjects:
		// The keys are in the body; see NeedsBody. A bypass header is
		// authorized with each key (DeleteObjects.ObjectChecks), as S3
		// does: a key whose bypass is denied is denied.
		req.NeedsBody = true
		req.BypassGovernance = bypassGovernance(r.Header)
		return req, nil
	case OpListObjects, OpListObjectsV2, OpListObjectVersions, OpListMultipartUploads:
		if q.has(kPrefix) {
			prefix := q.get(kPrefix)
			if !validPrefix(prefix) {
				return nil, errInvalidArgument("Query parameter \"prefix\" must be valid UTF-8 without NUL bytes.")
			}
			req.S3.Prefix = authz.V(prefix)
		}
		if q.has(kDelimiter) {
			req.S3.Delimiter = authz.V(q.get(kDelimiter))
		}
		if q.has(kMaxKeys) {
			req.S3.MaxKeys = authz.V(q.get(kMaxKeys))
		}
	}

	req.add(act, res)
	HeaderConditions(op, r.Header, &req.S3)
	if op == OpCreateBucket {
		req.Body = BodyCreateBucket
		if v, ok := headerValue(r.Header, hBucketLockEnabled); ok && strings.EqualFold(strings.TrimSpace(v), "true") {
			req.add(authz.PutBucketObjectLockConfiguration, res)
			req.add(authz.PutBucketVersioning, res)
		}
		if hasACLHeaders(r.Header) {
			req.add(authz.PutBucketAcl, res)
		}
		if _, ok := headerValue(r.Header, hObjectOwnership); ok {
			req.add(authz.PutBucketOwnershipControls, res)
		}
	}
	return req, nil
}

func isBucketSub(k qk) bool {
	switch k {
	case kVersions, kUploads, kLocation, kDelete:
		return true
	}
	return bucketConfig[k] != [3]bucketConfigOp{}
}

func validPrefix(p string) bool {
	return strings.IndexByte(p, 0) < 0 && utf8.ValidString(p)
}

// classifyObject handles "/bucket/key".
func classifyObject(req *Request, r *http.Request, q *query) (*Request, *s3err.Error) {
	res := objectARN(req.Bucket, req.Key)
	sub := singleSub(q)
	versioned := q.has(kVersionID)
	if versioned {
		vid := q.get(kVersionID)
		if strings.TrimSpace(vid) == "" {
			return nil, errInvalidArgument("Query parameter \"versionId\" must not be empty.")
		}
		req.S3.VersionID = authz.V(vid)
	}
	if q.has(kPartNumber) {
		if !validPartNumber(q.get(kPartNumber)) {
			return nil, errInvalidArgument("Query parameter \"partNumber\" must be an integer from 1 to 10000.")
		}
	}
	if q.has(kUploadID) && q.get(kUploadID) == "" {
		return nil, errInvalidArgument("Query parameter \"uploadId\" must not be empty.")
	}
	copyHdr, hasCopy := r.Header[hCopySource]
	_, hasRange := r.Header[hCopySourceRange]
	if q.copySource {
		return nil, errInvalidArgument("x-amz-copy-source must be sent as a header, not as a query parameter.")
	}

	pick := func(plain, version authz.Action) authz.Action {
		if versioned {
			return version
		}
		return plain
	}
	where := "an object"
	if sub != numSub {
		where = "an object with subresource " + quoteName(keyNames[sub])
	}

	var op Operation
	var act authz.Action
	var mods []qk
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		get := r.Method == http.MethodGet
		switch {
		case sub == numSub && get:
			op, act, mods = OpGetObject, pick(authz.GetObject, authz.GetObjectVersion), []qk{kVersionID, kPartNumber}
		case sub == numSub:
			op, act, mods = OpHeadObject, pick(authz.GetObject, authz.GetObjectVersion), []qk{kVersionID, kPartNumber}
		case !get:
		case sub == kUploadID:
			op, act = OpListParts, authz.ListMultipartUploadParts
		case sub == kTagging:
			op, act, mods = OpGetObjectTagging, pick(authz.GetObjectTagging, authz.GetObjectVersionTagging), []qk{kVersionID}
		case sub == kAcl:
			op, act, mods = OpGetObjectAcl, pick(authz.GetObjectAcl, authz.GetObjectVersionAcl), []qk{kVersionID}
		case sub == kAttributes:
			op, act, mods = OpGetObjectAttributes, pick(authz.GetObjectAttributes, authz.GetObjectVersionAttributes), []qk{kVersionID}
		case sub == kRetention:
			op, act, mods = OpGetObjectRetention, authz.GetObjectRetention, []qk{kVersionID}
		case sub == kLegalHold:
			op, act, mods = OpGetObjectLegalHold, authz.GetObjectLegalHold, []qk{kVersionID}
		}
	case http.MethodPut:
		switch sub {
		case numSub:
			if q.has(kPartNumber) {
				return nil, errInvalidArgument("Query parameter \"partNumber\" on PUT requires \"uploadId\" (OpUploadPart).")
			}
			op, act = OpPutObject, authz.PutObject
			if hasCopy {
				op = OpCopyObject
			}
		case kUploadID:
			if !q.has(kPartNumber) {
				return nil, errInvalidArgument("Query parameter \"uploadId\" on PUT requires \"partNumber\" (OpUploadPart).")
			}
			op, act, mods = OpUploadPart, authz.PutObject, []qk{kPartNumber}
			if hasCopy {
				op = OpUploadPartCopy
			}
		case kTagging:
			op, act, mods = OpPutObjectTagging, pick(authz.PutObjectTagging, authz.PutObjectVersionTagging), []qk{kVersionID}
		case kAcl:
			op, act, mods = OpPutObjectAcl, pick(authz.PutObjectAcl, authz.PutObjectVersionAcl), []qk{kVersionID}
		case kRetention:
			op, act, mods = OpPutObjectRetention, authz.PutObjectRetention, []qk{kVersionID}
		case kLegalHold:
			op, act, mods = OpPutObjectLegalHold, authz.PutObjectLegalHold, []qk{kVersionID}
		}
	case http.MethodPost:
		switch sub {
		case kUploads:
			op, act = OpCreateMultipartUpload, authz.PutObject
		case kUploadID:
			op, act = OpCompleteMultipartUpload, authz.PutObject
		case kSelect:
			if q.get(kSelectType) != "2" {
				return nil, errInvalidArgument("SelectObjectContent requires query parameter \"select-type=2\".")
			}
			op, act, mods = OpSelectObjectContent, authz.GetObject, []qk{kSelectType}
		case kRestore:
			op, act, mods = OpRestoreObject, authz.RestoreObject, []qk{kVersionID}
		}
	case http.MethodDelete:
		switch sub {
		case numSub:
			op, act, mods = OpDeleteObject, pick(authz.DeleteObject, authz.DeleteObjectVersion), []qk{kVersionID}
		case kUploadID:
			op, act = OpAbortMultipartUpload, authz.AbortMultipartUpload
		case kTagging:
			op, act, mods = OpDeleteObjectTagging, pick(authz.DeleteObjectTagging, authz.DeleteObjectVersionTagging), []qk{kVersionID}
		}
	}
	if op == "" {
		if sub != numSub && isBucketSub(sub) && !objectSubToo(sub) {
			return nil, errInvalidArgument("Subresource " + quoteName(keyNames[sub]) + " applies to buckets, not to objects.")
		}
		return nil, methodNotAllowed(r.Method, where)
	}
	if e := onlyModifiers(q, op, mods...); e != nil {
		return nil, e
	}
	copyOp := op == OpCopyObject || op == OpUploadPartCopy
	if hasCopy && !copyOp && r.Method == http.MethodPut {
		// MinIO's router would run CopyObject for some of these; refuse
		// rather than guess.
		return nil, errInvalidArgument("x-amz-copy-source is only valid for OpCopyObject and OpUploadPartCopy.")
	}
	if hasRange && op != OpUploadPartCopy && r.Method == http.MethodPut {
		return nil, errInvalidArgument("x-amz-copy-source-range is only valid for OpUploadPartCopy.")
	}

	req.Op = op
	req.UpstreamQuery = q.upstream(op, sub, mods)
	req.add(act, res)
	HeaderConditions(op, r.Header, &req.S3)
	switch op {
	case OpGetObject, OpHeadObject, OpSelectObjectContent, OpGetObjectTagging, OpGetObjectAcl, OpGetObjectAttributes,
		OpPutObjectTagging, OpPutObjectAcl, OpDeleteObjectTagging:
		req.object = ObjectRef{Bucket: req.Bucket, Key: req.Key, VersionID: req.S3.VersionID.S}
		req.tagsPrimary = true
	}
	switch op {
	case OpPutObjectTagging:
		req.Body = BodyTagging
	case OpPutObjectRetention:
		req.Body = BodyRetention
	case OpPutObjectLegalHold:
		req.Body = BodyLegalHold
	}

	if copyOp {
		if len(copyHdr) != 1 {
			return nil, errInvalidArgument("Invalid x-amz-copy-source: the header is given more than once.")
		}
		src, e := parseCopySource(copyHdr[0])
		if e != nil {
			return nil, e
		}
		req.CopySource = &src
		req.CopySourceHeader = copySourceHeader(src)
		req.S3.CopySource = authz.V(src.Bucket + "/" + src.Key)
		srcAct := authz.GetObject
		if src.VersionID != "" {
			srcAct = authz.GetObjectVersion
		}
		req.add(srcAct, objectARN(src.Bucket, src.Key))
		req.copyCheck = req.Checks[len(req.Checks)-1]
	}

	switch op {
	case OpPutObject, OpCopyObject, OpCreateMultipartUpload:
		if v, ok := headerValue(r.Header, hSSE); ok {
			req.S3.ServerSideEncryption = authz.V(v)
		}
		if v, ok := r.Header[hTagging]; ok {
			req.add(authz.PutObjectTagging, res)
			// CopyObject applies the header only with REPLACE; otherwise
			// the copy keeps the source's tags and the store ignores it.
			if op != OpCopyObject || firstHeader(r.Header, hTaggingDirective) == "REPLACE" {
				tags, e := ParseTaggingHeader(v[0])
				if e != nil {
					return nil, e
				}
				req.S3.RequestTags = tags
				req.TaggingHeader = []string{TaggingHeader(tags)}
			}
		}
		if e := ObjectLockConditions(r.Header, &req.S3); e != nil {
			return nil, e
		}
		if hasACLHeaders(r.Header) {
			req.add(authz.PutObjectAcl, res)
		}
		_, mode := r.Header[hLockMode]
		_, until := r.Header[hLockRetainUntil]
		if mode || until {
			req.add(authz.PutObjectRetention, res)
		}
		if _, ok := r.Header[hLegalHold]; ok {
			req.add(authz.PutObjectLegalHold, res)
		}
	case OpDeleteObject, OpPutObjectRetention:
		if bypassGovernance(r.Header) {
			req.add(authz.BypassGovernanceRetention, res)
		}
	}
	return req, nil
}

// objectSubToo reports whether a bucket subresource also exists on objects.
func objectSubToo(k qk) bool {
	switch k {
	case kTagging, kAcl, kUploads:
		return true
	}
	return false
}

func validPartNumber(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 10000
}

func headerValue(h http.Header, k string) (string, bool) {
	v, ok := h[k]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func firstHeader(h http.Header, k string) string {
	v, _ := headerValue(h, k)
	return v
}

// hasACLHeaders reports whether the request sets an ACL that needs the
// ACL permission. The canned ACL "private" alone does not: it is the
// default, grants nobody anything, and tools such as rclone send it on
// every upload.
func hasACLHeaders(h http.Header) bool {
	if v, ok := h[hACL]; ok && !(len(v) == 1 && strings.EqualFold(strings.TrimSpace(v[0]), "private")) {
		return true
	}
	for k := range h {
		if len(k) > len(hGrantPrefix) && strings.EqualFold(k[:len(hGrantPrefix)], hGrantPrefix) {
			return true
		}
	}
	return false
}

func bypassGovernance(h http.Header) bool {
	v, ok := headerValue(h, hBypassGovernance)
	return ok && strings.EqualFold(strings.TrimSpace(v), "true")
}
