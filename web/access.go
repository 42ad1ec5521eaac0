package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// Paths of just-in-time access: the console page (GET), and the forms
// that request a role, decide a request and revoke a grant (POST, with
// the console's CSRF token in the csrf field).
const (
	AccessPath        = "/_iamgate/ui/access"
	RequestAccessPath = "/_iamgate/access/request"
	DecideAccessPath  = "/_iamgate/access/decide"
	RevokeAccessPath  = "/_iamgate/access/revoke"
)

// AccessDurations are the durations offered for a request, up to the
// role's max_duration (which is always offered).
var AccessDurations = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// GrantStore is the shared record of access requests and grants; the
// implementations of [state.Grants] satisfy it.
type GrantStore interface {
	Request(ctx context.Context, r state.AccessRequest) (state.AccessRequest, error)
	Decide(ctx context.Context, id string, approve bool, by state.Person) (state.AccessRequest, error)
	Revoke(ctx context.Context, id string, by state.Person) (state.AccessRequest, error)
	Get(ctx context.Context, id string) (state.AccessRequest, error)
	List(ctx context.Context) (state.GrantSet, error)
}

// Notification is what an access request's webhook receives: the step
// (requested, approved, rejected, revoked, expired), the request, who
// acted, and a one-line text for chat tools.
type Notification struct {
	Event string `json:"event"`
	Text  string `json:"text"`
	// The request, after the step.
	ID              string       `json:"id"`
	Role            string       `json:"role"`
	Requester       state.Person `json:"requester"`
	Reason          string       `json:"reason"`
	DurationSeconds int64        `json:"duration_seconds"`
	Status          string       `json:"status"`
	Start           time.Time    `json:"start,omitzero"`
	End             time.Time    `json:"end,omitzero"`
	// By is who acted (the requester, an approver); nil for an expiry.
	By *state.Person `json:"by,omitempty"`
	// URL is the console page of access requests, when the public URL is
	// known.
	URL  string    `json:"url,omitempty"`
	Time time.Time `json:"time"`
}

// NewNotification describes the step event (requested, approved,
// rejected, revoked, expired) of a, taken by by (nil: nobody, for an
// expiry) at now; consoleURL is the public URL of the console, or "".
func NewNotification(event string, a *state.AccessRequest, by *state.Person, now time.Time, consoleURL string) Notification {
	n := Notification{Event: event, ID: a.ID, Role: a.Role, Requester: a.Requester, Reason: a.Reason,
		DurationSeconds: int64(a.Duration / time.Second), Status: string(a.Status), Start: a.Start, End: a.End, By: by, Time: now.UTC()}
	if consoleURL != "" {
		n.URL = consoleURL + AccessPath
	}
	n.Text = notificationText(&n)
	return n
}

type accessRole struct {
	Name, Description string
	Durations         []lifetimeChoice
}

type accessRow struct {
	ID, Role, Requester, Reason, Duration, Status, Requested, Decided, Ends, Left string
	Active, Pending, MayDecide, MayRevoke                                         bool
}

// accessData is the page of access requests.
type accessData struct {
	Requestable []accessRole
	Mine        []accessRow
	ToDecide    []accessRow
	Others      []accessRow
}

// describe is the description shown beside a requestable role
// (Config.RoleDescriptions), or "".
func (s *Service) describe(role string) string { return s.cfg.RoleDescriptions[role] }

func person(sess *identity.Session) state.Person {
	return state.Person{Issuer: sess.Issuer, Subject: sess.Subject, Username: authz.Username(sess.Claims, sess.Subject)}
}

func personText(p state.Person) string {
	if p.Username != "" && p.Username != p.Subject {
		return p.Username + " (" + p.Subject + ")"
	}
	return p.Subject
}

