package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/sigv4"
)

// TestWithoutUpstreamCredentials: a Transport with no (or expired)
// temporary credentials sends nothing; the request is answered 503 with
// a message that says why, readyz names the reason, and the OpenID
// documents are served by the configured handler.
func TestWithoutUpstreamCredentials(t *testing.T) {
	f := newFixture(t, nil, nil)
	cfg := f.h.cfg
	cfg.Transport = sigv4.NewTransportWithoutCredentials(&http.Transport{}, "us-east-1")
	cfg.UpstreamCredentials = func() error { return errors.New("no upstream credentials yet from the store's STS") }
	cfg.OIDC = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "oidc "+r.URL.Path) })
	h, err := New(cfg, f.h.Current())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/bkt/shared/x", f.token(t, "alice", "staff"))
	if code != 503 || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") || !strings.Contains(body, "no valid credentials for the storage service") {
		t.Fatalf("%d %s", code, body)
	}
	if f.upLog.count() != 0 {
		t.Fatal("a request reached the store unsigned")
	}
	code, body = get("/_iamgate/readyz", "")
	if code != 503 || !strings.Contains(body, `"upstream_credentials":"no upstream credentials yet`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	if code, body = get("/_iamgate/oidc/jwks.json", ""); code != 200 || body != "oidc /_iamgate/oidc/jwks.json" {
		t.Fatalf("oidc %d %s", code, body)
	}
	// Without federation the paths are not found.
	if res, _ := f.do(t, "GET", "/_iamgate/oidc/jwks.json", "", nil); res.StatusCode != 404 {
		t.Fatalf("oidc without federation: %s", res.Status)
	}
}
