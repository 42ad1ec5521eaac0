package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/sigv4"
)

// v2Kind is how a request was signed with Signature Version 2, for the
// s3:signatureversion and s3:authType condition keys.
type v2Kind uint8

const (
	v2None v2Kind = iota
	v2Header
	v2Query
	v2Post
)

// errSigV2Off answers Signature Version 2 when the generation does not
// accept it.
var errSigV2Off = s3err.New(http.StatusBadRequest, "InvalidRequest",
	"Signature Version 2 is not supported; sign with SigV4 (credentials from iamgate's STS) or send Authorization: Bearer <OIDC token>.")

// sigv2Auth authenticates a request signed with Signature Version 2 (the
// Authorization header "AWS AKID:signature", or query authentication):
// with STS session credentials or a service credential, resolved as for
// SigV4; only the signature differs. Nothing else changes either: the
// request is classified, authorized and forwarded (signed with SigV4 by
// the transport) like any other. Its body is not signed; Content-MD5 and
// x-amz-content-sha256, which the signature covers, are forwarded so the
// store checks the body against them.
func (h *Handler) sigv2Auth(ex *exchange, r *http.Request) (*principalEntry, *s3err.Error) {
	ex.ev.AuthMethod = "sigv2"
	ex.ev.SignatureVersion = "SigV2"
	header := strings.HasPrefix(r.Header.Get("Authorization"), "AWS ")
	ex.v2 = v2Header
	if !header {
		ex.ev.AuthMethod = "sigv2-presigned"
		ex.v2 = v2Query
	}
	// Checked before the request is parsed: a Date named in Connection
	// would otherwise read as a missing date.
	dateSigned := header && len(r.Header.Values("X-Amz-Date")) == 0
	for _, name := range ex.hopNamed {
		if sigv4.V2Signed(name, dateSigned) {
			return nil, h.sigFailure(ex, "hop_by_hop_signed", errHopByHopSigned(name))
		}
	}
	a, serr := sigv4.ParseV2Request(r, ex.start)
	if serr != nil {
		reason := "malformed_signature"
		if errors.Is(serr, sigv4.ErrExpired) {
			reason = "expired"
			serr.Cause = nil // the reason says it; no log line per expired URL
		}
		return nil, h.sigFailure(ex, reason, serr)
	}
	ex.ev.AccessKeyID = a.AccessKeyID
	pe, serr := h.credentialPrincipal(ex, a.AccessKeyID, a.SecurityToken)
	if serr != nil {
		return nil, serr
	}
	bucket, _ := ex.gen.S3.VirtualHostBucket(r.Host)
	if serr := sigv4.VerifyV2Signature(r, a, pe.secret, bucket); serr != nil {
		reason := "bad_signature"
		switch {
		case errors.Is(serr, sigv4.ErrV2Unsigned):
			reason = "unsigned_subresource"
			serr.Cause = nil
		case serr.Code != "SignatureDoesNotMatch":
			reason = "malformed_signature"
		}
		return nil, h.sigFailure(ex, reason, serr)
	}
	if pe.kind == identity.KindShare {
		ex.ev.AuthMethod = "share-link"
	}
	h.fillIdentity(ex, pe)
	return pe, nil
}

// classifyURL is the URL the classifier reads: r's, without the query
// parameters of Signature Version 2 query authentication when the
// generation accepts it. AWSAccessKeyId, Signature and Expires are
// authentication, as the presigned X-Amz-* parameters are: never
// classified, never forwarded. So are the content-type and content-md5
// parameters botocore copies from the headers it signed; the headers are
// what is verified and forwarded. Empty segments are dropped too.
func (ex *exchange) classifyURL(r *http.Request) *url.URL {
	if !ex.gen.SigV2 || !sigv4.V2Query(ex.queryValues(r)) {
		return r.URL
	}
	var b strings.Builder
	for raw := r.URL.RawQuery; raw != ""; {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		k, _, _ := strings.Cut(seg, "=")
		if k, err := url.QueryUnescape(k); err == nil {
			switch k {
			case sigv4.V2AccessKeyParam, sigv4.V2SignatureParam, sigv4.V2ExpiresParam, "content-type", "content-md5":
				continue
			}
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(seg)
	}
	u := *r.URL
	u.RawQuery = b.String()
	return &u
}
