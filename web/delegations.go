package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// DelegationsPath is the console page of the delegated sessions acting
// for the signed-in person; RevokeDelegationPath revokes one (POST).
const (
	DelegationsPath      = "/_iamgate/ui/delegations"
	RevokeDelegationPath = "/_iamgate/delegations/revoke"
)

// DelegationList lists the delegated sessions acting for a person; the
// implementations of [state.Delegations] satisfy it.
type DelegationList interface {
	List(ctx context.Context, issuer, subject string) ([]state.Delegation, error)
}

// RevocationAdder adds a run-time revocation that applies on every
// replica; [state.RevocationWatcher] satisfies it.
type RevocationAdder interface {
	Add(ctx context.Context, r state.Revocation) (state.Revocation, error)
}

type delegationRow struct {
	SessionID, Actor, ActorRole, Role, SessionName, Issued, Expires string
	// Revoked: a revocation voids the session; it is listed until it
	// would have expired, without a Revoke button.
	Revoked bool
}

// revoked reports whether a revocation of the configuration or of the
// run-time rules voids the recorded session (rules on claims see the
// scalar claims the record keeps); an unreadable run-time list shows the
// session as not revoked, and Revoke stays available.
func (s *Service) revoked(d *state.Delegation, runtime []identity.Revocation) bool {
	sess := &identity.Session{ID: d.SessionID, Issuer: d.Issuer, Subject: d.Subject, Roles: []string{d.Role}, IssuedAt: d.IssuedAt,
		Claims: anyClaims(d.Claims),
		Actor: &identity.SessionActor{Issuer: d.ActorIssuer, Subject: d.ActorSubject, Roles: []string{d.ActorRole},
			Claims: anyClaims(d.ActorClaims)}}
	if ok, _ := identity.Revoked(sess, s.cfg.Revocations); ok {
		return true
	}
	ok, _ := identity.Revoked(sess, runtime)
	return ok
}

// anyClaims is a record's claims as a session holds them.
func anyClaims(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// serveDelegations renders the page of delegated sessions (d holds the
// signed-in person).
func (s *Service) serveDelegations(w http.ResponseWriter, r *http.Request, sess *identity.Session, d *pageData) {
	d.Title = "Agents acting for you"
	if s.cfg.Delegations == nil {
		d.Denied = "This iamgate does not record delegated sessions."
		s.renderer.page(w, http.StatusOK, "delegations.html", d)
		return
	}
	list, err := s.cfg.Delegations.List(r.Context(), sess.Issuer, sess.Subject)
	if err != nil {
		s.log.Error("the delegated sessions cannot be listed", "err", err)
		d.Denied = "The sessions acting for you cannot be listed right now. Try again in a moment."
		s.renderer.page(w, http.StatusServiceUnavailable, "delegations.html", d)
		return
	}
	revoked := r.URL.Query().Get("revoked")
	var runtime []identity.Revocation
	if s.cfg.RuntimeRevocations != nil {
		runtime, _ = s.cfg.RuntimeRevocations.Revocations()
	}
	for _, x := range list {
		actor := x.ActorSubject
		if x.ActorClientID != "" && x.ActorClientID != x.ActorSubject {
			actor += " (" + x.ActorClientID + ")"
		}
		d.Delegations = append(d.Delegations, delegationRow{
			SessionID: x.SessionID, Actor: actor, ActorRole: x.ActorRole, Role: x.Role, SessionName: x.RoleSessionName,
			Issued: x.IssuedAt.UTC().Format("2006-01-02 15:04 UTC"), Expires: x.Expiry.UTC().Format("2006-01-02 15:04 UTC"),
			Revoked: x.SessionID == revoked || s.revoked(&x, runtime),
		})
	}
	if revoked != "" {
		d.Message = "The session " + revoked + " is revoked: its requests are refused on every replica."
	}
	s.renderer.page(w, http.StatusOK, "delegations.html", d)
}

// serveRevokeDelegation revokes one delegated session acting for the
// signed-in person: a POST of session_id with the console's CSRF token
// in the csrf field. Only a session listed for that person can be
// revoked.
func (s *Service) serveRevokeDelegation(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	sess, _, err := s.Session(w, r)
	if err != nil || sess == nil {
		if sessionUnavailable(err) {
			s.renderer.errorPage(w, http.StatusServiceUnavailable, "Try again shortly", "Your session cannot be checked right now. Try again in a moment.")
			return
		}
		http.Redirect(w, r, s.LoginPath(DelegationsPath), http.StatusSeeOther)
		return
	}
	ev := s.sessionEvent(audit.KindRevocation, "browser-session", sess)
	ev.Operation, ev.Decision = "RevokeDelegatedSession", "deny"
	deny := func(status int, reason, title, msg string) {
		ev.Reason, ev.Message, ev.Status = reason, msg, status
		s.logEvent(r, ev)
		s.renderer.errorPage(w, status, title, msg)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		deny(http.StatusBadRequest, "bad_request", "Bad request", "The form could not be read.")
		return
	}
	if !identity.CheckCSRFToken(sess, r.PostForm.Get("csrf")) {
		deny(http.StatusForbidden, "csrf", "Refused", "The request does not come from the console.")
		return
	}
	id := r.PostForm.Get("session_id")
	ev.Parameters = map[string]string{"sessionId": id}
	if s.cfg.Delegations == nil || s.cfg.RevokeSessions == nil {
		deny(http.StatusNotFound, "disabled", "Not available", "This iamgate does not record delegated sessions.")
		return
	}
	list, err := s.cfg.Delegations.List(r.Context(), sess.Issuer, sess.Subject)
	if err != nil {
		s.log.Error("the delegated sessions cannot be listed", "err", err)
		deny(http.StatusServiceUnavailable, "state_unavailable", "Try again shortly", "The sessions acting for you cannot be read right now; nothing was revoked.")
		return
	}
	var found *state.Delegation
	for i := range list {
		if list[i].SessionID == id {
			found = &list[i]
			break
		}
	}
	if found == nil {
		deny(http.StatusNotFound, "not_found", "Not found", "No session acting for you has this ID; it may have expired.")
		return
	}
	ev.Parameters["actorSubject"], ev.Parameters["actorRole"] = found.ActorSubject, found.ActorRole
	// The rule names the session alone, and lives as long as it could.
	now := s.cfg.Now().UTC()
	_, err = s.cfg.RevokeSessions.Add(r.Context(), state.Revocation{
		SessionID: found.SessionID, IssuedBefore: found.Expiry, Expires: found.Expiry.Add(time.Second),
		Reason:  "revoked in the console by the person it acted for",
		AddedBy: "console:" + sess.Issuer + ":" + sess.Subject, AddedAt: now,
	})
	if err != nil {
		s.log.Error("the delegated session was not revoked", "session_id", found.SessionID, "err", err)
		deny(http.StatusServiceUnavailable, "state_unavailable", "Not revoked", "The session was NOT revoked: the shared state failed. Try again.")
		return
	}
	ev.Decision, ev.Reason, ev.Status = "allow", "revoked", http.StatusSeeOther
	ev.Message = "the delegated session is refused on every replica"
	s.logEvent(r, ev)
	http.Redirect(w, r, DelegationsPath+"?revoked="+url.QueryEscape(found.SessionID), http.StatusSeeOther)
}
