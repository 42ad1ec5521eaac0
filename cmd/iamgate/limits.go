package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/proxy"
)

// limitPolicies maps the roles' limits: and escalation: keys (and the
// trust rules' limits:) onto the proxy's per-role limits; nil when no
// role has limits.
func limitPolicies(f *config.File) map[string]*proxy.RoleLimits {
	var out map[string]*proxy.RoleLimits
	for _, r := range f.Roles {
		var esc *limits.Escalation
		if e := r.Escalation; e != nil {
			esc = &limits.Escalation{Window: e.Window, DenyAfter: e.DenyAfter, RevokeAfter: e.RevokeAfter,
				RevokeIdentity: e.Revoke == config.ScopeIdentity, RevokeFor: max(24*time.Hour, r.MaxSession)}
		}
		policy := func(l *config.Limits) *limits.Policy {
			if l == nil {
				return nil
			}
			rules := &limits.Rules{RequestsPerSecond: l.RequestsPerSecond, Burst: l.Burst, Window: l.Window,
				BytesDownloaded: l.BytesDownloaded, BytesUploaded: l.BytesUploaded, ObjectsRead: l.ObjectsRead,
				KeysListed: l.KeysListed, ConcurrentRequests: l.ConcurrentRequests, Claim: l.Claim}
			for _, s := range l.Per {
				rules.Per = append(rules.Per, limits.Scope(s))
			}
			return &limits.Policy{Role: r.Name, Kind: r.Kind, Rules: rules, Escalation: esc}
		}
		rl := &proxy.RoleLimits{Role: policy(r.Limits)}
		some := rl.Role != nil
		for i, t := range r.Trust {
			if t.Limits != nil {
				if rl.Trust == nil {
					rl.Trust = make([]*limits.Policy, len(r.Trust))
				}
				rl.Trust[i] = policy(t.Limits)
				some = true
			}
		}
		if !some {
			continue
		}
		if out == nil {
			out = map[string]*proxy.RoleLimits{}
		}
		out[r.Name] = rl
	}
	return out
}

// limitsRuntime is the process's limiter: its counters and the alert
// webhook outlive reloads (the webhook URL is read at start).
type limitsRuntime struct {
	limiter *limits.Limiter
	metrics *limits.Metrics
	alerts  atomic.Pointer[limits.Webhook]
}

func newLimitsRuntime(f *config.File, sh *sharedState, aud *audit.Logger, log *slog.Logger, reg prometheus.Registerer) *limitsRuntime {
	lr := &limitsRuntime{metrics: limits.NewMetrics(reg)}
	if f.Alerts != nil {
		lr.alerts.Store(limits.NewWebhook(f.Alerts.Webhook, nil, log))
	}
	var carry time.Duration
	if sh.redis != nil {
		// One round trip per request: counts known after a response
		// travel with the next admission, or within this delay.
		carry = countsCarryDelay
	}
	lr.limiter = limits.New(sh.counters, limits.Config{
		Defer:       carry,
		Revocations: sh.watcher,
		OnHit: func(p *limits.Policy, l limits.Limit) {
			lr.metrics.Hits.WithLabelValues(limits.KindLabel(p.Kind), string(l)).Inc()
		},
		OnEscalation: func(e limits.Event) {
			lr.metrics.Escalations.WithLabelValues(limits.KindLabel(e.Kind), string(e.Step)).Inc()
			ev := escalationEvent(e)
			if err := aud.Log(&ev); err != nil {
				log.Error("audit write failed", "err", err)
			}
			lvl := slog.LevelWarn
			if e.Err != nil {
				lvl = slog.LevelError
			}
			log.Log(context.Background(), lvl, "limits escalation", "step", e.Step, "role", e.Role, "session", e.Subject.Session,
				"subject", e.Subject.Subject, "limit", e.Limit, "hits", e.Hits, "revocation", e.Rule, "err", e.Err)
			if w := lr.alerts.Load(); w != nil {
				w.Send(limits.AlertOf(e))
			}
		},
	})
	return lr
}

// countsCarryDelay bounds how long a count known after a response waits
// for an admission to carry it to the shared counters.
const countsCarryDelay = 25 * time.Millisecond

func (lr *limitsRuntime) close() {
	// Send the counts still waiting, while the shared state is open.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lr.limiter.Close(ctx)
	if w := lr.alerts.Swap(nil); w != nil {
		w.Close()
	}
}

// escalationEvent is the audit event of a kill-switch step.
func escalationEvent(e limits.Event) audit.Event {
	ev := audit.Event{
		Time: e.Time, Kind: audit.KindEscalation, Decision: "deny", Reason: string(e.Step),
		Issuer: e.Subject.Issuer, Subject: e.Subject.Subject, Roles: []string{e.Role}, RoleKind: e.Kind,
		Claims: e.Subject.Claims, Role: e.Role,
		Parameters: map[string]string{
			"limit":         string(e.Limit),
			"hits":          strconv.FormatInt(e.Hits, 10),
			"windowSeconds": strconv.FormatInt(int64(e.Window/time.Second), 10),
			"session":       e.Subject.Session,
		},
	}
	if e.Subject.Revoke.SessionID != "" {
		ev.SessionID = e.Subject.Revoke.SessionID
	}
	if e.Subject.Identity != "" {
		ev.Parameters["identity"] = e.Subject.Identity
	}
	if e.Usage != "" {
		ev.Parameters["usage"] = e.Usage
	}
	if e.Rule != "" {
		ev.Parameters["revocationId"] = e.Rule
	}
	switch e.Step {
	case limits.StepDeny:
		ev.Message = "The session is denied for the rest of its escalation window after " + strconv.FormatInt(e.Hits, 10) + " limit hits."
	default:
		ev.Message = "Revoked after " + strconv.FormatInt(e.Hits, 10) + " limit hits."
	}
	if e.Err != nil {
		ev.Decision = "error"
		ev.Message += " The revocation was NOT stored: " + e.Err.Error()
	}
	return ev
}
