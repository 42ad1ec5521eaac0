package main

import (
	"context"
	"log/slog"
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
