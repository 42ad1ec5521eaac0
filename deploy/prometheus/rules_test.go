// Package prometheus holds the tests of iamgate's alerting rules: the rule
// file parses and validates as Prometheus loads it, uses only the metrics
// iamgate exports, and every alert fires on synthetic series that should
// trigger it and stays quiet on series that should not.
package prometheus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/template"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/iamgate/iamgate/deploy/internal/exported"
)

const ruleFile = "iamgate-rules.yaml"

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	rgs, errs := rulefmt.ParseFile(ruleFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return rgs
}

// The file parses strictly (unknown fields are errors), every expression and
// template is valid, and every alert has a severity and a summary.
func TestRulesParse(t *testing.T) {
	rgs := loadRules(t)
	ms, err := exported.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" {
				t.Errorf("group %s: a rule that is not an alert", g.Name)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", r.Alert)
			}
			if err := exported.CheckExpr(r.Expr, ms); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// alertCase is a unit test of one alert, as promtool's rule tests: series
// loaded at one sample a minute, the rule evaluated every minute from 0 to
// at, and the alerts then firing. (The rule evaluation is simulated here
// with Prometheus's PromQL engine and template expander: the packages that
// run rules and promtool's tests pull in Prometheus's storage and every
// service discovery, too heavy to compile in every test run.)
type alertCase struct {
	name     string
	alert    string // the alert's name
	severity string // which of the alerts of that name
	series   string // promqltest "load 1m" lines
	at       int    // minutes
	// firing: the label sets (besides alertname and severity) of the alerts
	// expected to fire; empty: none fires.
	firing []map[string]string
}

