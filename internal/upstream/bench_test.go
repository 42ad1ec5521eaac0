package upstream

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoundTrip compares the client with net/http's Transport (as
// iamgate configures it) on one keep-alive connection to an httptest
// store: a 4 KiB GET, a 4 KiB PUT and a 1 MiB PUT. cpu-ns/op counts the
// whole process, store included.
func BenchmarkRoundTrip(b *testing.B) {
	small := bytes.Repeat([]byte("x"), 4096)
	large := bytes.Repeat([]byte("y"), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			io.Copy(io.Discard, r.Body)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(small)))
		w.Write(small)
	}))
	defer srv.Close()
	clients := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"std", &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}},
		{"lean", New(Config{})},
	}
	for _, op := range []struct {
		name   string
		method string
		body   []byte
	}{{"GET4KiB", "GET", nil}, {"PUT4KiB", "PUT", small}, {"PUT1MiB", "PUT", large}} {
		for _, c := range clients {
			b.Run(op.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				if op.body != nil {
					b.SetBytes(int64(len(op.body)))
				}
				cpu := processCPU()
				for b.Loop() {
					var body io.Reader
					if op.body != nil {
						body = bytes.NewReader(op.body)
					}
					req, _ := http.NewRequest(op.method, srv.URL+"/obj", body)
					res, err := c.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
