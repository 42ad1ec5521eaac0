package s3req

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/iamgate/iamgate/s3err"
)

// qk names a query parameter the classifier knows.
type qk uint8

// Routing subresources: at most one of these may be present, and it picks
// the operation. They match on the key whatever the value.
const (
	kLocation qk = iota
	kPolicy
	kLifecycle
	kCors
	kTagging
	kVersioning
	kEncryption
	kObjectLock
	kReplication
	kNotification
	kAcl
	kWebsite
	kLogging
	kOwnershipControls
	kRequestPayment
	kAccelerate
	kPolicyStatus
	kPublicAccessBlock
	kVersions
	kUploads
	kDelete
	kUploadID
	kRetention
	kLegalHold
	kAttributes
	kSelect
	kRestore

	// Modifiers: valid only with the operations that accept them.
	kPrefix
	kDelimiter
	kListType
	kVersionID
	kPartNumber
	kSelectType

	// Harmless everywhere: they change neither the operation nor what it
	// touches.
	kMaxKeys
	kXID
	kEncodingType
	kStartAfter
	kContinuationToken
	kFetchOwner
	kMarker
	kKeyMarker
	kUploadIDMarker
	kVersionIDMarker
	kMaxUploads
	kMaxParts
	kPartNumberMarker
	kMaxBuckets
	kBucketRegion

	numKeys
)

const (
	numSub  = kRestore + 1
	subMask = uint64(1)<<numSub - 1
	modMask = (uint64(1)<<(kSelectType+1) - 1) &^ subMask
)

var keyNames = [numKeys]string{
	kLocation: "location", kPolicy: "policy", kLifecycle: "lifecycle", kCors: "cors",
	kTagging: "tagging", kVersioning: "versioning", kEncryption: "encryption",
	kObjectLock: "object-lock", kReplication: "replication", kNotification: "notification",
	kAcl: "acl", kWebsite: "website", kLogging: "logging", kOwnershipControls: "ownershipControls",
	kRequestPayment: "requestPayment", kAccelerate: "accelerate", kPolicyStatus: "policyStatus",
	kPublicAccessBlock: "publicAccessBlock",
	kVersions:          "versions", kUploads: "uploads", kDelete: "delete", kUploadID: "uploadId",
	kRetention: "retention", kLegalHold: "legal-hold", kAttributes: "attributes",
	kSelect: "select", kRestore: "restore",
	kPrefix: "prefix", kDelimiter: "delimiter", kListType: "list-type", kVersionID: "versionId",
	kPartNumber: "partNumber", kSelectType: "select-type",
	kMaxKeys: "max-keys", kXID: "x-id", kEncodingType: "encoding-type", kStartAfter: "start-after",
	kContinuationToken: "continuation-token", kFetchOwner: "fetch-owner", kMarker: "marker",
	kKeyMarker: "key-marker", kUploadIDMarker: "upload-id-marker",
	kVersionIDMarker: "version-id-marker", kMaxUploads: "max-uploads", kMaxParts: "max-parts",
	kPartNumberMarker: "part-number-marker", kMaxBuckets: "max-buckets", kBucketRegion: "bucket-region",
}

