package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// conditionRequest returns the authorization question of a classified
// request without its action and resource: the global keys and the S3
// keys, each from where the store will honour it or from how iamgate
// itself received the request.
func conditionRequest(ex *exchange, r *http.Request, req *s3req.Request) authz.Request {
	ar := authz.Request{
		SourceIP:        ex.sourceIP,
		SecureTransport: ex.secure,
		Time:            ex.start,
		UserAgent:       r.UserAgent(),
		S3:              req.S3,
	}
	if ref := r.Referer(); ref != "" {
		ar.Referer = authz.V(ref)
	}
	ar.S3.SignatureVersion, ar.S3.AuthType = authContext(ex, req)
	if ex.sig != nil {
		// What the signature covers: a presigned URL signs no payload.
		ar.S3.ContentSHA256 = authz.V(ex.sig.PayloadHash)
	}
	if r.TLS != nil {
		ar.S3.TLSVersion = tlsVersion(r.TLS.Version)
	}
	return ar
}

// Values of s3:signatureversion and s3:authType.
var (
	sigVersion4     = authz.V("AWS4-HMAC-SHA256")
	sigVersion2     = authz.V("AWS")
	authRESTHeader  = authz.V("REST-HEADER")
	authRESTQuery   = authz.V("REST-QUERY-STRING")
	authBrowserPost = authz.V("POST")
)

// authContext returns s3:signatureversion and s3:authType for how the
// request was authenticated: a SigV4 or Signature Version 2 ("AWS")
// Authorization header, a presigned URL (share links too), or a browser
// form upload. Bearer tokens and
// browser sessions are not AWS signatures: both keys are absent.
func authContext(ex *exchange, req *s3req.Request) (authz.Value, authz.Value) {
	switch {
	case ex.v2 != v2None && req.Op == s3req.OpPostObject:
		return sigVersion2, authBrowserPost
	case req.Op == s3req.OpPostObject:
		return sigVersion4, authBrowserPost
	case ex.v2 == v2Query:
		return sigVersion2, authRESTQuery
	case ex.v2 != v2None:
		return sigVersion2, authRESTHeader
	case ex.sig == nil:
		return authz.Value{}, authz.Value{}
	case ex.sig.Type == sigv4.AuthPresigned:
		return sigVersion4, authRESTQuery
	}
	return sigVersion4, authRESTHeader
}

// tlsVersion is s3:TlsVersion for a TLS connection, as AWS writes it.
func tlsVersion(v uint16) authz.Value {
	switch v {
	case tls.VersionTLS13:
		return authz.V("1.3")
	case tls.VersionTLS12:
		return authz.V("1.2")
	case tls.VersionTLS11:
		return authz.V("1.1")
	case tls.VersionTLS10:
		return authz.V("1.0")
	}
	return authz.Value{}
}

// errConditionUnavailable answers a request whose authorization could not
// be decided because the object's tags could not be read from the store.
var errConditionUnavailable = s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
	"The request could not be authorized: a policy condition reads the object's tags, which could not be read from the storage service. Please retry.")

// tagLookupTimeout bounds the request for an object's tags.
const tagLookupTimeout = 10 * time.Second

// maxTaggingAnswer bounds the store's GetObjectTagging answer.
const maxTaggingAnswer = 64 << 10

// tagLookup supplies s3:ExistingObjectTag/<key> for one object of one
// request: it asks the store (GetObjectTagging with iamgate's own
// credentials, through the signing transport) the first time a condition
// needs the tags, and keeps the answer for the rest of the request only.
type tagLookup struct {
	h    *Handler
	ctx  context.Context
	ref  s3req.ObjectRef
	done bool
	tags authz.TagSet
	err  error
}

var _ authz.TagSource = (*tagLookup)(nil)

// ObjectTags implements authz.TagSource.
func (t *tagLookup) ObjectTags() (authz.TagSet, error) {
	if !t.done {
		t.done = true
		t.tags, t.err = t.h.fetchTags(t.ctx, t.ref)
	}
	return t.tags, t.err
}

