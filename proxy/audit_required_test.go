package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/identity"
)

// TestAuditRequiredRefusesWhenSpoolFull: with required delivery, requests
// are refused with 503 once the webhook spool is full (the collector
// refuses everything), and served again when the collector comes back.
func TestAuditRequiredRefusesWhenSpoolFull(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer collector.Close()
	wh, err := audit.NewWebhook(audit.WebhookConfig{URL: collector.URL, SpoolDir: t.TempDir(), SpoolMaxBytes: 16 << 10,
		FlushInterval: 10 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, nil)
	f.h.cfg.Audit = audit.NewLogger(wh)
	defer f.h.cfg.Audit.Close()
	f.h.cfg.AuditDelivery = audit.DeliveryRequired
	alice := f.token(t, "alice", "staff")
	gen := *f.h.Current()
	gen.Browser = signInPages{}
	gen.principals = nil
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}

	served := 0
	for ; served < 1000; served++ {
		res, body := f.do(t, "GET", "/bkt/home/alice/k", alice, nil)
		if res.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(body, "<Code>ServiceUnavailable</Code>") || !strings.Contains(body, "audit events cannot be persisted") {
				t.Fatalf("503 body %s", body)
			}
			break
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", served, res.Status)
		}
	}
	if served == 0 || served == 1000 {
		t.Fatalf("%d requests served before the spool was full", served)
	}
	before := f.upLog.count()
	if res, _ := f.do(t, "GET", "/bkt/home/alice/k", alice, nil); res.StatusCode != http.StatusServiceUnavailable || f.upLog.count() != before {
		t.Fatalf("a request was forwarded with a full spool: %s", res.Status)
	}
	if res, body := f.do(t, "GET", "/_iamgate/readyz", "", nil); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "spool full") {
		t.Errorf("readyz with a full spool: %s %s", res.Status, body)
	}
	for _, p := range []string{"/_iamgate/login", "/_iamgate/callback?code=x&state=y", "/_iamgate/ui/"} {
		if res, body := f.do(t, "GET", p, "", nil); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "audit") {
			t.Errorf("%s with a full spool: %s %s", p, res.Status, body)
		}
	}
	if res, _ := f.do(t, "GET", "/_iamgate/signedout", "", nil); res.StatusCode != http.StatusOK {
		t.Errorf("the signed-out page with a full spool: %s", res.Status)
	}

	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for f.h.cfg.Audit.Available() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the spool never drained")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res, _ := f.do(t, "GET", "/bkt/home/alice/k", alice, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("after the collector came back: %s", res.Status)
	}
	if res, _ := f.do(t, "GET", "/_iamgate/login", "", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in after the collector came back: %s", res.Status)
	}
}

// signInPages stands in for the web console: it answers every page with 200.
type signInPages struct{}

func (signInPages) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }
func (signInPages) Session(http.ResponseWriter, *http.Request) (*identity.Session, string, error) {
	return nil, "", nil
}
func (signInPages) LoginPath(rd string) string { return "/_iamgate/login?rd=" + url.QueryEscape(rd) }