// mayApprove reports whether sess may decide requests for role, by the
// role's approvers rules; the requester is refused separately.
func (s *Service) mayApprove(sess *identity.Session, role string) bool {
	r, ok := s.cfg.Engine.Role(role)
	return ok && r.MayApprove(&authz.Identity{Issuer: sess.Issuer, Subject: sess.Subject, Claims: sess.Claims})
}

func leftText(d time.Duration) string {
	if d <= 0 {
		return "ended"
	}
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	return humanDuration(d)
}

func (s *Service) row(sess *identity.Session, a *state.AccessRequest, now time.Time) accessRow {
	me := person(sess)
	row := accessRow{ID: a.ID, Role: a.Role, Requester: personText(a.Requester), Reason: a.Reason,
		Duration: humanDuration(a.Duration), Status: string(a.Status), Requested: a.RequestedAt.UTC().Format("2006-01-02 15:04 UTC")}
	if a.DecidedBy != nil {
		row.Decided = personText(*a.DecidedBy) + ", " + a.DecidedAt.UTC().Format("15:04 UTC")
	}
	if a.Status == state.GrantApproved && !now.Before(a.End) {
		row.Status = string(state.GrantExpired)
	}
	if a.Active(now) {
		row.Active = true
		row.Ends = a.End.UTC().Format(time.RFC3339)
		row.Left = leftText(a.End.Sub(now))
		row.MayRevoke = a.Requester.Same(me) || s.mayApprove(sess, a.Role)
	}
	if a.Status == state.GrantPending {
		row.Pending = true
		row.MayDecide = !a.Requester.Same(me) && s.mayApprove(sess, a.Role)
	}
	return row
}

// serveAccess renders the page of access requests: the roles the person
// may request, their requests and grants, and the requests they may
// decide.
func (s *Service) serveAccess(w http.ResponseWriter, r *http.Request, sess *identity.Session, d *pageData) {
	d.Title = "Access requests"
	if s.cfg.Grants == nil {
		d.Denied = "This iamgate has no requestable roles."
		s.renderer.page(w, http.StatusOK, "access.html", d)
		return
	}
	set, err := s.cfg.Grants.List(r.Context())
	if err != nil {
		s.log.Error("the access requests cannot be listed", "err", err)
		d.Denied = "The access requests cannot be listed right now. Try again in a moment."
		s.renderer.page(w, http.StatusServiceUnavailable, "access.html", d)
		return
	}
	now := s.cfg.Now()
	me := person(sess)
	ad := &accessData{}
	busy := map[string]bool{} // roles the person holds, was granted or asked for
	for _, name := range sess.Roles {
		busy[name] = true
	}
	for i := range set.Requests {
		a := &set.Requests[i]
		row := s.row(sess, a, now)
		switch {
		case a.Requester.Same(me):
			ad.Mine = append(ad.Mine, row)
			if row.Active || row.Pending {
				busy[a.Role] = true
			}
		case row.MayDecide:
			ad.ToDecide = append(ad.ToDecide, row)
		case row.Active && row.MayRevoke:
			ad.Others = append(ad.Others, row)
		}
	}
	for _, role := range s.cfg.Engine.Roles() {
		max, ok := role.Requestable()
		if !ok || busy[role.Name()] {
			continue
		}
		ar := accessRole{Name: role.Name(), Description: s.describe(role.Name())}
		for _, dur := range AccessDurations {
			if dur < max {
				ar.Durations = append(ar.Durations, lifetimeChoice{Value: dur.String(), Label: humanDuration(dur)})
			}
		}
		ar.Durations = append(ar.Durations, lifetimeChoice{Value: max.String(), Label: humanDuration(max), Selected: true})
		ad.Requestable = append(ad.Requestable, ar)
	}
	d.Access = ad
	switch q := r.URL.Query(); {
	case q.Get("requested") != "":
		d.Message = "Your request " + q.Get("requested") + " is waiting for an approver."
	case q.Get("approved") != "":
		d.Message = "The request " + q.Get("approved") + " is approved."
	case q.Get("rejected") != "":
		d.Message = "The request " + q.Get("rejected") + " is rejected."
	case q.Get("revoked") != "":
		d.Message = "The grant " + q.Get("revoked") + " is revoked: it no longer applies, on any replica."
	}
	s.renderer.page(w, http.StatusOK, "access.html", d)
}

