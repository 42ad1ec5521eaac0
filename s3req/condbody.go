package s3req

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
)

// BodyKind names a request body that holds condition values.
type BodyKind uint8

// The bodies that hold condition values.
const (
	BodyNone         BodyKind = iota
	BodyTagging               // PutObjectTagging: <Tagging>; s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys
	BodyRetention             // PutObjectRetention: <Retention>; s3:object-lock-mode, s3:object-lock-retain-until-date
	BodyLegalHold             // PutObjectLegalHold: <LegalHold>; s3:object-lock-legal-hold
	BodyCreateBucket          // CreateBucket: <CreateBucketConfiguration>, optional; s3:locationconstraint
)

// String names the document.
func (k BodyKind) String() string {
	switch k {
	case BodyTagging:
		return "Tagging"
	case BodyRetention:
		return "Retention"
	case BodyLegalHold:
		return "LegalHold"
	case BodyCreateBucket:
		return "CreateBucketConfiguration"
	}
	return ""
}

// MaxConditionBody bounds the bodies of Request.Body: they are small
// documents (ten tags at most), read whole before authorization.
const MaxConditionBody = 64 << 10

// ApplyBody parses body, the request's Body document, strictly; sets the
// condition values it holds in r.S3; and returns the document to forward
// in place of the client's: the values exactly as parsed, re-serialized
// (nil for a CreateBucket without a location constraint, which is sent
// without a body). The caller reads the body, bounded by
// MaxConditionBody, and sends the returned bytes with digests computed
// for them, so the store executes what was authorized.
func (r *Request) ApplyBody(body []byte) ([]byte, *s3err.Error) {
	switch r.Body {
	case BodyTagging:
		t, e := ParseTagging(body)
		if e != nil {
			return nil, e
		}
		r.S3.RequestTags = t
		return MarshalTagging(t), nil
	case BodyRetention:
		mode, until, e := ParseRetention(body)
		if e != nil {
			return nil, e
		}
		if mode != "" {
			r.S3.ObjectLockMode = authz.V(mode)
			r.S3.ObjectLockRetainUntilDate = authz.V(until)
		}
		return marshalRetention(mode, until), nil
	case BodyLegalHold:
		status, e := ParseLegalHold(body)
		if e != nil {
			return nil, e
		}
		r.S3.ObjectLockLegalHold = authz.V(status)
		return marshalLegalHold(status), nil
	case BodyCreateBucket:
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, nil
		}
		loc, e := ParseCreateBucketConfiguration(body)
		if e != nil {
			return nil, e
		}
		if loc == "" {
			return nil, nil
		}
		r.S3.LocationConstraint = authz.V(loc)
		return marshalCreateBucket(loc), nil
	}
	return body, nil
}

// Object lock modes and legal hold states, as S3 spells them.
const (
	lockGovernance = "GOVERNANCE"
	lockCompliance = "COMPLIANCE"
	holdOn         = "ON"
	holdOff        = "OFF"
)

// parseRetainUntil parses a retain-until date the way MinIO does (RFC 3339,
// with or without fractional seconds) and returns it in UTC, as the
// condition value.
func parseRetainUntil(s string) (string, bool) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", false
	}
	return t.UTC().Format(time.RFC3339Nano), true
}

