package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
)

// A CORS preflight is forwarded unauthenticated and unsigned, as OPTIONS
// on the classified path with only the preflight headers, and the store's
// answer (its CORS rules for the bucket) reaches the browser.
func TestPreflight(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
		w.Header().Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		w.Header().Del("X-Amz-Request-Id")
		w.WriteHeader(http.StatusNoContent)
	}, nil)
	for _, path := range []string{
		"/bkt/home/a%20b.txt",
		"/bkt",
		// A presigned URL's preflight: the query is not forwarded.
		"/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKALICE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00&uploadId=u&partNumber=1",
	} {
		t.Run(path, func(t *testing.T) {
			res, body := f.do(t, "OPTIONS", path, "", nil,
				"Origin", "https://app.example", "Access-Control-Request-Method", "PUT",
				"Access-Control-Request-Headers", "content-type,x-amz-date", "Cookie", "s=1", "X-Amz-Security-Token", "tok")
			if res.StatusCode != 204 || body != "" || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
				res.Header.Get("Access-Control-Allow-Methods") != "PUT" || res.Header.Get("Access-Control-Allow-Headers") != "content-type,x-amz-date" {
				t.Fatalf("%d %q %v", res.StatusCode, body, res.Header)
			}
			up, upBody := f.upLog.last()
			wantPath, _, _ := strings.Cut(path, "?")
			if up.Method != "OPTIONS" || up.URL.EscapedPath() != wantPath || up.URL.RawQuery != "" || len(upBody) != 0 {
				t.Fatalf("store got %s %s?%s %q", up.Method, up.URL.EscapedPath(), up.URL.RawQuery, upBody)
			}
			for k := range up.Header {
				switch k {
				case "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers", "X-Forwarded-For", "User-Agent":
				default:
					t.Errorf("header %s reached the store with a preflight", k)
				}
			}
			ev := f.lastEvent(t)
			if ev.Operation != "PreflightRequest" || ev.Decision != "allow" || ev.Reason != "preflight" || ev.AuthMethod != "none" ||
				ev.Parameters["origin"] != "https://app.example" || ev.Parameters["accessControlRequestMethod"] != "PUT" || ev.Status != 204 {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

func TestPreflightRefused(t *testing.T) {
	f := newFixture(t, nil, nil)
	for _, tc := range []struct {
		name, path string
		hdr        []string
		body       string
		status     int
		code       string
	}{
		{"no origin", "/bkt/k", []string{"Access-Control-Request-Method", "GET"}, "", 400, "BadRequest"},
		{"no method", "/bkt/k", []string{"Origin", "https://a.example"}, "", 400, "BadRequest"},
		{"bad method", "/bkt/k", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET PUT"}, "", 400, "BadRequest"},
		{"body", "/bkt/k", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}, "x", 400, "BadRequest"},
		// Not a preflight iamgate forwards: an anonymous request, refused.
		{"dot segment", "/bkt/a/%2E%2E/k", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}, "", 403, "AccessDenied"},
		{"minio admin", "/minio/admin/v3/info", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}, "", 403, "AccessDenied"},
		{"service root", "/", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}, "", 403, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res, got := f.do(t, "OPTIONS", tc.path, "", body, tc.hdr...)
			if res.StatusCode != tc.status || !strings.Contains(got, tc.code) {
				t.Fatalf("%d %s", res.StatusCode, got)
			}
			if f.upLog.count() != 0 {
				t.Fatal("a refused preflight reached the store")
			}
		})
	}
}

// Origin is forwarded with requests that carry their own credentials, so
// that the store answers with its CORS grants; never with a request a
// browser session cookie authenticated.
func TestOriginForwarding(t *testing.T) {
	f := newFixture(t, nil, nil)
	res, _ := f.do(t, "GET", "/bkt/shared/x", f.token(t, "alice", "staff"), nil, "Origin", "https://app.example")
	if up, _ := f.upLog.last(); res.StatusCode != 200 || up.Header.Get("Origin") != "https://app.example" {
		t.Fatalf("%d, store got Origin %q", res.StatusCode, up.Header.Get("Origin"))
	}
	gen := *f.h.Current()
	gen.principals = nil
	gen.Browser = fakeBrowser{s: &identity.Session{ID: "s1", Issuer: "dev", Subject: "id-alice", Roles: []string{"member"},
		Claims: map[string]any{"groups": "staff", "preferred_username": "alice"}, Expiry: time.Now().Add(time.Hour)}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	res, _ = f.do(t, "GET", "/bkt/shared/x", "", nil, "Cookie", "iamgate_session=x", "Origin", "https://evil.example")
	up, _ := f.upLog.last()
	if res.StatusCode != 200 || f.lastEvent(t).AuthMethod != "browser-session" || up.Header.Get("Origin") != "" {
		t.Fatalf("%d (%s), store got Origin %q", res.StatusCode, f.lastEvent(t).AuthMethod, up.Header.Get("Origin"))
	}
}

// fakeBrowser authenticates every request with a cookie as session s.
type fakeBrowser struct{ s *identity.Session }

func (b fakeBrowser) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }
func (b fakeBrowser) Session(w http.ResponseWriter, r *http.Request) (*identity.Session, string, error) {
	return b.s, "token-" + b.s.ID, nil
}
func (b fakeBrowser) LoginPath(rd string) string { return "/_iamgate/login?rd=" + rd }
