package proxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
)

// GuardMode is the setting of a destructive-action guard.
type GuardMode string

// Guard modes, strictest last.
const (
	GuardOff           GuardMode = ""
	GuardVersionedOnly GuardMode = "versioned-only"
	GuardDeny          GuardMode = "deny"
)

func (m GuardMode) stricter(o GuardMode) GuardMode {
	rank := func(g GuardMode) int {
		switch g {
		case GuardDeny:
			return 2
		case GuardVersionedOnly:
			return 1
		}
		return 0
	}
	if rank(o) > rank(m) {
		return o
	}
	return m
}

// Protect holds a role's destructive-action guards. The zero value guards
// nothing.
type Protect struct {
	Delete    GuardMode
	Overwrite GuardMode
	// BulkDeleteMaxKeys, when > 0, bounds the keys one session may delete
	// (DeleteObject, DeleteObjects) per BulkDeleteWindow.
	BulkDeleteMaxKeys int64
	BulkDeleteWindow  time.Duration
}

// Audit reasons of requests a guard refuses.
const (
	ReasonProtectedDelete    = "protected_delete"
	ReasonProtectedOverwrite = "protected_overwrite"
	// ReasonBulkDeleteLimit is a limit hit like the budgets': a request
	// deleting more keys than protect.bulk_delete allows in its window.
	ReasonBulkDeleteLimit = "bulk_delete_limit"
	// ReasonVersioningUnavailable: a guard needed the bucket's versioning
	// status and the store did not give it (503, fail closed).
	ReasonVersioningUnavailable = "versioning_unavailable"
)

// Guard names, in messages and in the guard label of
// iamgate_guard_refusals_total.
const (
	guardDelete     = "delete"
	guardOverwrite  = "overwrite"
	guardBulkDelete = "bulk_delete"
)

// Versioning is a bucket's versioning status as a guard reads it.
type Versioning int

// Versioning states. VersioningEnabled is the only one under which a
// versioned-only guard allows anything.
const (
	VersioningOff Versioning = iota // never enabled, or enabled with excluded prefixes/folders
	VersioningSuspended
	VersioningEnabled
)

// Outcome is what a guard does with one operation on one object.
type Outcome int

// Guard outcomes.
const (
	// Allow: no guard applies.
	Allow Outcome = iota
	// Refuse: the request (or the key of a DeleteObjects) is refused.
	Refuse
	// Conditional: forward with If-None-Match: * so that the store refuses
	// atomically to replace an existing object.
	Conditional
)

// guards are the combined guards of the roles a request acts under.
type guards struct {
	delete, overwrite GuardMode
	bulk              []bulkRule
}

type bulkRule struct {
	role   string
	max    int64
	window time.Duration
}

func (g *guards) any() bool {
	return g.delete != GuardOff || g.overwrite != GuardOff || len(g.bulk) > 0
}

// guardsFor combines the guards of p's roles: each guard takes the
// strictest setting of any role; every role's bulk_delete counts.
func (gen *Generation) guardsFor(p *authz.Principal) guards {
	var g guards
	if len(gen.Protect) == 0 || p == nil {
		return g
	}
	for _, r := range p.Roles() {
		pr, ok := gen.Protect[r.Name()]
		if !ok {
			continue
		}
		g.delete = g.delete.stricter(pr.Delete)
		g.overwrite = g.overwrite.stricter(pr.Overwrite)
		if pr.BulkDeleteMaxKeys > 0 && pr.BulkDeleteWindow > 0 {
			g.bulk = append(g.bulk, bulkRule{role: r.Name(), max: pr.BulkDeleteMaxKeys, window: pr.BulkDeleteWindow})
		}
	}
	return g
}

// guardOf names the guard that governs op ("delete", "overwrite"); ""
// when op is not guarded (PutBucketVersioning is governed by both).
func guardOf(op s3req.Operation) string {
	switch op {
	case s3req.OpDeleteObject, s3req.OpDeleteObjects, s3req.OpDeleteBucket, s3req.OpPutBucketLifecycleConfiguration:
		return guardDelete
	case s3req.OpPutObject, s3req.OpCopyObject, s3req.OpCompleteMultipartUpload, s3req.OpPostObject:
		return guardOverwrite
	}
	return ""
}

