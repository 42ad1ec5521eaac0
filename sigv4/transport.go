package sigv4

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Payload hash values accepted for the X-Amz-Content-Sha256 header of an
// outbound request.
const (
	UnsignedPayload        = "UNSIGNED-PAYLOAD"
	StreamingUnsignedTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256            = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// ErrBadPayloadHash is returned by RoundTrip when the request carries an
// X-Amz-Content-Sha256 value the transport cannot forward.
var ErrBadPayloadHash = errors.New("sigv4: unsupported x-amz-content-sha256 value")

// ErrNoCredentials is returned by Sign (and so by RoundTrip) when the
// transport has no credentials, or only expired ones: the request is not
// sent.
var ErrNoCredentials = errors.New("sigv4: no valid upstream credentials")

// Credentials are the store's access key, used to sign every outbound request.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is sent as X-Amz-Security-Token (signed) when not empty:
	// temporary credentials from an STS.
	SessionToken string
	// Expires is when temporary credentials stop working; from then on the
	// transport refuses to sign with them (ErrNoCredentials). Zero: never.
	Expires time.Time
}

// Transport signs each request with SigV4 and hands it to Base.
//
// Before signing it removes every header that is not on the forwarding
// allowlist (AllowedHeader), so client credentials, hop-by-hop headers and
// unknown x-amz-* headers never reach the store, and nothing unsigned rides
// along. The request's URL must already be path-style with RawPath set to
// the AWS-encoded path: the signer uses it as is (DisableURIPathEscaping).
//
// The payload hash is taken from the request's X-Amz-Content-Sha256 header:
// a 64-hex SHA-256 (the store re-verifies the body against it),
// UNSIGNED-PAYLOAD, or STREAMING-UNSIGNED-PAYLOAD-TRAILER (the aws-chunked
// body passes through and the store checks the trailing checksum). With no
// header, UNSIGNED-PAYLOAD is used for requests with a body and the hash of
// the empty string for requests without one.
type Transport struct {
	Base   http.RoundTripper
	Region string
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time

	creds  atomic.Pointer[Credentials]
	signer outboundSigner
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that signs for region with creds.
func NewTransport(base http.RoundTripper, creds Credentials, region string) *Transport {
	t := &Transport{Base: base, Region: region}
	t.SetCredentials(creds)
	return t
}

// SetCredentials replaces the signing key for requests that start after it
// returns (a rotated upstream secret on reload, or renewed temporary
// credentials). The swap is atomic: a request signs with one consistent
// key, secret and session token.
func (t *Transport) SetCredentials(c Credentials) { t.creds.Store(&c) }

// NewTransportWithoutCredentials returns a Transport that refuses to sign
// (ErrNoCredentials) until SetCredentials is called.
func NewTransportWithoutCredentials(base http.RoundTripper, region string) *Transport {
	return &Transport{Base: base, Region: region}
}

// RoundTrip implements http.RoundTripper. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	if err := t.Sign(out.Context(), out); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.Base.RoundTrip(out)
}

