package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits bound how much and how fast the sessions of a role may act (the
// role's limits: key, or a trust rule's, which replaces the role's). Zero
// values are "no limit". The counting is the limits package's business.
type Limits struct {
	RequestsPerSecond float64 // token bucket refill; 0: no rate limit
	Burst             int     // bucket size; default ceil(RequestsPerSecond)
	// Window is the length of the fixed windows the budgets are counted
	// in; required when a budget is set.
	Window             time.Duration
	BytesDownloaded    int64
	BytesUploaded      int64
	ObjectsRead        int64
	KeysListed         int64 // keys returned by listings
	ConcurrentRequests int
	// Per lists the scopes counted: "session", "identity", "role";
	// default [session].
	Per []string
	// Claim names the claim that identifies an identity for the
	// "identity" scope; default "sub".
	Claim string
	Pos   Pos
}

// Limit scopes.
const (
	ScopeSession  = "session"
	ScopeIdentity = "identity"
	ScopeRole     = "role"
)

// Escalation is a role's progressive kill switch: limit hits counted per
// session over Window deny every request of the session for the rest of
// the window after DenyAfter hits, and revoke it (or every session of its
// identity) after RevokeAfter.
type Escalation struct {
	Window      time.Duration
	DenyAfter   int64  // 0: no deny step
	RevokeAfter int64  // 0: no revoke step
	Revoke      string // "session" (default) or "identity"
	Pos         Pos
}

// Alerts configures where escalations are announced.
type Alerts struct {
	Webhook string // URL receiving a JSON POST per escalation step
	Pos     Pos
}

// Limit bounds.
const (
	MaxLimitRate      = 1_000_000
	MaxLimitBurst     = 1_000_000
	MaxLimitCount     = 1 << 50
	MaxLimitWindow    = 31 * 24 * time.Hour
	MinLimitWindow    = time.Second
	MaxConcurrent     = 100_000
	MaxEscalationHits = 1_000_000
)

func (p *parser) limits(n *yaml.Node, path string) *Limits {
	l := &Limits{Pos: p.pos(n)}
	var burstNode, winNode *yaml.Node
	present, ok := p.mapping(n, path, []field{
		{"requests_per_second", func(path string, v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!float") {
				p.errorf(v, path, "expected a number, got "+describe(v))
				return
			}
			var f float64
			if err := v.Decode(&f); err != nil || !(f > 0) || f > MaxLimitRate {
				p.errorf(v, path, fmt.Sprintf("must be a number above 0 and at most %d", MaxLimitRate))
				return
			}
			l.RequestsPerSecond = f
		}},
		{"burst", func(path string, v *yaml.Node) {
			burstNode = v
			if b, ok := p.integer(v, path, MaxLimitBurst); ok {
				l.Burst = int(b)
			}
		}},
		{"window", func(path string, v *yaml.Node) {
			winNode = v
			l.Window, _ = p.duration(v, path, MinLimitWindow, MaxLimitWindow)
		}},
		{"bytes_downloaded", func(path string, v *yaml.Node) { l.BytesDownloaded, _ = p.size(v, path, 1, MaxLimitCount) }},
		{"bytes_uploaded", func(path string, v *yaml.Node) { l.BytesUploaded, _ = p.size(v, path, 1, MaxLimitCount) }},
		{"objects_read", func(path string, v *yaml.Node) { l.ObjectsRead, _ = p.integer(v, path, MaxLimitCount) }},
		{"keys_listed", func(path string, v *yaml.Node) { l.KeysListed, _ = p.integer(v, path, MaxLimitCount) }},
		{"concurrent_requests", func(path string, v *yaml.Node) {
			if c, ok := p.integer(v, path, MaxConcurrent); ok {
				l.ConcurrentRequests = int(c)
			}
		}},
		{"per", func(path string, v *yaml.Node) {
			for _, it := range p.strItems(v, path) {
				switch it.s {
				case ScopeSession, ScopeIdentity, ScopeRole:
					l.Per = append(l.Per, it.s)
				default:
					p.errorf(it.n, it.path, "unknown scope "+quote(it.s)+"; use session, identity or role")
				}
			}
		}},
		{"claim", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if !validClaimPath(s) {
					p.errorf(v, path, "invalid claim name "+quote(s))
					return
				}
				l.Claim = s
			}
		}},
	})
	if !ok {
		return nil
	}
	if burstNode != nil && l.RequestsPerSecond == 0 && present["requests_per_second"] == nil {
		p.errorf(burstNode, path+".burst", "burst needs requests_per_second")
	}
	if l.RequestsPerSecond > 0 && l.Burst == 0 {
		l.Burst = max(1, int(l.RequestsPerSecond+0.999999))
	}
	budget := l.BytesDownloaded > 0 || l.BytesUploaded > 0 || l.ObjectsRead > 0 || l.KeysListed > 0
	if budget && l.Window == 0 && winNode == nil {
		p.errorf(n, path, "a budget (bytes_downloaded, bytes_uploaded, objects_read, keys_listed) needs a window, such as window: 1h")
	}
	if !budget && winNode != nil {
		p.warnf(winNode, path+".window", "window without a budget counts nothing")
	}
	if len(l.Per) == 0 {
		l.Per = []string{ScopeSession}
	}
	if l.Claim != "" && !contains(l.Per, ScopeIdentity) {
		p.errorf(present["claim"], path+".claim", "claim names the identity of the identity scope: add identity to per")
	}
	if l.Claim == "" {
		l.Claim = "sub"
	}
	if l.RequestsPerSecond == 0 && !budget && l.ConcurrentRequests == 0 {
		p.errorf(n, path, "sets no limit; set requests_per_second, a budget or concurrent_requests")
	}
	return l
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) escalation(n *yaml.Node, path string) *Escalation {
	e := &Escalation{Pos: p.pos(n), Revoke: ScopeSession}
	present, ok := p.mapping(n, path, []field{
		{"window", func(path string, v *yaml.Node) { e.Window, _ = p.duration(v, path, MinLimitWindow, MaxLimitWindow) }},
		{"deny_after", func(path string, v *yaml.Node) { e.DenyAfter, _ = p.integer(v, path, MaxEscalationHits) }},
		{"revoke_after", func(path string, v *yaml.Node) { e.RevokeAfter, _ = p.integer(v, path, MaxEscalationHits) }},
		{"revoke", func(path string, v *yaml.Node) { e.Revoke, _ = p.enum(v, path, ScopeSession, ScopeIdentity) }},
	})
	if !ok {
		return nil
	}
	p.require(n, path, present, "window")
	if e.DenyAfter == 0 && e.RevokeAfter == 0 {
		p.errorf(n, path, "set deny_after, revoke_after or both")
	}
	if e.DenyAfter > 0 && e.RevokeAfter > 0 && e.RevokeAfter <= e.DenyAfter {
		p.errorf(present["revoke_after"], path+".revoke_after", fmt.Sprintf("must be above deny_after (%d): a session is denied before it is revoked", e.DenyAfter))
	}
	if present["revoke"] != nil && e.RevokeAfter == 0 {
		p.errorf(present["revoke"], path+".revoke", "revoke needs revoke_after")
	}
	return e
}

func (p *parser) alerts(n *yaml.Node, path string) *Alerts {
	a := &Alerts{Pos: p.pos(n)}
	present, ok := p.mapping(n, path, []field{
		{"webhook", func(path string, v *yaml.Node) {
			a.Webhook = p.webhookURL(v, path, "")
		}},
	})
	if !ok {
		return nil
	}
	p.require(n, path, present, "webhook")
	return a
}

// checkRoleLimits reports an escalation without limits, and an identity
// scope used by an escalation that revokes by identity.
func (p *parser) checkRoleLimits(r *Role, path string, n *yaml.Node) {
	if r.Escalation == nil {
		return
	}
	has := r.Limits != nil
	for _, t := range r.Trust {
		has = has || t.Limits != nil
	}
	if !has {
		p.errorf(n, path+".escalation", "escalation counts limit hits: set limits on the role or a trust rule")
	}
}
