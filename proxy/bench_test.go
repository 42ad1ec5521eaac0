package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
}