// NeedsVersioning reports whether Judge's answer for op under the given
// settings depends on the bucket's versioning status.
func NeedsVersioning(op s3req.Operation, versionID bool, del, overwrite GuardMode) bool {
	switch op {
	case s3req.OpDeleteObject, s3req.OpDeleteObjects:
		return del == GuardVersionedOnly && !versionID
	case s3req.OpPutObject, s3req.OpCopyObject, s3req.OpCompleteMultipartUpload, s3req.OpPostObject:
		return overwrite == GuardVersionedOnly
	}
	return false
}

// Judge is the semantics of the guards, for one operation (one key of a
// DeleteObjects) under the delete and overwrite settings, in a bucket
// whose versioning status is v (read only where NeedsVersioning says so).
// It returns the outcome and the guard that decides it.
//
//   - DeleteObject, and each key of DeleteObjects, without a version ID:
//     deny refuses; versioned-only allows when versioning is Enabled (the
//     delete adds a delete marker; the object stays restorable), else
//     refuses.
//   - the same with a version ID (a version deleted for good), DeleteBucket
//     and PutBucketLifecycleConfiguration (expiration rules delete
//     later): refused under either setting.
//   - PutObject and CompleteMultipartUpload: deny is Conditional
//     (If-None-Match: *, the store refuses to replace an existing key);
//     versioned-only allows when versioning is Enabled, else Conditional.
//   - CopyObject and PostObject, which the store cannot make conditional:
//     deny refuses; versioned-only allows when versioning is Enabled,
//     else refuses.
//   - PutBucketVersioning: refused when either guard is set (suspending
//     versioning would undo versioned-only).
//   - everything else (AbortMultipartUpload, UploadPart, tagging, ...):
//     allowed.
func Judge(op s3req.Operation, versionID bool, del, overwrite GuardMode, v Versioning) (Outcome, string) {
	switch op {
	case s3req.OpPutBucketVersioning:
		switch {
		case del != GuardOff:
			return Refuse, guardDelete
		case overwrite != GuardOff:
			return Refuse, guardOverwrite
		}
		return Allow, ""
	case s3req.OpDeleteObject, s3req.OpDeleteObjects:
		switch {
		case del == GuardOff:
			return Allow, ""
		case del == GuardVersionedOnly && !versionID && v == VersioningEnabled:
			return Allow, ""
		}
		return Refuse, guardDelete
	case s3req.OpDeleteBucket, s3req.OpPutBucketLifecycleConfiguration:
		if del == GuardOff {
			return Allow, ""
		}
		return Refuse, guardDelete
	case s3req.OpPutObject, s3req.OpCompleteMultipartUpload:
		switch {
		case overwrite == GuardOff:
			return Allow, ""
		case overwrite == GuardVersionedOnly && v == VersioningEnabled:
			return Allow, ""
		}
		return Conditional, guardOverwrite
	case s3req.OpCopyObject, s3req.OpPostObject:
		switch {
		case overwrite == GuardOff:
			return Allow, ""
		case overwrite == GuardVersionedOnly && v == VersioningEnabled:
			return Allow, ""
		}
		return Refuse, guardOverwrite
	}
	return Allow, ""
}

// guardMessage words a refusal by guard of op for roles.
func guardMessage(guard string, op s3req.Operation, versionID bool, mode GuardMode) string {
	what := string(op)
	switch {
	case guard == guardDelete && versionID:
		what = "deleting a specific object version (which cannot be undone)"
	case op == s3req.OpPutBucketVersioning:
		what = "changing the bucket's versioning"
	case op == s3req.OpPutBucketLifecycleConfiguration:
		what = "a lifecycle configuration (its expiration rules delete objects later)"
	case op == s3req.OpDeleteBucket:
		what = "deleting a bucket"
	case op == s3req.OpCopyObject || op == s3req.OpPostObject:
		what = string(op) + " (the store cannot refuse it atomically when the key exists)"
	case guard == guardOverwrite:
		what = "overwriting an existing object"
	}
	why := ""
	if mode == GuardVersionedOnly && NeedsVersioning(op, versionID, mode, mode) {
		why = " unless the bucket has versioning enabled"
	}
	return fmt.Sprintf("Refused by the %s guard of this role (protect.%s: %s): %s is not allowed%s.", guard, guard, mode, what, why)
}