func lookupKey(s string) (qk, bool) {
	switch s {
	case "location":
		return kLocation, true
	case "policy":
		return kPolicy, true
	case "lifecycle":
		return kLifecycle, true
	case "cors":
		return kCors, true
	case "tagging":
		return kTagging, true
	case "versioning":
		return kVersioning, true
	case "encryption":
		return kEncryption, true
	case "object-lock":
		return kObjectLock, true
	case "replication":
		return kReplication, true
	case "notification":
		return kNotification, true
	case "acl":
		return kAcl, true
	case "website":
		return kWebsite, true
	case "logging":
		return kLogging, true
	case "ownershipControls":
		return kOwnershipControls, true
	case "requestPayment":
		return kRequestPayment, true
	case "accelerate":
		return kAccelerate, true
	case "policyStatus":
		return kPolicyStatus, true
	case "publicAccessBlock":
		return kPublicAccessBlock, true
	case "versions":
		return kVersions, true
	case "uploads":
		return kUploads, true
	case "delete":
		return kDelete, true
	case "uploadId":
		return kUploadID, true
	case "retention":
		return kRetention, true
	case "legal-hold":
		return kLegalHold, true
	case "attributes":
		return kAttributes, true
	case "select":
		return kSelect, true
	case "restore":
		return kRestore, true
	case "prefix":
		return kPrefix, true
	case "delimiter":
		return kDelimiter, true
	case "list-type":
		return kListType, true
	case "versionId":
		return kVersionID, true
	case "partNumber":
		return kPartNumber, true
	case "select-type":
		return kSelectType, true
	case "max-keys":
		return kMaxKeys, true
	case "x-id":
		return kXID, true
	case "encoding-type":
		return kEncodingType, true
	case "start-after":
		return kStartAfter, true
	case "continuation-token":
		return kContinuationToken, true
	case "fetch-owner":
		return kFetchOwner, true
	case "marker":
		return kMarker, true
	case "key-marker":
		return kKeyMarker, true
	case "upload-id-marker":
		return kUploadIDMarker, true
	case "version-id-marker":
		return kVersionIDMarker, true
	case "max-uploads":
		return kMaxUploads, true
	case "max-parts":
		return kMaxParts, true
	case "part-number-marker":
		return kPartNumberMarker, true
	case "max-buckets":
		return kMaxBuckets, true
	case "bucket-region":
		return kBucketRegion, true
	}
	return 0, false
}

// maxFamilyParams bounds the number of open-ended parameters (X-Amz-*,
// response-*) whose duplicates are tracked.
const maxFamilyParams = 32

// query is the parsed query string. It lives on the caller's stack.
type query struct {
	seen    uint64 // bit per qk present
	vals    [numKeys]string
	unknown string // first parameter name not recognized
	action  bool   // an "Action" parameter (STS) is present
	// copySource is set when an x-amz-copy-source* parameter is present.
	copySource bool

	// The open-ended parameters (x-amz-*, response-*), in order.
	nfam   int
	fam    [maxFamilyParams]string
	famVal [maxFamilyParams]string
}

func (q *query) has(k qk) bool     { return q.seen&(1<<k) != 0 }
func (q *query) get(k qk) string   { return q.vals[k] }
func (q *query) subs() uint64      { return q.seen & subMask }
func (q *query) modifiers() uint64 { return q.seen & modMask }

// parse reads a raw query string with url.ParseQuery's rules (split at '&',
// a ';' is an error, '+' is a space) without allocating for plain values.
// Duplicate parameters are an error: S3 servers and proxies do not agree
// on which copy wins.
func (q *query) parse(raw string) *s3err.Error {
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if strings.IndexByte(seg, ';') >= 0 {
			return errInvalidArgument("The query string contains a ';'; separate parameters with '&'.")
		}
		if seg == "" {
			continue
		}
		rk, rv, _ := strings.Cut(seg, "=")
		key, err := url.QueryUnescape(rk)
		if err != nil {
			return errInvalidArgument("The query string has a malformed percent-encoding in a parameter name.")
		}
		val, err := url.QueryUnescape(rv)
		if err != nil {
			return errInvalidArgument("The query string has a malformed percent-encoding in the value of " + quoteName(key) + ".")
		}
		if key != "delimiter" && hasDotSegment(val) {
			// MinIO refuses '.' and '..' segments in every query value but
			// delimiter; refuse them here, before authorization.
			return errInvalidArgument("The value of query parameter " + quoteName(key) + " must not contain '.' or '..' path segments.")
		}
		if k, ok := lookupKey(key); ok {
			if q.has(k) {
				return errInvalidArgument("Query parameter " + quoteName(key) + " is given more than once.")
			}
			q.seen |= 1 << k
			q.vals[k] = val
			continue
		}
		isAmz := len(key) >= 6 && strings.EqualFold(key[:6], "x-amz-")
		if isAmz || strings.HasPrefix(key, "response-") {
			for _, f := range q.fam[:q.nfam] {
				if strings.EqualFold(f, key) {
					return errInvalidArgument("Query parameter " + quoteName(key) + " is given more than once.")
				}
			}
			if q.nfam == maxFamilyParams {
				return errInvalidArgument("The query string has too many parameters.")
			}
			q.fam[q.nfam] = key
			q.famVal[q.nfam] = val
			q.nfam++
			if isAmz && len(key) >= 17 && strings.EqualFold(key[6:17], "copy-source") {
				q.copySource = true
			}
			continue
		}
		if key == "Action" {
			q.action = true
			continue
		}
		if q.unknown == "" {
			q.unknown = key
			if key == "" {
				q.unknown = "=" + val
			}
		}
	}
	return nil
}

