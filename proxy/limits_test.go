package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/limits"
	"github.com/iamgate/iamgate/state"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// limitsFixture serves objects of 100 bytes, of known length (…/known)
// and streamed without a length (…/chunked), and a listing of 3 keys,
// under limits for role member.
func limitsFixture(t *testing.T, rules limits.Rules) (*fixture, *testClock) {
	t.Helper()
	return limitsFixtureWith(t, rules, limits.Config{})
}

// limitsFixtureWith is limitsFixture with the limiter's configuration.
func limitsFixtureWith(t *testing.T, rules limits.Rules, cfg limits.Config) (*fixture, *testClock) {
	t.Helper()
	body := strings.Repeat("x", 100)
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/chunked"):
			for i := 0; i < 10; i++ {
				io.WriteString(w, body[:10])
				w.(http.Flusher).Flush()
			}
		case r.Method == "GET" && r.URL.Query().Has("list-type"):
			io.WriteString(w, `<ListBucketResult><Contents><Key>home/alice/a</Key></Contents><Contents><Key>home/alice/b</Key></Contents><Contents><Key>home/alice/c</Key></Contents></ListBucketResult>`)
		case r.Method == "GET":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, body)
		}
	}, nil)
	withPolicy(t, f, testPolicy)
	c := &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	f.h.cfg.Limiter = limits.New(state.NewCounterMemory(c.now), cfg)
	if len(rules.Per) == 0 {
		rules.Per = []limits.Scope{limits.PerSession}
	}
	gen := *f.h.Current()
	gen.principals = nil
	gen.Limits = map[string]*RoleLimits{"member": {Role: &limits.Policy{Role: "member", Kind: "human", Rules: &rules}}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestLimitsRate(t *testing.T) {
	f, c := limitsFixture(t, limits.Rules{RequestsPerSecond: 1, Burst: 2})
	tok := f.token(t, "alice", "staff")
	for i := range 2 {
		if res, body := f.do(t, "GET", "/bkt/home/alice/known", tok, nil); res.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
		}
	}
	before := f.upLog.count()
	res, body := f.do(t, "GET", "/bkt/home/alice/known", tok, nil)
	if res.StatusCode != 503 || !strings.Contains(body, "<Code>SlowDown</Code>") || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the rate: %d %v %s", res.StatusCode, res.Header, body)
	}
	if f.upLog.count() != before {
		t.Error("a throttled request was forwarded")
	}
	if ev := f.lastEvent(t); ev.Decision != "deny" || ev.Reason != "limit_requests_per_second" {
		t.Errorf("event %+v", ev)
	}
	// Another person is not limited by alice's session.
	if res, _ := f.do(t, "GET", "/bkt/home/bob/known", f.token(t, "bob", "staff"), nil); res.StatusCode != 200 {
		t.Errorf("bob: %d", res.StatusCode)
	}
	c.add(time.Second)
	if res, _ := f.do(t, "GET", "/bkt/home/alice/known", tok, nil); res.StatusCode != 200 {
		t.Errorf("after a second: %d", res.StatusCode)
	}
}

func TestLimitsDownloadKnownLength(t *testing.T) {
	t.Run("counted at once", func(t *testing.T) {
		testLimitsDownloadKnownLength(t, limits.Config{})
	})
	// Counts carried by the next admission (shared counters): the same
	// answers.
	t.Run("carried", func(t *testing.T) {
		testLimitsDownloadKnownLength(t, limits.Config{Defer: time.Hour})
	})
}

func testLimitsDownloadKnownLength(t *testing.T, cfg limits.Config) {
	f, c := limitsFixtureWith(t, limits.Rules{BytesDownloaded: 250, Window: time.Hour}, cfg)
	tok := f.token(t, "alice", "staff")
	for range 2 {
		if res, body := f.do(t, "GET", "/bkt/home/alice/known", tok, nil); res.StatusCode != 200 || len(body) != 100 {
			t.Fatalf("%d %q", res.StatusCode, body)
		}
	}
	// 200 + 100 > 250: refused when the store's head arrives, before a
	// byte of the body.
	res, body := f.do(t, "GET", "/bkt/home/alice/known", tok, nil)
	if res.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") ||
		!strings.Contains(body, "Limit bytes_downloaded per session reached (200 of 250); it resets at 2030-01-01T01:00:00Z.") ||
		strings.Contains(body, "xxxx") {
		t.Fatalf("crossing: %d %s", res.StatusCode, body)
	}
	if ev := f.lastEvent(t); ev.Reason != "limit_bytes_downloaded" || ev.Decision != "deny" || ev.BytesOut == 100 {
		t.Errorf("event %+v", ev)
	}
	c.add(time.Hour)
	if res, _ := f.do(t, "GET", "/bkt/home/alice/known", tok, nil); res.StatusCode != 200 {
		t.Errorf("next window: %d", res.StatusCode)
	}
}

