package proxy

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/sigv4"
)

// hopHeaders are hop-by-hop (RFC 9110 §7.6.1): they describe one
// connection, never the request. They are removed from the client's
// request on the way in and from the store's response on the way out.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// stripHopByHop removes the hop-by-hop headers from r.Header, and every
// header the client named in Connection, before anything reads the
// request: what a client declares hop-by-hop is gone for verification,
// classification, conditions and forwarding alike, so it can never be
// removed after those checks. It returns the canonical names removed
// because Connection named them. The header map is copied before it is
// changed (the server keeps the original, e.g. for Expect).
func stripHopByHop(r *http.Request) (named []string) {
	found := false
	for _, k := range hopHeaders {
		if _, ok := r.Header[k]; ok {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	h := r.Header.Clone()
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			f = textproto.TrimString(f)
			if f == "" {
				continue
			}
			k := http.CanonicalHeaderKey(f)
			if _, ok := h[k]; ok {
				named = append(named, k)
			}
			delete(h, k)
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	r.Header = h
	return named
}

// nonAliases are forwardable headers that a query parameter of the same
// name never stands for: payload framing, and presigned authentication.
var nonAliases = map[string]bool{
	"X-Amz-Content-Sha256":         true,
	"X-Amz-Decoded-Content-Length": true,
	"X-Amz-Trailer":                true,
}

// requestHeader returns the one set of headers that classification,
// policy conditions and the upstream request all read (the store executes
// exactly what was authorized):
//
//   - the client's forwardable headers (sigv4.AllowedHeader), each given at
//     most once: a header given twice is refused, since the store and
//     iamgate could read different copies;
//   - x-amz-* query parameters that name a forwardable header (header
//     aliases: a presigned URL carries headers this way), moved into the
//     headers. The store honours some of them from the query (x-amz-meta-*,
//     x-amz-tagging, x-amz-storage-class) and others only as headers
//     (x-amz-server-side-encryption); as a header each means one thing to
//     iamgate and the store alike. A parameter and a header of the same name
//     with different values are refused.
//
// Every other x-amz-* parameter is neither read nor forwarded (the
// upstream query comes from s3req.Request.UpstreamQuery, which has none).
func requestHeader(in http.Header, rawQuery string) (http.Header, *s3err.Error) {
	n := 0
	for k, vv := range in {
		if sigv4.AllowedHeader(k) {
			n += len(vv)
		}
	}
	out := make(http.Header, n+4)
	vals := make([]string, n)
	for k, vv := range in {
		if !sigv4.AllowedHeader(k) || len(vv) == 0 {
			continue
		}
		if len(vv) > 1 {
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument",
				"Header "+k+" is given more than once; send it once (join list values with commas).")
		}
		m := copy(vals, vv)
		out[k] = vals[:m:m]
		vals = vals[m:]
	}
	if !hasAmzParam(rawQuery) {
		return out, nil
	}
	for rawQuery != "" {
		var seg string
		seg, rawQuery, _ = strings.Cut(rawQuery, "&")
		rk, rv, _ := strings.Cut(seg, "=")
		key, err1 := url.QueryUnescape(rk)
		if err1 != nil || len(key) < 6 || !strings.EqualFold(key[:6], "x-amz-") {
			continue // the classifier refuses a malformed query with a clear error
		}
		val, err2 := url.QueryUnescape(rv)
		if err2 != nil {
			continue
		}
		k := http.CanonicalHeaderKey(key)
		if !sigv4.AllowedHeader(k) || nonAliases[k] {
			continue
		}
		if !validHeaderValue(val) {
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument",
				"Query parameter "+key+" stands for a header and must be a valid header value.")
		}
		if cur, ok := out[k]; ok {
			if cur[0] != val {
				return nil, s3err.New(http.StatusBadRequest, "InvalidArgument",
					"Query parameter "+key+" and header "+k+" are both given, with different values.")
			}
			continue
		}
		out[k] = []string{val}
	}
	return out, nil
}

// hasAmzParam reports whether a raw query may hold an x-amz-* parameter
// (its name may be percent-encoded).
func hasAmzParam(raw string) bool {
	if strings.IndexByte(raw, '%') >= 0 {
		return true
	}
	for i := 0; i+6 <= len(raw); i++ {
		if strings.EqualFold(raw[i:i+6], "x-amz-") {
			return true
		}
	}
	return false
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
