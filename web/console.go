package web

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3req"
)

// consolePageSize is the max-keys of a console listing.
const consolePageSize = 100

// maxListingBytes bounds a listing response read from the proxy.
const maxListingBytes = 8 << 20

// serveConsole serves /_iamgate/ui/ (the buckets) and
// /_iamgate/ui/b/<bucket>/<prefix> (a listing).
func (s *Service) serveConsole(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/_iamgate/ui/")
	sess, token, err := s.Session(w, r)
	if err != nil || sess == nil {
		op := "ListObjectsV2"
		if rest == "" {
			op = "ListBuckets"
		}
		if sessionUnavailable(err) {
			// Not a redirect to sign in: the new session could not be
			// checked either.
			if ev := refusedEvent(audit.KindAuthFailure, op, http.StatusServiceUnavailable, err); ev != nil {
				s.logEvent(r, ev)
			}
			s.renderer.errorPage(w, http.StatusServiceUnavailable, "Try again shortly",
				"Your session cannot be checked right now. Try again in a moment.")
			return
		}
		if ev := refusedEvent(audit.KindAuthFailure, op, http.StatusFound, err); ev != nil {
			s.logEvent(r, ev)
		}
		rd := r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			rd += "?" + r.URL.RawQuery
		}
		s.clearSessionCookie(w, r)
		http.Redirect(w, r, s.LoginPath(rd), http.StatusFound)
		return
	}
	d := &pageData{Who: whoFor(sess), CSRF: identity.CSRFToken(sess), Lifetimes: lifetimeChoices()}
	if rest == "" {
		d.Title = "Buckets"
		s.listBuckets(r, sess, token, d)
		s.renderer.page(w, http.StatusOK, "buckets.html", d)
		return
	}
	if rest == "delegations" {
		s.serveDelegations(w, r, sess, d)
		return
	}
	if rest == "access" {
		s.serveAccess(w, r, sess, d)
		return
	}
	if rest == "go" {
		target := strings.TrimLeft(r.URL.Query().Get("path"), "/")
		b, pfx, _ := strings.Cut(target, "/")
		if !validBucket(b) {
			s.renderer.errorPage(w, http.StatusNotFound, "Not found", "Enter a bucket name, optionally followed by /folder/.")
			return
		}
		http.Redirect(w, r, uiPath(b, pfx), http.StatusFound)
		return
	}
	if !strings.HasPrefix(rest, "b/") {
		s.renderer.errorPage(w, http.StatusNotFound, "Not found", "There is no such page in the console.")
		return
	}
	rawBucket, rawPrefix, _ := strings.Cut(strings.TrimPrefix(rest, "b/"), "/")
	bucket, err1 := url.PathUnescape(rawBucket)
	prefix, err2 := url.PathUnescape(rawPrefix)
	if err1 != nil || err2 != nil || !validBucket(bucket) {
		s.renderer.errorPage(w, http.StatusNotFound, "Not found", "The address does not name a bucket.")
		return
	}
	d.Title = bucket + "/" + prefix
	d.Bucket, d.Prefix = bucket, prefix
	d.Crumbs = crumbs(bucket, prefix)
	s.listObjects(r, token, d, r.URL.Query().Get("token"))
	s.renderer.page(w, http.StatusOK, "objects.html", d)
}

func whoFor(sess *identity.Session) *whoami {
	w := &whoami{Subject: sess.Subject, Issuer: sess.Issuer, Username: authz.Username(sess.Claims, sess.Subject),
		Roles: strings.Join(sess.Roles, ", "), Expiry: sess.Expiry.UTC().Format(time.RFC3339),
		ExpiryText: sess.Expiry.UTC().Format("2006-01-02 15:04 UTC")}
	if e, ok := sess.Claims["email"].(string); ok {
		w.Email = e
	}
	return w
}

func lifetimeChoices() []lifetimeChoice {
	var out []lifetimeChoice
	for _, l := range ShareLifetimes {
		out = append(out, lifetimeChoice{Value: l.String(), Label: humanDuration(l), Selected: l == time.Hour})
	}
	return out
}

// uiPath is the console address of bucket and prefix.
func uiPath(bucket, prefix string) string {
	return "/_iamgate/ui/b" + s3req.UriEncodePath("/"+bucket+"/"+prefix)
}

// objectPath is the S3 address of an object, escaped so that the proxy
// decodes it back to exactly key.
func objectPath(bucket, key string) string {
	return s3req.UriEncodePath("/" + bucket + "/" + key)
}

func crumbs(bucket, prefix string) []crumb {
	out := []crumb{{Name: "Buckets", Href: "/_iamgate/ui/"}, {Name: bucket, Href: uiPath(bucket, "")}}
	acc := ""
	for _, seg := range strings.SplitAfter(prefix, "/") {
		if seg == "" {
			continue
		}
		acc += seg
		out = append(out, crumb{Name: strings.TrimSuffix(seg, "/"), Href: uiPath(bucket, acc)})
	}
	out[len(out)-1].Current = true
	return out
}