// accessForm is the common part of the three POST forms: the session,
// the CSRF check, the form, the event. It answers the request itself
// and returns nil when it cannot go on.
func (s *Service) accessForm(w http.ResponseWriter, r *http.Request, op string) (*identity.Session, *audit.Event, func(int, string, string, string)) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, nil, nil
	}
	sess, _, err := s.Session(w, r)
	if err != nil || sess == nil {
		if sessionUnavailable(err) {
			s.renderer.errorPage(w, http.StatusServiceUnavailable, "Try again shortly", "Your session cannot be checked right now. Try again in a moment.")
			return nil, nil, nil
		}
		http.Redirect(w, r, s.LoginPath(AccessPath), http.StatusSeeOther)
		return nil, nil, nil
	}
	ev := s.sessionEvent(audit.KindAccessRequest, "browser-session", sess)
	ev.Operation, ev.Decision = op, "deny"
	deny := func(status int, reason, title, msg string) {
		ev.Reason, ev.Message, ev.Status = reason, msg, status
		s.logEvent(r, ev)
		s.renderer.errorPage(w, status, title, msg)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		deny(http.StatusBadRequest, "bad_request", "Bad request", "The form could not be read.")
		return nil, nil, nil
	}
	if !identity.CheckCSRFToken(sess, r.PostForm.Get("csrf")) {
		deny(http.StatusForbidden, "csrf", "Refused", "The request does not come from the console.")
		return nil, nil, nil
	}
	if s.cfg.Grants == nil {
		deny(http.StatusNotFound, "disabled", "Not available", "This iamgate has no requestable roles.")
		return nil, nil, nil
	}
	return sess, ev, deny
}

func grantOf(a *state.AccessRequest) *audit.Grant {
	return &audit.Grant{ID: a.ID, Role: a.Role, RequesterIssuer: a.Requester.Issuer, RequesterSubject: a.Requester.Subject,
		Reason: a.Reason, DurationSeconds: int64(a.Duration / time.Second), Start: a.Start, End: a.End, Status: string(a.Status)}
}

// changed tells the local copy of the grants, and the approvers.
func (s *Service) changed(r *http.Request, event string, a *state.AccessRequest, by *state.Person) {
	if s.cfg.GrantsChanged != nil {
		s.cfg.GrantsChanged(r.Context())
	}
	if s.cfg.Notify == nil {
		return
	}
	public := ""
	if s.public != nil {
		public = s.public.String()
	}
	s.cfg.Notify(NewNotification(event, a, by, s.cfg.Now(), public))
}

// notificationText is the one line a chat tool shows for n.
func notificationText(n *Notification) string {
	a := n
	d := time.Duration(n.DurationSeconds) * time.Second
	by := ""
	if n.By != nil {
		by = personText(*n.By)
	}
	var t string
	switch n.Event {
	case "requested":
		t = fmt.Sprintf("%s requests role %s for %s: %q", personText(a.Requester), a.Role, humanDuration(d), a.Reason)
	case "approved":
		t = fmt.Sprintf("%s approved %s's request for role %s, until %s", by, personText(a.Requester), a.Role, a.End.UTC().Format("2006-01-02 15:04 UTC"))
	case "rejected":
		t = fmt.Sprintf("%s rejected %s's request for role %s", by, personText(a.Requester), a.Role)
	case "revoked":
		t = fmt.Sprintf("%s revoked %s's grant of role %s", by, personText(a.Requester), a.Role)
	case "expired":
		t = fmt.Sprintf("%s's grant of role %s ended", personText(a.Requester), a.Role)
	default:
		t = fmt.Sprintf("access request %s: %s", a.ID, n.Event)
	}
	t = "[iamgate] " + chatEscape.Replace(t) + " (" + a.ID + ")"
	if n.URL != "" {
		t += " " + n.URL
	}
	return t
}