func guardReason(guard string) string {
	if guard == guardOverwrite {
		return ReasonProtectedOverwrite
	}
	return ReasonProtectedDelete
}

// modeOf returns the setting of guard in g.
func (g *guards) modeOf(guard string) GuardMode {
	if guard == guardOverwrite {
		return g.overwrite
	}
	return g.delete
}

// countGuard counts a refusal by guard in the metrics.
func (h *Handler) countGuard(guard, roleKind string) {
	if m := h.cfg.Metrics; m != nil && m.GuardRefusals != nil {
		m.GuardRefusals.WithLabelValues(guard, roleKindLabel(roleKind)).Inc()
	}
}

// errVersioningUnavailable answers when a guard needs the bucket's
// versioning status and the store does not give it.
var errVersioningUnavailable = s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
	"The request could not be checked against this role's versioned-only guard: the bucket's versioning status could not be read from the storage service. Please retry.")

// applyGuards checks a classified, authorized request (not DeleteObjects,
// see guardDeleteObjects) against the guards of its roles. It returns the
// refusal to send, or nil; for Conditional it sets If-None-Match: * in hdr.
func (h *Handler) applyGuards(ex *exchange, r *http.Request, pe *principalEntry, req *s3req.Request, hdr http.Header) *s3err.Error {
	if len(ex.gen.Protect) == 0 || guardOf(req.Op) == "" && req.Op != s3req.OpPutBucketVersioning {
		return nil // the common request: no role has guards, or nothing to guard
	}
	g := ex.gen.guardsFor(pe.principal)
	if !g.any() {
		return nil
	}
	versionID := req.S3.VersionID.Present
	v := VersioningOff
	if NeedsVersioning(req.Op, versionID, g.delete, g.overwrite) {
		var err error
		if v, err = h.versioning(r.Context(), req.Bucket); err != nil {
			ex.ev.Decision, ex.ev.Reason, ex.ev.Message = "error", ReasonVersioningUnavailable, err.Error()
			ex.w.Header().Set("Retry-After", "1")
			h.log.Warn("bucket versioning unreadable", "request_id", ex.rid, "err", err)
			return errVersioningUnavailable
		}
	}
	out, which := Judge(req.Op, versionID, g.delete, g.overwrite, v)
	switch out {
	case Refuse:
		return h.guardRefusal(ex, pe, which, guardMessage(which, req.Op, versionID, g.modeOf(which)))
	case Conditional:
		if _, ok := hdr["If-Match"]; ok {
			return h.guardRefusal(ex, pe, which, guardMessage(which, req.Op, false, g.overwrite)+" (If-Match targets an existing object)")
		}
		if cur, ok := hdr["If-None-Match"]; ok {
			if len(cur) == 1 && cur[0] == "*" {
				return nil // the client's own condition; the store's 412 is the answer
			}
			return h.guardRefusal(ex, pe, which, guardMessage(which, req.Op, false, g.overwrite)+" (send If-None-Match: * or none)")
		}
		hdr["If-None-Match"] = []string{"*"}
		ex.guardINM, ex.guardMode = true, g.overwrite
	}
	if req.Op == s3req.OpDeleteObject {
		return h.countBulkDelete(ex, r, pe, &g, 1)
	}
	return nil
}

// guardRefusal records and returns a guard's refusal.
func (h *Handler) guardRefusal(ex *exchange, pe *principalEntry, guard, msg string) *s3err.Error {
	ex.ev.Decision, ex.ev.Reason, ex.ev.Message = "deny", guardReason(guard), msg
	h.countGuard(guard, pe.roleKind)
	return s3err.New(http.StatusForbidden, "AccessDenied", msg)
}

