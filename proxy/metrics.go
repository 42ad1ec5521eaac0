package proxy

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/sts"
)

// Metrics are iamgate's Prometheus metrics. Every label is bounded: S3
// operation names, decisions, reason codes, status classes, configured
// issuer names. Never a bucket, key or subject.
type Metrics struct {
	Requests       *prometheus.CounterVec   // operation, decision, status_class, role_kind
	Duration       *prometheus.HistogramVec // decision, role_kind
	Upstream       prometheus.Histogram
	UpstreamErrors *prometheus.CounterVec // reason: timeout, unavailable
	STSRequests    *prometheus.CounterVec // action, result, role_kind
	// TLSCertExpiry is the NotAfter of the served TLS certificate, in Unix
	// seconds; 0 when iamgate serves plain HTTP.
	TLSCertExpiry prometheus.Gauge
	BytesIn       prometheus.Counter
	BytesOut      prometheus.Counter
	AuthFailures  *prometheus.CounterVec // reason
	JWKSRefreshes *prometheus.CounterVec // issuer, result
	Reloads       *prometheus.CounterVec // result
	// ReloadOK is 1 when the last configuration load succeeded, 0 while a
	// rejected file is waiting to be fixed (the previous one serves).
	ReloadOK    prometheus.Gauge
	AuditErrors prometheus.Counter

	// Audit sinks, by sink (stdout, file, webhook); see AuditSinks.
	AuditEmitted       *prometheus.CounterVec
	AuditDelivered     *prometheus.CounterVec
	AuditSpooled       *prometheus.CounterVec
	AuditDropped       *prometheus.CounterVec
	AuditSinkErrors    *prometheus.CounterVec
	AuditSpoolEvents   *prometheus.GaugeVec
	AuditSpoolBytes    *prometheus.GaugeVec
	AuditSpoolCapacity *prometheus.GaugeVec // spool_max_bytes, by sink
	AuditDeliveryDelay *prometheus.HistogramVec

	// GuardRefusals counts requests (and DeleteObjects keys) refused by a
	// destructive-action guard, by guard (delete, overwrite, bulk_delete)
	// and role_kind.
	GuardRefusals *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_requests_total",
			Help: "Requests by S3 operation, decision, HTTP status class and role kind.",
		}, []string{"operation", "decision", "status_class", "role_kind"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "iamgate_request_duration_seconds",
			Help:    "Total request duration, from the first byte received to the last byte sent.",
			Buckets: buckets,
		}, []string{"decision", "role_kind"}),
		Upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "iamgate_upstream_duration_seconds",
			Help:    "Time from sending a request to the store to receiving its response headers.",
			Buckets: buckets,
		}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_upstream_errors_total",
			Help: "Requests the store did not answer: timeout (no response headers in time) or unavailable (connection failed).",
		}, []string{"reason"}),
		STSRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_sts_requests_total",
			Help: "STS calls by action, result (issued or refused) and role kind.",
		}, []string{"action", "result", "role_kind"}),
		TLSCertExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iamgate_tls_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of the TLS certificate served on the S3 listener, in Unix seconds; 0 without TLS.",
		}),
		BytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "iamgate_request_bytes_total",
			Help: "Request body bytes received from clients.",
		}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "iamgate_response_bytes_total",
			Help: "Response body bytes sent to clients.",
		}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_auth_failures_total",
			Help: "Rejected credentials by reason.",
		}, []string{"reason"}),
		JWKSRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_jwks_refreshes_total",
			Help: "Issuer key set fetches by issuer and result.",
		}, []string{"issuer", "result"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iamgate_config_reloads_total",
			Help: "Configuration reloads by result.",
		}, []string{"result"}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iamgate_config_last_reload_successful",
			Help: "1 if the last configuration load succeeded, 0 if it was rejected (the previous configuration keeps serving).",
		}),
		AuditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "iamgate_audit_write_errors_total",
			Help: "Audit events that a sink failed to write.",
		}),
	}
	sinkCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"sink"})
	}
	m.AuditEmitted = sinkCounter("iamgate_audit_events_emitted_total", "Audit events handed to a sink.")
	m.AuditDelivered = sinkCounter("iamgate_audit_events_delivered_total", "Audit events written (stdout, file) or accepted by the collector (webhook).")
	m.AuditSpooled = sinkCounter("iamgate_audit_events_spooled_total", "Audit events appended to the webhook spool.")
	m.AuditDropped = sinkCounter("iamgate_audit_events_dropped_total", "Audit events a sink could not take.")
	m.AuditSinkErrors = sinkCounter("iamgate_audit_sink_errors_total", "Failed audit writes, syncs and delivery attempts.")
	m.AuditSpoolEvents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "iamgate_audit_spool_events",
		Help: "Audit events in the spool, not yet accepted by the collector.",
	}, []string{"sink"})
	m.AuditSpoolBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "iamgate_audit_spool_bytes",
		Help: "Bytes of audit events in the spool, not yet accepted by the collector.",
	}, []string{"sink"})
	m.AuditSpoolCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "iamgate_audit_spool_capacity_bytes",
		Help: "Bound of the audit spool on disk (spool_max_bytes).",
	}, []string{"sink"})
	m.AuditDeliveryDelay = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "iamgate_audit_delivery_delay_seconds",
		Help:    "Time from an audit event (its request's start) to its acceptance by the collector.",
		Buckets: buckets,
	}, []string{"sink"})
	m.GuardRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iamgate_guard_refusals_total",
		Help: "Requests and DeleteObjects keys refused by a destructive-action guard (roles[].protect), by guard and role kind.",
	}, []string{"guard", "role_kind"})
	if reg != nil {
		reg.MustRegister(m.GuardRefusals)
		reg.MustRegister(m.Requests, m.Duration, m.Upstream, m.UpstreamErrors, m.STSRequests, m.TLSCertExpiry,
			m.BytesIn, m.BytesOut,
			m.AuthFailures, m.JWKSRefreshes, m.Reloads, m.ReloadOK, m.AuditErrors,
			m.AuditEmitted, m.AuditDelivered, m.AuditSpooled, m.AuditDropped, m.AuditSinkErrors,
			m.AuditSpoolEvents, m.AuditSpoolBytes, m.AuditSpoolCapacity, m.AuditDeliveryDelay)
	}
	return m
}

