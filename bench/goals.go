package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// microResult is one line of `go test -bench` output.
type microResult struct {
	name    string
	nsPerOp float64
	bPerOp  int64
	allocs  int64
}

// authzBench runs authz's Authorize benchmarks (1,000 roles × 10
// statements, a principal holding 3 of them).
func authzBench(ctx context.Context) ([]microResult, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkAuthorize$", "-benchtime", "300ms", "-count", "1", "./authz")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	var rs []microResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" || f[5] != "B/op" || f[7] != "allocs/op" {
			continue
		}
		r := microResult{name: f[0]}
		if i := strings.LastIndexByte(r.name, '-'); i > 0 { // the GOMAXPROCS suffix
			r.name = r.name[:i]
		}
		r.nsPerOp, _ = strconv.ParseFloat(f[2], 64)
		r.bPerOp, _ = strconv.ParseInt(f[4], 10, 64)
		r.allocs, _ = strconv.ParseInt(f[6], 10, 64)
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no benchmark results in:\n%s", out)
	}
	return rs, nil
}

// status is a goal's verdict.
type status string

const (
	holds       status = "holds"
	doesNotHold status = "does not hold"
	notMeasured status = "not measured"
)

func verdict(ok bool) status {
	if ok {
		return holds
	}
	return doesNotHold
}

// goal is one row of the goals table.
type goal struct {
	goal, measured string
	status         status
}

