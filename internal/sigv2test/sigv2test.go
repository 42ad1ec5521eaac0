// Package sigv2test signs requests with AWS Signature Version 2 the way
// S3 clients do (botocore's HmacV1Auth and HmacV1QueryAuth, the AWS SDK for
// Java v1), for tests of iamgate's verifier. It is written apart from the
// verifier in package sigv4, from the client side of the protocol.
package sigv2test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credentials are an access key, its secret and, for STS session
// credentials, the session token.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// subresources are the query parameters a client includes in
// CanonicalizedResource (the union of what botocore, the AWS SDK for Java
// v1, s3cmd and MinIO sign, plus the sub-resources only S3 lists).
var subresources = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`accelerate acl analytics attributes cors defaultObjectAcl delete encryption
		intelligent-tiering inventory legal-hold lifecycle location logging metrics notification object-lock
		ownershipControls partNumber policy policyStatus replication requestPayment response-cache-control
		response-content-disposition response-content-encoding response-content-language response-content-type
		response-expires restore retention select select-type storageClass tagging torrent uploadId uploads
		versionId versioning versions website`) {
		m[k] = true
	}
	return m
}()

// StringToSign returns the string to sign of req. date is the Date line
// (the Date header, "" with x-amz-date, or Expires for presigning);
// bucket is the bucket a virtual-hosted-style Host names ("" for path
// style). x-amz-* query parameters are signed as headers, as the AWS SDK
// for Java does.
func StringToSign(req *http.Request, date, bucket string) string {
	amz := map[string][]string{}
	for k, vv := range req.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz[lk] = append(amz[lk], vv...)
		}
	}
	type kv struct{ k, v string }
	var subs []kv
	for _, seg := range strings.Split(req.URL.RawQuery, "&") {
		if seg == "" {
			continue
		}
		rk, rv, _ := strings.Cut(seg, "=")
		k, _ := url.QueryUnescape(rk)
		v, _ := url.QueryUnescape(rv)
		switch {
		case subresources[k]:
			subs = append(subs, kv{k, v})
		case strings.HasPrefix(strings.ToLower(k), "x-amz-"):
			lk := strings.ToLower(k)
			if len(amz[lk]) == 0 || amz[lk][0] != v {
				amz[lk] = append(amz[lk], v)
			}
		}
	}
	names := make([]string, 0, len(amz))
	for k := range amz {
		names = append(names, k)
	}
	sort.Strings(names)
	sort.Slice(subs, func(i, j int) bool { return subs[i].k < subs[j].k })

	s := req.Method + "\n" + req.Header.Get("Content-Md5") + "\n" + req.Header.Get("Content-Type") + "\n" + date + "\n"
	for _, n := range names {
		s += n + ":" + strings.Join(amz[n], ",") + "\n"
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if bucket != "" {
		path = "/" + bucket + path
	}
	s += path
	for i, p := range subs {
		if i == 0 {
			s += "?"
		} else {
			s += "&"
		}
		s += p.k
		if p.v != "" {
			s += "=" + p.v
		}
	}
	return s
}

// Signature is base64(HMAC-SHA1(secret, s)).
func Signature(secret, s string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign adds the Date header (unless X-Amz-Date is set), the session
// token and the Authorization header "AWS AKID:signature" to req.
func Sign(req *http.Request, c Credentials, now time.Time, bucket string) {
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	date := ""
	if req.Header.Get("X-Amz-Date") == "" {
		date = now.UTC().Format(http.TimeFormat)
		req.Header.Set("Date", date)
	}
	req.Header.Set("Authorization", "AWS "+c.AccessKeyID+":"+Signature(c.SecretAccessKey, StringToSign(req, date, bucket)))
}

// Presign returns the URL of req presigned until expires, as botocore's
// HmacV1QueryAuth writes it: the x-amz-* headers of req (and the session
// token) are signed and moved into the query, Content-Type and
// Content-MD5 are signed and stay headers the caller must send.
func Presign(req *http.Request, c Credentials, expires time.Time, bucket string) string {
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	exp := strconv.FormatInt(expires.Unix(), 10)
	sig := Signature(c.SecretAccessKey, StringToSign(req, exp, bucket))
	q := req.URL.RawQuery
	add := func(k, v string) {
		if q != "" {
			q += "&"
		}
		q += url.QueryEscape(k) + "=" + url.QueryEscape(v)
	}
	add("AWSAccessKeyId", c.AccessKeyID)
	add("Signature", sig)
	var moved []string
	for k := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			moved = append(moved, k)
		}
	}
	sort.Strings(moved)
	for _, k := range moved {
		add(strings.ToLower(k), req.Header.Get(k))
		req.Header.Del(k)
	}
	add("Expires", exp)
	u := *req.URL
	u.RawQuery = q
	return u.String()
}

// PostFields signs a POST policy document (JSON) for a browser form:
// the fields AWSAccessKeyId, policy, signature and, for session
// credentials, x-amz-security-token (which the policy must name).
func PostFields(policyJSON []byte, c Credentials) map[string]string {
	p := base64.StdEncoding.EncodeToString(policyJSON)
	f := map[string]string{"AWSAccessKeyId": c.AccessKeyID, "policy": p, "signature": Signature(c.SecretAccessKey, p)}
	if c.SessionToken != "" {
		f["x-amz-security-token"] = c.SessionToken
	}
	return f
}
