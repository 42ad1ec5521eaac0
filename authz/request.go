package authz

import (
	"net/netip"
	"time"
)

// Request is one authorization question: may the principal perform Action
// on Resource, given the condition values that came with the request?
//
// The proxy builds one Request per (action, resource) pair a classified S3
// request needs; all of them must be allowed.
type Request struct {
	Action   Action
	Resource string // "arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key" or "*"

	// Global condition keys.
	SourceIP        netip.Addr // aws:SourceIp
	SecureTransport bool       // aws:SecureTransport
	Time            time.Time  // aws:CurrentTime, aws:EpochTime; s3:object-lock-remaining-retention-days counts from it
	UserAgent       string     // aws:UserAgent; always present, "" without a User-Agent header
	Referer         Value      // aws:Referer; absent when the request has no Referer header

	// S3 condition keys; a zero Value means the key is absent.
	S3 S3Context

	// ExistingTags supplies s3:ExistingObjectTag/<key>: the current tags
	// of the object the request acts on. Nil means the key is absent (the
	// action does not support it, as for s3:PutObject and
	// s3:DeleteObject in AWS). Authorize calls it only while it evaluates
	// a condition on that key, in a statement whose action and resource
	// match the request; it may call it more than once, so an
	// implementation fetches the tags once and keeps them for the request.
	ExistingTags TagSource
}

// TagSource supplies the current tags of an object, for
// s3:ExistingObjectTag/<key>. It is declared here and implemented by the
// caller of Authorize, which fetches the tags from the store.
type TagSource interface {
	// ObjectTags returns the object's tags: an empty set when the object
	// has none or does not exist. An error means the tags cannot be known;
	// a condition on them is then undecidable, and Authorize fails closed
	// with ReasonUnavailable unless another statement decides the request.
	ObjectTags() (TagSet, error)
}

// S3Context holds the S3-specific condition keys of a request.
type S3Context struct {
	Prefix               Value // s3:prefix
	Delimiter            Value // s3:delimiter
	MaxKeys              Value // s3:max-keys
	CopySource           Value // s3:x-amz-copy-source ("bucket/key", decoded)
	ServerSideEncryption Value // s3:x-amz-server-side-encryption
	VersionID            Value // s3:versionid

	// RequestTags are the tags the request sets on the object:
	// s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys. An empty set
	// means both keys are absent.
	RequestTags TagSet

	SignatureVersion Value // s3:signatureversion: "AWS4-HMAC-SHA256" (SigV4) or "AWS" (SigV2)
	AuthType         Value // s3:authType: "REST-HEADER", "REST-QUERY-STRING" or "POST"
	TLSVersion       Value // s3:TlsVersion: "1.2", "1.3" (numeric)
	ContentSHA256    Value // s3:x-amz-content-sha256: the payload hash the client declared

	ObjectLockMode            Value // s3:object-lock-mode: "GOVERNANCE" or "COMPLIANCE"
	ObjectLockRetainUntilDate Value // s3:object-lock-retain-until-date (RFC 3339, UTC); also yields s3:object-lock-remaining-retention-days
	ObjectLockLegalHold       Value // s3:object-lock-legal-hold: "ON" or "OFF"

	LocationConstraint Value // s3:locationconstraint: CreateBucket's LocationConstraint

	// Request headers, where AWS supplies them (see docs/configuration.md).
	ACL                     Value // s3:x-amz-acl
	GrantFullControl        Value // s3:x-amz-grant-full-control
	GrantRead               Value // s3:x-amz-grant-read
	GrantReadACP            Value // s3:x-amz-grant-read-acp
	GrantWrite              Value // s3:x-amz-grant-write
	GrantWriteACP           Value // s3:x-amz-grant-write-acp
	StorageClass            Value // s3:x-amz-storage-class
	MetadataDirective       Value // s3:x-amz-metadata-directive
	SSEKMSKeyID             Value // s3:x-amz-server-side-encryption-aws-kms-key-id
	SSECustomerAlgorithm    Value // s3:x-amz-server-side-encryption-customer-algorithm
	WebsiteRedirectLocation Value // s3:x-amz-website-redirect-location
	ObjectOwnership         Value // s3:x-amz-object-ownership
	IfMatch                 Value // s3:if-match
	IfNoneMatch             Value // s3:if-none-match
}

// Value is an optional single-valued condition value.
type Value struct {
	S       string
	Present bool
}

// V returns a present Value.
func V(s string) Value { return Value{S: s, Present: true} }

// TagSet is a set of object tags: Keys[i] has the value Values[i]. Keys
// are unique and case-sensitive, as S3 stores them; the order is the
// order of the request or of the store's answer.
type TagSet struct {
	Keys   []string
	Values []string
}

// Len returns the number of tags.
func (t *TagSet) Len() int { return len(t.Keys) }

// Get returns the value of the tag key.
func (t *TagSet) Get(key string) (string, bool) {
	for i, k := range t.Keys {
		if k == key {
			return t.Values[i], true
		}
	}
	return "", false
}

// Add appends a tag; the caller keeps keys unique.
func (t *TagSet) Add(key, value string) {
	t.Keys = append(t.Keys, key)
	t.Values = append(t.Values, value)
}