// ParseRetention strictly parses a PutObjectRetention body:
//
//	<Retention><Mode>GOVERNANCE|COMPLIANCE</Mode><RetainUntilDate>RFC 3339</RetainUntilDate></Retention>
//
// Mode and date come together, or neither (which removes a governance
// retention). It returns the mode and the date in UTC.
func ParseRetention(body []byte) (mode, until string, e *s3err.Error) {
	const doc = "Retention"
	root, e := parseXMLDoc(body, doc)
	if e != nil {
		return "", "", e
	}
	if e := root.only(doc, "Mode", "RetainUntilDate"); e != nil {
		return "", "", e
	}
	mn, e := root.child("Mode", doc)
	if e != nil {
		return "", "", e
	}
	dn, e := root.child("RetainUntilDate", doc)
	if e != nil {
		return "", "", e
	}
	if mn == nil && dn == nil {
		return "", "", nil
	}
	if mn == nil || dn == nil {
		return "", "", malformedDoc(doc, "<Mode> and <RetainUntilDate> must be given together.")
	}
	if mode, e = mn.leafText(doc); e != nil {
		return "", "", e
	}
	if mode != lockGovernance && mode != lockCompliance {
		return "", "", malformedDoc(doc, "<Mode> must be GOVERNANCE or COMPLIANCE.")
	}
	d, e := dn.leafText(doc)
	if e != nil {
		return "", "", e
	}
	until, ok := parseRetainUntil(d)
	if !ok {
		return "", "", s3err.New(http.StatusBadRequest, "InvalidRequest",
			"The retain until date must be in ISO 8601 format, e.g. 2030-01-01T00:00:00Z.")
	}
	return mode, until, nil
}

func marshalRetention(mode, until string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(`<Retention xmlns="` + s3Namespace + `">`)
	if mode != "" {
		writeLeaf(&b, "Mode", mode)
		writeLeaf(&b, "RetainUntilDate", until)
	}
	b.WriteString("</Retention>")
	return b.Bytes()
}

// ParseLegalHold strictly parses a PutObjectLegalHold body:
// <LegalHold><Status>ON|OFF</Status></LegalHold>.
func ParseLegalHold(body []byte) (string, *s3err.Error) {
	const doc = "LegalHold"
	root, e := parseXMLDoc(body, doc)
	if e != nil {
		return "", e
	}
	if e := root.only(doc, "Status"); e != nil {
		return "", e
	}
	sn, e := root.child("Status", doc)
	if e != nil {
		return "", e
	}
	if sn == nil {
		return "", malformedDoc(doc, "<Status> is missing.")
	}
	s, e := sn.leafText(doc)
	if e != nil {
		return "", e
	}
	if s != holdOn && s != holdOff {
		return "", malformedDoc(doc, "<Status> must be ON or OFF.")
	}
	return s, nil
}

func marshalLegalHold(status string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(`<LegalHold xmlns="` + s3Namespace + `">`)
	writeLeaf(&b, "Status", status)
	b.WriteString("</LegalHold>")
	return b.Bytes()
}

// ParseCreateBucketConfiguration strictly parses a CreateBucket body:
// <CreateBucketConfiguration><LocationConstraint>region</LocationConstraint>?</CreateBucketConfiguration>.
// It returns the location constraint, "" when there is none.
func ParseCreateBucketConfiguration(body []byte) (string, *s3err.Error) {
	const doc = "CreateBucketConfiguration"
	root, e := parseXMLDoc(body, doc)
	if e != nil {
		return "", e
	}
	if e := root.only(doc, "LocationConstraint"); e != nil {
		return "", e
	}
	ln, e := root.child("LocationConstraint", doc)
	if e != nil || ln == nil {
		return "", e
	}
	loc, e := ln.leafText(doc)
	if e != nil {
		return "", e
	}
	if loc != strings.TrimSpace(loc) || strings.ContainsFunc(loc, func(r rune) bool { return r < 0x20 || r > 0x7e }) || len(loc) > 64 {
		return "", s3err.New(http.StatusBadRequest, "InvalidLocationConstraint", "The specified location-constraint is not valid.")
	}
	return loc, nil
}

func marshalCreateBucket(loc string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(`<CreateBucketConfiguration xmlns="` + s3Namespace + `">`)
	writeLeaf(&b, "LocationConstraint", loc)
	b.WriteString("</CreateBucketConfiguration>")
	return b.Bytes()
}