// goals computes the verdict of each of iamgate's performance goals from
// the measured numbers.
func goals(e *env, list []*scenario, micro []microResult, microErr error) []goal {
	byID := map[string]*scenario{}
	for _, s := range list {
		byID[s.id] = s
	}
	var out []goal
	ratios := func(ep, base *endpoint, ids ...string) (parts []string, lowest float64, ok bool) {
		lowest = 1e9
		for _, id := range ids {
			s := byID[id]
			if s == nil {
				continue
			}
			r := s.ratio(ep, base)
			if r == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.2f×", strings.ToUpper(id[:3]), r))
			lowest = min(lowest, r)
		}
		return parts, lowest, len(parts) > 0
	}
	smallIDs := []string{"get4k-32", "put4k-32"}
	small := func(name string, ep, base *endpoint, want float64, how string) goal {
		g := goal{goal: name}
		parts, lowest, ok := ratios(ep, base, smallIDs...)
		if !ok {
			g.status, g.measured = notMeasured, "—"
			return g
		}
		g.measured = strings.Join(parts, ", ") + how
		g.status = verdict(lowest >= want)
		return g
	}
	out = append(out,
		small("Small objects (4 KiB GET and PUT, 32 connections), bearer: ≥ 0.80× direct MinIO", e.bearer, e.direct, 0.80, " of anonymous MinIO"),
		small("Small objects, SigV4: ≥ 0.80× direct MinIO", e.sigv4, e.directSigV4, 0.80,
			" of MinIO with SigV4 (both signed by the load generator)"+vsAnonymous(byID, e)),
		small("Small objects, bearer: ≥ 4× oauth2-proxy", e.bearer, e.oauth2, 4, " of oauth2-proxy"))

	// Large objects: every transfer scenario, both iamgate paths.
	large := goal{goal: "Large objects (GET and PUT, single and 8 streams): ≥ 0.90× direct MinIO", status: notMeasured, measured: "—"}
	lowest, highest := 1e9, 0.0
	var lowestAt string
	for _, s := range list {
		if s.kind != transfer {
			continue
		}
		for _, ep := range []*endpoint{e.bearer, e.sigv4} {
			r := s.ratio(ep, e.direct)
			if r == 0 {
				continue
			}
			if r < lowest {
				lowest, lowestAt = r, s.title+", "+pathName(e, ep)
			}
			highest = max(highest, r)
		}
	}
	if lowestAt != "" {
		large.measured = fmt.Sprintf("lowest %.2f× (%s), highest %.2f×", lowest, lowestAt, highest)
		large.status = verdict(lowest >= 0.90)
	}
	out = append(out, large)

	// Peak RSS with 8 streams of the largest objects measured.
	rss := goal{goal: "iamgate peak RSS ≤ 64 MiB with 8 clients × 1 GiB up and down", status: notMeasured, measured: "—"}
	var size int64
	for _, s := range list {
		if s.kind == transfer && s.conns == 8 && s.size > size && s.index(e.bearer) >= 0 {
			size = s.size
		}
	}
	if size > 0 {
		var peak int64
		var dirs []string
		for _, s := range list {
			if s.kind == transfer && s.conns == 8 && s.size == size {
				dirs = append(dirs, strings.ToUpper(s.id[:3]))
				for _, ep := range []*endpoint{e.bearer, e.sigv4} {
					if i := s.index(ep); i >= 0 {
						peak = max(peak, s.summary(i).peakRSS)
					}
				}
			}
		}
		rss.measured = fmt.Sprintf("%s (8 × %s %s, bearer and SigV4)", mib(peak), sizeLabel(size), strings.Join(dirs, " and "))
		if size < 1<<30 {
			rss.measured += "; 1 GiB objects only with -full"
		}
		rss.status = verdict(peak > 0 && peak <= 64<<20)
	}
	out = append(out, rss)

	sts := goal{goal: "STS issuance: ≥ 10× MinIO's STS", status: notMeasured, measured: "—"}
	if s := byID["sts"]; s != nil {
		if r := s.ratio(e.iamgateSTS, e.minioSTS); r > 0 {
			sts.measured = fmt.Sprintf("%.0f× (%.0f vs %.0f req/s)", r, s.value(s.index(e.iamgateSTS)), s.value(s.index(e.minioSTS)))
			sts.status = verdict(r >= 10)
		}
	}
	out = append(out, sts)

	az := goal{goal: "authz `Authorize`: ≤ 250 ns and 0 allocations (1,000 roles × 10 statements)", status: notMeasured, measured: "—"}
	if microErr != nil {
		az.measured = "micro-benchmark failed: see the log"
	}
	if len(micro) > 0 {
		var worst float64
		var allocs int64
		for _, m := range micro {
			worst = max(worst, m.nsPerOp)
			allocs = max(allocs, m.allocs)
		}
		az.measured = fmt.Sprintf("slowest case %.0f ns/op, %d allocs/op (micro-benchmark below)", worst, allocs)
		az.status = verdict(worst <= 250 && allocs == 0)
	}
	out = append(out, az)

	lat := goal{goal: "4 KiB GET at 1 connection: p50 and p99 ≤ direct MinIO + 150 µs", status: notMeasured, measured: "—"}
	if s := byID["get4k-1"]; s != nil {
		var parts []string
		ok, any := true, false
		for _, p := range [][2]*endpoint{{e.bearer, e.direct}, {e.sigv4, e.directSigV4}} {
			i, j := s.index(p[0]), s.index(p[1])
			if i < 0 || j < 0 {
				continue
			}
			a, b := s.summary(i), s.summary(j)
			d50, d99 := a.p50-b.p50, a.p99-b.p99
			parts = append(parts, fmt.Sprintf("%s %s / %s", pathName(e, p[0]), signed(d50), signed(d99)))
			ok = ok && d50 <= 150*time.Microsecond && d99 <= 150*time.Microsecond
			any = true
		}
		if any {
			lat.measured = "p50 / p99 over direct: " + strings.Join(parts, "; ") + " (SigV4 against MinIO with SigV4)"
			lat.status = verdict(ok)
		}
	}
	out = append(out, lat)

	audit := goal{goal: "Audit to a file and to a webhook: ≤ 5 % fewer requests/s than without audit", status: notMeasured, measured: "—"}
	if s := byID["audit"]; s != nil {
		var parts []string
		ok, any := true, false
		for _, ep := range []*endpoint{e.bearer, e.bearerWebhook} {
			r := s.ratio(ep, e.bearerDevNull)
			if r <= 0 {
				continue
			}
			change := fmt.Sprintf("%.1f %% fewer", (1-r)*100)
			if r >= 1 {
				change = fmt.Sprintf("no drop (%.1f %% more)", (r-1)*100)
			}
			sink := "file"
			if ep == e.bearerWebhook {
				sink = "file + webhook"
			}
			parts = append(parts, sink+": "+change)
			ok = ok && 1-r <= 0.05
			any = true
		}
		if any {
			audit.measured = strings.Join(parts, "; ") + " (4 KiB GET, bearer, 32 connections). Audit cannot be turned off, so " +
				"the baseline is audit to stdout redirected to /dev/null: the event is still built and encoded"
			audit.status = verdict(ok)
		}
	}
	out = append(out, audit)
	return append(out, leanGoals(e, byID, list)...)
}

