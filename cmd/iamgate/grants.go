package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

// grantsRuntime is the process's record of access requests and the
// watcher that keeps the grants in force current, with the notification
// webhook (its URL is read at start). They outlive reloads.
type grantsRuntime struct {
	store   state.Grants
	watcher *state.GrantWatcher
	hook    *web.Webhook // nil: no notification
	now     func() time.Time
}

// newGrantsRuntime builds the record in sh's store (Redis, or memory on
// clock now; nil: time.Now) and the watcher, whose expiries are audited
// and notified.
func newGrantsRuntime(f *config.File, sh *sharedState, aud *audit.Logger, log *slog.Logger, now func() time.Time) *grantsRuntime {
	if now == nil {
		now = time.Now
	}
	g := &grantsRuntime{now: now}
	if sh.redis != nil {
		g.store = sh.redis.Grants()
	} else {
		g.store = state.NewGrantMemory(now)
	}
	if f.AccessRequests != nil && f.AccessRequests.Webhook != "" {
		g.hook = web.NewWebhook(f.AccessRequests.Webhook, nil, log)
	}
	public := ""
	if f.Console != nil {
		public = f.Console.PublicURL
	}
	g.watcher = state.NewGrantWatcher(g.store, state.GrantWatcherConfig{Now: now, Logger: log,
		OnExpire: func(a state.AccessRequest) {
			ev := &audit.Event{Time: now(), Kind: audit.KindAccessRequest, Operation: audit.OpExpireAccessGrant,
				Decision: "allow", Reason: "expired", Grant: auditGrant(&a)}
			if err := aud.Log(ev); err != nil {
				log.Error("audit write failed", "kind", ev.Kind, "err", err)
			}
			log.Info("access grant ended", "grant_id", a.ID, "role", a.Role, "subject", a.Requester.Subject)
			g.notify(web.NewNotification("expired", &a, nil, now(), public))
		}})
	return g
}

func auditGrant(a *state.AccessRequest) *audit.Grant {
	return &audit.Grant{ID: a.ID, Role: a.Role, RequesterIssuer: a.Requester.Issuer, RequesterSubject: a.Requester.Subject,
		Reason: a.Reason, DurationSeconds: int64(a.Duration / time.Second), Start: a.Start, End: a.End, Status: string(a.Status)}
}

func (g *grantsRuntime) notify(n web.Notification) {
	if g.hook != nil {
		g.hook.Send(n)
	}
}

// notifier is web.Config.Notify, or nil without a webhook.
func (g *grantsRuntime) notifier() func(web.Notification) {
	if g.hook == nil {
		return nil
	}
	return g.notify
}

// prime reads the grants once, so that they apply from the first request.
func (g *grantsRuntime) prime(ctx context.Context, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := g.watcher.Refresh(rctx); err != nil {
		log.Error("the access grants cannot be read at start; none is honoured until they can", "err", err)
	}
}

// run keeps the grants current, and marks ended grants expired, until ctx
// is done.
func (g *grantsRuntime) run(ctx context.Context) { g.watcher.Run(ctx) }

func (g *grantsRuntime) close() {
	if g.hook != nil {
		g.hook.Close()
	}
}

// accessWebhookURL is the notification URL of f, for restartOnly.
func accessWebhookURL(f *config.File) string {
	if f.AccessRequests == nil {
		return ""
	}
	return f.AccessRequests.Webhook
}

// Admin endpoints of the grants: GET lists the requests and grants, POST
// {"id": …, "reason": …} to the revoke path ends a grant in force.
const (
	adminGrantsPath      = "/admin/grants"
	adminRevokeGrantPath = "/admin/grants/revoke"
)

// serveGrants serves the grants' admin endpoints (f has an admin
// section); deny answers a refusal.
func (h *adminHandler) serveGrants(w http.ResponseWriter, r *http.Request, ev *audit.Event, f *config.File,
	deny func(int, string, string) (int, any)) (int, any) {
	list := r.URL.Path == adminGrantsPath
	switch {
	case list && r.Method == http.MethodGet:
		ev.Operation = "ListAccessGrants"
	case !list && r.Method == http.MethodPost:
		ev.Kind, ev.Operation = audit.KindAccessRequest, audit.OpRevokeAccessGrant
	case list:
		w.Header().Set("Allow", "GET")
		return deny(http.StatusMethodNotAllowed, "method_not_allowed", "use GET to list; POST to "+adminRevokeGrantPath+" revokes")
	default:
		w.Header().Set("Allow", "POST")
		return deny(http.StatusMethodNotAllowed, "method_not_allowed", "use POST with {\"id\": …, \"reason\": …}")
	}
	caller, status, refusal := h.admit(w, r, ev, f, deny)
	if caller == nil {
		return status, refusal
	}
	g := h.a.grants
	if list {
		set, err := g.store.List(r.Context())
		if err != nil {
			ev.Decision, ev.Reason = "error", "state_unavailable"
			return http.StatusServiceUnavailable, map[string]string{"error": "the access requests cannot be read: " + err.Error()}
		}
		ev.Decision, ev.Reason = "allow", "listed"
		reqs := set.Requests
		if reqs == nil {
			reqs = []state.AccessRequest{}
		}
		return http.StatusOK, map[string]any{"version": set.Version, "requests": reqs}
	}
	var body struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return deny(http.StatusBadRequest, "invalid_request", "the body: "+jsonProblem(err))
	}
	if body.ID == "" || strings.TrimSpace(body.Reason) == "" {
		return deny(http.StatusBadRequest, "invalid_request", "id and reason are required")
	}
	ev.Parameters = map[string]string{"note": body.Reason}
	by := state.Person{Issuer: caller.issuer, Subject: caller.subject}
	if caller.method == "admin-token" {
		by = state.Person{Issuer: "admin", Subject: "admin-token"}
	}
	a, err := g.store.Revoke(r.Context(), body.ID, by)
	switch {
	case errors.Is(err, state.ErrRequestNotFound):
		return deny(http.StatusNotFound, "not_found", "no access request has this id")
	case errors.Is(err, state.ErrNotActive):
		if cur, gerr := g.store.Get(r.Context(), body.ID); gerr == nil {
			ev.Grant = auditGrant(&cur)
		}
		return deny(http.StatusConflict, "not_active", "the grant is not in force")
	case err != nil:
		h.a.log.Error("grant not revoked", "grant_id", body.ID, "err", err)
		ev.Decision, ev.Reason, ev.Message = "error", "state_unavailable", "the grant was not revoked: the shared state failed"
		return http.StatusServiceUnavailable, map[string]string{"error": "the grant was NOT revoked: the shared state failed; try again"}
	}
	g.watcher.Changed(r.Context())
	ev.Grant = auditGrant(&a)
	ev.Decision, ev.Reason = "allow", "revoked"
	public := ""
	if f.Console != nil {
		public = f.Console.PublicURL
	}
	g.notify(web.NewNotification("revoked", &a, &by, g.now(), public))
	return http.StatusOK, map[string]any{"request": a}
}