// ObjectLockConditions reads the object-lock headers of PutObject,
// CopyObject and CreateMultipartUpload (or the fields of a browser form
// upload, as canonical header names) into the condition values, as the
// store reads them (mode and legal hold in any letter case), and refuses
// values the store would refuse.
func ObjectLockConditions(h http.Header, s3 *authz.S3Context) *s3err.Error {
	if v, ok := headerValue(h, hLockMode); ok {
		switch m := strings.ToUpper(v); m {
		case lockGovernance, lockCompliance:
			s3.ObjectLockMode = authz.V(m)
		default:
			return errInvalidArgument("x-amz-object-lock-mode must be GOVERNANCE or COMPLIANCE.")
		}
	}
	if v, ok := headerValue(h, hLockRetainUntil); ok {
		until, ok := parseRetainUntil(v)
		if !ok {
			return errInvalidArgument("x-amz-object-lock-retain-until-date must be an ISO 8601 date and time, e.g. 2030-01-01T00:00:00Z.")
		}
		s3.ObjectLockRetainUntilDate = authz.V(until)
	}
	if v, ok := headerValue(h, hLegalHold); ok {
		switch s := strings.ToUpper(v); s {
		case holdOn, holdOff:
			s3.ObjectLockLegalHold = authz.V(s)
		default:
			return errInvalidArgument("x-amz-object-lock-legal-hold must be ON or OFF.")
		}
	}
	return nil
}

// Headers read as condition values.
const (
	hGrantFullControl     = "X-Amz-Grant-Full-Control"
	hGrantRead            = "X-Amz-Grant-Read"
	hGrantReadACP         = "X-Amz-Grant-Read-Acp"
	hGrantWrite           = "X-Amz-Grant-Write"
	hGrantWriteACP        = "X-Amz-Grant-Write-Acp"
	hStorageClass         = "X-Amz-Storage-Class"
	hMetadataDirective    = "X-Amz-Metadata-Directive"
	hSSEKMSKeyID          = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
	hSSECustomerAlgorithm = "X-Amz-Server-Side-Encryption-Customer-Algorithm"
	hWebsiteRedirect      = "X-Amz-Website-Redirect-Location"
	hIfMatch              = "If-Match"
	hIfNoneMatch          = "If-None-Match"
)

// HeaderConditions sets the condition values that are request headers
// (ACL and grants, storage class, SSE-KMS key id, SSE-C algorithm, website
// redirect, metadata directive, object ownership, If-Match and
// If-None-Match) for the operations AWS supplies them for. Classify calls
// it; a browser form upload calls it with its fields as headers.
func HeaderConditions(op Operation, h http.Header, s3 *authz.S3Context) {
	set := func(v *authz.Value, name string) {
		if x, ok := headerValue(h, name); ok {
			*v = authz.V(x)
		}
	}
	acl := func() {
		set(&s3.ACL, hACL)
		set(&s3.GrantFullControl, hGrantFullControl)
		set(&s3.GrantRead, hGrantRead)
		set(&s3.GrantReadACP, hGrantReadACP)
		set(&s3.GrantWrite, hGrantWrite)
		set(&s3.GrantWriteACP, hGrantWriteACP)
	}
	switch op {
	case OpPutObject, OpCopyObject, OpCreateMultipartUpload:
		acl()
		set(&s3.StorageClass, hStorageClass)
		set(&s3.SSEKMSKeyID, hSSEKMSKeyID)
		set(&s3.SSECustomerAlgorithm, hSSECustomerAlgorithm)
		set(&s3.WebsiteRedirectLocation, hWebsiteRedirect)
		if op == OpCopyObject {
			set(&s3.MetadataDirective, hMetadataDirective)
		}
	case OpPutObjectAcl:
		acl()
		set(&s3.StorageClass, hStorageClass)
	case OpPutBucketAcl:
		acl()
	case OpCreateBucket:
		acl()
		set(&s3.ObjectOwnership, hObjectOwnership)
	}
	switch op {
	case OpGetObject, OpHeadObject, OpPutObject, OpCopyObject, OpCompleteMultipartUpload:
		set(&s3.IfMatch, hIfMatch)
		set(&s3.IfNoneMatch, hIfNoneMatch)
	}
}
