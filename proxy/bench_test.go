package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

// BenchmarkServeGetAllowed measures iamgate's own cost for an allowed
// 4 KiB GET: authentication (cached), classification, authorization,
// signing, forwarding to an in-process upstream, audit and metrics.
func BenchmarkServeGetAllowed(b *testing.B) {
	body := strings.Repeat("x", 4096)
	f := newFixture(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4096")
		io.WriteString(w, body)
	}, nil)
	tok := f.token(b, "alice", "staff")
	f.audit.Grow(1 << 20)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/home/alice/obj", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
		f.auditMu.Lock()
		f.audit.Reset()
		f.auditMu.Unlock()
	}
	reportCPU(b, cpu)
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since start:
// client, iamgate and store together, which is what a shared machine's
// wall-clock figures hide.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkServeLargeBodies is one 16 MiB GET or PUT through iamgate in
// process: what copying large bodies costs.
func BenchmarkServeLargeBodies(b *testing.B) {
	const size = 16 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	f := newFixture(b, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			w.Write(payload)
		}
	}, nil)
	tok := f.token(b, "alice", "staff")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, method := range []string{"GET", "GET-nosplice", "PUT"} {
		f.h.noSplice = method == "GET-nosplice"
		method, name := strings.TrimSuffix(method, "-nosplice"), method
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				var body io.Reader
				if method == "PUT" {
					body = bytes.NewReader(payload)
				}
				req, _ := http.NewRequest(method, f.srv.URL+"/bkt/home/alice/big", body)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || method == "GET" && n != size {
					b.Fatal(res.Status, n)
				}
				f.upLog.mu.Lock()
				f.upLog.reqs, f.upLog.body = nil, nil
				f.upLog.mu.Unlock()
				f.auditMu.Lock()
				f.audit.Reset()
				f.auditMu.Unlock()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkServeGetParallel is BenchmarkServeGetAllowed with many requests
// at once against an in-memory store: what iamgate's own work costs under
// concurrency (shared counters, locks), without the network.
func BenchmarkServeGetParallel(b *testing.B) {
	body := strings.Repeat("x", 4096)
	store := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Length": {"4096"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: 4096, Request: r}, nil
	})
	f := newFixture(b, nil, store)
	tok := f.token(b, "alice", "staff")
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/bkt/home/alice/obj", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkServeGetLimits is one GET served in process against an
// in-memory store, with limits off and on (rate, concurrency, objects and
// bytes per session, in memory): the difference is what limits cost per
// request.
func BenchmarkServeGetLimits(b *testing.B) {
	body := strings.Repeat("x", 4096)
	store := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Length": {"4096"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: 4096, Request: r}, nil
	})
	for _, mode := range []string{"off", "on", "on-redis"} {
		b.Run(mode, func(b *testing.B) {
			f := newFixture(b, nil, store)
			if mode != "off" {
				var counters state.Counters = state.NewCounterMemory(nil)
				cfg := limits.Config{}
				if mode == "on-redis" {
					if testing.Short() {
						b.Skip("needs redis-server")
					}
					rd := testenv.StartRedis(b)
					r, err := state.NewRedis(state.RedisConfig{URL: rd.URL, Password: rd.Password})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { r.Close() })
					// As serve runs it with shared state.
					counters, cfg.Defer = r.Counters(), 25*time.Millisecond
				}
				f.h.cfg.Limiter = limits.New(counters, cfg)
				gen := *f.h.Current()
				gen.principals = nil
				gen.Limits = map[string]*RoleLimits{"member": {Role: &limits.Policy{Role: "member", Kind: "human",
					Rules: &limits.Rules{RequestsPerSecond: 1e9, Burst: 1e6, ConcurrentRequests: 1000, Window: time.Hour,
						BytesDownloaded: 1 << 60, ObjectsRead: 1 << 60, Per: []limits.Scope{limits.PerSession}},
					Escalation: &limits.Escalation{Window: time.Hour, DenyAfter: 100, RevokeAfter: 200}}}}
				if err := f.h.Swap(&gen); err != nil {
					b.Fatal(err)
				}
			}
			tok := f.token(b, "alice", "staff")
			r := httptest.NewRequest("GET", "/bkt/home/alice/obj", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				f.h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
				f.auditMu.Lock()
				f.audit.Reset()
				f.auditMu.Unlock()
			}
		})
	}
}
