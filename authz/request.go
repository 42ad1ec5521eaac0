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
	Time            time.Time  // aws:CurrentTime, aws:EpochTime
	UserAgent       string     // aws:UserAgent

	// S3 condition keys; a zero Value means the key is absent.
	S3 S3Context
}

// S3Context holds the S3-specific condition keys of a request.
type S3Context struct {
	Prefix               Value // s3:prefix
	Delimiter            Value // s3:delimiter
	MaxKeys              Value // s3:max-keys
	CopySource           Value // s3:x-amz-copy-source ("bucket/key", decoded)
	ServerSideEncryption Value // s3:x-amz-server-side-encryption
	VersionID            Value // s3:VersionId
}

// Value is an optional single-valued condition value.
type Value struct {
	S       string
	Present bool
}

// V returns a present Value.
func V(s string) Value { return Value{S: s, Present: true} }
