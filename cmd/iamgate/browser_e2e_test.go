package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/testenv"
)

// TestBrowserConsole signs people in with a real browser (headless
// Chromium) through a real OpenID provider (Hydra and its login form) and
// drives the web console of a real iamgate in front of a real MinIO: bucket
// and object lists filtered by role, download, upload, a denied delete,
// share links used from curl, who-am-I, logout at the provider, plain
// object URLs that send the browser through the login, and object keys
// that try to inject markup.
//
// With IAMGATE_SCREENSHOTS=1 it also writes the console screenshots of the
// documentation to docs/images/.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Chromium, MinIO and Hydra")
	}
	browser := testenv.StartChromium(t)
	e := startBrowserEnv(t)

	t.Run("alice", func(t *testing.T) { aliceSession(t, e, browser.NewTab(t)) })
	t.Run("bob", func(t *testing.T) { bobSession(t, e, browser.NewTab(t)) })
	t.Run("audit", func(t *testing.T) { browserAudit(t, e) })
}

// browserAudit checks the audit events of the sessions above: every one
// matches the schema; sign-in, sign-out, the share link and its use are
// recorded under the person's name; nothing secret was written.
func browserAudit(t *testing.T, e *browserEnv) {
	kinds, err := auditschema.File(e.audit)
	if err != nil {
		t.Fatalf("audit does not match the schema: %v", err)
	}
	if kinds["login"] < 2 || kinds["logout"] < 1 || kinds["share_link"] < 1 {
		t.Errorf("event kinds %v: want two sign-ins, a sign-out and a share link", kinds)
	}
	raw, _ := os.ReadFile(e.audit)
	var shareUsed, browserAllowed, browserDenied bool
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatalf("audit line: %v", err)
		}
		switch {
		case ev.Kind == "s3" && ev.AuthMethod == "share-link":
			shareUsed = shareUsed || ev.Username == "alice" && ev.Decision == "allow" && ev.Key == "reports/2026/q1.csv"
		case ev.Kind == "s3" && ev.AuthMethod == "browser-session" && ev.Username == "alice":
			browserAllowed = browserAllowed || ev.Decision == "allow" && ev.Operation == "PutObject"
			browserDenied = browserDenied || ev.Decision == "deny" && ev.Operation == "DeleteObject" && ev.Bucket == "shared"
		}
	}
	if !shareUsed || !browserAllowed || !browserDenied {
		t.Errorf("audit: share link used under alice's name %v, console upload %v, denied console delete %v",
			shareUsed, browserAllowed, browserDenied)
	}
	secrets := []string{e.clientSecret, "browser-session-key-0123456789abcdef0123", e.minio.SecretKey}
	if u, err := url.Parse(e.shareURL); err == nil {
		secrets = append(secrets, u.Query().Get("X-Amz-Signature"), u.Query().Get("X-Amz-Security-Token"))
	}
	assertNoSecrets(t, secrets, e.audit)
}

// browserPolicies: alice (group eng) reads and writes eng-data and reads
// shared; bob (group sales) lists shared and reads shared/sales/ only.
const browserPolicies = `
policies:
  list-buckets: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}
  eng-data-rw: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ListEngData", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::eng-data"},
      {"Sid": "RWEngData", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
       "Resource": "arn:aws:s3:::eng-data/*"}]}
  shared-read: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ListShared", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared"},
      {"Sid": "ReadShared", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}
  shared-sales-read: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "ListShared", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared"},
      {"Sid": "ReadSales", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/sales/*"}]}
`

// browserLogin is the login issuer part of the configuration: Hydra's
// authorization code client, with refresh tokens.
const browserLogin = `
    client_id: %s
    client_secret: env:BT_CLIENT_SECRET
    scopes: [openid, profile, email, offline_access]
`

// hostileKey tries to inject markup into the listing, an attribute and the
// download link; scriptKey's slashes also make its start a "folder".
// manyObjects are more than one page of the console's listing.
const manyObjects = 105

const (
	hostileKey = `sales/<img src=x onerror=alert(1)> "quoted" 'single' & ünïcødé ✓.txt`
	scriptKey  = `sales/<script>alert(1)</script>.txt`
)

type browserEnv struct {
	minio *testenv.MinIO
	hydra *testenv.Hydra
	url   string // iamgate, http://127.0.0.1:PORT
	shots string // directory for the documentation's screenshots; "" = none

	audit        string // iamgate's audit file
	clientSecret string
	shareURL     string // the share link alice made
}

func startBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	e := &browserEnv{minio: testenv.StartMinIO(t), hydra: testenv.StartHydra(t)}
	if os.Getenv("IAMGATE_SCREENSHOTS") == "1" {
		e.shots = filepath.Join("..", "..", "docs", "images")
	}
	e.hydra.AddUser(t, "alice", "alice-password", map[string]any{
		"email": "alice@corp.test", "groups": []any{"eng"}, "name": "Alice Engineer"})
	e.hydra.AddUser(t, "bob", "bob-password", map[string]any{
		"email": "bob@corp.test", "groups": []any{"sales"}, "name": "Bob Seller"})
	// The redirect URIs are set once iamgate listens.
	client := e.hydra.BrowserClient(t, []string{"http://127.0.0.1:1/_iamgate/callback"}, nil)

	dir := t.TempDir()
	t.Setenv("BT_MINIO_USER", e.minio.AccessKey)
	t.Setenv("BT_MINIO_PASSWORD", e.minio.SecretKey)
	t.Setenv("BT_SESSION_KEY", "browser-session-key-0123456789abcdef0123")
	t.Setenv("BT_CLIENT_SECRET", client.Secret)
	e.clientSecret = client.Secret
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream:
  endpoint: %s
  access_key_id: env:BT_MINIO_USER
  secret_access_key: env:BT_MINIO_PASSWORD
server:
  shutdown_grace: 2s
sts:
  session_keys: [{id: k1, secret: env:BT_SESSION_KEY}]
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
    policies: [list-buckets, eng-data-rw, shared-read]
  - name: sales
    kind: human
    trust: {issuer: hydra, claims: {groups: sales}}
    policies: [list-buckets, shared-sales-read]
audit:
  stdout: false
  file: %s
