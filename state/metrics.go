package state

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the shared state's Prometheus metrics.
type Metrics struct {
	// Errors counts failed operations by use (UseSignedOut, UseFailures,
	// UseRevocations, UseCounters).
	Errors *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them, with the gauge
// iamgate_state_up reading up, with reg (if not nil).
func NewMetrics(reg prometheus.Registerer, up func() bool) *Metrics {
	m := &Metrics{Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iamgate_state_errors_total",
		Help: "Failed operations on the shared state (Redis), by use: signed_out, failures, revocations, counters.",
	}, []string{"use"})}
	for _, u := range []string{UseSignedOut, UseFailures, UseRevocations, UseCounters} {
		m.Errors.WithLabelValues(u)
	}
	if reg != nil {
		reg.MustRegister(m.Errors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "iamgate_state_up",
			Help: "1 when the latest operation on the shared state succeeded (always 1 for state in memory).",
		}, func() float64 {
			if up() {
				return 1
			}
			return 0
		}))
	}
	return m
}
