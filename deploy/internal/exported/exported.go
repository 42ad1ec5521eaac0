// Package exported lists the metrics iamgate serves on /metrics, with their
// label names, taken from iamgate's own metric definitions, so that the
// dashboard and the alerting rules can be checked against them.
package exported

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/iamgate/iamgate/federation"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/state"
)

// Metric is one metric family iamgate exports.
type Metric struct {
	Name   string
	Labels []string
	// Histogram or summary: the family has _sum and _count series (and
	// _bucket with le, or quantile).
	Histogram, Summary bool
}

// Series are the series names a family shows in the exposition: the name,
// or name_bucket, name_sum and name_count for a histogram.
func (m Metric) Series() []string {
	switch {
	case m.Histogram:
		return []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
	case m.Summary:
		return []string{m.Name, m.Name + "_sum", m.Name + "_count"}
	}
	return []string{m.Name}
}

// HasLabel reports whether series (one of Series) has the label name;
// le for a histogram's buckets and quantile for a summary count.
func (m Metric) HasLabel(series, name string) bool {
	if m.Histogram && series == m.Name+"_bucket" && name == "le" {
		return true
	}
	if m.Summary && series == m.Name && name == "quantile" {
		return true
	}
	for _, l := range m.Labels {
		if l == name {
			return true
		}
	}
	return false
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// Metrics returns the metric families iamgate serve registers (see
// cmd/iamgate/serve.go): proxy.Metrics, limits.Metrics, state.Metrics,
// federation.Metrics and
// the Go and process collectors,
// by series name (Series), so that a histogram appears three times.
func Metrics() (map[string]Metric, error) {
	out := map[string]Metric{}
	add := func(m Metric) {
		for _, s := range m.Series() {
			out[s] = m
		}
	}
	// The Go and process collectors, the shared state's and the upstream
	// federation's metrics have no label vectors without values: gather
	// them.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	state.NewMetrics(reg, func() bool { return true })
	federation.NewMetrics(reg)
	fams, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range fams {
		m := Metric{Name: f.GetName(), Histogram: f.GetType() == dto.MetricType_HISTOGRAM, Summary: f.GetType() == dto.MetricType_SUMMARY}
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, lp := range ms[0].GetLabel() {
				m.Labels = append(m.Labels, lp.GetName())
			}
		}
		add(m)
	}
	// iamgate's own: every field of proxy.Metrics and limits.Metrics that
	// is a collector.
	histogramType := reflect.TypeFor[prometheus.Histogram]()
	for _, pm := range []reflect.Value{reflect.ValueOf(proxy.NewMetrics(nil)).Elem(), reflect.ValueOf(limits.NewMetrics(nil)).Elem()} {
		for i := range pm.NumField() {
			f := pm.Field(i)
			c, ok := f.Interface().(prometheus.Collector)
			if !ok || f.IsNil() {
				continue
			}
			ch := make(chan *prometheus.Desc, 16)
			go func() { c.Describe(ch); close(ch) }()
			for d := range ch {
				sm := descRE.FindStringSubmatch(d.String())
				if sm == nil {
					return nil, fmt.Errorf("exported: cannot read %s", d)
				}
				m := Metric{Name: sm[1]}
				if sm[2] != "" {
					m.Labels = strings.Split(sm[2], ",")
				}
				t := f.Type()
				m.Histogram = t == reflect.TypeFor[*prometheus.HistogramVec]() || t == histogramType
				add(m)
			}
		}
	}
	return out, nil
}

// targetLabels are the labels Prometheus adds when it scrapes (the
// ServiceMonitor's job, instance, namespace, pod, service, container,
// endpoint), which queries may use with any metric.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true,
	"service": true, "container": true, "endpoint": true}

// exprParser parses PromQL as Prometheus does by default.
var exprParser = parser.NewParser(parser.Options{})

// CheckExpr parses the PromQL expression expr and checks that every series
// it selects is one of ms, by its exact name, and that every label it
// matches on is a label of that series or a target label.
func CheckExpr(expr string, ms map[string]Metric) error {
	e, err := exprParser.ParseExpr(expr)
	if err != nil {
		return err
	}
	var errs []error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: a selector without a metric name", vs))
			return nil
		}
		m, ok := ms[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: iamgate exports no metric %s", vs, name))
			return nil
		}
		for _, lm := range vs.LabelMatchers {
			if lm.Name == "__name__" || targetLabels[lm.Name] || m.HasLabel(name, lm.Name) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %s has no label %s", vs, name, lm.Name))
		}
		return nil
	})
	return errors.Join(errs...)
}
