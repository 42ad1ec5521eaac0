package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
)

// RoleLimits are the limits of one role: its own, and a trust rule's
// that replace them for the tokens the rule matches (nil: the role's).
type RoleLimits struct {
	Role  *limits.Policy   // nil: only some trust rules have limits
	Trust []*limits.Policy // by trust rule index
}

// limitState is the limits part of an exchange.
type limitState struct {
	on      bool
	keys    *limits.Keys
	op      limits.Op
	ticket  limits.Ticket
	cut     cutBody      // a download of unknown length, cut at the budget
	listing keyCountBody // a listing's keys
	upload  bool         // an upload of unknown length: counted after
}

// limitKeys returns the limit keys of pe, built on its first request
// (pe is cached per token or session): nil when no role of pe has limits.
func (h *Handler) limitKeys(gen *Generation, pe *principalEntry) *limits.Keys {
	pe.limitOnce.Do(func() { pe.limitKeys = buildLimitKeys(h.cfg.Limiter, gen, pe) })
	return pe.limitKeys
}

func buildLimitKeys(l *limits.Limiter, gen *Generation, pe *principalEntry) *limits.Keys {
	if l == nil || len(gen.Limits) == 0 || pe.principal == nil {
		return nil
	}
	// The first role with limits, in configuration order: of the actor
	// first in a delegated session (the agent acting for a person is what
	// the limits are for, and its claims, agent_run say, name the
	// identity), else of the principal.
	var (
		p  *limits.Policy
		id *authz.Identity
	)
	for _, who := range []*authz.Principal{pe.principal.Actor(), pe.principal} {
		if who == nil {
			continue
		}
		id = who.Identity()
		for _, r := range who.Roles() {
			rl := gen.Limits[r.Name()]
			if rl == nil {
				continue
			}
			p = rl.Role
			if i := r.TrustRuleIndex(id); i >= 0 && i < len(rl.Trust) && rl.Trust[i] != nil {
				p = rl.Trust[i]
			}
			if p != nil {
				break
			}
		}
		if p != nil {
			break
		}
	}
	if p == nil {
		return nil
	}
	s := limits.Subject{Issuer: pe.issuer, Subject: pe.subject, Claims: pe.claims}
	switch {
	case pe.sessionID != "":
		s.Session = "sess:" + pe.sessionID
		s.Revoke.SessionID = pe.sessionID
	case claimString(pe.principal.Identity().Claims["jti"]) != "":
		// The token's own jti (the person's token in a delegated one).
		jti := claimString(pe.principal.Identity().Claims["jti"])
		s.Session = "jti:" + pe.issuer + "/" + jti
		s.Revoke.Issuer, s.Revoke.Claim, s.Revoke.ClaimValue = pe.issuer, "jti", jti
	case pe.accessKeyID != "":
		s.Session = "key:" + pe.accessKeyID
	default:
		// A bearer token without jti: a hash of it is the session;
		// revoking it revokes its subject.
		s.Session = "tok:" + pe.tokenKey
		s.Revoke.Issuer, s.Revoke.Subject = pe.issuer, pe.subject
	}
	claim := p.Rules.Claim
	if claim == "" {
		claim = "sub"
	}
	if v := claimString(id.Claims[claim]); v != "" {
		s.Identity = claim + "=" + v
		if claim != "sub" {
			s.Identity = v
		}
	}
	return l.Keys(p, s)
}

// claimString returns a string or number claim as text.
func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// limitOp says what a request counts against.
func limitOp(req *s3req.Request) limits.Op {
	switch req.Op {
	case s3req.OpGetObject:
		return limits.OpDownload
	case s3req.OpListObjects, s3req.OpListObjectsV2, s3req.OpListObjectVersions, s3req.OpListMultipartUploads:
		return limits.OpList
	case s3req.OpPutObject, s3req.OpUploadPart, s3req.OpPostObject:
		// A browser form upload counts its whole form: the file and
		// its few fields.
		return limits.OpUpload
	}
	return limits.OpOther
}

// admitLimits checks the limits of an authorized request; a refusal is
// returned as the caller's S3 error.
func (h *Handler) admitLimits(ex *exchange, r *http.Request, pe *principalEntry, req *s3req.Request) *s3err.Error {
	if h.cfg.Limiter == nil || ex.gen.Limits == nil {
		return nil // the common request: no role has limits
	}
	k := h.limitKeys(ex.gen, pe)
	if k == nil {
		return nil
	}
	ls := &ex.lim
	ls.on, ls.keys, ls.op = true, k, limitOp(req)
	var up int64 = -1
	if ls.op == limits.OpUpload {
		// The length of the body iamgate forwards: a signed aws-chunked
		// stream is verified and forwarded decoded by now, so this is
		// its decoded length; any other body is counted as sent, which
		// bounds its payload whatever x-amz-decoded-content-length
		// says. -1 (chunked): counted after.
		up = r.ContentLength
		ls.upload = up < 0
	}
	v := h.cfg.Limiter.Admit(r.Context(), k, ls.op, up, &ls.ticket)
	if v.Allowed() {
		return nil
	}
	ls.upload = false
	return h.limitRefusal(ex, &v)
}

