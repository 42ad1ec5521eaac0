package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// kind is how a scenario loads its targets.
type kind int

const (
	rate     kind = iota // many small requests; req/s and latency
	transfer             // whole large objects; MiB/s and peak RSS
)

// target is an endpoint doing one kind of request.
type target struct {
	ep *endpoint
	op op
}

// scenario is one table of the report: every target measured rounds times,
// interleaved (A B C A B C …); ratios are against the first target.
type scenario struct {
	id      string // names the scenario in goals and charts
	title   string
	kind    kind
	conns   int
	size    int64  // object size of a transfer scenario
	note    string // printed under the title
	targets []target
	res     [][]result // [target][round]
	// before runs before the first round; after, once all rounds are done,
	// returns a paragraph printed under the table.
	before func()
	after  func() string
	extra  string
	// between runs after each load run, outside the measured time.
	between func()
}

func scenarios(e *env, o options) []*scenario {
	var list []*scenario
	add := func(s *scenario) {
		var ts []target
		for _, t := range s.targets {
			if t.ep != nil { // a peer that is not installed, a target not asked for
				ts = append(ts, t)
			}
		}
		s.targets = ts
		if o.selected(s.title) {
			list = append(list, s)
		}
	}
	all := func(o op, eps ...*endpoint) []target {
		ts := make([]target, len(eps))
		for i, ep := range eps {
			ts[i] = target{ep: ep, op: o}
		}
		return ts
	}
	proxies := func(direct ...*endpoint) []*endpoint {
		return append(direct, e.nginx, e.oauth2, e.ref, e.bearer, e.sigv4, e.baseline)
	}
	// The 4 KiB GETs also measure the two floors, and iamgate, the
	// reference proxy and the floors with GOMAXPROCS set (-gomaxprocs), at
	// 1, the usual and 256 connections.
	for _, c := range uniq(o.conns, 1, 256) {
		add(&scenario{id: fmt.Sprintf("get4k-%d", c), title: fmt.Sprintf("4 KiB GET, %s", conns(c)), conns: c,
			targets: all(getOp(smallKey), e.direct, e.directSigV4, e.nginx, e.oauth2, e.ref, e.netFloor, e.fastFloor,
				e.bearer, e.sigv4, e.baseline, e.refProcs, e.netFloorProcs, e.fastFloorProcs, e.bearerProcs)})
	}
	for _, c := range []int{o.conns, 1} {
		add(&scenario{id: fmt.Sprintf("put4k-%d", c), title: fmt.Sprintf("4 KiB PUT, %s", conns(c)), conns: c,
			targets: all(putSmallOp(), proxies(e.direct, e.directSigV4)...)})
	}
	add(&scenario{id: "list", title: fmt.Sprintf("ListObjectsV2 of a 1,000-key prefix, %s", conns(8)), conns: 8,
		targets: all(listOp(listKeys), proxies(e.direct, e.directSigV4)...)})
	add(&scenario{id: "mixed", title: fmt.Sprintf("Mixed: 70 %% GET 4 KiB, 20 %% PUT 4 KiB, 10 %% list of 100 keys, %s", conns(o.conns)), conns: o.conns,
		targets: all(mixedOp(), proxies(e.direct, e.directSigV4)...)})
	add(&scenario{id: "sts", title: fmt.Sprintf("AssumeRoleWithWebIdentity, same token, %s", conns(o.conns)), conns: o.conns,
		targets: []target{{e.minioSTS, stsOp("")}, {e.iamgateSTS, stsOp("&RoleArn=bench&RoleSessionName=bench")}}})
	add(&scenario{id: "audit", title: fmt.Sprintf("Audit sink: 4 KiB GET, bearer JWT, %s", conns(o.conns)), conns: o.conns,
		note: "Three iamgate processes with the same configuration but the audit sinks: one writes its audit events to stdout, " +
			"redirected to /dev/null (audit cannot be turned off; this is the nearest to off); the one used everywhere else " +
			"(\"iamgate, bearer JWT\") audits to a file; the third to a file and an HTTP webhook (through its on-disk spool) " +
			"served by the load generator.",
		targets: all(getOp(smallKey), e.bearerDevNull, e.bearer, e.bearerWebhook, e.baseline),
		after: func() string {
			if e.collector == nil {
				return ""
			}
			return e.collector.summary()
		},
		before: func() {
			if e.collector != nil {
				e.collector.reset()
			}
		}})
	add(&scenario{id: "limits", title: fmt.Sprintf("Limits: 4 KiB GET, bearer JWT, %s", conns(o.conns)), conns: o.conns,
		note: "The same iamgate with limits off (\"iamgate, bearer JWT\"), and with every limit a GET meets on its role " +
			"(rate, concurrency, objects and bytes per session and per identity, the kill switch's deny check; far above what " +
			"the run reaches) counted in memory, and in a redis-server on the same machine (one script per request; its CPU is " +
			"not in the proxy CPU column, see below).",
		targets: all(getOp(smallKey), e.bearer, e.bearerLimits, e.bearerLimitsRedis),
		after:   func() string { return e.redisScriptsPerRequest(e.bearerLimitsRedis, 1000) }})
	for _, size := range o.bigSizes {
		for _, dir := range []string{"GET", "PUT"} {
			for _, streams := range []int{1, 8} {
				o := getOp(bigKey(size))
				if dir == "PUT" {
					o = putBigOp(size)
				}
				s := &scenario{id: fmt.Sprintf("%s-%s-%d", strings.ToLower(dir), sizeName(size), streams),
					title: fmt.Sprintf("%s %s, %s", sizeLabel(size), dir, streamsName(streams)), kind: transfer, conns: streams, size: size,
					targets: all(o, proxies(e.direct)...)}
				if dir == "PUT" {
					s.between = e.emptyTrash
				}
				add(s)
			}
		}
	}
	return list
}