// tagSources hands out the tag lookups of one request, one per object.
type tagSources struct {
	h       *Handler
	ctx     context.Context
	lookups []*tagLookup
}

// forCheck returns the tag source of check c: nil where
// s3:ExistingObjectTag is absent, or where no statement that applies to
// c's action reads it (known when the policies were compiled, so nothing
// is set up for the common request).
func (ts *tagSources) forCheck(p *authz.Principal, req *s3req.Request, c s3req.Check) authz.TagSource {
	ref := req.ExistingTagsOf(c)
	if ref == nil || !p.ReadsExistingObjectTags(c.Action) {
		return nil
	}
	for _, l := range ts.lookups {
		if l.ref == *ref {
			return l
		}
	}
	l := &tagLookup{h: ts.h, ctx: ts.ctx, ref: *ref}
	ts.lookups = append(ts.lookups, l)
	return l
}

// fetchTags asks the store for the current tags of ref. An object (or
// version) that does not exist has no tags; any other failure is an
// error, which makes a condition on the tags undecidable.
func (h *Handler) fetchTags(ctx context.Context, ref s3req.ObjectRef) (authz.TagSet, error) {
	ctx, cancel := context.WithTimeout(ctx, tagLookupTimeout)
	defer cancel()
	up := h.cfg.Upstream
	path := "/" + ref.Bucket + "/" + ref.Key
	query := "tagging="
	if ref.VersionID != "" {
		query += "&versionId=" + strings.ReplaceAll(url.QueryEscape(ref.VersionID), "+", "%20")
	}
	out := (&http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: up.Scheme, Host: up.Host, Path: path, RawPath: s3req.UriEncodePath(path), RawQuery: query},
		Proto:  "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{},
		Host:   up.Host,
	}).WithContext(ctx)
	res, err := h.cfg.Transport.RoundTrip(out)
	if err != nil {
		return authz.TagSet{}, fmt.Errorf("GetObjectTagging: %w", err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// No such object, version or bucket, or a delete marker: no tags.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxTaggingAnswer))
		return authz.TagSet{}, nil
	default:
		return authz.TagSet{}, fmt.Errorf("GetObjectTagging: the storage service answered %s", res.Status)
	}
	body, err := readLimited(res.Body, maxTaggingAnswer)
	if err != nil {
		return authz.TagSet{}, fmt.Errorf("GetObjectTagging: reading the answer: %w", err)
	}
	tags, serr := s3req.ParseStoredTagging(body)
	if serr != nil {
		return authz.TagSet{}, fmt.Errorf("GetObjectTagging: unreadable answer: %s", serr.Message)
	}
	return tags, nil
}

// readConditionBody reads the body of a request whose document holds
// condition values (s3req.Request.Body), bounded and verified against the
// digests the client sent for it, lets the classification parse it, and
// returns the document to forward in place of the client's (see
// s3req.Request.ApplyBody). A nil result with no error means the request
// goes without a body.
func readConditionBody(r *http.Request, hdr http.Header, req *s3req.Request) ([]byte, *s3err.Error) {
	what := req.Body.String()
	if p := hdr.Get("X-Amz-Content-Sha256"); strings.HasPrefix(p, "STREAMING-") {
		return nil, s3err.New(http.StatusBadRequest, "InvalidRequest",
			"Send the "+what+" document as a plain body, not aws-chunked: iamgate reads it to authorize the request.")
	}
	if r.ContentLength > s3req.MaxConditionBody {
		return nil, errBodyTooLarge(what)
	}
	var data []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if data, err = readLimited(r.Body, s3req.MaxConditionBody); err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, errBodyTooLarge(what)
			}
			return nil, s3err.New(http.StatusBadRequest, "IncompleteBody", "The request body could not be read.")
		}
	}
	if serr := verifyBodyDigests(hdr, data); serr != nil {
		return nil, serr
	}
	return req.ApplyBody(data)
}

func errBodyTooLarge(what string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "MaxMessageLengthExceeded",
		fmt.Sprintf("The %s document is larger than %d bytes.", what, s3req.MaxConditionBody))
}
