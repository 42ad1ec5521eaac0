// Command bench measures iamgate against direct MinIO, against two
// proxies used in front of MinIO (nginx, oauth2-proxy) and against a bare
// httputil.ReverseProxy (bench/refproxy) and two floors that do no security
// work either (bench/netfloor: net/http's server with iamgate's upstream
// client; bench/fastfloor: fasthttp), on this machine, in one run,
// interleaving the targets round by round:
//
//	go run ./bench [-short | -full] [-rounds N] [-duration D] [-conns C]
//	               [-gomaxprocs N] [-results FILE [-append]] [-charts DIR]
//	               [-only TEXT] [-iamgate-cpuprofile FILE] [-floor-cpuprofile DIR]
//
// It starts MinIO (scripts/install-tools.sh), an in-process development
// issuer that is MinIO's OpenID provider too, `iamgate serve` built from this
// tree (bearer and STS/SigV4 paths), the reference proxy and the floors
// built from bench/refproxy, bench/netfloor and bench/fastfloor, nginx with
// a generated configuration and oauth2-proxy (bench/install-peers.sh),
// then runs each scenario against each target: small GETs (1, 32 and 256
// connections) and PUTs, ListObjectsV2, a mixed workload, STS issuance,
// large GETs and PUTs. It reports medians and
// ratios (requests/s, latency, MiB/s, proxy CPU per request or per GiB and
// its ratio to the reference proxy's, peak RSS), a table of iamgate's
// performance goals and PNG charts. Run it from the repository root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	short, full bool
	rounds      int
	duration    time.Duration
	conns       int
	bigSizes    []int64
	results     string
	appendTo    bool
	charts      string
	cpuProfile  string
	baseline    string
	baselineEnv string
	selfProfile string
	only        string
	micro       bool
	dataDir     string
	gomaxprocs  int
	auditFsync  string
	// floorCPUProfile is the directory the floor targets write their
	// CPU profiles to (netfloor.prof, fastfloor.prof); "": none.
	floorCPUProfile string
}

func parseFlags() options {
	var o options
	flag.BoolVar(&o.short, "short", false, "short run (about 10 minutes): 3 rounds of 1.5s, 64 MiB objects")
	flag.BoolVar(&o.full, "full", false, "full run: 5 rounds of 5s, and 1 GiB objects besides 64 MiB")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per scenario (targets interleaved); 1 GiB scenarios do at most 3")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each load run, after a warm-up of a fifth of it")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections of the many-connection scenarios")
	flag.StringVar(&o.results, "results", "", "write the markdown report to this file (overwritten; see -append)")
	flag.BoolVar(&o.appendTo, "append", false, "append the report to -results instead of overwriting it")
	flag.StringVar(&o.charts, "charts", "bench/charts", "write PNG charts to this directory (empty: none)")
	flag.StringVar(&o.cpuProfile, "iamgate-cpuprofile", "", "have the iamgate under test write a CPU profile to this file")
	flag.StringVar(&o.floorCPUProfile, "floor-cpuprofile", "", "have the floor targets (default GOMAXPROCS) write CPU profiles to this directory: netfloor.prof, fastfloor.prof")
	flag.StringVar(&o.baselineEnv, "baseline-env", "", "comma-separated NAME=value settings added to the environment of the -baseline-iamgate process (e.g. GOMAXPROCS=1)")
	flag.StringVar(&o.baseline, "baseline-iamgate", "", "also measure this iamgate binary (e.g. built from main), as the target \"iamgate baseline build, bearer JWT\", interleaved with the others")
	flag.StringVar(&o.selfProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose title contains one of these comma-separated texts (case-insensitive); separate them with | instead to match texts with commas (\"4 KiB GET, 32 connections|256 connections\")")
	flag.StringVar(&o.dataDir, "data", "", "parent directory of MinIO's data (default: /dev/shm, or a temporary directory on disk with -full)")
	flag.IntVar(&o.gomaxprocs, "gomaxprocs", 1, "also run iamgate (bearer, audit to a file) and the reference proxy with GOMAXPROCS set to this, as targets of the 4 KiB GET scenarios; 0: not")
	flag.StringVar(&o.auditFsync, "audit-fsync", "", "audit.fsync of every iamgate process (always, interval, never); empty: iamgate's default")
	flag.BoolVar(&o.micro, "micro", true, "run authz's Authorize micro-benchmark (go test) for the goals table")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.short {
		if !set["rounds"] {
			o.rounds = 3
		}
		if !set["duration"] {
			o.duration = 1500 * time.Millisecond
		}
	}
	o.bigSizes = []int64{64 << 20}
	if o.full {
		o.bigSizes = append(o.bigSizes, 1<<30)
	}
	return o
}

// selected reports whether -only lets the scenario with this title run.
func (o options) selected(title string) bool {
	if o.only == "" {
		return true
	}
	sep := ","
	if strings.Contains(o.only, "|") {
		sep = "|"
	}
	for _, s := range strings.Split(o.only, sep) {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(strings.ToLower(title), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func run() error {
	o := parseFlags()
	if o.short && o.full {
		return errors.New("-short and -full exclude each other")
	}
	switch o.auditFsync {
	case "", "always", "interval", "never":
	default:
		return fmt.Errorf("-audit-fsync %q: want always, interval or never", o.auditFsync)
	}
	if o.gomaxprocs < 0 {
		return errors.New("-gomaxprocs must not be negative")
	}
	if o.floorCPUProfile != "" {
		dir, err := filepath.Abs(o.floorCPUProfile)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		o.floorCPUProfile = dir
	}
	if _, err := os.Stat("cmd/iamgate"); err != nil {
		return errors.New("run from the repository root: go run ./bench")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	began := time.Now()

	// The micro-benchmark runs first, on a machine not yet loaded by
	// MinIO and the proxies.
	var micro []microResult
	var microErr error
	if o.micro && o.selected("Authorize micro-benchmark") {
		fmt.Fprintln(os.Stderr, "bench: go test -bench Authorize ./authz")
		micro, microErr = authzBench(ctx)
		if microErr != nil {
			fmt.Fprintln(os.Stderr, "bench: authz micro-benchmark:", microErr)
		}
	}

	e, err := start(ctx, o)
	if err != nil {
		return err
	}
	defer e.stop()
	for _, n := range e.notes {
		fmt.Fprintln(os.Stderr, "bench: skipped", n)
	}
	fmt.Fprintf(os.Stderr, "bench: set up in %.0fs\n", time.Since(began).Seconds())

	if o.selfProfile != "" {
		f, err := os.Create(o.selfProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	list := scenarios(e, o)
	warmUp(e, o)
	for _, s := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.run(o)
	}

	rep := &report{o: o, env: e, scenarios: list, micro: micro, microErr: microErr, began: began, elapsed: time.Since(began)}
	if o.charts != "" {
		if err := os.MkdirAll(o.charts, 0o755); err != nil {
			return err
		}
		rep.charts, err = writeCharts(o.charts, e, list)
		if err != nil {
			return fmt.Errorf("charts: %w", err)
		}
	}
	out := rep.markdown()
	os.Stdout.Write(out)
	if o.results == "" {
		return nil
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(o.results, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %.0fs\n", filepath.Clean(o.results), time.Since(began).Seconds())
	return f.Close()
}
