package limits

import "github.com/prometheus/client_golang/prometheus"

// Metrics count limit hits and kill-switch steps. Labels are bounded:
// role kind, limit name, step.
type Metrics struct {
	Hits        *prometheus.CounterVec // role_kind, limit
	Escalations *prometheus.CounterVec // role_kind, step
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_limit_hits_total",
			Help: "Requests refused (or downloads cut) by a limit, by role kind and limit.",
		}, []string{"role_kind", "limit"}),
		Escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_escalations_total",
			Help: "Kill-switch steps taken (deny, revoke_session, revoke_identity), by role kind.",
		}, []string{"role_kind", "step"}),
	}
	if reg != nil {
		reg.MustRegister(m.Hits, m.Escalations)
	}
	return m
}

// KindLabel bounds a role kind for a label.
func KindLabel(kind string) string {
	switch kind {
	case "human", "machine", "agent":
		return kind
	}
	return "none"
}