// errUnknownParam is the answer to a query parameter outside the allowlist.
func errUnknownParam(name string) *s3err.Error {
	return s3err.New(http.StatusNotImplemented, "NotImplemented",
		"The query parameter "+quoteName(name)+" is not supported by this service.")
}

// responseParams are the response header overrides of GetObject and
// HeadObject.
var responseParams = [...]string{
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires",
}

// pagingParams returns the harmless parameters op reads: everything else
// of that kind is dropped, because the store ignores it for op.
func pagingParams(op Operation) []qk {
	switch op {
	case OpListBuckets:
		return []qk{kMaxBuckets, kContinuationToken, kBucketRegion}
	case OpListObjects:
		return []qk{kMaxKeys, kEncodingType, kMarker}
	case OpListObjectsV2:
		return []qk{kMaxKeys, kEncodingType, kStartAfter, kContinuationToken, kFetchOwner}
	case OpListObjectVersions:
		return []qk{kMaxKeys, kEncodingType, kKeyMarker, kVersionIDMarker}
	case OpListMultipartUploads:
		return []qk{kMaxUploads, kEncodingType, kKeyMarker, kUploadIDMarker}
	case OpListParts:
		return []qk{kMaxParts, kPartNumberMarker, kEncodingType}
	}
	return nil
}

// upstream returns the query to send to the store for op: the
// subresource sub (numSub for none), the modifiers in mods, the paging
// parameters op reads and, for GetObject and HeadObject, the response
// header overrides; each with the value that was classified. Nothing else
// is forwarded: not x-amz-* parameters (presigned authentication, and
// header aliases, which the caller moves into headers before
// classification), not x-id, not a parameter op does not read.
func (q *query) upstream(op Operation, sub qk, mods []qk) string {
	var pairs [16][2]string
	kv := pairs[:0]
	if sub != numSub && q.has(sub) {
		kv = append(kv, [2]string{keyNames[sub], q.vals[sub]})
	}
	for _, list := range [2][]qk{mods, pagingParams(op)} {
		for _, k := range list {
			if (sub == numSub || k != sub) && q.has(k) {
				kv = append(kv, [2]string{keyNames[k], q.vals[k]})
			}
		}
	}
	if op == OpGetObject || op == OpHeadObject {
		for i, name := range q.fam[:q.nfam] {
			for _, rp := range responseParams {
				if name == rp {
					kv = append(kv, [2]string{name, q.famVal[i]})
				}
			}
		}
	}
	if len(kv) == 0 {
		return ""
	}
	slices.SortFunc(kv, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var sb strings.Builder
	for i, p := range kv {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(queryEscape(p[0]))
		sb.WriteByte('=')
		sb.WriteString(queryEscape(p[1]))
	}
	return sb.String()
}

// queryEscape is url.QueryEscape with spaces as %20, the form the store
// and the signer canonicalize to.
func queryEscape(s string) string {
	e := url.QueryEscape(s)
	if strings.IndexByte(e, '+') >= 0 {
		e = strings.ReplaceAll(e, "+", "%20")
	}
	return e
}
