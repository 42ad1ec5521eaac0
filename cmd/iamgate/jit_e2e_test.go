package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/testenv"
)

// offsetClock is the wall clock moved forward on demand: the clock of
// the just-in-time grants in the test below.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestBrowserJustInTimeAccess: alice asks for the requestable role
// prod-reader in the console of a real iamgate (headless Chromium, Hydra's
// login form, MinIO behind), is refused the object before, cannot approve
// her own request although she is an approver, bob approves it in his own
// browser, alice reads the object, and once the grant's clock passes its
// end she is refused again. Every step is an audit event, and the
// approvers' webhook hears of the request, the approval and the end.
func TestBrowserJustInTimeAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Chromium, MinIO and Hydra")
	}
	browser := testenv.StartChromium(t)
	e := &browserEnv{minio: testenv.StartMinIO(t), hydra: testenv.StartHydra(t)}
	e.hydra.AddUser(t, "alice", "alice-password", map[string]any{"email": "alice@corp.test", "groups": []any{"eng", "security"}})
	e.hydra.AddUser(t, "bob", "bob-password", map[string]any{"email": "bob@corp.test", "groups": []any{"eng", "security"}})
	client := e.hydra.BrowserClient(t, []string{"http://127.0.0.1:1/_iamgate/callback"}, nil)
	e.minio.MakeBucket(t, "prod")
	e.minio.PutObject(t, "prod", "db/dump.sql", []byte("-- production dump\n"))

	var hookMu sync.Mutex
	var hooks []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		hookMu.Lock()
		hooks = append(hooks, m)
		hookMu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	t.Setenv("JIT_MINIO_USER", e.minio.AccessKey)
	t.Setenv("JIT_MINIO_PASSWORD", e.minio.SecretKey)
	t.Setenv("JIT_SESSION_KEY", "jit-session-key-0123456789abcdef0123456789")
	t.Setenv("BT_CLIENT_SECRET", client.Secret)
	e.audit = filepath.Join(dir, "audit.log")
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream:
  endpoint: %s
  access_key_id: env:JIT_MINIO_USER
  secret_access_key: env:JIT_MINIO_PASSWORD
server:
  shutdown_grace: 2s
sts:
  session_keys: [{id: k1, secret: env:JIT_SESSION_KEY}]
issuers:
  - name: hydra
    url: %s
    audiences: [iamgate]
    clock_skew: 1s
%s
roles:
  - name: engineering
    kind: human
    trust: {issuer: hydra, claims: {groups: eng}}
    policies: [list-buckets]
  - name: prod-reader
    kind: human
    description: read the production bucket
    policies: [prod-read]
    requestable:
      approvers: {issuer: hydra, claims: {groups: security}}
      max_duration: 1h
      reason: required
access_requests:
  webhook: %s/hook
