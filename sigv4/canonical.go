package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const upperhex = "0123456789ABCDEF"

// uriEncode is the S3 UriEncode: every byte except A–Z a–z 0–9 - . _ ~ is
// percent-encoded with upper-case hex; '/' is kept when keepSlash is set.
func uriEncode(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i], keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c, keepSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
	return b.String()
}

func unreserved(c byte, keepSlash bool) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '.', c == '_', c == '~':
		return true
	case c == '/':
		return keepSlash
	}
	return false
}

// EncodePath returns the AWS encoding of a decoded path ('/' kept). The
// proxy uses it for the outbound URL.RawPath, so the path it sends is the
// one it canonicalizes.
func EncodePath(p string) string { return uriEncode(p, true) }

// canonicalURI is the MinIO-style canonical URI: UriEncode of the decoded
// path (Go has already percent-decoded r.URL.Path; '+' stays literal).
func canonicalURI(r *http.Request) string {
	p := r.URL.Path
	if p == "" {
		return "/"
	}
	return uriEncode(p, true)
}

// canonicalQuery re-encodes every parameter, sorts by key then value and
// joins with '&'; a key without value becomes "key=". skip names a
// parameter to leave out (X-Amz-Signature for presigned URLs).
func canonicalQuery(raw, skip string) (string, error) {
	if raw == "" {
		return "", nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", err
	}
	return encodedQuery(q, skip, true), nil
}

// encodedQuery is q with every key and value URI-encoded, sorted by key
// and then value, joined with & — the canonical query string. With
// skipOne, the key skip is left out.
func encodedQuery(q url.Values, skip string, skipOne bool) string {
	type kv struct{ k, v string }
	n := 0
	for _, vs := range q {
		n += len(vs)
	}
	params := make([]kv, 0, n)
	size := 0
	for k, vs := range q {
		if skipOne && k == skip {
			continue
		}
		ek := uriEncode(k, false)
		for _, v := range vs {
			p := kv{ek, uriEncode(v, false)}
			params = append(params, p)
			size += len(p.k) + len(p.v) + 2
		}
	}
	slices.SortFunc(params, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	b.Grow(size)
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// headerValues returns the values of a signed header, with the fallbacks
// for what Go's server moves out of r.Header. ok is false when the request
// does not carry the header at all.
func headerValues(r *http.Request, name string) (vals []string, ok bool) {
	switch name {
	case "host":
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		return []string{h}, h != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v, true
		}
		return []string{strconv.FormatInt(r.ContentLength, 10)}, true
	case "transfer-encoding":
		if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
			return v, true
		}
		return []string{strings.Join(r.TransferEncoding, ",")}, len(r.TransferEncoding) > 0
	case "expect":
		if v := r.Header.Values("Expect"); len(v) > 0 {
			return v, true
		}
		// Older Go servers removed Expect; MinIO assumes this value.
		return []string{"100-continue"}, true
	}
	v, ok := r.Header[http.CanonicalHeaderKey(name)]
	return v, ok
}

// trimAll trims s and collapses inner runs of ASCII whitespace to one
// space. Only ASCII whitespace counts, as in the SDK signers: MinIO's
// strings.Fields would also fold U+00A0 and U+0085.
func trimAll(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) && (c != ' ' || i == 0 || i == len(s)-1 || s[i+1] == ' ' || s[i+1] == '\t') {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			space = len(b) > 0
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return string(b)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// canonicalRequest builds the canonical request of r for a. missing names
// a signed header the request does not carry ("" when all are present).
func canonicalRequest(r *http.Request, a *Auth) (creq string, missing string, err error) {
	skip := ""
	if a.Type == AuthPresigned {
		skip = qSignature
	}
	query, err := canonicalQuery(r.URL.RawQuery, skip)
	if err != nil {
		return "", "", err
	}
	names := a.SignedHeaders
	if !sort.StringsAreSorted(names) {
		names = append([]string(nil), names...)
		sort.Strings(names)
	}
	var b strings.Builder
	b.Grow(256 + len(r.URL.Path) + len(query))
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, n := range names {
		vals, ok := headerValues(r, n)
		if !ok && missing == "" {
			missing = n
		}
		b.WriteString(n)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(n)
	}
	b.WriteByte('\n')
	b.WriteString(a.PayloadHash)
	return b.String(), missing, nil
}

// stringToSign is "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(creq)>".
func stringToSign(a *Auth, creq string) string {
	sum := sha256.Sum256([]byte(creq))
	return algorithm + "\n" + a.amzDate() + "\n" + a.scope() + "\n" + hex.EncodeToString(sum[:])
}

// hmacSHA256 returns HMAC-SHA256(key, data).
func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signHex returns hex(HMAC(key, s)).
func signHex(key []byte, s string) string {
	return hex.EncodeToString(hmacSHA256(key, s))
}

// keyCacheSize bounds the signing-key cache. A key is valid for one day
// and one region, so live entries are few; when the cache is full it is
// emptied rather than tracked entry by entry.
const keyCacheSize = 1024

type keyCacheKey struct{ secret, date, region string }

// signingKeys caches derived signing keys. It is the one piece of
// package state: VerifySignature and the chunk readers are plain
// functions, and deriving a key costs four HMACs per request otherwise.
var signingKeys = struct {
	sync.Mutex
	m map[keyCacheKey][]byte
}{m: make(map[keyCacheKey][]byte)}

// signingKey returns HMAC chain AWS4+secret → date → region → s3 → aws4_request.
func signingKey(secret, date, region string) []byte {
	k := keyCacheKey{secret, date, region}
	signingKeys.Lock()
	key, ok := signingKeys.m[k]
	signingKeys.Unlock()
	if ok {
		return key
	}
	key = hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, serviceS3)
	key = hmacSHA256(key, scopeTerminal)
	signingKeys.Lock()
	if len(signingKeys.m) >= keyCacheSize {
		clear(signingKeys.m)
	}
	signingKeys.m[k] = key
	signingKeys.Unlock()
	return key
}