// overwriteRefused answers a 412 the store gave to the If-None-Match: *
// an overwrite guard added: the key exists.
func (h *Handler) overwriteRefused(ex *exchange, w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("Refused by the overwrite guard of this role (protect.overwrite: %s): the key exists and overwriting an existing object is not allowed", ex.guardMode)
	if ex.guardMode == GuardVersionedOnly {
		msg += " unless the bucket has versioning enabled"
	}
	msg += "."
	ex.ev.Decision, ex.ev.Reason, ex.ev.ErrorCode, ex.ev.Message = "deny", ReasonProtectedOverwrite, "AccessDenied", msg
	h.countGuard(guardOverwrite, ex.ev.RoleKind)
	s3err.Write(w, r, s3err.New(http.StatusForbidden, "AccessDenied", msg).WithResource(resourcePath(r)), ex.rid)
}

// sessionCounterKey names the session whose deletes bulk_delete counts:
// the STS or browser session, else the bearer token, else the access key
// or subject.
func sessionCounterKey(pe *principalEntry) string {
	switch {
	case pe.sessionID != "":
		return "s:" + pe.sessionID
	case pe.fingerprint != "":
		return "t:" + pe.fingerprint
	case pe.accessKeyID != "":
		return "k:" + pe.accessKeyID
	}
	return "u:" + pe.issuer + "\x00" + pe.subject
}

// countBulkDelete adds n deleted keys to the session's count of each
// bulk_delete guard and refuses the request when one goes over its
// maximum. Refused deletes count too: a session that keeps trying stays
// refused until the window ends. A counter that cannot be read refuses
// (503).
func (h *Handler) countBulkDelete(ex *exchange, r *http.Request, pe *principalEntry, g *guards, n int64) *s3err.Error {
	if len(g.bulk) == 0 || n == 0 {
		return nil
	}
	sess := sessionCounterKey(pe)
	for _, b := range g.bulk {
		total, reset, err := h.counters.Add(r.Context(), "guard/bulk_delete/"+b.role+"/"+sess, b.window, n)
		if err != nil {
			ex.ev.Decision, ex.ev.Reason, ex.ev.Message = "error", "state_unavailable", "bulk_delete counter: "+err.Error()
			ex.w.Header().Set("Retry-After", "1")
			h.log.Warn("bulk_delete counter unavailable", "request_id", ex.rid, "err", err)
			return s3err.New(http.StatusServiceUnavailable, "ServiceUnavailable",
				"The request could not be checked against this role's bulk_delete guard: the shared counters are unavailable. Please retry.")
		}
		if total > b.max {
			msg := fmt.Sprintf("Refused by the bulk_delete guard of role %q (protect.bulk_delete: at most %d keys per %s per session): this session has deleted or tried to delete %d keys in the current window, which resets at %s.",
				b.role, b.max, b.window, total, reset.UTC().Format(time.RFC3339))
			ex.ev.Decision, ex.ev.Reason, ex.ev.Message = "deny", ReasonBulkDeleteLimit, msg
			h.countGuard(guardBulkDelete, pe.roleKind)
			// A refused bulk delete is a limit hit: the role's
			// escalation counts it like its own limits'.
			if h.cfg.Limiter != nil && ex.gen.Limits != nil {
				if k := h.limitKeys(ex.gen, pe); k != nil {
					h.cfg.Limiter.Hit(r.Context(), k, limits.Verdict{Limit: limits.BulkDelete, ResetAt: reset, Used: total, Max: b.max})
				}
			}
			return s3err.New(http.StatusForbidden, "AccessDenied", msg)
		}
	}
	return nil
}

// Versioning status lookups: GetBucketVersioning with iamgate's own
// credentials, cached per bucket. Enabled is cached for less time than the
// other states: a bucket seen Enabled after its versioning was suspended
// would let a versioned-only guard allow a delete that cannot be undone,
// while one seen unversioned after versioning was enabled only refuses for
// a little longer.
const (
	// DefaultVersioningCache is how long Suspended and unversioned are kept.
	DefaultVersioningCache = 10 * time.Second
	// DefaultVersioningCacheEnabled is how long Enabled is kept.
	DefaultVersioningCacheEnabled = 2 * time.Second
	versioningLookupTimeout       = 10 * time.Second
	// MaxVersioningAnswer bounds the store's GetBucketVersioning answer.
	MaxVersioningAnswer = 64 << 10
	versioningCacheSize = 4096
)