policies:
  list-buckets: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}'
  prod-read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::prod/*"}]}'
audit:
  stdout: false
  file: %s
log: {level: warn, format: text}
`, e.minio.Endpoint, e.hydra.IssuerURL, fmt.Sprintf(browserLogin, client.ID), hook.URL, e.audit))
	clk := &offsetClock{}
	e.url = startAppWith(t, cfg, clk.now)
	e.hydra.SetClientURIs(t, client, []string{e.url + "/_iamgate/callback"}, []string{e.url + "/_iamgate/signedout"})

	alice := browser.NewTab(t)
	alice.Do("open the page of access requests", chromedp.Navigate(e.url+"/_iamgate/ui/access"))
	login(t, e, alice, "alice", "alice-password")
	alice.Do("request form", chromedp.WaitVisible(chromedp.CSS(`form.request-access[data-role="prod-reader"]`)))
	if code, _ := fetchPath(t, alice, "/prod/db/dump.sql"); code != 403 {
		t.Fatalf("before any request alice reads the object: %d", code)
	}
	alice.Do("request prod-reader",
		chromedp.SetValue(chromedp.CSS(`form[data-role="prod-reader"] select[name="duration"]`), "30m0s"),
		chromedp.SendKeys(chromedp.CSS(`form[data-role="prod-reader"] input[name="reason"]`), "INC-4711 restore check"),
		chromedp.Click(chromedp.CSS(`form[data-role="prod-reader"] button[type="submit"]`)))
	waitLocation(t, alice, e.url+"/_iamgate/ui/access?requested=ar-")
	id := testenv.Run(alice, "request id", chromedp.Evaluate[string](
		`(() => { const tr = document.querySelector('#my-requests tr.pending'); return tr ? tr.dataset.requestId : ""; })()`))
	if id == "" {
		t.Fatalf("no pending request on alice's page: %s", text(t, alice, "main"))
	}
	// Alice is an approver of the role, and still her own request is not
	// hers to decide: no button, and a forged form is refused.
	if n := len(texts(t, alice, "#to-decide tr.pending")); n != 0 {
		t.Errorf("alice is offered %d requests to decide", n)
	}
	if code, body := postInPage(t, alice, "/_iamgate/access/decide", "id="+id+"&decision=approve"); code != 403 || !strings.Contains(body, "your own request") {
		t.Errorf("alice approving her own request: %d %s", code, body)
	}
	if code, _ := fetchPath(t, alice, "/prod/db/dump.sql"); code != 403 {
		t.Fatalf("a pending request gives access: %d", code)
	}

	bob := browser.NewTab(t)
	bob.Do("open the page of access requests", chromedp.Navigate(e.url+"/_iamgate/ui/access"))
	login(t, e, bob, "bob", "bob-password")
	row := `#to-decide tr[data-request-id="` + id + `"]`
	bob.Do("the request to decide", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, bob, row); !strings.Contains(got, "alice") || !strings.Contains(got, "INC-4711 restore check") || !strings.Contains(got, "30 minutes") {
		t.Errorf("bob sees the request as %q", got)
	}
	bob.Do("approve", chromedp.Click(chromedp.CSS(row+` button[value="approve"]`)))
	waitLocation(t, bob, e.url+"/_iamgate/ui/access?approved="+id)

	code, body := fetchPath(t, alice, "/prod/db/dump.sql")
	if code != 200 || body != "-- production dump\n" {
		t.Fatalf("with the grant alice reads %d %q", code, body)
	}
	alice.Do("the grant", chromedp.Navigate(e.url+"/_iamgate/ui/access"),
		chromedp.WaitVisible(chromedp.CSS(`#my-requests tr.approved[data-request-id="`+id+`"]`)))
	if got := text(t, alice, `#my-requests tr.approved time`); !strings.Contains(got, "minutes") {
		t.Errorf("time left %q", got)
	}

	// The grant's clock passes its end: alice is refused at once, and the
	// watcher records the expiry.
	clk.advance(31 * time.Minute)
	if code, _ := fetchPath(t, alice, "/prod/db/dump.sql"); code != 403 {
		t.Fatalf("after the grant's end alice reads the object: %d", code)
	}
	deadline := time.Now().Add(testenv.ActionTimeout)
	for !strings.Contains(readText(t, e.audit), `"ExpireAccessGrant"`) {
		if time.Now().After(deadline) {
			t.Fatal("no expiry event")
		}
		time.Sleep(100 * time.Millisecond)
	}
	noJSErrors(t, alice)
	noJSErrors(t, bob)
	jitAudit(t, e, id)

	deadline = time.Now().Add(testenv.ActionTimeout)
	for {
		hookMu.Lock()
		var steps []string
		for _, h := range hooks {
			steps = append(steps, fmt.Sprint(h["event"]))
			if h["id"] != id || !strings.Contains(fmt.Sprint(h["text"]), "prod-reader") {
				t.Errorf("notification %v", h)
			}
		}
		hookMu.Unlock()
		if strings.Join(steps, ",") == "requested,approved,expired" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications %v", steps)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jitAudit checks the events of the test above: the request, the refused
// self-approval, the approval, the reads refused before and after and
// allowed through the grant (naming it), and the expiry.
func jitAudit(t *testing.T, e *browserEnv, id string) {
	t.Helper()
	if _, err := auditschema.File(e.audit); err != nil {
		t.Fatalf("audit does not match the schema: %v", err)
	}
	var steps []string
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(readText(t, e.audit))), []byte("\n")) {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Kind == audit.KindAccessRequest:
			if ev.Grant == nil || ev.Grant.ID != id || ev.Grant.RequesterSubject == "" {
				t.Errorf("%s without the grant: %+v", ev.Operation, ev.Grant)
			}
			steps = append(steps, ev.Operation+":"+ev.Decision+":"+ev.Username)
		case ev.Kind == audit.KindS3 && ev.Key == "db/dump.sql":
			s := "GetObject:" + ev.Decision
			if ev.Grant != nil {
				if ev.Grant.ID != id || ev.Role != "prod-reader" || ev.AuthMethod != "browser-session" {
					t.Errorf("use of the grant: %+v %+v", ev, ev.Grant)
				}
				s += ":grant"
			}
			steps = append(steps, s)
		}
	}
	want := "GetObject:deny RequestAccess:allow:alice ApproveAccessRequest:deny:alice GetObject:deny ApproveAccessRequest:allow:bob " +
		"GetObject:allow:grant GetObject:deny ExpireAccessGrant:allow:"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("audit steps\n got %s\nwant %s", got, want)
	}
}

// startAppWith is startApp with the grants' clock now.
func startAppWith(t *testing.T, cfgPath string, now func() time.Time) string {
	t.Helper()
	listen := "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfgPath, appOptions{Stdout: io.Discard, Stderr: testWriter{t}, Listen: &listen,
		ReloadInterval: 200 * time.Millisecond, DrainDelay: noDrain, GrantsNow: now})
	if err != nil {
		cancel()
		t.Fatalf("start iamgate: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("iamgate did not shut down")
		}
	})
	return "http://" + a.Addr()
}

// fetchPath GETs path from the page with the browser's cookies.
func fetchPath(t *testing.T, tab *testenv.Tab, path string) (int, string) {
	t.Helper()
	type result struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	r := testenv.Run(tab, "fetch "+path, chromedp.Evaluate[result](`(async () => {
		const resp = await fetch(`+jsString(path)+`, {credentials: "same-origin"});
		return {status: resp.status, body: await resp.text()};
	})()`, chromedp.EvalAwaitPromise))
	return r.Status, r.Body
}

// postInPage POSTs form (with the page's CSRF token) to path from the page.
func postInPage(t *testing.T, tab *testenv.Tab, path, form string) (int, string) {
	t.Helper()
	type result struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	r := testenv.Run(tab, "post "+path, chromedp.Evaluate[result](`(async () => {
		const csrf = document.querySelector('meta[name="iamgate-csrf"]').content;
		const resp = await fetch(`+jsString(path)+`, {method: "POST", credentials: "same-origin", redirect: "manual",
			headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: `+jsString(form)+` + "&csrf=" + encodeURIComponent(csrf)});
		return {status: resp.status, body: await resp.text()};
	})()`, chromedp.EvalAwaitPromise))
	return r.Status, r.Body
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