log: {level: warn, format: text}
%s`, e.minio.Endpoint, e.hydra.IssuerURL, fmt.Sprintf(browserLogin, client.ID), filepath.Join(dir, "audit.log"), browserPolicies))
	e.audit = filepath.Join(dir, "audit.log")
	_, e.url = startApp(t, cfg)
	e.hydra.SetClientURIs(t, client,
		[]string{e.url + "/_iamgate/callback"},
		[]string{e.url + "/_iamgate/signedout"})

	for _, b := range []string{"eng-data", "shared", "other"} {
		e.minio.MakeBucket(t, b)
	}
	e.minio.PutObject(t, "eng-data", "readme.txt", []byte("engineering data\n"))
	e.minio.PutObject(t, "eng-data", "reports/2026/q1.csv", []byte("quarter,revenue\nq1,42\n"))
	e.minio.PutObject(t, "eng-data", "reports/2026/q2.csv", []byte("quarter,revenue\nq2,43\n"))
	for i := range manyObjects {
		e.minio.PutObject(t, "shared", fmt.Sprintf("many/obj-%03d", i), []byte{byte(i)})
	}
	e.minio.PutObject(t, "shared", "eng/notes.txt", []byte("notes for everyone\n"))
	// text/plain, so that the browser shows it instead of downloading it.
	// The length is given: with -1, minio-go buffers a 528 MiB part.
	report := "sales report: all good\n"
	_, err := e.minio.Client(t).PutObject(context.Background(), "shared", "sales/report.txt",
		strings.NewReader(report), int64(len(report)), minio.PutObjectOptions{ContentType: "text/plain; charset=utf-8"})
	if err != nil {
		t.Fatalf("put shared/sales/report.txt: %v", err)
	}
	e.minio.PutObject(t, "shared", hostileKey, []byte("hostile key body\n"))
	e.minio.PutObject(t, "shared", scriptKey, []byte("script key body\n"))
	e.minio.PutObject(t, "other", "x.txt", []byte("nobody's\n"))
	return e
}

// aliceSession is alice's visit: everything the console does.
func aliceSession(t *testing.T, e *browserEnv, tab *testenv.Tab) {
	// The console sends an anonymous visitor to the provider's login form.
	tab.Do("open the console", chromedp.Navigate(e.url+"/_iamgate/ui/"))
	login(t, e, tab, "alice", "alice-password")
	tab.Do("bucket list", chromedp.WaitVisible(chromedp.CSS("a.bucket")))
	if loc := tab.Location(); !strings.HasPrefix(loc, e.url+"/_iamgate/ui/") {
		t.Fatalf("after login the browser is at %s, not the console", loc)
	}
	if got := texts(t, tab, "a.bucket"); !slices.Equal(got, []string{"eng-data", "shared"}) {
		t.Errorf("alice's buckets = %q, want [eng-data shared]", got)
	}
	e.screenshot(t, tab, "console-buckets.png")

	// Who am I.
	if got := text(t, tab, "#whoami-subject"); !strings.Contains(got, "alice") {
		t.Errorf("#whoami-subject = %q, want alice", got)
	}
	if got := text(t, tab, "#whoami-roles"); !strings.Contains(got, "engineering") || strings.Contains(got, "sales") {
		t.Errorf("#whoami-roles = %q, want engineering only", got)
	}
	if got := text(t, tab, "#whoami-expiry"); got == "" {
		t.Errorf("#whoami-expiry is empty")
	}

	// Browse: bucket, then a prefix, then a deeper one, by clicking.
	tab.Do("open eng-data",
		chromedp.Click(chromedp.CSS(`a.bucket[href$="/eng-data/"]`)),
		chromedp.WaitVisible(chromedp.CSS("a.prefix")))
	if got := texts(t, tab, "a.prefix"); !slices.Equal(got, []string{"reports/"}) {
		t.Errorf("eng-data prefixes = %q, want [reports/]", got)
	}
	if got := keys(t, tab); !slices.Equal(got, []string{"readme.txt"}) {
		t.Errorf("eng-data objects = %q, want [readme.txt]", got)
	}
	tab.Do("open reports/", chromedp.Click(chromedp.CSS(`a.prefix[href$="/reports/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a.prefix[href$="/reports/2026/"]`)))
	tab.Do("open reports/2026/", chromedp.Click(chromedp.CSS(`a.prefix[href$="/reports/2026/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="reports/2026/q1.csv"]`)))
	if got := keys(t, tab); !slices.Equal(got, []string{"reports/2026/q1.csv", "reports/2026/q2.csv"}) {
		t.Errorf("reports/2026/ objects = %q", got)
	}
	if got := text(t, tab, "nav#breadcrumbs"); !strings.Contains(got, "eng-data") || !strings.Contains(got, "reports") {
		t.Errorf("breadcrumbs = %q", got)
	}

	// Download: the link works with the browser's cookie.
	status, body := fetchInPage(t, tab, `tr.object[data-key="reports/2026/q1.csv"] a.download`)
	if status != 200 || body != "quarter,revenue\nq1,42\n" {
		t.Errorf("download = %d %q", status, body)
	}

	// Upload through the form, into the current prefix.
	upload := filepath.Join(t.TempDir(), "q3.csv")
	content := []byte("quarter,revenue\nq3,44\n")
	writeFile(t, upload, string(content))
	tab.Do("upload",
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{upload}),
		chromedp.Click(chromedp.ID("upload-submit")))
	waitText(t, tab, "#upload-status", func(s string) bool { return strings.HasSuffix(s, "Uploaded") })
	if v := testenv.Run(tab, "upload progress", chromedp.Evaluate[float64](
		`document.getElementById("upload-progress").value / document.getElementById("upload-progress").max`)); v != 1 {
		t.Errorf("upload progress at %v after the upload, want 1", v)
	}
	if got := e.minio.GetObject(t, "eng-data", "reports/2026/q3.csv"); !bytes.Equal(got, content) {
		t.Errorf("uploaded object = %q, want %q", got, content)
	}
	tab.Do("reload listing", chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="reports/2026/q3.csv"]`)))
	e.screenshot(t, tab, "console-objects.png")

	// On a phone-sized screen the listing fits the width: no sideways
	// scrolling, the actions stay on screen.
	tab.Do("phone-sized viewport", chromedp.EmulateViewport(390, 844))
	if w := testenv.Run(tab, "page width on a phone", chromedp.Evaluate[float64](
		`document.documentElement.scrollWidth - window.innerWidth`)); w > 0 {
		t.Errorf("on a 390 px wide screen the page is %v px too wide", w)
	}
	if right := testenv.Run(tab, "share button on a phone", chromedp.Evaluate[float64](
		`document.querySelector('tr.object[data-key="reports/2026/q1.csv"] button.delete').getBoundingClientRect().right - window.innerWidth`)); right > 0 {
		t.Errorf("the delete button is %v px off screen on a phone", right)
	}
	e.screenshot(t, tab, "console-phone.png")
	tab.Do("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Share link: made in the console, used from curl.
	tab.Do("open the share dialog",
		chromedp.Click(chromedp.CSS(`tr.object[data-key="reports/2026/q1.csv"] button.share`)),
		chromedp.WaitVisible(chromedp.ID("share-ttl")))
	ttls := texts(t, tab, "#share-ttl option")
	t.Logf("share lifetimes offered: %q", ttls)
	tab.Do("create a share link", chromedp.Click(chromedp.ID("share-create")))
	shareURL := waitValue(t, tab, "#share-url")
	e.shareURL = shareURL
	e.screenshot(t, tab, "console-share.png")
	code, got := curl(t, shareURL)
	if code != "200" || got != "quarter,revenue\nq1,42\n" {
		t.Errorf("curl share link: %s %q", code, got)
	}
	other := strings.Replace(shareURL, "/reports/2026/q1.csv?", "/reports/2026/q2.csv?", 1)
	if other == shareURL {
		t.Fatalf("share URL %s does not name the object in its path", shareURL)
	}
	if code, body := curl(t, other); code == "200" || strings.Contains(body, "q2,43") {
		t.Errorf("share link worked for another key: %s %q", code, body)
	}
	tab.Do("close the share dialog", chromedp.Click(chromedp.ID("share-close")))

	// A denied delete: alice only reads shared.
	tab.Do("open shared/eng/", chromedp.Navigate(e.url+"/_iamgate/ui/b/shared/eng/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="eng/notes.txt"]`)))
	dialogsBefore := len(tab.Dialogs())
	tab.Do("delete in shared",
		chromedp.Click(chromedp.CSS(`tr.object[data-key="eng/notes.txt"] button.delete`)),
		chromedp.WaitVisible(chromedp.CSS(".denied")))
	denied := text(t, tab, ".denied")
	t.Logf("denial shown: %q", denied)
	if !strings.Contains(denied, "s3:DeleteObject") || !strings.Contains(denied, "shared/eng/notes.txt") {
		t.Errorf("denial %q does not say what was denied", denied)
	}
	if d := tab.Dialogs()[dialogsBefore:]; len(d) != 1 || d[0].Type != page.DialogTypeConfirm {
		t.Errorf("delete opened dialogs %+v, want one confirm", d)
	}
	if !e.minio.ObjectExists(t, "shared", "eng/notes.txt") {
		t.Errorf("a denied delete removed shared/eng/notes.txt")
	}
	e.screenshot(t, tab, "console-denied.png")

	// A listing longer than a page.
	tab.Do("open shared/many/", chromedp.Navigate(e.url+"/_iamgate/ui/b/shared/many/"),
		chromedp.WaitVisible(chromedp.CSS("tr.object")))
	first := keys(t, tab)
	tab.Do("next page", chromedp.Click(chromedp.ID("next-page")),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="many/obj-104"]`)))
	second := keys(t, tab)
	all := append(slices.Clone(first), second...)
	slices.Sort(all)
	if len(first) == 0 || len(second) == 0 || len(slices.Compact(all)) != manyObjects {
		t.Errorf("pages of %d and %d objects (%d distinct), want %d in all", len(first), len(second), len(slices.Compact(all)), manyObjects)
	}

	// A delete alice may do.
	tab.Do("open eng-data/",
		chromedp.Navigate(e.url+"/_iamgate/ui/b/eng-data/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="readme.txt"]`)),
		chromedp.Click(chromedp.CSS(`tr.object[data-key="readme.txt"] button.delete`)))
	waitGone(t, e, "eng-data", "readme.txt")

	// Hostile keys are shown as text.
	hostile(t, e, tab)

	// Logout ends the provider's session too: the console asks for the
	// password again.
	tab.Do("logout", chromedp.Click(chromedp.ID("logout")), chromedp.WaitReady(chromedp.CSS("body")))
	waitLocation(t, tab, e.url+"/_iamgate/signedout")
	tab.Do("open the console again", chromedp.Navigate(e.url+"/_iamgate/ui/"),
		chromedp.WaitVisible(chromedp.ID("username")))
	if loc := tab.Location(); !strings.HasPrefix(loc, e.hydra.LoginAppURL+"/login") {
		t.Errorf("after logout the console led to %s, not the login form", loc)
	}
	noJSErrors(t, tab)
}