// s3Get runs a GET through the proxy as the person r is signed in as,
// with the session cookie token (as renewed by this request), so the
// request is authorized and audited like any other.
func (s *Service) s3Get(r *http.Request, token, path string, q url.Values) (int, []byte) {
	u := &url.URL{Path: path, RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20")}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Host, req.RemoteAddr, req.TLS = r.Host, r.RemoteAddr, r.TLS
	for _, h := range []string{"User-Agent", "X-Forwarded-For", "X-Forwarded-Proto"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set("Cookie", s.cfg.CookieName+"="+token)
	req.Header.Set("Accept", "application/xml")
	bw := &bufferWriter{h: http.Header{}, limit: maxListingBytes}
	s.cfg.S3.ServeHTTP(bw, req)
	if bw.code == 0 {
		bw.code = http.StatusOK
	}
	return bw.code, bw.buf.Bytes()
}

// bufferWriter is the http.ResponseWriter of an internal request.
type bufferWriter struct {
	h     http.Header
	code  int
	buf   bytes.Buffer
	limit int
}

func (b *bufferWriter) Header() http.Header { return b.h }
func (b *bufferWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	if b.buf.Len()+len(p) > b.limit {
		return 0, http.ErrContentLength
	}
	return b.buf.Write(p)
}

type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// errorMessage is the human-readable Message of an S3 error document.
func errorMessage(status int, body []byte) string {
	var e s3Error
	if xml.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return "The request failed (HTTP " + http.StatusText(status) + ")."
}

type listBucketsResult struct {
	Buckets []struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
	} `xml:"Buckets>Bucket"`
}

// listBuckets fills d.Buckets with the buckets ListBuckets returns that
// the person may list (s3:ListBucket allowed without a prefix condition).
func (s *Service) listBuckets(r *http.Request, sess *identity.Session, token string, d *pageData) {
	status, body := s.s3Get(r, token, "/", nil)
	if status != http.StatusOK {
		d.Denied = errorMessage(status, body)
		return
	}
	var res listBucketsResult
	if err := xml.Unmarshal(body, &res); err != nil {
		d.Denied = "The bucket list could not be read."
		return
	}
	p := s.principal(sess)
	ar := authz.Request{Action: authz.Action("s3:ListBucket"), SourceIP: s.clientIP(r), SecureTransport: s.secure(r),
		Time: s.cfg.Now(), UserAgent: r.UserAgent()}
	for _, b := range res.Buckets {
		ar.Resource = "arn:aws:s3:::" + b.Name
		if p == nil || !s.cfg.Engine.Authorize(p, &ar).Allowed {
			d.Hidden++
			continue
		}
		d.Buckets = append(d.Buckets, bucketRow{Name: b.Name, Href: uiPath(b.Name, ""), Created: shortTime(b.CreationDate)})
	}
}

type listObjectsResult struct {
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	EncodingType          string `xml:"EncodingType"`
	Contents              []struct {
		Key          string `xml:"Key"`
		LastModified string `xml:"LastModified"`
		Size         int64  `xml:"Size"`
	} `xml:"Contents"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
}

// listObjects fills d with one page of ListObjectsV2 under d.Prefix,
// from the continuation token next.
func (s *Service) listObjects(r *http.Request, token string, d *pageData, next string) {
	q := url.Values{"list-type": {"2"}, "delimiter": {"/"}, "max-keys": {strconv.Itoa(consolePageSize)}, "encoding-type": {"url"}}
	if d.Prefix != "" {
		q.Set("prefix", d.Prefix)
	}
	if next != "" {
		q.Set("continuation-token", next)
	}
	status, body := s.s3Get(r, token, "/"+d.Bucket, q)
	if status != http.StatusOK {
		d.Denied = errorMessage(status, body)
		return
	}
	var res listObjectsResult
	if err := xml.Unmarshal(body, &res); err != nil {
		d.Denied = "The listing could not be read."
		return
	}
	dec := func(s string) string {
		if res.EncodingType != "url" {
			return s
		}
		if v, err := url.QueryUnescape(s); err == nil {
			return v
		}
		return s
	}
	for _, cp := range res.CommonPrefixes {
		p := dec(cp.Prefix)
		d.Prefixes = append(d.Prefixes, prefixRow{Name: strings.TrimPrefix(p, d.Prefix), Href: uiPath(d.Bucket, p)})
	}
	for _, c := range res.Contents {
		k := dec(c.Key)
		if k == d.Prefix && strings.HasSuffix(k, "/") {
			continue // the "folder" marker object itself
		}
		d.Objects = append(d.Objects, objectRow{Key: k, Name: strings.TrimPrefix(k, d.Prefix),
			Href: objectPath(d.Bucket, k) + "?response-content-disposition=attachment", Size: humanSize(c.Size),
			Bytes: c.Size, Modified: shortTime(c.LastModified)})
	}
	sort.SliceStable(d.Prefixes, func(i, j int) bool { return d.Prefixes[i].Name < d.Prefixes[j].Name })
	if res.IsTruncated && res.NextContinuationToken != "" {
		d.Next = uiPath(d.Bucket, d.Prefix) + "?token=" + url.QueryEscape(res.NextContinuationToken)
	}
	d.Empty = len(d.Prefixes) == 0 && len(d.Objects) == 0
}

func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return itoa(n) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	return strings.TrimSuffix(strings.TrimSuffix(ftoa1(v), "0"), ".") + " " + string("KMGTPE"[exp]) + "iB"
}