// versioning returns bucket's versioning status, from the cache or the
// store.
func (h *Handler) versioning(ctx context.Context, bucket string) (Versioning, error) {
	now := h.cfg.Now()
	if v, ok := h.versions.get(bucket, now); ok {
		return v, nil
	}
	v, err := h.fetchVersioning(ctx, bucket)
	if err != nil {
		return VersioningOff, err
	}
	ttl := h.cfg.VersioningCache
	if v == VersioningEnabled {
		ttl = h.cfg.VersioningCacheEnabled
	}
	if ttl > 0 {
		h.versions.put(bucket, v, now.Add(ttl), now)
	}
	return v, nil
}

func (h *Handler) fetchVersioning(ctx context.Context, bucket string) (Versioning, error) {
	ctx, cancel := context.WithTimeout(ctx, versioningLookupTimeout)
	defer cancel()
	up := h.cfg.Upstream
	path := "/" + bucket
	out := (&http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: up.Scheme, Host: up.Host, Path: path, RawPath: s3req.UriEncodePath(path), RawQuery: "versioning="},
		Proto:  "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{},
		Host:   up.Host,
	}).WithContext(ctx)
	res, err := h.cfg.Transport.RoundTrip(out)
	if err != nil {
		return VersioningOff, fmt.Errorf("GetBucketVersioning: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxVersioningAnswer))
		return VersioningOff, fmt.Errorf("GetBucketVersioning: the storage service answered %s", res.Status)
	}
	body, err := readLimited(res.Body, MaxVersioningAnswer)
	if err != nil {
		return VersioningOff, fmt.Errorf("GetBucketVersioning: reading the answer: %w", err)
	}
	return ParseVersioning(body)
}

// ErrVersioningAnswer is returned for a GetBucketVersioning answer that
// cannot be read.
var ErrVersioningAnswer = errors.New("unreadable GetBucketVersioning answer")