// bobSession is bob's visit, in a browser context of its own: a plain
// object URL first, then the console.
func bobSession(t *testing.T, e *browserEnv, tab *testenv.Tab) {
	tab.Do("open an object URL", chromedp.Navigate(e.url+"/shared/sales/report.txt"))
	login(t, e, tab, "bob", "bob-password")
	waitLocation(t, tab, e.url+"/shared/sales/report.txt")
	if got := strings.TrimSpace(testenv.Run(tab, "object body", chromedp.Evaluate[string](`document.body.innerText`))); got != "sales report: all good" {
		t.Errorf("object URL after login shows %q", got)
	}

	tab.Do("open the console", chromedp.Navigate(e.url+"/_iamgate/ui/"), chromedp.WaitVisible(chromedp.CSS("a.bucket")))
	if got := texts(t, tab, "a.bucket"); !slices.Equal(got, []string{"shared"}) {
		t.Errorf("bob's buckets = %q, want [shared]", got)
	}
	if got := text(t, tab, "#whoami-roles"); !strings.Contains(got, "sales") || strings.Contains(got, "engineering") {
		t.Errorf("bob's #whoami-roles = %q", got)
	}
	// eng-data is not his, by URL either.
	tab.Do("open eng-data", chromedp.Navigate(e.url+"/_iamgate/ui/b/eng-data/"), chromedp.WaitVisible(chromedp.CSS(".denied")))
	if n := len(texts(t, tab, "tr.object")); n != 0 {
		t.Errorf("bob sees %d objects of eng-data", n)
	}
	hostile(t, e, tab)
	noJSErrors(t, tab)
}