// uniq is ns without repeats, in order.
func uniq(ns ...int) []int {
	var out []int
	for _, n := range ns {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func conns(n int) string {
	if n == 1 {
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", n)
}

// sizeLabel is "64 MiB", "1 GiB".
func sizeLabel(size int64) string {
	n := sizeName(size)
	return n[:len(n)-3] + " " + n[len(n)-3:]
}

func streamsName(n int) string {
	if n == 1 {
		return "single stream"
	}
	return fmt.Sprintf("%d parallel streams", n)
}

// warmUp sends every endpoint a second of 4 KiB GETs, discarded, so that
// the first scenario's first target does not pay for cold caches and heaps.
func warmUp(e *env, o options) {
	for _, ep := range []*endpoint{e.direct, e.directSigV4, e.nginx, e.oauth2, e.ref, e.refProcs, e.netFloor, e.fastFloor, e.netFloorProcs, e.fastFloorProcs, e.bearer, e.sigv4, e.bearerProcs, e.bearerDevNull, e.bearerWebhook, e.bearerLimits, e.bearerLimitsRedis, e.baseline} {
		if ep != nil {
			runRate(ep, getOp(smallKey), o.conns, time.Second)
		}
	}
}

// run measures the scenario: rounds × targets, interleaved.
func (s *scenario) run(o options) {
	rounds, d := o.rounds, o.duration
	if s.size >= 1<<30 {
		rounds = min(rounds, 3) // 8 × 1 GiB up takes half a minute per target
	}
	s.res = make([][]result, len(s.targets))
	if s.before != nil {
		s.before()
	}
	start := time.Now()
	for r := range rounds {
		for i, t := range s.targets {
			var res result
			if s.kind == transfer {
				res = runTransfer(t.ep, t.op, s.conns, d)
			} else {
				res = runRate(t.ep, t.op, s.conns, d)
			}
			s.res[i] = append(s.res[i], res)
			if s.between != nil {
				s.between()
			}
			if res.errors > 0 && r == 0 {
				fmt.Fprintf(os.Stderr, "bench: %s, %s: %d errors, first: %s\n", s.title, t.ep.name, res.errors, res.firstErr)
			}
		}
	}
	if s.after != nil {
		s.extra = s.after()
	}
	fmt.Fprintf(os.Stderr, "bench: %-70s %5.1fs\n", s.title, time.Since(start).Seconds())
}

// summary is the medians of a target's rounds (peak RSS: the largest).
type summary struct {
	rps, mibps          float64
	p50, p90, p99       time.Duration
	proxyCPU, clientCPU time.Duration
	reads, writes       float64 // proxy system calls per request
	peakRSS             int64
	errors              int
}

func (s *scenario) summary(i int) summary {
	rs := s.res[i]
	m := func(f func(result) float64) float64 { return median(rs, f) }
	d := func(f func(result) time.Duration) time.Duration {
		return time.Duration(median(rs, func(r result) float64 { return float64(f(r)) }))
	}
	out := summary{
		rps:       m(func(r result) float64 { return r.rps }),
		mibps:     m(func(r result) float64 { return r.mibps }),
		p50:       d(func(r result) time.Duration { return r.p50 }),
		p90:       d(func(r result) time.Duration { return r.p90 }),
		p99:       d(func(r result) time.Duration { return r.p99 }),
		proxyCPU:  d(func(r result) time.Duration { return r.proxyCPU }),
		clientCPU: d(func(r result) time.Duration { return r.clientCPU }),
		reads:     m(func(r result) float64 { return r.reads }),
		writes:    m(func(r result) float64 { return r.writes }),
	}
	for _, r := range rs {
		out.peakRSS = max(out.peakRSS, r.peakRSS)
		out.errors += r.errors
	}
	return out
}

// value is the scenario's headline number: req/s, or MiB/s for transfers.
func (s *scenario) value(i int) float64 {
	if s.kind == transfer {
		return s.summary(i).mibps
	}
	return s.summary(i).rps
}

// index is the position of ep among the targets, or -1.
func (s *scenario) index(ep *endpoint) int {
	for i, t := range s.targets {
		if t.ep == ep && ep != nil {
			return i
		}
	}
	return -1
}

// ratio is ep's headline number over base's, or 0 if either is missing.
func (s *scenario) ratio(ep, base *endpoint) float64 {
	i, j := s.index(ep), s.index(base)
	if i < 0 || j < 0 || s.res == nil {
		return 0
	}
	b := s.value(j)
	if b == 0 {
		return 0
	}
	return s.value(i) / b
}

func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}
