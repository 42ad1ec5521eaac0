// Command profsplit splits a CPU profile of iamgate or of a floor target
// (bench/netfloor, bench/fastfloor) into the parts the benchmark's
// analysis names: the HTTP server side, the upstream client, iamgate's
// security work, allocation and GC, the scheduler, system calls.
//
//	go run ./bench/profsplit [-by-owner] FILE.prof
//
// Each sample counts once (go tool pprof -traces merges equal stacks). A sample with allocation or GC in its stack is
// "allocation and GC"; else one under a system call entry is "system
// calls"; else one in the scheduler (parking, waking, finding work,
// futex and netpoll) is "scheduler"; the rest goes to the owner of its
// innermost recognized frame (upstream client, net/http server, a part of
// iamgate's security work, …). With -by-owner the first three are split
// by owner too (whose read, whose allocation). It reads the profile
// through `go tool pprof -traces`.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	byOwner := flag.Bool("by-owner", false, "split allocation, system calls and scheduler by owner too")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: profsplit [-by-owner] FILE.prof")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *byOwner); err != nil {
		fmt.Fprintln(os.Stderr, "profsplit:", err)
		os.Exit(1)
	}
}

func run(file string, byOwner bool) error {
	out, err := exec.Command("go", "tool", "pprof", "-traces", file).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("go tool pprof: %w\n%s", err, ee.Stderr)
		}
		return err
	}
	samples, err := parseTraces(out)
	if err != nil {
		return err
	}
	var total time.Duration
	sums := map[string]time.Duration{}
	for _, s := range samples {
		kind, owner := classify(s.stack)
		key := kind
		if kind == "" {
			key = owner
		} else if byOwner {
			key = kind + " — " + owner
		}
		sums[key] += s.value
		total += s.value
	}
	if total == 0 {
		return errors.New("no samples")
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(sums[b] - sums[a]) })
	fmt.Printf("%s: %d distinct stacks, %.2f s of CPU\n\n| part | share | CPU-s |\n|---|---|---|\n", file, len(samples), total.Seconds())
	for _, k := range keys {
		fmt.Printf("| %s | %.1f %% | %.2f |\n", k, 100*float64(sums[k])/float64(total), sums[k].Seconds())
	}
	return nil
}

type sample struct {
	value time.Duration
	stack []string // innermost first
}

// parseTraces reads `go tool pprof -traces` output: blocks separated by
// dashed lines, each a value and the innermost function, then callers.
func parseTraces(out []byte) ([]sample, error) {
	var list []sample
	var cur *sample
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			cur = nil
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if cur == nil {
			if !strings.HasPrefix(line, " ") || len(f) < 2 {
				continue // the header
			}
			d, err := time.ParseDuration(f[0])
			if err != nil {
				if _, nerr := strconv.ParseFloat(f[0], 64); nerr != nil {
					continue
				}
				return nil, fmt.Errorf("not a CPU profile: %q", line)
			}
			list = append(list, sample{value: d})
			cur = &list[len(list)-1]
			f = f[1:]
		}
		cur.stack = append(cur.stack, f[0])
	}
	return list, sc.Err()
}

// classify returns the sample's kind ("allocation and GC", "system calls",
// "scheduler", or "" for none of them) and the owner of its innermost
// recognized frame.
func classify(stack []string) (kind, owner string) {
	owner = "other (runtime, standard library)"
	for _, fn := range stack {
		if o := ownerOf(fn); o != "" {
			owner = o
			break
		}
	}
	if owner == sigv4Any {
		// The signing-key and hashing helpers serve the inbound check and
		// the outbound signature alike; the caller tells them apart.
		owner = "security: authentication (SigV4 verification)"
		if hasAny(stack, func(fn string) bool { return ownerOf(fn) == signing }) {
			owner = signing
		}
	}
	switch {
	case hasAny(stack, isAlloc):
		return "allocation and GC", owner
	case hasAny(stack, isSyscall):
		return "system calls", owner
	case hasAny(stack, isSched):
		return "scheduler", owner
	}
	return "", owner
}

func hasAny(stack []string, f func(string) bool) bool {
	return slices.ContainsFunc(stack, f)
}

func isAlloc(fn string) bool {
	switch fn {
	case "runtime.mallocgc", "runtime.newobject", "runtime.growslice", "runtime.makeslice", "runtime.makeslicecopy",
		"runtime.newarray", "runtime.makemap", "runtime.makemap_small", "runtime.rawstring", "runtime.rawbyteslice",
		"runtime.gcWriteBarrier", "runtime.wbBufFlush", "runtime.bulkBarrierPreWrite", "runtime.bgsweep", "runtime.bgscavenge":
		return true
	}
	return strings.HasPrefix(fn, "runtime.gcBgMarkWorker") || strings.HasPrefix(fn, "runtime.gcAssist") ||
		strings.HasPrefix(fn, "runtime.gcStart") || strings.HasPrefix(fn, "runtime.gcMark") ||
		strings.HasPrefix(fn, "runtime.gcDrain") || strings.HasPrefix(fn, "runtime.markroot") ||
		strings.HasPrefix(fn, "runtime.scanobject") || strings.HasPrefix(fn, "runtime.(*mheap)") ||
		strings.HasPrefix(fn, "runtime.(*mcache)") || strings.HasPrefix(fn, "runtime.(*mcentral)") ||
		strings.HasPrefix(fn, "runtime.(*sweepLocked)") || strings.HasPrefix(fn, "runtime.sweepone")
}