// hostile checks that a key made of markup, quotes and non-ASCII letters
// is listed literally and runs nothing.
func hostile(t *testing.T, e *browserEnv, tab *testenv.Tab) {
	t.Helper()
	tab.Do("open shared/sales/", chromedp.Navigate(e.url+"/_iamgate/ui/b/shared/sales/"),
		chromedp.WaitVisible(chromedp.CSS("tr.object")))
	if got := keys(t, tab); !slices.Contains(got, hostileKey) {
		t.Errorf("keys in shared/sales/ = %q, want %q among them", got, hostileKey)
	}
	name := strings.TrimPrefix(hostileKey, "sales/")
	if got := text(t, tab, "#listing"); !strings.Contains(got, name) {
		t.Errorf("the listing does not show %q literally:\n%s", name, got)
	}
	n := testenv.Run(tab, "injected elements", chromedp.Evaluate[int](
		`document.querySelectorAll('#listing script, #listing img').length`))
	if n != 0 {
		t.Errorf("the hostile key injected %d elements", n)
	}
	status, body := fetchInPage(t, tab, `tr.object[data-key="`+cssString(hostileKey)+`"] a.download`)
	if status != 200 || body != "hostile key body\n" {
		t.Errorf("download of the hostile key = %d %q", status, body)
	}
	// The first slash of scriptKey ends a folder, listed by its name.
	folder := "<script>alert(1)</"
	if got := texts(t, tab, "a.prefix"); !slices.Contains(got, folder) {
		t.Errorf("folders in shared/sales/ = %q, want %q among them", got, folder)
	}
	tab.Do("open the <script> folder",
		chromedp.Click(chromedp.CSS(`a.prefix`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.object[data-key="`+cssString(scriptKey)+`"]`)))
	if got := text(t, tab, "#listing"); !strings.Contains(got, "script>.txt") {
		t.Errorf("the listing does not show script>.txt:\n%s", got)
	}
	status, body = fetchInPage(t, tab, `tr.object[data-key="`+cssString(scriptKey)+`"] a.download`)
	if status != 200 || body != "script key body\n" {
		t.Errorf("download of %q = %d %q", scriptKey, status, body)
	}
	for _, d := range tab.Dialogs() {
		if d.Type == page.DialogTypeAlert {
			t.Errorf("an alert ran: %q", d.Message)
		}
	}
}

// login fills the provider's login form the browser is on (or on its way to).
func login(t *testing.T, e *browserEnv, tab *testenv.Tab, user, password string) {
	t.Helper()
	tab.Do("login form", chromedp.WaitVisible(chromedp.ID("username")))
	if loc := tab.Location(); !strings.HasPrefix(loc, e.hydra.LoginAppURL+"/login") {
		t.Fatalf("expected the provider's login form, at %s", loc)
	}
	// A wrong password first: the form comes back with an error.
	tab.Do("wrong password",
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), "not-"+password),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("login-error")))
	if got := testenv.Run(tab, "user name kept", chromedp.Value(chromedp.ID("username"))); got != user {
		t.Errorf("the login form came back with user name %q, want %q", got, user)
	}
	tab.Do("log in",
		// Clear whatever the browser may have filled in.
		chromedp.Evaluate[chromedp.Void](`document.getElementById("password").value = ""`),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-submit")))
	waitLocation(t, tab, e.url+"/")
}

func (e *browserEnv) screenshot(t *testing.T, tab *testenv.Tab, name string) {
	t.Helper()
	if e.shots == "" {
		return
	}
	tab.Screenshot(filepath.Join(e.shots, name))
	t.Logf("wrote %s", filepath.Join(e.shots, name))
}

// text returns the trimmed text of the first element matching sel.
func text(t *testing.T, tab *testenv.Tab, sel string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Run(tab, "text of "+sel, chromedp.Evaluate[string](
		`(() => { const el = document.querySelector(`+jsString(sel)+`); return el ? el.innerText : ""; })()`)))
}

// texts returns the trimmed text of every element matching sel.
func texts(t *testing.T, tab *testenv.Tab, sel string) []string {
	t.Helper()
	return testenv.Run(tab, "texts of "+sel, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll(`+jsString(sel)+`)].map(el => el.textContent.trim())`))
}

// keys returns the data-key of every listed object.
func keys(t *testing.T, tab *testenv.Tab) []string {
	t.Helper()
	return testenv.Run(tab, "object keys", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('tr.object')].map(tr => tr.getAttribute('data-key'))`))
}

// fetchInPage GETs the href of the link matching sel from the page, with
// the browser's cookies, and returns the status and body.
func fetchInPage(t *testing.T, tab *testenv.Tab, sel string) (int, string) {
	t.Helper()
	type result struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	r := testenv.Run(tab, "fetch "+sel, chromedp.Evaluate[result](`(async () => {
		const a = document.querySelector(`+jsString(sel)+`);
		if (!a) return {status: -1, body: "no element"};
		const resp = await fetch(a.href, {credentials: "same-origin"});
		return {status: resp.status, body: await resp.text()};
	})()`, chromedp.EvalAwaitPromise))
	return r.Status, r.Body
}

// waitText waits until the text of sel satisfies ok.
func waitText(t *testing.T, tab *testenv.Tab, sel string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(testenv.ActionTimeout)
	for {
		s := text(t, tab, sel)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q", sel, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitValue waits until the input sel has a value and returns it.
func waitValue(t *testing.T, tab *testenv.Tab, sel string) string {
	t.Helper()
	deadline := time.Now().Add(testenv.ActionTimeout)
	for {
		v := testenv.Run(tab, "value of "+sel, chromedp.Evaluate[string](
			`(() => { const el = document.querySelector(`+jsString(sel)+`); return el ? el.value : ""; })()`))
		if v != "" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no value; #share-status says %q", sel, text(t, tab, "#share-status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLocation waits until the page's address starts with prefix.
func waitLocation(t *testing.T, tab *testenv.Tab, prefix string) {
	t.Helper()
	deadline := time.Now().Add(testenv.ActionTimeout)
	for {
		loc := tab.Location()
		if strings.HasPrefix(loc, prefix) {
			// Let the page finish loading before the next step.
			tab.Do("page load", chromedp.WaitReady(chromedp.CSS("body")))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser is at %s, want %s…", loc, prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitGone waits until bucket/key is deleted from MinIO.
func waitGone(t *testing.T, e *browserEnv, bucket, key string) {
	t.Helper()
	deadline := time.Now().Add(testenv.ActionTimeout)
	for e.minio.ObjectExists(t, bucket, key) {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s was not deleted", bucket, key)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func noJSErrors(t *testing.T, tab *testenv.Tab) {
	t.Helper()
	for _, m := range tab.JSErrors() {
		t.Errorf("JavaScript error in the console: %s (%s:%d)", m.Text, m.URL, m.Line+1)
	}
}

// curl GETs u with curl and returns the status code and the body.
func curl(t *testing.T, u string) (string, string) {
	t.Helper()
	if _, err := url.Parse(u); err != nil {
		t.Fatalf("share URL %q: %v", u, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--globoff", "-w", "\n%{http_code}", u).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", u, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	return s[i+1:], s[:i]
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			b.WriteString(fmt.Sprintf(`\u%04x`, r))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// cssString escapes s for a double-quoted CSS attribute value.
func cssString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
