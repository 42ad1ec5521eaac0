package exported

import (
	"slices"
	"testing"
)

func TestMetrics(t *testing.T) {
	ms, err := Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		series string
		labels []string
	}{
		{"iamgate_requests_total", []string{"operation", "decision", "status_class", "role_kind"}},
		{"iamgate_request_duration_seconds_bucket", []string{"decision", "role_kind"}},
		{"iamgate_upstream_duration_seconds_count", nil},
		{"iamgate_tls_certificate_expiry_timestamp_seconds", nil},
		{"process_cpu_seconds_total", nil},
		{"go_goroutines", nil},
	} {
		m, ok := ms[c.series]
		if !ok {
			t.Errorf("%s missing", c.series)
			continue
		}
		if !slices.Equal(m.Labels, c.labels) {
			t.Errorf("%s labels %v, want %v", c.series, m.Labels, c.labels)
		}
	}
	if m := ms["iamgate_request_duration_seconds_bucket"]; !m.HasLabel("iamgate_request_duration_seconds_bucket", "le") ||
		m.HasLabel("iamgate_request_duration_seconds_count", "le") {
		t.Error("le is not on the buckets alone")
	}
	if _, ok := ms["iamgate_requests_total_bucket"]; ok {
		t.Error("a counter has buckets")
	}
}

func TestCheckExpr(t *testing.T) {
	ms, err := Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{
		`sum by (role_kind) (rate(iamgate_requests_total{decision="deny", job="iamgate"}[5m]))`,
		`histogram_quantile(0.99, sum by (le) (rate(iamgate_request_duration_seconds_bucket{role_kind="agent"}[5m])))`,
		`rate(process_cpu_seconds_total[5m])`,
	} {
		if err := CheckExpr(ok, ms); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		`rate(iamgate_request_total[5m])`,                          // misspelt
		`rate(iamgate_requests_total{rolekind="agent"}[5m])`,       // no such label
		`rate(iamgate_request_duration_seconds_count{le="1"}[5m])`, // le is on buckets
		`sum(rate(iamgate_requests_total[5m])`,                     // not PromQL
		`{__name__=~"iamgate_.*"}`,                                 // no name
	} {
		if err := CheckExpr(bad, ms); err == nil {
			t.Errorf("%s passed", bad)
		}
	}
}