// chatEscape escapes what Slack's (and Mattermost's) message text reads
// as markup, so that a reason or a user name cannot mention a channel
// (<!channel>) or hide a link (<https://…|text>).
var chatEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// checkRequestForm reads the duration of a request form (a Go duration
// between one minute and max) and checks its reason (trimmed, not empty,
// at most state.MaxGrantReason bytes, valid UTF-8). A refusal returns a
// reason code and a message.
func checkRequestForm(duration, reason string, max time.Duration) (time.Duration, string, string) {
	d, err := time.ParseDuration(duration)
	if err != nil || d < time.Minute || d > max {
		return 0, "bad_duration", fmt.Sprintf("Choose a duration between 1 minute and %s.", humanDuration(max))
	}
	switch {
	case reason == "":
		return 0, "reason_required", "Say why you need the role."
	case len(reason) > state.MaxGrantReason:
		return 0, "bad_request", fmt.Sprintf("The reason is longer than %d bytes.", state.MaxGrantReason)
	case !utf8.ValidString(reason):
		return 0, "bad_request", "The reason is not valid UTF-8 text."
	}
	return d, "", ""
}

// serveRequestAccess records a request for a requestable role: role,
// duration (at most the role's max_duration) and a reason.
func (s *Service) serveRequestAccess(w http.ResponseWriter, r *http.Request) {
	sess, ev, deny := s.accessForm(w, r, audit.OpRequestAccess)
	if sess == nil {
		return
	}
	roleName := r.PostForm.Get("role")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	ev.Parameters = map[string]string{"role": roleName}
	role, ok := s.cfg.Engine.Role(roleName)
	if !ok {
		deny(http.StatusNotFound, "not_requestable", "Not found", "There is no such role.")
		return
	}
	max, ok := role.Requestable()
	if !ok {
		deny(http.StatusForbidden, "not_requestable", "Not requestable", "The role "+roleName+" cannot be requested.")
		return
	}
	if slices.Contains(sess.Roles, roleName) {
		deny(http.StatusConflict, "already_held", "Already yours", "You already hold the role "+roleName+".")
		return
	}
	d, code, msg := checkRequestForm(r.PostForm.Get("duration"), reason, max)
	if code != "" {
		deny(http.StatusBadRequest, code, "Bad request", msg)
		return
	}
	me := person(sess)
	a, err := s.cfg.Grants.Request(r.Context(), state.AccessRequest{Role: roleName, Requester: me, Reason: reason, Duration: d})
	switch {
	case errors.Is(err, state.ErrTooManyRequests):
		deny(http.StatusTooManyRequests, "too_many_requests", "Too many requests", "You have too many requests waiting for a decision.")
		return
	case err != nil:
		s.log.Error("the access request was not recorded", "err", err)
		deny(http.StatusServiceUnavailable, "state_unavailable", "Not recorded", "The request was NOT recorded: the shared state failed. Try again.")
		return
	}
	ev.Grant = grantOf(&a)
	ev.Decision, ev.Reason, ev.Status = "allow", "requested", http.StatusSeeOther
	s.logEvent(r, ev)
	s.changed(r, "requested", &a, &me)
	http.Redirect(w, r, AccessPath+"?requested="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

// serveDecideAccess approves or rejects a pending request: id and
// decision (approve or reject). The requester can never decide their own
// request, even when an approvers rule matches them.
func (s *Service) serveDecideAccess(w http.ResponseWriter, r *http.Request) {
	sess, ev, deny := s.accessForm(w, r, audit.OpRejectAccessRequest)
	if sess == nil {
		return
	}
	approve := r.PostForm.Get("decision") == "approve"
	if approve {
		ev.Operation = audit.OpApproveAccessRequest
	} else if r.PostForm.Get("decision") != "reject" {
		deny(http.StatusBadRequest, "bad_request", "Bad request", "The decision must be approve or reject.")
		return
	}
	id := r.PostForm.Get("id")
	a, err := s.cfg.Grants.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, state.ErrRequestNotFound) {
			deny(http.StatusNotFound, "not_found", "Not found", "There is no such request; it may have been forgotten.")
		} else {
			s.log.Error("the access request cannot be read", "err", err)
			deny(http.StatusServiceUnavailable, "state_unavailable", "Try again shortly", "The request cannot be read right now; nothing was decided.")
		}
		return
	}
	ev.Grant = grantOf(&a)
	me := person(sess)
	if a.Requester.Same(me) {
		deny(http.StatusForbidden, "self_approval", "Refused", "You cannot decide your own request; another approver must.")
		return
	}
	if !s.mayApprove(sess, a.Role) {
		deny(http.StatusForbidden, "not_approver", "Refused", "You are not an approver of the role "+a.Role+".")
		return
	}
	a, err = s.cfg.Grants.Decide(r.Context(), id, approve, me)
	switch {
	case errors.Is(err, state.ErrNotPending):
		deny(http.StatusConflict, "already_decided", "Already decided", "The request was already decided.")
		return
	case errors.Is(err, state.ErrSelfApproval):
		deny(http.StatusForbidden, "self_approval", "Refused", "You cannot decide your own request; another approver must.")
		return
	case err != nil:
		s.log.Error("the access request was not decided", "err", err)
		deny(http.StatusServiceUnavailable, "state_unavailable", "Not decided", "The request was NOT decided: the shared state failed. Try again.")
		return
	}
	ev.Grant = grantOf(&a)
	ev.Decision, ev.Status = "allow", http.StatusSeeOther
	step := "rejected"
	if approve {
		step = "approved"
	}
	ev.Reason = step
	s.logEvent(r, ev)
	s.changed(r, step, &a, &me)
	http.Redirect(w, r, AccessPath+"?"+step+"="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

// serveRevokeAccess ends a grant in force: its requester or an approver
// of its role may.
func (s *Service) serveRevokeAccess(w http.ResponseWriter, r *http.Request) {
	sess, ev, deny := s.accessForm(w, r, audit.OpRevokeAccessGrant)
	if sess == nil {
		return
	}
	id := r.PostForm.Get("id")
	a, err := s.cfg.Grants.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, state.ErrRequestNotFound) {
			deny(http.StatusNotFound, "not_found", "Not found", "There is no such grant; it may have been forgotten.")
		} else {
			s.log.Error("the grant cannot be read", "err", err)
			deny(http.StatusServiceUnavailable, "state_unavailable", "Try again shortly", "The grant cannot be read right now; nothing was revoked.")
		}
		return
	}
	ev.Grant = grantOf(&a)
	me := person(sess)
	if !a.Requester.Same(me) && !s.mayApprove(sess, a.Role) {
		deny(http.StatusForbidden, "not_approver", "Refused", "Only the grant's holder or an approver of the role "+a.Role+" may revoke it.")
		return
	}
	a, err = s.cfg.Grants.Revoke(r.Context(), id, me)
	switch {
	case errors.Is(err, state.ErrNotActive):
		deny(http.StatusConflict, "not_active", "Not in force", "The grant is not in force.")
		return
	case err != nil:
		s.log.Error("the grant was not revoked", "err", err)
		deny(http.StatusServiceUnavailable, "state_unavailable", "Not revoked", "The grant was NOT revoked: the shared state failed. Try again.")
		return
	}
	ev.Grant = grantOf(&a)
	ev.Decision, ev.Reason, ev.Status = "allow", "revoked", http.StatusSeeOther
	s.logEvent(r, ev)
	s.changed(r, "revoked", &a, &me)
	http.Redirect(w, r, AccessPath+"?revoked="+url.QueryEscape(a.ID), http.StatusSeeOther)
}
