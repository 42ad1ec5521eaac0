package proxy

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// deleteResultMaxBytes bounds the store's DeleteObjects answer that is
// read to merge the per-key denials into it: at most 1000 entries, each
// with a key of at most 1024 bytes (up to six times that escaped), a
// version ID and a message.
const deleteResultMaxBytes = 16 << 20

// Reasons of a DeleteObjects request's audit event beyond authz's.
const reasonPartiallyAllowed = "partially_allowed" // some keys allowed, some denied

// serveDeleteObjects authorizes a DeleteObjects request key by key, as S3
// does: each key needs s3:DeleteObject (s3:DeleteObjectVersion with a
// version ID, and s3:BypassGovernanceRetention with the bypass header).
// Only the allowed keys are forwarded, in a body iamgate re-serializes
// (with its own Content-MD5 and payload hash; the client's digests are
// verified against the client's body first). Each denied key gets an
// AccessDenied <Error> merged into the store's DeleteResult; a request
// with no allowed key is answered 200 with those errors alone, and the
// store is not contacted. One audit event records every key and each
// denied key's decision.
func (h *Handler) serveDeleteObjects(ex *exchange, r *http.Request, pe *principalEntry, req *s3req.Request, hdr http.Header) *s3err.Error {
	resource := resourcePath(r)
	bad := func(e *s3err.Error) *s3err.Error {
		ex.ev.Reason = "bad_request"
		return e.WithResource(resource)
	}
	del, serr := h.readDeleteObjects(r, hdr)
	if serr != nil {
		return bad(serr)
	}
	for _, o := range del.Objects {
		ex.ev.Keys = append(ex.ev.Keys, o.Key)
	}
	// Checks that apply to the request as a whole (none today: every
	// action of DeleteObjects is decided per key) deny all of it.
	if len(req.Checks) > 0 {
		if d, c, denied := h.authorize(ex, pe, r, req, req.Checks); denied {
			return denyError(pe, c, d).WithResource(resource)
		}
	}

	ar := authz.Request{
		SourceIP:        ex.sourceIP,
		SecureTransport: ex.secure,
		Time:            ex.start,
		UserAgent:       r.UserAgent(),
		S3:              req.S3,
	}
	denied := make([]bool, len(del.Objects))
	allowed := make([]int, 0, len(del.Objects))
	var lastAllowed authz.Decision
	var firstAllowedAction authz.Action
	var firstDeny struct {
		d authz.Decision
		c s3req.Check
	}
	for i, o := range del.Objects {
		ar.S3.VersionID = authz.Value{}
		if o.VersionID != "" {
			ar.S3.VersionID = authz.V(o.VersionID)
		}
		checks := del.ObjectChecks(req.Bucket, i, req.BypassGovernance)
		d, c, ok := decide(ex.gen.Engine, pe.principal, &ar, checks)
		if ok {
			if len(allowed) == 0 {
				firstAllowedAction = checks[0].Action
			}
			lastAllowed = d
			allowed = append(allowed, i)
			continue
		}
		denied[i] = true
		if len(ex.ev.DeniedKeys) == 0 {
			firstDeny.d, firstDeny.c = d, c
		}
		ex.ev.DeniedKeys = append(ex.ev.DeniedKeys, audit.DeniedKey{Key: o.Key, VersionID: o.VersionID,
			Action: string(c.Action), Reason: string(d.Reason), Role: d.Role, Policy: d.Policy, Sid: d.Sid})
	}

	// The destructive-action guards, on the keys the policies allow.
	authzDenied := len(ex.ev.DeniedKeys)
	g := ex.gen.guardsFor(pe.principal)
	allowed, guardMsg, gerr := h.guardDeleteObjects(ex, r, pe, &g, req.Bucket, del, allowed, denied)
	if gerr != nil {
		return gerr.WithResource(resource)
	}

	if len(allowed) == 0 {
		// Nothing to forward: S3 answers 200 with an error per key.
		ev := &ex.ev
		ev.ErrorCode = "AccessDenied"
		if authzDenied == 0 {
			ev.Action, ev.Reason, ev.Message = ev.DeniedKeys[0].Action, ReasonProtectedDelete, guardMsg
		} else {
			ev.Action = string(firstDeny.c.Action)
			ev.Reason = string(firstDeny.d.Reason)
			ev.Role, ev.Policy, ev.Sid = firstDeny.d.Role, firstDeny.d.Policy, firstDeny.d.Sid
			ev.Message = denyError(pe, firstDeny.c, firstDeny.d).Message
		}
		writeDeleteResult(ex.w, mergeDeleteResult(del, denied, nil))
		return nil
	}
	if serr := h.countBulkDelete(ex, r, pe, &g, int64(len(allowed))); serr != nil {
		return serr.WithResource(resource)
	}

	ex.ev.Decision = "allow"
	ex.ev.Reason = string(authz.ReasonAllowed)
	if len(ex.ev.DeniedKeys) > 0 {
		ex.ev.Reason = reasonPartiallyAllowed
	}
	ex.ev.Action = string(firstAllowedAction)
	ex.ev.Role, ex.ev.Policy, ex.ev.Sid = lastAllowed.Role, lastAllowed.Policy, lastAllowed.Sid
	// The role's limits: a DeleteObjects is one request (rate,
	// concurrency), like any other.
	if lerr := h.admitLimits(ex, r, pe, req); lerr != nil {
		return lerr.WithResource(resource)
	}

	if len(allowed) == len(del.Objects) {
		// Every key allowed: the store's answer is the answer.
		setBody(r, hdr, del.Marshal())
		ex.fwd = forward{path: req.UpstreamPath, query: req.UpstreamQuery, header: hdr}
		h.forward(ex, ex.w, r, h.cfg.Transport)
		return nil
	}

	setBody(r, hdr, del.MarshalObjects(allowed))
	ex.fwd = forward{path: req.UpstreamPath, query: req.UpstreamQuery, header: hdr}
	cw := &capturedResponse{header: http.Header{}, limit: deleteResultMaxBytes}
	h.forward(ex, cw, r, h.cfg.Transport)
	if cw.code == 0 {
		return nil // nothing to answer (the client went away)
	}
	if cw.code != http.StatusOK {
		// An error of the whole request (NoSuchBucket, the store's own
		// AccessDenied, unavailable …) is the answer, as from S3.
		cw.replay(ex.w)
		return nil
	}
	if cw.overflow {
		return h.badDeleteResult(ex, resource, "larger than "+strconv.Itoa(deleteResultMaxBytes)+" bytes")
	}
	res, err := parseDeleteResult(cw.body.Bytes(), len(allowed))
	if err != nil {
		return h.badDeleteResult(ex, resource, err.Error())
	}
	wh := ex.w.Header()
	for k, vv := range cw.header {
		switch k {
		case "Content-Length", "Content-Md5", "Etag", "Trailer":
			continue
		}
		wh[k] = vv
	}
	writeDeleteResult(ex.w, mergeDeleteResult(del, denied, res))
	return nil
}

