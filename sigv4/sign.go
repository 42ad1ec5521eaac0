package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The outbound signer. It signs exactly as aws-sdk-go-v2's v4.Signer.SignHTTP
// does with DisableURIPathEscaping (the tests compare the two byte for
// byte), but derives the signing key once per day and credentials, and
// builds the canonical request in a reused buffer.
//
// What SignHTTP does, and so what sign does:
//   - sets X-Amz-Date and, with a session token, X-Amz-Security-Token;
//   - strips a default port (80 for http, 443 for https) from the host;
//   - re-encodes the query (parsed as url.URL.Query does, sorted by key then
//     value, QueryEscape with %20 for spaces) and writes it back to
//     URL.RawQuery;
//   - signs host, content-length when ContentLength > 0, and every header
//     but Authorization, User-Agent, X-Amzn-Trace-Id, Expect and
//     Transfer-Encoding; values are stripped of runs of spaces and trimmed;
//   - uses URL.EscapedPath as the canonical URI.

// sdkIgnoredHeaders are the headers the SDK signer never signs.
var sdkIgnoredHeaders = map[string]bool{
	"Authorization":     true,
	"User-Agent":        true,
	"X-Amzn-Trace-Id":   true,
	"Expect":            true,
	"Transfer-Encoding": true,
}

// lowerNames holds the lower-case form of the headers the transport
// forwards by exact name, so signing them allocates nothing.
var lowerNames = func() map[string]string {
	m := make(map[string]string, len(exactHeaders)+4)
	for k := range exactHeaders {
		m[k] = strings.ToLower(k)
	}
	for _, k := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Forwarded-For"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

func lowerName(k string) string {
	if l, ok := lowerNames[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

// derivedKey is the signing key of one day, for one set of credentials.
type derivedKey struct {
	creds *Credentials
	date  string // yyyymmdd
	// scope is "<access key>/<date>/<region>/s3/aws4_request".
	credential string
	key        []byte
	macs       sync.Pool // of hash.Hash: HMAC-SHA256 keyed with key
}

// sign returns the hex HMAC of stringToSign with the signing key.
func (k *derivedKey) sign(stringToSign []byte) [2 * sha256.Size]byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.key)
	} else {
		m.Reset()
	}
	m.Write(stringToSign)
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], m.Sum(sum[:0]))
	k.macs.Put(m)
	return out
}

// amzDate caches the formatted signing time of the current second.
type amzDate struct {
	unix int64
	s    string
}

// signScratch is the per-request working memory of sign.
type signScratch struct {
	buf     []byte
	headers []signedHeader
}

type signedHeader struct {
	lower string
	key   string
	vals  []string
}

var scratchPool = sync.Pool{New: func() any {
	return &signScratch{buf: make([]byte, 0, 1024), headers: make([]signedHeader, 0, 16)}
}}

// outboundSigner holds the caches of one Transport.
type outboundSigner struct {
	key  atomic.Pointer[derivedKey]
	date atomic.Pointer[amzDate]
}

func (s *outboundSigner) derive(c *Credentials, date, region string) *derivedKey {
	if k := s.key.Load(); k != nil && k.creds == c && k.date == date {
		return k
	}
	key := hmacSHA256([]byte("AWS4"+c.SecretAccessKey), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, serviceS3)
	key = hmacSHA256(key, scopeTerminal)
	k := &derivedKey{creds: c, date: date, key: key,
		credential: c.AccessKeyID + "/" + date + "/" + region + "/" + serviceS3 + "/" + scopeTerminal}
	s.key.Store(k)
	return k
}

func (s *outboundSigner) amzDate(now time.Time) string {
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.unix == sec {
		return d.s
	}
	d := &amzDate{unix: sec, s: now.Format(iso8601)}
	s.date.Store(d)
	return d.s
}