// ParseVersioning reads a GetBucketVersioning answer (at most
// MaxVersioningAnswer bytes). Status Enabled with MinIO's excluded
// prefixes or excluded folders counts as VersioningOff: some keys of
// such a bucket are not versioned.
func ParseVersioning(body []byte) (Versioning, error) {
	if len(body) > MaxVersioningAnswer {
		return VersioningOff, fmt.Errorf("%w: larger than %d bytes", ErrVersioningAnswer, MaxVersioningAnswer)
	}
	var doc struct {
		XMLName          xml.Name
		Status           []string `xml:"Status"`
		ExcludeFolders   []string `xml:"ExcludeFolders"`
		ExcludedPrefixes []struct {
			Prefix string `xml:"Prefix"`
		} `xml:"ExcludedPrefixes"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return VersioningOff, fmt.Errorf("%w: %v", ErrVersioningAnswer, err)
	}
	if doc.XMLName.Local != "VersioningConfiguration" {
		return VersioningOff, fmt.Errorf("%w: root element %s", ErrVersioningAnswer, strconv.Quote(doc.XMLName.Local))
	}
	if len(doc.Status) > 1 || len(doc.ExcludeFolders) > 1 {
		return VersioningOff, fmt.Errorf("%w: repeated element", ErrVersioningAnswer)
	}
	status := ""
	if len(doc.Status) == 1 {
		status = doc.Status[0]
	}
	switch status {
	case "":
		return VersioningOff, nil
	case "Suspended":
		return VersioningSuspended, nil
	case "Enabled":
		if len(doc.ExcludedPrefixes) > 0 || len(doc.ExcludeFolders) == 1 && doc.ExcludeFolders[0] != "false" {
			return VersioningOff, nil
		}
		return VersioningEnabled, nil
	}
	return VersioningOff, fmt.Errorf("%w: status %s", ErrVersioningAnswer, strconv.Quote(status))
}

// guardDeleteObjects applies the delete guard to each allowed key of a
// DeleteObjects request: a refused key moves to denied (AccessDenied in
// the merged result, recorded in deniedKeys with reason
// protected_delete). It returns the keys still allowed, the message of
// the first refusal ("" when none) or an error for the whole request.
func (h *Handler) guardDeleteObjects(ex *exchange, r *http.Request, pe *principalEntry, g *guards, bucket string,
	del *s3req.DeleteObjects, allowed []int, denied []bool) ([]int, string, *s3err.Error) {
	if g.delete == GuardOff {
		return allowed, "", nil
	}
	v := VersioningOff
	for _, i := range allowed {
		if NeedsVersioning(s3req.OpDeleteObjects, del.Objects[i].VersionID != "", g.delete, GuardOff) {
			var err error
			if v, err = h.versioning(r.Context(), bucket); err != nil {
				ex.ev.Decision, ex.ev.Reason, ex.ev.Message = "error", ReasonVersioningUnavailable, err.Error()
				ex.w.Header().Set("Retry-After", "1")
				h.log.Warn("bucket versioning unreadable", "request_id", ex.rid, "err", err)
				return nil, "", errVersioningUnavailable
			}
			break
		}
	}
	kept := allowed[:0]
	first := ""
	for _, i := range allowed {
		o := del.Objects[i]
		versionID := o.VersionID != ""
		if out, _ := Judge(s3req.OpDeleteObjects, versionID, g.delete, GuardOff, v); out == Allow {
			kept = append(kept, i)
			continue
		}
		denied[i] = true
		action := authz.Action("s3:DeleteObject")
		if versionID {
			action = "s3:DeleteObjectVersion"
		}
		if first == "" {
			first = guardMessage(guardDelete, s3req.OpDeleteObject, versionID, g.delete)
		}
		ex.ev.DeniedKeys = append(ex.ev.DeniedKeys, audit.DeniedKey{Key: o.Key, VersionID: o.VersionID,
			Action: string(action), Reason: ReasonProtectedDelete})
		h.countGuard(guardDelete, pe.roleKind)
	}
	return kept, first, nil
}

// DescribeGuards says, for iamgate explain, what the guards p do to op
// (with a version ID or not) when it is served; nil when none applies.
// Whether versioning is enabled is only known at the store, so both
// cases are named.
func DescribeGuards(op s3req.Operation, versionID bool, p Protect) []string {
	var out []string
	if p.BulkDeleteMaxKeys > 0 && (op == s3req.OpDeleteObject || op == s3req.OpDeleteObjects) {
		out = append(out, fmt.Sprintf("protect.bulk_delete: refused once this session deletes more than %d keys within %s", p.BulkDeleteMaxKeys, p.BulkDeleteWindow))
	}
	guard := guardOf(op)
	if op == s3req.OpPutBucketVersioning {
		guard = guardDelete
		if p.Delete == GuardOff {
			guard = guardOverwrite
		}
	}
	mode := p.Delete
	if guard == guardOverwrite {
		mode = p.Overwrite
	}
	if guard == "" || mode == GuardOff {
		return out
	}
	say := func(v Versioning) string {
		switch o, _ := Judge(op, versionID, p.Delete, p.Overwrite, v); o {
		case Refuse:
			return "refused"
		case Conditional:
			return "forwarded with If-None-Match: * (refused if the key exists)"
		}
		return "allowed"
	}
	prefix := fmt.Sprintf("protect.%s: %s: ", guard, mode)
	if NeedsVersioning(op, versionID, p.Delete, p.Overwrite) {
		return append(out, prefix+"with versioning Enabled on the bucket "+say(VersioningEnabled)+"; otherwise "+say(VersioningOff))
	}
	if op == s3req.OpDeleteObjects {
		return append(out, prefix+"each key "+say(VersioningOff)+" (a key with a version ID too)")
	}
	return append(out, prefix+say(VersioningOff))
}