// limitRefusal renders a refused verdict: 503 SlowDown with Retry-After
// for a rate, 403 AccessDenied naming the limit for a budget or the deny
// step, 503 ServiceUnavailable when the counters failed (closed).
func (h *Handler) limitRefusal(ex *exchange, v *limits.Verdict) *s3err.Error {
	ex.ev.Decision = "deny"
	if v.Err != nil {
		ex.ev.Decision = "error"
		ex.ev.Reason = "limits_unavailable"
		ex.w.Header().Set("Retry-After", "1")
		e := s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable", "Limits cannot be checked at the moment; try again.")
		e.Cause = v.Err
		return e
	}
	ex.ev.Reason = "limit_" + string(v.Limit)
	msg := v.Message()
	if v.Rate() {
		secs := int64((v.RetryAfter + time.Second - 1) / time.Second)
		ex.w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		return s3err.New(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. "+msg)
	}
	return s3err.New(http.StatusForbidden, "AccessDenied", msg)
}

// limitResponse checks a download against the byte budget once the
// store's response head has arrived, before anything is sent: a known
// length that would cross the budget is refused (true: the response was
// written), an unknown length is cut at the budget.
func (h *Handler) limitResponse(ex *exchange, r *http.Request, res *http.Response) bool {
	ls := &ex.lim
	if res.StatusCode < 200 || res.StatusCode > 299 || r.Method == http.MethodHead {
		return false
	}
	switch ls.op {
	case limits.OpList:
		ls.listing = keyCountBody{rc: res.Body}
		res.Body = &ls.listing
	case limits.OpDownload:
		if res.ContentLength >= 0 {
			v := h.cfg.Limiter.Download(r.Context(), &ls.ticket, res.ContentLength)
			if v.Allowed() {
				return false
			}
			res.Body.Close()
			ex.ev.Decision = "deny"
			h.fail(ex, r, h.limitRefusal(ex, &v).WithResource(resourcePath(r)))
			return true
		}
		if rem := ls.ticket.Remaining(); rem >= 0 {
			ls.cut = cutBody{rc: res.Body, left: rem, on: true}
			res.Body = &ls.cut
		}
	}
	return false
}

// doneLimits counts what is known only after the response (a cut or
// unknown-length download, the keys of a listing, an upload of unknown
// length) and releases the request's concurrency slots.
func (h *Handler) doneLimits(ex *exchange, r *http.Request) {
	ls := &ex.lim
	if !ls.on {
		return
	}
	ls.ticket.Release()
	l, ctx := h.cfg.Limiter, r.Context()
	if ls.cut.on {
		if ls.cut.hit {
			ex.ev.Decision = "deny"
			ex.ev.Reason = "limit_" + string(limits.BytesDownloaded)
			ex.ev.ErrorCode = "DownloadCut"
			ex.ev.Message = "The download was cut at the bytes_downloaded budget."
		}
		l.Downloaded(ctx, &ls.ticket, ls.cut.n, ls.cut.hit)
	}
	if ls.listing.rc != nil {
		l.Listed(ctx, &ls.ticket, ls.listing.keys)
	}
	if ls.upload && ex.body != nil {
		l.Uploaded(ctx, &ls.ticket, ex.body.n.Load())
	}
}

// errBudgetCut ends a download of unknown length at the byte budget.
var errBudgetCut = errors.New("download cut at the bytes_downloaded budget")

// cutBody reads at most left bytes, then fails with errBudgetCut.
type cutBody struct {
	rc   io.ReadCloser
	left int64
	n    int64
	on   bool
	hit  bool
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body that ends exactly at the budget
		// from one that goes on.
		var one [1]byte
		if n, err := c.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		c.hit = true
		return 0, errBudgetCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.n += int64(n)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

// keyCountBody counts the <Key> elements of a listing as it passes: the
// keys the listing returned (ListObjectVersions and ListMultipartUploads
// name a key per version or upload). It is a byte matcher that carries
// a partial match across reads; it allocates nothing.
type keyCountBody struct {
	rc    io.ReadCloser
	state int
	keys  int64
}

const keyTag = "<Key>"

func (c *keyCountBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	for _, b := range p[:n] {
		switch {
		case b == keyTag[c.state]:
			c.state++
			if c.state == len(keyTag) {
				c.keys++
				c.state = 0
			}
		case b == '<':
			c.state = 1
		default:
			c.state = 0
		}
	}
	return n, err
}

func (c *keyCountBody) Close() error { return c.rc.Close() }
