package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one load run of one target.
type result struct {
	rps           float64
	mibps         float64
	p50, p90, p99 time.Duration
	errors        int
	firstErr      string
	// proxyCPU and clientCPU are CPU time per request (rate runs) or per GiB
	// moved (transfer runs), of the proxy's process tree and of the load
	// generator; proxyCPU is 0 without a proxy.
	proxyCPU, clientCPU time.Duration
	peakRSS             int64 // of the proxy's process tree; 0 without a proxy
	// reads and writes are the proxy's read and write system calls per
	// request (rate runs).
	reads, writes float64
}

type workerStats struct {
	lat      []time.Duration
	bytes    int64
	errors   int
	firstErr string
}

func (s *workerStats) fail(msg string) {
	s.errors++
	if s.firstErr == "" {
		s.firstErr = msg
	}
}

// do runs one request and checks its status; it returns the bytes moved.
func (w *worker) do(o op, i int, st *workerStats) (int64, bool) {
	req := o.build(w, i)
	status, n, err := w.conn.do(req)
	switch {
	case err != nil:
		st.fail(err.Error())
		return 0, false
	case status != o.want:
		st.fail(fmt.Sprintf("%s %s: status %d", req.method, req.path, status))
		return 0, false
	}
	if req.body != nil {
		n += req.size
	}
	return n, true
}

// runRate is a closed-loop rate run: conns workers, one keep-alive
// connection each, send requests back to back; the first fifth of d (at
// least 250 ms) warms up, then the requests completed in the next d are
// counted.
func runRate(ep *endpoint, o op, conns int, d time.Duration) result {
	warm := max(d/5, 250*time.Millisecond)
	var phase atomic.Int32 // 0 warm-up, 1 measured, 2 stop
	stats := make([]workerStats, conns)
	var wg sync.WaitGroup
	for id := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(id, ep)
			defer w.conn.close()
			st := &stats[id]
			st.lat = make([]time.Duration, 0, 1<<14)
			for i := 0; ; i++ {
				if phase.Load() == 2 {
					return
				}
				s := time.Now()
				n, ok := w.do(o, i, st)
				lat := time.Since(s)
				if phase.Load() != 1 {
					continue // completed outside the measured window
				}
				if ok {
					st.lat = append(st.lat, lat)
					st.bytes += n
				}
			}
		}()
	}
	rss := startRSS(ep.pid)
	time.Sleep(warm)
	pids := procTree(ep.pid)
	r0, w0 := syscalls(pids)
	p0, c0, t0 := cpuTime(pids), selfCPU(), time.Now()
	phase.Store(1)
	time.Sleep(d)
	phase.Store(2)
	p1, c1, elapsed := cpuTime(pids), selfCPU(), time.Since(t0)
	r1, w1 := syscalls(pids)
	wg.Wait()
	r := result{peakRSS: rss.peak()}
	if ep.pid == 0 {
		r.peakRSS = 0
	}
	var all []time.Duration
	var bytes int64
	for _, s := range stats {
		all = append(all, s.lat...)
		bytes += s.bytes
		r.errors += s.errors
		if r.firstErr == "" {
			r.firstErr = s.firstErr
		}
	}
	slices.Sort(all)
	n := len(all)
	r.rps = float64(n) / elapsed.Seconds()
	r.mibps = float64(bytes) / (1 << 20) / elapsed.Seconds()
	if n > 0 {
		r.p50, r.p90, r.p99 = all[n*50/100], all[n*90/100], all[n*99/100]
		if ep.pid != 0 {
			r.proxyCPU = (p1 - p0) / time.Duration(n)
			r.reads, r.writes = float64(r1-r0)/float64(n), float64(w1-w0)/float64(n)
		}
		r.clientCPU = (c1 - c0) / time.Duration(n)
	}
	return r
}

// runTransfer moves whole objects: streams workers transfer objects back to
// back until d has passed, each finishing the object it is on; MiB/s is all
// bytes over the wall time. Each worker first does one 4 KiB GET on its
// connection. CPU is reported per GiB moved.
func runTransfer(ep *endpoint, o op, streams int, d time.Duration) result {
	ws := make([]*worker, streams)
	stats := make([]workerStats, streams)
	warm := getOp(smallKey)
	for id := range ws {
		ws[id] = newWorker(id, ep)
		defer ws[id].conn.close()
		ws[id].do(warm, 0, &stats[id])
	}
	rss := startRSS(ep.pid)
	pids := procTree(ep.pid)
	p0, c0, t0 := cpuTime(pids), selfCPU(), time.Now()
	var wg sync.WaitGroup
	for id, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[id]
			for i := 0; i == 0 || time.Since(t0) < d; i++ {
				s := time.Now()
				n, ok := w.do(o, i, st)
				if !ok {
					return
				}
				st.lat = append(st.lat, time.Since(s))
				st.bytes += n
			}
		}()
	}
	wg.Wait()
	p1, c1, elapsed := cpuTime(pids), selfCPU(), time.Since(t0)
	r := result{peakRSS: rss.peak()}
	if ep.pid == 0 {
		r.peakRSS = 0
	}
	var bytes int64
	var all []time.Duration
	for _, s := range stats {
		bytes += s.bytes
		all = append(all, s.lat...)
		r.errors += s.errors
		if r.firstErr == "" {
			r.firstErr = s.firstErr
		}
	}
	slices.Sort(all)
	if n := len(all); n > 0 {
		r.rps = float64(n) / elapsed.Seconds()
		r.p50, r.p90, r.p99 = all[n*50/100], all[n*90/100], all[n*99/100]
	}
	r.mibps = float64(bytes) / (1 << 20) / elapsed.Seconds()
	if gib := float64(bytes) / (1 << 30); gib > 0 {
		if ep.pid != 0 {
			r.proxyCPU = time.Duration(float64(p1-p0) / gib)
		}
		r.clientCPU = time.Duration(float64(c1-c0) / gib)
	}
	return r
}