func isSyscall(fn string) bool {
	switch strings.TrimSuffix(fn, " (inline)") {
	case "syscall.Syscall", "syscall.Syscall6", "syscall.RawSyscall", "syscall.RawSyscall6", "syscall.rawSyscallNoError",
		"internal/runtime/syscall.Syscall6", "internal/runtime/syscall/linux.Syscall6", "runtime/internal/syscall.Syscall6":
		return true
	}
	return false
}

func isSched(fn string) bool {
	switch strings.TrimSuffix(fn, " (inline)") {
	case "runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall", "runtime.gopark", "runtime.goready",
		"runtime.ready", "runtime.wakep", "runtime.startm", "runtime.stopm", "runtime.notewakeup", "runtime.notesleep",
		"runtime.futexwakeup", "runtime.futexsleep", "runtime.futex", "runtime.netpoll", "runtime.stealWork", "runtime.runqgrab",
		"runtime.usleep", "runtime.osyield", "runtime.mPark", "runtime.handoffp", "runtime.sysmon", "runtime.retake",
		"runtime.goschedImpl", "runtime.gosched_m", "runtime.goexit0", "runtime.newproc", "runtime.netpollblock",
		"runtime.semrelease1", "runtime.semacquire1", "runtime.selectgo", "runtime.chansend", "runtime.chanrecv",
		"runtime.exitsyscall", "runtime.entersyscall", "runtime.notetsleep_internal":
		return true
	}
	return false
}

// owners are matched in order against each frame, innermost first; the
// first frame that matches any names the owner.
var owners = []struct{ prefix, owner string }{
	// iamgate's upstream client and the floors' clients.
	{"github.com/iamgate/iamgate/internal/upstream.", "upstream client"},
	{"github.com/valyala/fasthttp.(*HostClient)", "upstream client (fasthttp HostClient)"},
	{"github.com/valyala/fasthttp.(*transport)", "upstream client (fasthttp HostClient)"},
	{"net/http.(*Transport)", "upstream client (net/http Transport)"},
	{"net/http.(*persistConn)", "upstream client (net/http Transport)"},
	{"net/http/httputil.", "upstream client (net/http Transport)"},
	// iamgate's security work.
	{"github.com/iamgate/iamgate/sigv4.(*Transport)", signing},
	{"github.com/iamgate/iamgate/sigv4.(*outboundSigner)", signing},
	{"github.com/iamgate/iamgate/sigv4.", sigv4Any}, // shared by both directions: see classify
	{"github.com/iamgate/iamgate/identity.", "security: authentication"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).authenticate", "security: authentication"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).bearer", "security: authentication"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).sigv4", "security: authentication"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).principalFor", "security: authentication"},
	{"github.com/iamgate/iamgate/authz.", "security: authorization"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).authorize", "security: authorization"},
	{"github.com/iamgate/iamgate/s3req.", "security: classification"},
	{"github.com/iamgate/iamgate/audit.", "security: audit"},
	{"github.com/iamgate/iamgate/proxy.(*Handler).finish", "security: audit"},
	{"github.com/iamgate/iamgate/limits.", "security: limits"},
	{"github.com/prometheus/", "metrics"},
	// The server side.
	{"net/http.(*conn)", "net/http server"},
	{"net/http.(*response)", "net/http server"},
	{"net/http.(*chunkWriter)", "net/http server"},
	{"net/http.(*connReader)", "net/http server"},
	{"net/http.(*expectContinueReader)", "net/http server"},
	{"net/http.(*body)", "net/http server"},
	{"net/http.readRequest", "net/http server"},
	{"net/http.(*Server)", "net/http server"},
	{"net/http.checkConnErrorWriter", "net/http server"},
	{"net/http.newBufio", "net/http server"},
	{"net/http.putBufio", "net/http server"},
	{"net/http.serverHandler", "net/http server"},
	{"net/http.(*Request).WithContext", "net/http server"},
	{"github.com/valyala/fasthttp.(*Server)", "fasthttp server"},
	{"github.com/valyala/fasthttp.(*workerPool)", "fasthttp server"},
	// iamgate's connection wrapper: its reads and writes are the server's
	// (small responses corked into one write); the framing it tracks
	// against request smuggling is iamgate's own check.
	{"github.com/iamgate/iamgate/proxy.(*framingTracker)", "security: request framing check"},
	{"github.com/iamgate/iamgate/proxy.(*framedConn)", "net/http server"},
	// Glue: the handler's own code outside the parts above.
	{"github.com/iamgate/iamgate/proxy.", "iamgate proxy glue (request rebuild, headers, response copy)"},
	{"main.", "main package (the floor's handler)"},
}

const (
	signing  = "security: outbound signing"
	sigv4Any = "sigv4"
)

func ownerOf(fn string) string {
	for _, o := range owners {
		if strings.HasPrefix(fn, o.prefix) {
			return o.owner
		}
	}
	return ""
}