// badDeleteResult answers when the store's DeleteObjects answer cannot be
// merged: the allowed keys may have been deleted, but what happened to
// each cannot be told.
func (h *Handler) badDeleteResult(ex *exchange, resource, why string) *s3err.Error {
	ex.ev.Decision = "error"
	h.log.Warn("unreadable DeleteObjects result from the store", "request_id", ex.rid, "err", why)
	return s3err.New(http.StatusBadGateway, "InternalError",
		"The storage service's DeleteObjects result could not be read; the allowed objects may have been deleted.").WithResource(resource)
}

// decide evaluates checks for one object; all must be allowed. It returns
// the last allowing decision, or the first denying one and its check.
func decide(e *authz.Engine, p *authz.Principal, ar *authz.Request, checks []s3req.Check) (authz.Decision, s3req.Check, bool) {
	var last authz.Decision
	for _, c := range checks {
		ar.Action, ar.Resource = c.Action, c.Resource
		d := e.Authorize(p, ar)
		if !d.Allowed {
			return d, c, false
		}
		last = d
	}
	return last, s3req.Check{}, true
}

// verifyBodyDigests checks the client's hex x-amz-content-sha256,
// Content-MD5 and x-amz-checksum-* headers against the body they cover. A
// body iamgate re-serializes (DeleteObjects, condition documents) is
// forwarded with digests of its own, so the client's are checked here or
// never. A checksum header iamgate cannot compute is refused.
func verifyBodyDigests(hdr http.Header, data []byte) *s3err.Error {
	if want := hdr.Get("X-Amz-Content-Sha256"); isHex64(want) {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != want {
			return s3err.New(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
				"The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	if v, ok := hdr["Content-Md5"]; ok {
		sum := md5.Sum(data)
		if len(v) != 1 || v[0] != base64.StdEncoding.EncodeToString(sum[:]) {
			return s3err.New(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
		}
	}
	for k, v := range hdr {
		if !strings.HasPrefix(k, "X-Amz-Checksum-") {
			continue
		}
		switch k {
		case "X-Amz-Checksum-Algorithm", "X-Amz-Checksum-Type", "X-Amz-Checksum-Mode":
			continue
		}
		name := strings.ToLower(k)
		sum := sigv4.NewChecksum(name)
		if sum == nil {
			return s3err.New(http.StatusBadRequest, "InvalidRequest",
				"The checksum header "+name+" is not supported; send x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1 or -sha256, or Content-MD5.")
		}
		sum.Write(data)
		if len(v) != 1 || v[0] != base64.StdEncoding.EncodeToString(sum.Sum(nil)) {
			alg := strings.ToUpper(strings.TrimPrefix(name, "x-amz-checksum-"))
			return s3err.New(http.StatusBadRequest, "BadDigest", "The "+alg+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}

// capturedResponse is an http.ResponseWriter that keeps a response (up to
// limit body bytes) so that it can be rewritten before the client gets it.
type capturedResponse struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	limit    int
	overflow bool
}

func (c *capturedResponse) Header() http.Header { return c.header }

func (c *capturedResponse) WriteHeader(code int) {
	if c.code == 0 && code >= 200 {
		c.code = code
	}
}

func (c *capturedResponse) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if c.body.Len()+len(p) > c.limit {
		c.overflow = true
		return len(p), nil
	}
	return c.body.Write(p)
}

// replay sends the captured response to w as it was captured. An
// overflowing body cannot be replayed; it is answered as a bad gateway.
func (c *capturedResponse) replay(w http.ResponseWriter) {
	wh := w.Header()
	for k, vv := range c.header {
		wh[k] = vv
	}
	if c.overflow {
		delete(wh, "Content-Length")
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	wh.Set("Content-Length", strconv.Itoa(c.body.Len()))
	w.WriteHeader(c.code)
	_, _ = w.Write(c.body.Bytes())
}