// leanGoals are the goals of the lean proxy path: CPU per request against
// the bare ReverseProxy, small-GET throughput, one-connection latency,
// large GETs' throughput and CPU per GiB.
func leanGoals(e *env, byID map[string]*scenario, list []*scenario) []goal {
	var out []goal

	cpu := goal{goal: "iamgate CPU per 4 KiB GET (bearer, audit to a file, 32 connections) ≤ 0.65× the bare httputil.ReverseProxy's", status: notMeasured, measured: "—"}
	if s := byID["get4k-32"]; s != nil {
		i, j := s.index(e.bearer), s.index(e.ref)
		if i >= 0 && j >= 0 {
			a, b := s.summary(i).proxyCPU, s.summary(j).proxyCPU
			if a > 0 && b > 0 {
				r := float64(a) / float64(b)
				cpu.measured = fmt.Sprintf("%.2f× (%s against %s per request)", r, micros(a), micros(b))
				cpu.status = verdict(r <= 0.65)
			}
		}
	}
	out = append(out, cpu)

	get := goal{goal: "4 KiB GET, 32 connections: bearer and SigV4 ≥ 0.70× direct MinIO; SigV4 ≥ 0.90× of MinIO signed directly", status: notMeasured, measured: "—"}
	if s := byID["get4k-32"]; s != nil {
		rb, rs, rss := s.ratio(e.bearer, e.direct), s.ratio(e.sigv4, e.direct), s.ratio(e.sigv4, e.directSigV4)
		if rb > 0 && rs > 0 && rss > 0 {
			get.measured = fmt.Sprintf("bearer %.2f×, SigV4 %.2f× of anonymous MinIO; SigV4 %.2f× of MinIO with SigV4", rb, rs, rss)
			get.status = verdict(rb >= 0.70 && rs >= 0.70 && rss >= 0.90)
		}
	}
	out = append(out, get)

	lat := goal{goal: "4 KiB GET, 1 connection: p50 ≤ direct MinIO + 250 µs", status: notMeasured, measured: "—"}
	if s := byID["get4k-1"]; s != nil {
		var parts []string
		ok, any := true, false
		for _, p := range [][2]*endpoint{{e.bearer, e.direct}, {e.sigv4, e.directSigV4}} {
			i, j := s.index(p[0]), s.index(p[1])
			if i < 0 || j < 0 {
				continue
			}
			d := s.summary(i).p50 - s.summary(j).p50
			parts = append(parts, fmt.Sprintf("%s %s", pathName(e, p[0]), signed(d)))
			ok = ok && d <= 250*time.Microsecond
			any = true
		}
		if any {
			lat.measured = "p50 over direct: " + strings.Join(parts, ", ") + " (SigV4 against MinIO with SigV4)"
			lat.status = verdict(ok)
		}
	}
	out = append(out, lat)

	large := goal{goal: "64 MiB and 1 GiB GET, single and 8 streams: ≥ 0.85× direct MinIO and ≤ 0.30 proxy CPU-s per GiB", status: notMeasured, measured: "—"}
	lowest, highestCPU := 1e9, 0.0
	var lowestAt, cpuAt string
	var sizes []string
	for _, s := range list {
		if s.kind != transfer || !strings.HasPrefix(s.id, "get-") || s.res == nil {
			continue
		}
		if l := sizeLabel(s.size); !slices.Contains(sizes, l) {
			sizes = append(sizes, l)
		}
		for _, ep := range []*endpoint{e.bearer, e.sigv4} {
			i := s.index(ep)
			r := s.ratio(ep, e.direct)
			if i < 0 || r == 0 {
				continue
			}
			if r < lowest {
				lowest, lowestAt = r, s.title+", "+pathName(e, ep)
			}
			if c := s.summary(i).proxyCPU.Seconds(); c > highestCPU {
				highestCPU, cpuAt = c, s.title+", "+pathName(e, ep)
			}
		}
	}
	if lowestAt != "" {
		large.measured = fmt.Sprintf("lowest %.2f× (%s); most CPU %.2f s/GiB (%s); sizes measured: %s",
			lowest, lowestAt, highestCPU, cpuAt, strings.Join(sizes, ", "))
		large.status = verdict(lowest >= 0.85 && highestCPU <= 0.30)
	}
	return append(out, large)
}

// signed is d with its sign: +1.20 ms, −0.30 ms.
func signed(d time.Duration) string {
	if d < 0 {
		return "−" + dur(-d)
	}
	return "+" + dur(d)
}

func vsAnonymous(byID map[string]*scenario, e *env) string {
	var parts []string
	for _, id := range []string{"get4k-32", "put4k-32"} {
		if s := byID[id]; s != nil {
			if r := s.ratio(e.sigv4, e.direct); r > 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f×", strings.ToUpper(id[:3]), r))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; of anonymous MinIO: " + strings.Join(parts, ", ")
}

func pathName(e *env, ep *endpoint) string {
	switch ep {
	case e.bearer:
		return "bearer"
	case e.sigv4:
		return "SigV4"
	}
	return ep.name
}