// AuditSinks returns m as the audit sinks' metrics; nil if m is nil.
func (m *Metrics) AuditSinks() audit.Metrics {
	if m == nil {
		return nil
	}
	return auditSinkMetrics{m: m, counters: &sync.Map{}}
}

type auditSinkMetrics struct {
	m        *Metrics
	counters *sync.Map // sink name -> *sinkCounters, so a write looks no label up
}

type sinkCounters struct{ emitted, delivered prometheus.Counter }

func (a auditSinkMetrics) sink(name string) *sinkCounters {
	if c, ok := a.counters.Load(name); ok {
		return c.(*sinkCounters)
	}
	c, _ := a.counters.LoadOrStore(name, &sinkCounters{
		emitted:   a.m.AuditEmitted.WithLabelValues(name),
		delivered: a.m.AuditDelivered.WithLabelValues(name),
	})
	return c.(*sinkCounters)
}

var _ audit.Metrics = auditSinkMetrics{}

func (a auditSinkMetrics) Emitted(sink string) { a.sink(sink).emitted.Inc() }
func (a auditSinkMetrics) Delivered(sink string, n int) {
	a.sink(sink).delivered.Add(float64(n))
}
func (a auditSinkMetrics) Spooled(sink string)   { a.m.AuditSpooled.WithLabelValues(sink).Inc() }
func (a auditSinkMetrics) Dropped(sink string)   { a.m.AuditDropped.WithLabelValues(sink).Inc() }
func (a auditSinkMetrics) SinkError(sink string) { a.m.AuditSinkErrors.WithLabelValues(sink).Inc() }
func (a auditSinkMetrics) SpoolDepth(sink string, events, bytes int64) {
	a.m.AuditSpoolEvents.WithLabelValues(sink).Set(float64(events))
	a.m.AuditSpoolBytes.WithLabelValues(sink).Set(float64(bytes))
}
func (a auditSinkMetrics) DeliveryDelay(sink string, d time.Duration) {
	a.m.AuditDeliveryDelay.WithLabelValues(sink).Observe(d.Seconds())
}

// roleKindLabel bounds a role kind for a label: human, machine or agent,
// and none for a request without a role (unauthenticated, refused before
// a role was found) or with roles of different kinds.
func roleKindLabel(kind string) string {
	switch kind {
	case "human", "machine", "agent":
		return kind
	}
	return "none"
}

// stsActionLabel bounds an STS Action parameter (the caller's text) for a
// label: the actions iamgate serves, and "unknown" for anything else.
func stsActionLabel(action string) string {
	switch sts.Action(action) {
	case sts.AssumeRoleWithWebIdentity, sts.AssumeRoleWithClientGrants, sts.AssumeRoleWithLDAPIdentity, sts.TokenExchange:
		return action
	}
	return "unknown"
}

// statusClass maps 200 to "2xx" without allocating.
func statusClass(code int) string {
	switch code / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return strconv.Itoa(code)
}

// JWKSRefreshHook returns a function suitable for identity.Config.OnJWKSRefresh.
func (m *Metrics) JWKSRefreshHook() func(issuer string, err error) {
	if m == nil {
		return nil
	}
	return func(issuer string, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.JWKSRefreshes.WithLabelValues(issuer, result).Inc()
	}
}