func TestLimitsDownloadCut(t *testing.T) {
	t.Run("counted at once", func(t *testing.T) { testLimitsDownloadCut(t, limits.Config{}) })
	t.Run("carried", func(t *testing.T) { testLimitsDownloadCut(t, limits.Config{Defer: time.Hour}) })
}

func testLimitsDownloadCut(t *testing.T, cfg limits.Config) {
	f, _ := limitsFixtureWith(t, limits.Rules{BytesDownloaded: 150, Window: time.Hour}, cfg)
	tok := f.token(t, "alice", "staff")
	if res, body := f.do(t, "GET", "/bkt/home/alice/chunked", tok, nil); res.StatusCode != 200 || len(body) != 100 {
		t.Fatalf("first: %d %d", res.StatusCode, len(body))
	}
	// 50 bytes are left: the stream is cut there.
	req, _ := http.NewRequest("GET", f.srv.URL+"/bkt/home/alice/chunked", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(got) != 50 || rerr == nil {
		t.Fatalf("cut: %d, %d bytes, err %v", res.StatusCode, len(got), rerr)
	}
	ev := waitEvent(t, f, "DownloadCut")
	if ev.Reason != "limit_bytes_downloaded" || ev.Decision != "deny" {
		t.Errorf("event %+v", ev)
	}
	res2, body := f.do(t, "GET", "/bkt/home/alice/chunked", tok, nil)
	if res2.StatusCode != 403 || !strings.Contains(body, "bytes_downloaded") {
		t.Fatalf("spent: %d %s", res2.StatusCode, body)
	}
}

// waitEvent returns the last event with the error code: a cut response's
// event is written after the client saw the body break.
func waitEvent(t *testing.T, f *fixture, code string) (ev audit.Event) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range f.events(t) {
			if e.ErrorCode == code {
				return e
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no event with error code %s", code)
	return
}

func TestLimitsUploadAndListing(t *testing.T) {
	t.Run("counted at once", func(t *testing.T) { testLimitsUploadAndListing(t, limits.Config{}) })
	t.Run("carried", func(t *testing.T) { testLimitsUploadAndListing(t, limits.Config{Defer: time.Hour}) })
}

func testLimitsUploadAndListing(t *testing.T, cfg limits.Config) {
	f, _ := limitsFixtureWith(t, limits.Rules{BytesUploaded: 100, KeysListed: 4, Window: time.Hour}, cfg)
	tok := f.token(t, "alice", "staff")
	before := f.upLog.count()
	res, body := f.do(t, "PUT", "/bkt/home/alice/up", tok, bytes.NewReader(make([]byte, 101)))
	if res.StatusCode != 403 || !strings.Contains(body, "bytes_uploaded") {
		t.Fatalf("101 bytes: %d %s", res.StatusCode, body)
	}
	if f.upLog.count() != before {
		t.Error("a refused upload was forwarded")
	}
	if res, body := f.do(t, "PUT", "/bkt/home/alice/up", tok, bytes.NewReader(make([]byte, 100))); res.StatusCode != 200 {
		t.Fatalf("100 bytes: %d %s", res.StatusCode, body)
	}
	for i, want := range []int{200, 200, 403} { // 3 keys, 6 keys, spent
		res, body := f.do(t, "GET", "/bkt?list-type=2&prefix=home/alice/", tok, nil)
		if res.StatusCode != want {
			t.Fatalf("listing %d: %d %s", i, res.StatusCode, body)
		}
	}
}

func TestKeyCountBody(t *testing.T) {
	doc := `<R><Key>a</Key><Contents><Key><Key>b</Key><<Key>c</Key><Ke y></R>`
	for _, r := range []io.Reader{strings.NewReader(doc), iotest.OneByteReader(strings.NewReader(doc))} {
		c := &keyCountBody{rc: io.NopCloser(r)}
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatal(err)
		}
		if c.keys != 4 {
			t.Errorf("keys %d, want 4", c.keys)
		}
	}
}

// FuzzKeyCountBody: the streaming count of a listing's keys equals the
// count of "<Key>" in the whole document, however the reads split it.
func FuzzKeyCountBody(f *testing.F) {
	f.Add([]byte(`<R><Key>a</Key><<Key>b</Key></R>`), uint8(3))
	f.Add([]byte(`<Ke<Key><Key>`), uint8(1))
	f.Fuzz(func(t *testing.T, doc []byte, chunk uint8) {
		c := &keyCountBody{rc: io.NopCloser(iotest.HalfReader(bytes.NewReader(doc)))}
		buf := make([]byte, int(chunk)%16+1)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if want := int64(bytes.Count(doc, []byte(keyTag))); c.keys != want {
			t.Fatalf("counted %d keys, want %d", c.keys, want)
		}
	})
}

// In a delegated request the agent is limited: the actor's role and its
// claims (agent_run) decide the keys, so two people's tokens acted on by
// one agent run share that run's budget.
func TestLimitsFollowTheActor(t *testing.T) {
	f, _ := limitsFixture(t, limits.Rules{RequestsPerSecond: 0.001, Burst: 1, Per: []limits.Scope{limits.PerIdentity}, Claim: "agent_run"})
	mint := func(sub, run string) string {
		tok, err := f.iss.Mint(map[string]any{"sub": sub, "preferred_username": sub, "groups": []string{"staff"}, "aud": "iamgate",
			"act": map[string]any{"sub": "agent-7", "groups": []any{"staff"}, "agent_run": run}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if res, body := f.do(t, "GET", "/bkt/shared/known", mint("alice", "r-1"), nil); res.StatusCode != 200 {
		t.Fatalf("first request of run r-1: %d %s", res.StatusCode, body)
	}
	if res, body := f.do(t, "GET", "/bkt/shared/known", mint("bob", "r-1"), nil); res.StatusCode != 503 || !strings.Contains(body, "SlowDown") {
		t.Fatalf("second request of run r-1, for another person: %d %s", res.StatusCode, body)
	}
	if res, body := f.do(t, "GET", "/bkt/shared/known", mint("bob", "r-2"), nil); res.StatusCode != 200 {
		t.Fatalf("another run: %d %s", res.StatusCode, body)
	}
}

// A DeleteObjects is a request like any other for the rate limit.
func TestLimitsDeleteObjectsRate(t *testing.T) {
	f, _ := limitsFixture(t, limits.Rules{RequestsPerSecond: 0.001, Burst: 1})
	tok := f.token(t, "alice", "staff")
	body := deleteBody(true, "home/alice/a", "home/alice/b")
	if res, got := f.do(t, "POST", "/bkt?delete", tok, strings.NewReader(body), "Content-Md5", md5B64([]byte(body))); res.StatusCode != 200 {
		t.Fatalf("first DeleteObjects: %d %s", res.StatusCode, got)
	}
	n := f.upLog.count()
	res, got := f.do(t, "POST", "/bkt?delete", tok, strings.NewReader(body), "Content-Md5", md5B64([]byte(body)))
	if res.StatusCode != 503 || !strings.Contains(got, "SlowDown") {
		t.Fatalf("second DeleteObjects: %d %s", res.StatusCode, got)
	}
	if f.upLog.count() != n {
		t.Error("a throttled DeleteObjects reached the store")
	}
}

// A browser form upload counts against bytes_uploaded with its whole
// form, refused before anything is forwarded when it does not fit.
func TestLimitsPostObject(t *testing.T) {
	f, st := newPostFixture(t)
	f.h.cfg.Limiter = limits.New(state.NewCounterMemory(nil), limits.Config{})
	gen := *f.h.Current()
	gen.principals = nil
	gen.Limits = map[string]*RoleLimits{"member": {Role: &limits.Policy{Role: "member", Kind: "machine",
		Rules: &limits.Rules{BytesUploaded: 3000, Window: time.Hour, Per: []limits.Scope{limits.PerSession}}}}}
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	form := func(key string) *browserForm {
		return newBrowserForm(key, bytes.Repeat([]byte("z"), 1000), []any{"starts-with", "$key", "home/alice/"})
	}
	body, _ := form("home/alice/one").body()
	first, _ := io.Copy(io.Discard, body)
	if first < 1000 || 2*first <= 3000 {
		t.Fatalf("form of %d bytes", first)
	}
	if res, out := f.post(t, form("home/alice/one")); res.StatusCode != 204 {
		t.Fatalf("first: %d %s", res.StatusCode, out)
	}
	before := f.upLog.count()
	res, out := f.post(t, form("home/alice/two"))
	if res.StatusCode != 403 || !strings.Contains(out, "<Code>AccessDenied</Code>") ||
		!strings.Contains(out, fmt.Sprintf("Limit bytes_uploaded per session reached (%d of 3000)", first)) {
		t.Fatalf("second: %d %s", res.StatusCode, out)
	}
	if f.upLog.count() != before {
		t.Error("a refused form was forwarded")
	}
	if _, _, ok := st.object("bkt/home/alice/two"); ok {
		t.Error("the refused form's object was stored")
	}
	if ev := f.lastEvent(t); ev.Operation != "PostObject" || ev.Decision != "deny" || ev.Reason != "limit_bytes_uploaded" {
		t.Errorf("event %+v", ev)
	}
}

// An upload is counted by the body iamgate forwards, whatever
// x-amz-decoded-content-length claims of a body that is not aws-chunked.
func TestLimitsUploadIgnoresDeclaredDecodedLength(t *testing.T) {
	f, _ := limitsFixture(t, limits.Rules{BytesUploaded: 100, Window: time.Hour})
	tok := f.token(t, "alice", "staff")
	before := f.upLog.count()
	res, body := f.do(t, "PUT", "/bkt/home/alice/up", tok, bytes.NewReader(make([]byte, 500)),
		"X-Amz-Decoded-Content-Length", "1")
	if res.StatusCode != 403 || !strings.Contains(body, "bytes_uploaded") {
		t.Fatalf("500 bytes declared as 1: %d %s", res.StatusCode, body)
	}
	if f.upLog.count() != before {
		t.Error("the upload was forwarded")
	}
}