var alertCases = []alertCase{
	{
		name: "spool half full for 10 minutes", alert: "IamgateAuditSpoolFilling", severity: "warning", at: 65,
		series: `iamgate_audit_spool_bytes{instance="a",sink="webhook"} 0+10000000x100
			iamgate_audit_spool_capacity_bytes{instance="a",sink="webhook"} 1000000000+0x100`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "spool half full for less than 10 minutes", alert: "IamgateAuditSpoolFilling", severity: "warning", at: 55,
		series: `iamgate_audit_spool_bytes{instance="a",sink="webhook"} 0+10000000x100
			iamgate_audit_spool_capacity_bytes{instance="a",sink="webhook"} 1000000000+0x100`,
	},
	{
		name: "spool steady at 30%", alert: "IamgateAuditSpoolFilling", severity: "warning", at: 60,
		series: `iamgate_audit_spool_bytes{instance="a",sink="webhook"} 300000000+0x100
			iamgate_audit_spool_capacity_bytes{instance="a",sink="webhook"} 1000000000+0x100`,
	},
	{
		name: "spool over 90%", alert: "IamgateAuditSpoolNearlyFull", severity: "critical", at: 95,
		series: `iamgate_audit_spool_bytes{instance="a",sink="webhook"} 0+10000000x100
			iamgate_audit_spool_capacity_bytes{instance="a",sink="webhook"} 1000000000+0x100`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "spool at 65%", alert: "IamgateAuditSpoolNearlyFull", severity: "critical", at: 65,
		series: `iamgate_audit_spool_bytes{instance="a",sink="webhook"} 0+10000000x100
			iamgate_audit_spool_capacity_bytes{instance="a",sink="webhook"} 1000000000+0x100`,
	},
	{
		name: "events delivered minutes late", alert: "IamgateAuditDeliveryDelayed", severity: "warning", at: 20,
		series: `iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="1"} 0+0x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="60"} 0+0x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="300"} 0+10x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="+Inf"} 0+10x30`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "events delivered within a second", alert: "IamgateAuditDeliveryDelayed", severity: "warning", at: 20,
		series: `iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="1"} 0+10x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="60"} 0+10x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="300"} 0+10x30
			iamgate_audit_delivery_delay_seconds_bucket{instance="a",sink="webhook",le="+Inf"} 0+10x30`,
	},
	{
		name: "nothing delivered, events waiting", alert: "IamgateAuditDeliveryStalled", severity: "critical", at: 25,
		series: `iamgate_audit_spool_events{instance="a",sink="webhook"} 500+0x30
			iamgate_audit_events_delivered_total{instance="a",sink="webhook"} 1000+0x30`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "events waiting but flowing", alert: "IamgateAuditDeliveryStalled", severity: "critical", at: 25,
		series: `iamgate_audit_spool_events{instance="a",sink="webhook"} 500+0x30
			iamgate_audit_events_delivered_total{instance="a",sink="webhook"} 1000+100x30`,
	},
	{
		name: "idle, empty spool", alert: "IamgateAuditDeliveryStalled", severity: "critical", at: 25,
		series: `iamgate_audit_spool_events{instance="a",sink="webhook"} 0+0x30
			iamgate_audit_events_delivered_total{instance="a",sink="webhook"} 1000+0x30`,
	},
	{
		name: "sink failing", alert: "IamgateAuditSinkErrors", severity: "warning", at: 20,
		series: `iamgate_audit_sink_errors_total{instance="a",sink="webhook"} 0+1x30`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "old sink errors", alert: "IamgateAuditSinkErrors", severity: "warning", at: 20,
		series: `iamgate_audit_sink_errors_total{instance="a",sink="webhook"} 5+0x30`,
	},
	{
		name: "events dropped", alert: "IamgateAuditEventsLost", severity: "critical", at: 12,
		series: `iamgate_audit_events_dropped_total{instance="a",sink="webhook"} 0 0 0 0 0 0 0 0 0 0 5+0x20`,
		firing: []map[string]string{{"instance": "a", "sink": "webhook"}},
	},
	{
		name: "a write failed", alert: "IamgateAuditEventsLost", severity: "critical", at: 12,
		series: `iamgate_audit_write_errors_total{instance="a"} 0 0 0 0 0 0 0 0 0 0 1+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "drops long ago", alert: "IamgateAuditEventsLost", severity: "critical", at: 30,
		series: `iamgate_audit_events_dropped_total{instance="a",sink="webhook"} 0 0 0 0 0 0 0 0 0 0 5+0x20
			iamgate_audit_write_errors_total{instance="a"} 0+0x30`,
	},
	{
		name: "store unreachable for a tenth of requests", alert: "IamgateUpstreamErrors", severity: "critical", at: 20,
		series: `iamgate_upstream_errors_total{instance="a",reason="unavailable"} 0+10x30
			iamgate_requests_total{instance="a",operation="GetObject",decision="allow",status_class="2xx",role_kind="human"} 0+90x30
			iamgate_requests_total{instance="a",operation="GetObject",decision="allow",status_class="5xx",role_kind="human"} 0+10x30`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "one request in a hundred", alert: "IamgateUpstreamErrors", severity: "critical", at: 20,
		series: `iamgate_upstream_errors_total{instance="a",reason="timeout"} 0+1x30
			iamgate_requests_total{instance="a",operation="GetObject",decision="allow",status_class="2xx",role_kind="human"} 0+99x30
			iamgate_requests_total{instance="a",operation="GetObject",decision="allow",status_class="5xx",role_kind="human"} 0+1x30`,
	},
	{
		name: "agents denied ten times as often", alert: "IamgateDenialSpike", severity: "warning", at: 105,
		series: `iamgate_requests_total{job="iamgate",operation="GetObject",decision="deny",status_class="4xx",role_kind="agent"} 0+60x89 5400+600x40
			iamgate_requests_total{job="iamgate",operation="GetObject",decision="deny",status_class="4xx",role_kind="human"} 0+60x130`,
		firing: []map[string]string{{"job": "iamgate", "role_kind": "agent"}},
	},
	{
		name: "a spike shorter than 10 minutes", alert: "IamgateDenialSpike", severity: "warning", at: 95,
		series: `iamgate_requests_total{job="iamgate",operation="GetObject",decision="deny",status_class="4xx",role_kind="agent"} 0+60x89 5400+600x40`,
	},
	{
		name: "steady denials", alert: "IamgateDenialSpike", severity: "warning", at: 120,
		series: `iamgate_requests_total{job="iamgate",operation="GetObject",decision="deny",status_class="4xx",role_kind="agent"} 0+600x130`,
	},
	{
		name: "keys failing for 15 minutes", alert: "IamgateJWKSRefreshFailing", severity: "warning", at: 20,
		series: `iamgate_jwks_refreshes_total{instance="a",issuer="corp",result="error"} 0+1x40
			iamgate_jwks_refreshes_total{instance="a",issuer="github",result="ok"} 0+1x40`,
		firing: []map[string]string{{"instance": "a", "issuer": "corp", "result": "error"}},
	},
	{
		name: "one failed refresh", alert: "IamgateJWKSRefreshFailing", severity: "warning", at: 25,
		series: `iamgate_jwks_refreshes_total{instance="a",issuer="corp",result="error"} 0 0 0 0 0 1+0x35`,
	},
	{
		name: "store credentials 4 minutes from expiry", alert: "IamgateUpstreamCredentialsExpiring", severity: "critical", at: 10,
		series: `iamgate_upstream_credentials_expiry_timestamp_seconds{instance="a"} 840+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "store credentials renewed, 50 minutes left", alert: "IamgateUpstreamCredentialsExpiring", severity: "critical", at: 10,
		series: `iamgate_upstream_credentials_expiry_timestamp_seconds{instance="a"} 3600+0x20`,
	},
	{
		name: "no store credentials yet", alert: "IamgateUpstreamCredentialsExpiring", severity: "critical", at: 10,
		series: `iamgate_upstream_credentials_expiry_timestamp_seconds{instance="a"} 0+0x20`,
	},
	{
		name: "shared state down for 2 minutes", alert: "IamgateSharedStateDown", severity: "critical", at: 10,
		series: `iamgate_state_up{instance="a"} 1+0x7 0+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "shared state down for 30 seconds", alert: "IamgateSharedStateDown", severity: "critical", at: 10,
		series: `iamgate_state_up{instance="a"} 1+0x9 0 1+0x20`,
	},
	{
		name: "a session revoked by the kill switch", alert: "IamgateKillSwitchStep", severity: "critical", at: 10,
		series: `iamgate_escalations_total{instance="a",role_kind="agent",step="revoke_session"} 0+0x7 1+0x20`,
		firing: []map[string]string{{"instance": "a", "role_kind": "agent", "step": "revoke_session"}},
	},
	{
		name: "no kill-switch step for an hour", alert: "IamgateKillSwitchStep", severity: "critical", at: 70,
		series: `iamgate_escalations_total{instance="a",role_kind="agent",step="deny"} 0+0x5 1+0x80`,
	},
	{
		name: "a limit refusing twice a second for 15 minutes", alert: "IamgateLimitHitsHigh", severity: "warning", at: 20,
		series: `iamgate_limit_hits_total{instance="a",role_kind="agent",limit="requests_per_second"} 0+120x30`,
		firing: []map[string]string{{"instance": "a", "role_kind": "agent", "limit": "requests_per_second"}},
	},
	{
		name: "a few limit refusals", alert: "IamgateLimitHitsHigh", severity: "warning", at: 20,
		series: `iamgate_limit_hits_total{instance="a",role_kind="agent",limit="bytes_downloaded"} 0+10x30`,
	},
	{
		name: "reload rejected", alert: "IamgateConfigReloadFailed", severity: "warning", at: 10,
		series: `iamgate_config_last_reload_successful{instance="a"} 1 1 1 0+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "reload rejected, then fixed", alert: "IamgateConfigReloadFailed", severity: "warning", at: 10,
		series: `iamgate_config_last_reload_successful{instance="a"} 1 1 1 0 1+0x20`,
	},
	// time() is the evaluation time in seconds since the epoch: at minute
	// 10, 600. The expiry timestamps below are relative to that.
	{
		name: "certificate expires in 10 days", alert: "IamgateCertificateExpiresSoon", severity: "warning", at: 10,
		series: `iamgate_tls_certificate_expiry_timestamp_seconds{instance="a"} 864600+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "certificate valid 30 days", alert: "IamgateCertificateExpiresSoon", severity: "warning", at: 10,
		series: `iamgate_tls_certificate_expiry_timestamp_seconds{instance="a"} 2592600+0x20`,
	},
	{
		name: "no TLS", alert: "IamgateCertificateExpiresSoon", severity: "warning", at: 10,
		series: `iamgate_tls_certificate_expiry_timestamp_seconds{instance="a"} 0+0x20`,
	},
	{
		name: "certificate expires in 2 days", alert: "IamgateCertificateExpiresSoon", severity: "critical", at: 10,
		series: `iamgate_tls_certificate_expiry_timestamp_seconds{instance="a"} 173400+0x20`,
		firing: []map[string]string{{"instance": "a"}},
	},
	{
		name: "certificate expires in 10 days, not critical", alert: "IamgateCertificateExpiresSoon", severity: "critical", at: 10,
		series: `iamgate_tls_certificate_expiry_timestamp_seconds{instance="a"} 864600+0x20`,
	},
}

func TestAlerts(t *testing.T) {
	rgs := loadRules(t)
	p := parser.NewParser(parser.Options{})
	tested := map[string][2]bool{} // alert/severity -> fires, stays quiet
	for _, tc := range alertCases {
		t.Run(tc.alert+"/"+tc.name, func(t *testing.T) {
			var rule *rulefmt.Rule
			for _, g := range rgs.Groups {
				for i, r := range g.Rules {
					if r.Alert == tc.alert && r.Labels["severity"] == tc.severity {
						rule = &g.Rules[i]
					}
				}
			}
			if rule == nil {
				t.Fatalf("no alert %s with severity %s", tc.alert, tc.severity)
			}
			k := tested[tc.alert+"/"+tc.severity]
			k[min(len(tc.firing), 1)^1] = true
			tested[tc.alert+"/"+tc.severity] = k

			got := evalAlert(t, p, rule, tc.series, tc.at)
			var want []string
			for _, l := range tc.firing {
				m := map[string]string{"alertname": tc.alert, "severity": tc.severity}
				for k, v := range l {
					m[k] = v
				}
				want = append(want, labels.FromMap(m).String())
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("at %dm firing %v, want %v", tc.at, got, want)
			}
		})
	}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			k := tested[r.Alert+"/"+r.Labels["severity"]]
			if !k[0] || !k[1] {
				t.Errorf("%s (%s): no test where it fires (%v) or where it stays quiet (%v)", r.Alert, r.Labels["severity"], k[0], k[1])
			}
		}
	}
}

// evalAlert loads series, evaluates rule every minute from 0 to at minutes
// as Prometheus's rule manager does (an alert is pending from the first
// evaluation its expression returns its label set, firing once that has
// lasted the rule's `for`, and gone at the first evaluation without it),
// and returns the label sets of the alerts firing at the end, sorted. The
// annotation templates of the firing alerts are expanded and must not fail.
func evalAlert(t *testing.T, p parser.Parser, rule *rulefmt.Rule, series string, at int) []string {
	t.Helper()
	if rule.KeepFiringFor != 0 {
		t.Fatalf("%s: keep_firing_for is not simulated", rule.Alert)
	}
	store := loadSeries(t, p, series, time.Minute)
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 100000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: p,
	})
	t.Cleanup(func() { engine.Close() })
	ctx := context.Background()
	query := func(ctx context.Context, qs string, ts time.Time) (promql.Vector, error) {
		q, err := engine.NewInstantQuery(ctx, store, nil, qs, ts)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			return v, nil
		case promql.Scalar:
			return promql.Vector{promql.Sample{T: v.T, F: v.V}}, nil
		}
		return nil, fmt.Errorf("%s: result of type %s", qs, res.Value.Type())
	}
	type alert struct {
		activeAt time.Time
		sample   promql.Sample
		labels   labels.Labels
	}
	active := map[string]*alert{}
	var now time.Time
	for m := 0; m <= at; m++ {
		now = time.Unix(int64(m*60), 0).UTC()
		vec, err := query(ctx, rule.Expr, now)
		if err != nil {
			t.Fatalf("evaluation at %dm: %v", m, err)
		}
		seen := map[string]bool{}
		for _, smpl := range vec {
			b := labels.NewBuilder(smpl.Metric).Del(model.MetricNameLabel)
			for k, v := range rule.Labels {
				b.Set(k, v)
			}
			b.Set(labels.AlertName, rule.Alert)
			ls := b.Labels()
			key := ls.String()
			if seen[key] {
				t.Fatalf("evaluation at %dm: two series with the labels %s", m, key)
			}
			seen[key] = true
			if a, ok := active[key]; ok {
				a.sample = smpl
			} else {
				active[key] = &alert{activeAt: now, sample: smpl, labels: ls}
			}
		}
		for key := range active {
			if !seen[key] {
				delete(active, key)
			}
		}
	}
	var firing []string
	for key, a := range active {
		if now.Sub(a.activeAt) < time.Duration(rule.For) {
			continue
		}
		firing = append(firing, key)
		for name, text := range rule.Annotations {
			// As Prometheus expands them: $labels, $externalLabels, $value.
			defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
			data := template.AlertTemplateData(a.labels.Map(), nil, "", a.sample)
			exp := template.NewTemplateExpander(ctx, defs+text, "__alert_"+rule.Alert, data,
				model.TimeFromUnixNano(now.UnixNano()), template.QueryFunc(query), nil, nil)
			out, err := exp.Expand()
			if err != nil || out == "" {
				t.Errorf("%s: annotation %s: %q, %v", rule.Alert, name, out, err)
			}
		}
	}
	slices.Sort(firing)
	return firing
}

// loadSeries reads series in the notation of Prometheus's rule tests, one
// a line (`name{labels} 0+10x30 5 _ 7`), a sample every interval from 0.
func loadSeries(t *testing.T, p parser.Parser, text string, interval time.Duration) storage.Queryable {
	t.Helper()
	var series []storage.Series
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ls, vals, err := p.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range vals {
			if v.Omitted {
				continue
			}
			if v.Histogram != nil {
				t.Fatalf("series %q: native histograms are not supported here", line)
			}
			samples = append(samples, floatSample{t: int64(i) * interval.Milliseconds(), f: v.Value})
		}
		series = append(series, storage.NewListSeries(ls, samples))
	}
	return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) {
		return &storage.MockQuerier{SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
			var sel []storage.Series
		next:
			for _, s := range series {
				for _, m := range ms {
					if !m.Matches(s.Labels().Get(m.Name)) {
						continue next
					}
				}
				sel = append(sel, s)
			}
			slices.SortFunc(sel, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
			return &seriesSet{series: sel, i: -1}
		}}, nil
	})
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is a float sample of a loaded series.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }
