package sigv4

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/iamgate/iamgate/s3err"
)

// ErrMissingSignedHeader is the cause of SignatureDoesNotMatch when a header
// named in SignedHeaders is absent from the request.
var ErrMissingSignedHeader = errors.New("sigv4: a signed header is missing from the request")

func errSignature() *s3err.Error {
	return s3err.New(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

// VerifySignature checks the signature of r, parsed into a by ParseRequest,
// with the caller's secret. It builds its own canonical request (§1.4–§1.7):
// the MinIO-style canonical URI (UriEncode of r.URL.Path keeping '/'), the
// query re-encoded and sorted (X-Amz-Signature left out for presigned
// URLs), and the headers named in a.SignedHeaders with the fallbacks for
// what Go's server moves out of r.Header (host, content-length,
// transfer-encoding, expect). Signatures are compared in constant time.
//
// Before the signature it checks that every x-amz-* header present is
// signed: otherwise AccessDenied "There were headers present in the
// request which were not signed" with a HeadersNotSigned element. The one
// exception is x-amz-content-sha256: its value is bound by the payload
// line of the canonical request for header auth, and for presigned URLs
// the proxy ignores it and uses a.PayloadHash.
//
// A mismatch, or a signed header the request does not carry, is
// SignatureDoesNotMatch (403). The error carries AWSAccessKeyId and
// StringToSign extras (public data), never the canonical request, which
// contains the session token.
func VerifySignature(r *http.Request, a *Auth, secret string) *s3err.Error {
	if names := unsignedAmzHeaders(r.Header, a.SignedHeaders); len(names) > 0 {
		return errUnsignedHeaders(names)
	}
	creq, missing, err := canonicalRequest(r, a)
	if err != nil {
		e := s3err.New(http.StatusBadRequest, "InvalidArgument", "The query string is malformed.")
		e.Cause = err
		return e
	}
	sts := stringToSign(a, creq)
	want := signHex(signingKey(secret, a.ScopeDate, a.Region), sts)
	if missing != "" || subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) != 1 {
		e := errSignature()
		e.Extra = [][2]string{{"AWSAccessKeyId", a.AccessKeyID}, {"StringToSign", sts}}
		if missing != "" {
			e.Cause = ErrMissingSignedHeader
		}
		return e
	}
	return nil
}

// unsignedAmzHeaders lists, sorted, the x-amz-* headers of h that are not
// in signed.
func unsignedAmzHeaders(h http.Header, signed []string) []string {
	var out []string
	for k := range h {
		if len(k) < 6 || !strings.EqualFold(k[:6], "x-amz-") {
			continue
		}
		lk := strings.ToLower(k)
		if lk == "x-amz-content-sha256" {
			continue
		}
		found := false
		for _, s := range signed {
			if s == lk {
				found = true
				break
			}
		}
		if !found {
			out = append(out, lk)
		}
	}
	sort.Strings(out)
	return out
}