// sign signs req in place for region with c at now, with payload as the
// payload hash.
func (s *outboundSigner) sign(req *http.Request, c *Credentials, payload, region string, now time.Time) {
	now = now.UTC()
	date := s.amzDate(now)
	k := s.derive(c, date[:8], region)

	h := req.Header
	h["X-Amz-Date"] = append(h["X-Amz-Date"][:0], date)
	if c.SessionToken != "" {
		h["X-Amz-Security-Token"] = append(h["X-Amz-Security-Token"][:0], c.SessionToken)
	}
	sanitizeHost(req)
	host := req.URL.Host
	if req.Host != "" {
		host = req.Host
	}
	if req.URL.RawQuery != "" {
		req.URL.RawQuery = sdkQuery(req.URL.RawQuery)
	}

	sc := scratchPool.Get().(*signScratch)
	hs := sc.headers[:0]
	hs = append(hs, signedHeader{lower: "host"})
	if req.ContentLength > 0 {
		hs = append(hs, signedHeader{lower: "content-length"})
	}
	for key, vals := range h {
		if sdkIgnoredHeaders[key] || strings.EqualFold(key, "content-length") {
			continue
		}
		lower := lowerName(key)
		if lower == "host" {
			continue // the SDK writes only the request's host
		}
		hs = append(hs, signedHeader{lower: lower, key: key, vals: vals})
	}
	slices.SortFunc(hs, func(a, b signedHeader) int {
		if c := strings.Compare(a.lower, b.lower); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})

	b := sc.buf[:0]
	b = append(b, req.Method...)
	b = append(b, '\n')
	b = appendURIPath(b, req.URL)
	b = append(b, '\n')
	b = append(b, req.URL.RawQuery...)
	b = append(b, '\n')
	for i := 0; i < len(hs); i++ {
		hd := hs[i]
		b = append(b, hd.lower...)
		b = append(b, ':')
		switch hd.lower {
		case "host":
			b = append(b, stripExcessSpaces(host)...)
		case "content-length":
			b = strconv.AppendInt(b, req.ContentLength, 10)
		default:
			vals := hd.vals
			// Keys that differ only in case are one header to the SDK.
			for i+1 < len(hs) && hs[i+1].lower == hd.lower {
				i++
				vals = append(vals[:len(vals):len(vals)], hs[i].vals...)
			}
			for j, v := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, strings.TrimSpace(stripExcessSpaces(v))...)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedStart := len(b)
	for i, hd := range hs {
		if i > 0 && hd.lower == hs[i-1].lower {
			continue
		}
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, hd.lower...)
	}
	signedEnd := len(b)
	b = append(b, '\n')
	b = append(b, payload...)
	creqSum := sha256.Sum256(b)

	stsStart := len(b)
	b = append(b, algorithm+"\n"...)
	b = append(b, date...)
	b = append(b, '\n')
	b = append(b, k.credential[len(c.AccessKeyID)+1:]...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, creqSum[:])
	sig := k.sign(b[stsStart:])

	signedHeaders := b[signedStart:signedEnd]
	var auth strings.Builder
	auth.Grow(len(algorithm) + len(" Credential=") + len(k.credential) +
		len(", SignedHeaders=") + len(signedHeaders) + len(", Signature=") + len(sig))
	auth.WriteString(algorithm + " Credential=")
	auth.WriteString(k.credential)
	auth.WriteString(", SignedHeaders=")
	auth.Write(signedHeaders)
	auth.WriteString(", Signature=")
	auth.Write(sig[:])
	h["Authorization"] = append(h["Authorization"][:0], auth.String())

	if cap(b) <= 64<<10 {
		sc.buf = b[:0]
		clear(hs)
		sc.headers = hs[:0]
		scratchPool.Put(sc)
	}
}

// sdkQuery is the query as the SDK signer canonicalizes and sends it: parsed
// like url.URL.Query (malformed pairs are dropped), each key and value
// QueryEscaped with %20 for a space, sorted by key, then value.
func sdkQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	return encodedQuery(q, "", false)
}

// appendURIPath appends the canonical URI the SDK signer uses without
// path escaping: the path of an opaque URL, else EscapedPath, "/" if empty.
func appendURIPath(b []byte, u *url.URL) []byte {
	var p string
	if u.Opaque != "" {
		o := u.Opaque
		if i := strings.Index(o, "?"); i >= 0 {
			o = o[:i]
		}
		o = strings.TrimPrefix(o, "//")
		if i := strings.Index(o, "/"); i >= 0 {
			p = o[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	return append(b, p...)
}

// stripExcessSpaces trims spaces at both ends and collapses inner runs of
// spaces to one, as the SDK signer does (spaces only, not other white space).
func stripExcessSpaces(s string) string {
	j := len(s) - 1
	for j >= 0 && s[j] == ' ' {
		j--
	}
	k := 0
	for k < j && s[k] == ' ' {
		k++
	}
	s = s[k : j+1]
	i := strings.Index(s, "  ")
	if i < 0 {
		return s
	}
	buf := []byte(s)
	m, spaces := i, 0
	for k := i; k < len(buf); k++ {
		if buf[k] == ' ' {
			if spaces == 0 {
				buf[m] = buf[k]
				m++
			}
			spaces++
		} else {
			spaces = 0
			buf[m] = buf[k]
			m++
		}
	}
	return string(buf[:m])
}

// sanitizeHost strips a default port from the request's host, as the SDK
// signer does (it changes req.Host).
func sanitizeHost(r *http.Request) {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	port := portOnly(host)
	if port != "" && isDefaultPort(r.URL.Scheme, port) {
		r.Host = stripPort(host)
	}
}

func stripPort(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return hostport
	}
	if i := strings.IndexByte(hostport, ']'); i != -1 {
		return strings.TrimPrefix(hostport[:i], "[")
	}
	return hostport[:colon]
}

func portOnly(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return ""
	}
	if i := strings.Index(hostport, "]:"); i != -1 {
		return hostport[i+len("]:"):]
	}
	if strings.Contains(hostport, "]") {
		return ""
	}
	return hostport[colon+len(":"):]
}

func isDefaultPort(scheme, port string) bool {
	scheme = strings.ToLower(scheme)
	return scheme == "http" && port == "80" || scheme == "https" && port == "443"
}
