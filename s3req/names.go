package s3req

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iamgate/iamgate/s3err"
)

// MaxKeyLength is the longest object key, in bytes, S3 and MinIO accept.
const MaxKeyLength = 1024

const arnPrefix = "arn:aws:s3:::"

// bucketARN and objectARN build IAM resource names.
func bucketARN(bucket string) string      { return arnPrefix + bucket }
func objectARN(bucket, key string) string { return arnPrefix + bucket + "/" + key }

// errInvalidObjectName is MinIO's answer to an object name it refuses.
func errInvalidObjectName(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "XMinioInvalidObjectName", msg)
}

func errInvalidArgument(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidArgument", msg)
}

// validBucketName reports whether b follows the AWS bucket naming rules
// (as MinIO's strict check does): 3-63 characters of lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit, no
// "..", ".-" or "-.", and not an IPv4 address.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	allDigitsAndDots := true
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c == '-':
			allDigitsAndDots = false
		case c >= '0' && c <= '9', c == '.':
		default:
			return false
		}
		if c == '.' || c == '-' {
			if i == 0 || i == len(b)-1 {
				return false
			}
			if p := b[i-1]; p == '.' && (c == '.' || c == '-') || p == '-' && c == '.' {
				return false
			}
		}
	}
	if allDigitsAndDots && strings.Count(b, ".") == 3 {
		return false // looks like an IPv4 address
	}
	return true
}

func checkBucket(b string) *s3err.Error {
	if validBucketName(b) {
		return nil
	}
	return s3err.New(http.StatusBadRequest, "InvalidBucketName",
		"The specified bucket is not valid: bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, start and end with a letter or digit, and are not IP addresses.")
}

// checkKey validates an object key as MinIO will store it. The key must
// already be normalized: it may not start with "/".
func checkKey(key string) *s3err.Error {
	if key == "" {
		return errInvalidObjectName("Object name is empty.")
	}
	if len(key) > MaxKeyLength {
		return s3err.New(http.StatusBadRequest, "KeyTooLongError", "Your key is too long: object names are at most 1024 bytes.")
	}
	if !utf8.ValidString(key) {
		return errInvalidObjectName("Object name is not valid UTF-8.")
	}
	if key[0] == '/' {
		return errInvalidObjectName("Object name must not start with '/'.")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return errInvalidObjectName("Object name must not contain a NUL byte.")
	}
	if strings.IndexByte(key, '\\') >= 0 {
		return errInvalidObjectName("Object name must not contain '\\'.")
	}
	if strings.Contains(key, "//") {
		return errInvalidObjectName("Object name must not contain '//'.")
	}
	if hasDotSegment(key) {
		return errInvalidObjectName("Object name must not contain '.' or '..' path segments.")
	}
	return nil
}

// hasDotSegment reports whether s, split at '/' and '\', has a segment that
// is "." or ".." once surrounding spaces are trimmed (MinIO's
// hasBadPathComponent).
func hasDotSegment(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '/' && s[i] != '\\' {
			continue
		}
		seg := strings.TrimSpace(s[start:i])
		if seg == "." || seg == ".." {
			return true
		}
		start = i + 1
	}
	return false
}

// UriEncodePath encodes p the way AWS SigV4 UriEncode does for S3 paths:
// every byte except A-Z a-z 0-9 - . _ ~ and '/' becomes %XX with uppercase
// hex. p is returned unchanged (no allocation) when nothing needs encoding.
func UriEncodePath(p string) string { return uriEncode(p, true) }

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func uriEncode(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved(c) && !(keepSlash && c == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// parseCopySource parses an x-amz-copy-source value the way MinIO does
// (url.Parse, which decodes; optional leading '/'; split at the first '/';
// "?versionId=") and rejects everything MinIO would rewrite or interpret
// differently from how it reads.
func parseCopySource(v string) (ObjectRef, *s3err.Error) {
	bad := func(why string) (ObjectRef, *s3err.Error) {
		return ObjectRef{}, errInvalidArgument("Invalid x-amz-copy-source: " + why)
	}
	if v == "" {
		return bad("the value is empty; expected <bucket>/<key>[?versionId=<id>].")
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "arn:") {
		return bad("access point ARNs are not supported; use <bucket>/<key>.")
	}
	u, err := url.Parse(v)
	if err != nil {
		return bad("the value is not a valid URL-encoded path.")
	}
	if u.Scheme != "" || u.Opaque != "" || u.Host != "" || u.User != nil || u.Fragment != "" {
		return bad("expected <bucket>/<key>[?versionId=<id>]; a '#', '?' or ':' in a key must be percent-encoded.")
	}
	p := strings.TrimPrefix(u.Path, "/")
	bucket, key, ok := strings.Cut(p, "/")
	if !ok || key == "" {
		return bad("the value must name both the source bucket and the source key: <bucket>/<key>.")
	}
	if e := checkBucket(bucket); e != nil {
		return ObjectRef{}, e
	}
	if e := checkKey(key); e != nil {
		return bad("source key: " + e.Message)
	}
	ref := ObjectRef{Bucket: bucket, Key: key}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return bad("the query part is malformed.")
		}
		for k, vs := range q {
			if k != "versionId" {
				return bad("only the versionId parameter is allowed, got " + quoteName(k) + ".")
			}
			if len(vs) != 1 {
				return bad("versionId is given more than once.")
			}
			ref.VersionID = strings.TrimSpace(vs[0])
			if ref.VersionID == "" {
				return bad("versionId is empty.")
			}
		}
	}
	return ref, nil
}

// copySourceHeader renders the canonical x-amz-copy-source for ref.
func copySourceHeader(ref ObjectRef) string {
	h := "/" + ref.Bucket + "/" + UriEncodePath(ref.Key)
	if ref.VersionID != "" {
		h += "?versionId=" + uriEncode(ref.VersionID, false)
	}
	return h
}

// quoteName quotes a caller-supplied name for an error message, bounded in
// length.
func quoteName(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