// RoundTripOwned is RoundTrip for a request built for this one call and
// not used again by the caller: it filters and signs req in place rather
// than a copy of it.
func (t *Transport) RoundTripOwned(req *http.Request) (*http.Response, error) {
	if err := t.Sign(req.Context(), req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.Base.RoundTrip(req)
}

// Sign filters and signs req in place. The signature is the one
// aws-sdk-go-v2's v4 signer computes with DisableURIPathEscaping; like it,
// Sign sets X-Amz-Date (and X-Amz-Security-Token), rewrites URL.RawQuery to
// the canonical query and drops a default port from the host.
func (t *Transport) Sign(ctx context.Context, req *http.Request) error {
	payload, err := payloadHash(req)
	if err != nil {
		return err
	}
	FilterHeaders(req.Header)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	c := t.creds.Load()
	at := now()
	if c == nil || !c.Expires.IsZero() && !at.Before(c.Expires) {
		return ErrNoCredentials
	}
	t.signer.sign(req, c, payload, t.Region, at)
	return nil
}

func payloadHash(req *http.Request) (string, error) {
	v := req.Header.Get("X-Amz-Content-Sha256")
	switch {
	case v == "":
		if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
			return emptySHA256, nil
		}
		return UnsignedPayload, nil
	case v == UnsignedPayload, v == StreamingUnsignedTrail:
		return v, nil
	case isHexSHA256(v):
		return v, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadPayloadHash, v)
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// exactHeaders are forwarded by exact (canonical) name.
var exactHeaders = map[string]bool{
	"Content-Type":                       true,
	"Content-Disposition":                true,
	"Content-Language":                   true,
	"Content-Encoding":                   true,
	"Content-Md5":                        true,
	"Cache-Control":                      true,
	"Expires":                            true,
	"Range":                              true,
	"If-Match":                           true,
	"If-None-Match":                      true,
	"If-Modified-Since":                  true,
	"If-Unmodified-Since":                true,
	"Expect":                             true,
	"Origin":                             true, // the store answers with its CORS grants for it
	"Accept-Encoding":                    true,
	"X-Amz-Content-Sha256":               true,
	"X-Amz-Acl":                          true,
	"X-Amz-Storage-Class":                true,
	"X-Amz-Tagging":                      true,
	"X-Amz-Tagging-Directive":            true,
	"X-Amz-Metadata-Directive":           true,
	"X-Amz-Copy-Source":                  true,
	"X-Amz-Copy-Source-Range":            true,
	"X-Amz-Bypass-Governance-Retention":  true,
	"X-Amz-Sdk-Checksum-Algorithm":       true,
	"X-Amz-Checksum-Algorithm":           true,
	"X-Amz-Checksum-Type":                true,
	"X-Amz-Checksum-Mode":                true,
	"X-Amz-Expected-Bucket-Owner":        true,
	"X-Amz-Request-Payer":                true,
	"X-Amz-Website-Redirect-Location":    true,
	"X-Amz-Write-Offset-Bytes":           true,
	"X-Amz-Decoded-Content-Length":       true,
	"X-Amz-Trailer":                      true,
	"X-Amz-Bucket-Object-Lock-Enabled":   true,
	"X-Amz-Object-Ownership":             true,
	"X-Amz-Mp-Object-Size":               true,
	"X-Amz-Mp-Parts-Count":               true,
	"X-Amz-Object-Attributes":            true,
	"X-Amz-Max-Parts":                    true,
	"X-Amz-Part-Number-Marker":           true,
	"X-Amz-Expected-Source-Bucket-Owner": true,
}

// prefixHeaders are forwarded when the canonical name starts with one of them.
var prefixHeaders = []string{
	"X-Amz-Meta-",
	"X-Amz-Grant-",
	"X-Amz-Copy-Source-If-",
	"X-Amz-Copy-Source-Server-Side-Encryption-",
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Object-Lock-",
	"X-Amz-Checksum-",
}

// AllowedHeader reports whether a header with the canonical name may be
// forwarded to the store.
func AllowedHeader(name string) bool {
	if exactHeaders[name] {
		return true
	}
	for _, p := range prefixHeaders {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ProxyHeaders are set by the proxy itself, never taken from a client:
// FilterHeaders keeps them, AllowedHeader does not admit them.
var ProxyHeaders = map[string]bool{"X-Forwarded-For": true}

// FilterHeaders deletes every header that neither AllowedHeader nor
// ProxyHeaders admits. Connection is not on the list, so nothing it names
// is treated specially: the proxy strips hop-by-hop headers on the way in,
// before any check, and builds the outbound headers from what it checked.
func FilterHeaders(h http.Header) {
	for name := range h {
		if !AllowedHeader(name) && !ProxyHeaders[name] {
			delete(h, name)
		}
	}
}
