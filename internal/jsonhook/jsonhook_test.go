package jsonhook_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/iamgate/iamgate/internal/jsonhook"
)

type doc struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

// Documents arrive as JSON POSTs, in order; a receiver that fails is
// tried again, and one that keeps failing is logged with the cause but
// never the URL.
func TestSender(t *testing.T) {
	var (
		mu    sync.Mutex
		got   []doc
		fails = 2
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if strings.Contains(r.URL.Path, "down") {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var d doc
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			t.Error(err)
		}
		got = append(got, d)
	}))
	defer srv.Close()

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	attrs := func(d *doc) []any { return []any{"n", d.N} }
	s := jsonhook.New(srv.URL+"/hook?token=s3cr3t", "test document", attrs, nil, log)
	s.Send(doc{1, "a"})
	s.Send(doc{2, "b"})
	s.Close()
	mu.Lock()
	if len(got) != 2 || got[0].N != 1 || got[1].N != 2 {
		t.Fatalf("received %+v", got)
	}
	mu.Unlock()

	down := jsonhook.New(srv.URL+"/down?token=s3cr3t", "test document", attrs, nil, log)
	down.Send(doc{3, "c"})
	down.Close()
	out := logs.String()
	if !strings.Contains(out, "test document not delivered") || !strings.Contains(out, "n=3") ||
		!strings.Contains(out, "the test document webhook answered 502 Bad Gateway") {
		t.Errorf("log: %s", out)
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, srv.URL) {
		t.Errorf("the log names the URL: %s", out)
	}
}
