package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/internal/testenv"
)

var reviewSeed = bytes.Repeat([]byte{0x5e}, ed25519.SeedSize)

// reviewWeek is the period of the review tests: 2027-04-01 to 2027-04-07
// included; the review is dated 2027-04-10.
var (
	reviewStart = time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)
	reviewArgs  = []string{"--config", "testdata/review_config.yaml", "--since", "2027-04-01", "--until", "2027-04-07", "--as-of", "2027-04-10"}
)

// reviewEnv sets what testdata/review_config.yaml reads from the
// environment.
func reviewEnv(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	t.Setenv("IAMGATE_TEST_SECRET", "secret-secret-secret-secret-42")
	t.Setenv("IAMGATE_TEST_AUDIT_SEED", base64.StdEncoding.EncodeToString(reviewSeed))
}

// reviewTestLogs writes a week of a deployment of
// testdata/review_config.yaml (people by day, a nightly ETL job and
// backup, an agent's runs, denials, a configuration reload, an identity
// that tries to inject markup) with a signed chained Logger, rotated:
// dir/audit.log.1.gz holds the first half, dir/audit.log the rest.
func reviewTestLogs(t *testing.T, dir string) {
	t.Helper()
	f, _, err := config.Load("testdata/review_config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	now := reviewStart
	l, err := audit.NewChainedLogger(audit.ChainConfig{SigningKey: ed25519.NewKeyFromSeed(reviewSeed), CheckpointInterval: 200,
		Now: func() time.Time { return now }, Rand: constReader(0x5e)}, audit.WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	rnd := rand.New(rand.NewPCG(1, 2))
	hour := func(d, h int, m int) time.Time {
		return reviewStart.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	s3 := func(tm time.Time, issuer, sub, user, role, kind, op string) audit.Event {
		return audit.Event{Time: tm, Kind: "s3", AuthMethod: "bearer", Issuer: issuer, Subject: sub, Username: user,
			Roles: []string{role}, RoleKind: kind, Operation: op, Action: "s3:" + op, Bucket: "data",
			Decision: "allow", Reason: "allowed", Status: 200}
	}
	events = append(events,
		audit.Event{Time: hour(-2, 9, 0), Kind: "start", Decision: "allow", ConfigDigest: strings.Repeat("0a", 32)},
		audit.Event{Time: hour(2, 10, 0), Kind: "config_reload", Decision: "allow", ConfigDigest: f.Digest})
	people := []struct{ sub, user, group string }{{"u-alice", "alice", "analysts"}, {"u-bob", "bob", "data-science"}, {"u-dana", "dana", "analysts"}}
	for d := range 7 {
		weekday := hour(d, 0, 0).Weekday() != time.Saturday && hour(d, 0, 0).Weekday() != time.Sunday
		for h := 8; h < 18 && weekday; h++ {
			for _, p := range people {
				for range rnd.IntN(5) {
					e := s3(hour(d, h, rnd.IntN(60)), "corp", p.sub, p.user, "analyst", "human", "GetObject")
					e.Claims = map[string]any{"groups": []any{p.group}}
					e.BytesOut = rnd.Int64N(4 << 20)
					if rnd.IntN(6) == 0 {
						e.Operation, e.Action, e.BytesIn, e.BytesOut = "PutObject", "s3:PutObject", rnd.Int64N(1<<20), 0
					}
					events = append(events, e)
				}
			}
		}
		for i := range 12 {
			e := s3(hour(d, 2, i), "github", "repo:acme/etl:ref:refs/heads/main", "", "etl", "machine", "PutObject")
			e.BytesIn = 10<<20 + rnd.Int64N(40<<20)
			events = append(events, e)
		}
		e := s3(hour(d, 3, 0), "service-credential", "backup-job", "backup-job", "backup", "machine", "GetObject")
		e.AuthMethod, e.AccessKeyID, e.BytesOut = "service-credential", "IAMGATEBACKUP001", 200<<20
		events = append(events, e)
	}
	for i, d := range []int{1, 3, 5} {
		run := fmt.Sprintf("run-%04x", 0x7f3a+i)
		for j := range 30 + 10*i {
			e := s3(hour(d, 14, j), "agents", "research-agent", "", "research-agent", "agent", "GetObject")
			e.Claims = map[string]any{"agent_run": run, "client_id": "research-agent"}
			e.BytesOut = rnd.Int64N(8 << 20)
			if j >= 28+10*i {
				e.Decision, e.Reason, e.Status, e.BytesOut = "deny", "limit_rate", 429, 0
			}
			events = append(events, e)
		}
		if i == 2 {
			events = append(events, audit.Event{Time: hour(d, 14, 59), Kind: "escalation", Issuer: "agents", Subject: "research-agent",
				Claims: map[string]any{"agent_run": run}, Decision: "allow", Reason: "throttle"})
		}
	}
	for i := range 4 {
		e := s3(hour(4, 11, 10*i), "corp", "u-mallory", "mallory", "analyst", "human", "DeleteObject")
		e.Claims = map[string]any{"groups": []any{"analysts"}}
		e.Decision, e.Reason, e.Status = "deny", "explicit_deny", 403
		events = append(events, e)
	}
	hostile := s3(hour(5, 12, 0), "corp", `<script>alert("sub")</script>`, `"><img src=x onerror=alert(1)>`, "analyst", "human", "GetObject")
	hostile.Claims = map[string]any{"groups": []any{"analysts"}, "agent_run": `</td><script>alert('run')</script>`}
	hostile.Decision, hostile.Reason, hostile.Status = "deny", "no_allow", 403
	events = append(events, hostile,
		audit.Event{Time: hour(6, 20, 0), Kind: "auth_failure", AuthMethod: "bearer", Issuer: "corp", Operation: "GetObject", Decision: "deny", Reason: "expired", Status: 401},
		s3(hour(9, 9, 0), "corp", "u-alice", "alice", "analyst", "human", "GetObject")) // after the period
	slices.SortStableFunc(events, func(a, b audit.Event) int { return a.Time.Compare(b.Time) })
	for i := range events {
		now = events[i].Time
		if err := l.Log(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	half := len(lines) / 2
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Join(lines[:half], "")))
	zw.Close()
	writeFile(t, filepath.Join(dir, "audit.log.1.gz"), gz.String())
	writeFile(t, filepath.Join(dir, "audit.log"), strings.Join(lines[half:], ""))
}

func TestAuditReview(t *testing.T) {
	reviewEnv(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o755)
	reviewTestLogs(t, logs)
	cfg, _, err := config.Load("testdata/review_config.yaml")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, append(slices.Concat([]string{"audit", "review"}, reviewArgs), "--json", logs)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r audit.Review
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Files) != 2 || !r.Chain.OK || !r.Chain.SignaturesChecked || r.Chain.KeyID != audit.KeyID(ed25519.NewKeyFromSeed(reviewSeed).Public().(ed25519.PublicKey)) {
			t.Errorf("files %v, chain %+v", r.Files, r.Chain)
		}
		if !r.Config.Matches || r.Config.Digest != cfg.Digest || len(r.Config.InForce) != 2 || !r.Config.InForce[0].BeforePeriod {
			t.Errorf("config %+v", r.Config)
		}
		var analyst audit.RoleReview
		for _, rr := range r.Roles {
			if rr.Name == "analyst" {
				analyst = rr
			}
		}
		// The trust rules are told apart by the recorded groups claim,
		// judged by the authorization engine.
		last := func(i int) string {
			tr := analyst.Trust[i]
			if tr.LastMatchBy == nil {
				return tr.Status
			}
			return tr.Status + " " + tr.LastMatchBy.Username
		}
		if got := []string{last(0), last(1), last(2)}; !slices.Equal(got, []string{"matched dana", "matched bob", "unmatched"}) &&
			!slices.Equal(got, []string{"matched alice", "matched bob", "unmatched"}) {
			t.Errorf("analyst trust rules: %q", got)
		}
		var unused []string
		for _, u := range r.UnusedTrustRules {
			unused = append(unused, fmt.Sprintf("%s#%d", u.Role, u.Index))
		}
		if want := []string{"analyst#2", "legacy-admin#0", "backup#0"}; !slices.Equal(unused, want) {
			t.Errorf("unused trust rules %v, want %v", unused, want)
		}
		if !slices.Equal(r.UnusedServiceCredentials, []string{"restore-job"}) || !slices.Equal(r.ExpiringServiceCredentials, []string{"restore-job"}) {
			t.Errorf("unused %v, expiring %v", r.UnusedServiceCredentials, r.ExpiringServiceCredentials)
		}
		var denials []string
		for _, d := range r.Denials {
			denials = append(denials, fmt.Sprintf("%s %s %d", cmp.Or(d.Username, d.Subject), d.Operation, d.Count))
		}
		want := []string{"research-agent GetObject 6", "mallory DeleteObject 4", "(not authenticated) GetObject 1", `"><img src=x onerror=alert(1)> GetObject 1`}
		if len(r.Runs.Values) != 4 || !slices.Equal(denials, want) {
			t.Errorf("runs %d, denials %q, want %q", len(r.Runs.Values), denials, want)
		}
	})

	t.Run("html", func(t *testing.T) {
		out := filepath.Join(dir, "review.html")
		code, stdout, stderr := runCLI(t, append(slices.Concat([]string{"audit", "review"}, reviewArgs), "-o", out, logs)...)
		if code != 0 || !strings.HasPrefix(stdout, out+": access review of ") || !strings.Contains(stdout, "the chain verifies") {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			if n.Data == "script" || n.Data == "img" {
				t.Errorf("the review has a %s element: a hostile value was not escaped", n.Data)
			}
			for _, a := range n.Attr {
				if a.Key == "id" {
					ids[a.Val] = true
				}
			}
		}
		for _, id := range []string{"summary", "charts", "chart-requests", "chart-bytes", "chart-denials", "integrity", "roles", "role-0", "role-4",
			"unused", "expiry", "denials", "agents", "signoff"} {
			if !ids[id] {
				t.Errorf("no element %q", id)
			}
		}
	})

	t.Run("tampered", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		os.Mkdir(bad, 0o755)
		raw, _ := os.ReadFile(filepath.Join(logs, "audit.log"))
		writeFile(t, filepath.Join(bad, "audit.log"), strings.Replace(string(raw), `"u-bob"`, `"u-eve"`, 1))
		out := filepath.Join(dir, "bad.html")
		code, stdout, stderr := runCLI(t, append(slices.Concat([]string{"audit", "review"}, reviewArgs), "-o", out, bad)...)
		data, _ := os.ReadFile(out)
		if code != 1 || !strings.Contains(stdout, "does NOT verify") || !strings.Contains(stderr, "does not verify") || !bytes.Contains(data, []byte("does not verify")) {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"audit", "review", "--since", "2027-04-01", logs},
			{"audit", "review", "--config", "testdata/review_config.yaml", logs},
			{"audit", "review", "--config", "testdata/review_config.yaml", "--since", "2027-04-01"},
		} {
			if code, _, stderr := runCLI(t, args...); code != 2 || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%q: exit %d, %s", args, code, stderr)
			}
		}
		empty := t.TempDir()
		if code, _, stderr := runCLI(t, "audit", "review", "--config", "testdata/review_config.yaml", "--since", "2027-04-01", empty); code != 1 || !strings.Contains(stderr, "no audit files") {
			t.Errorf("empty directory: exit %d, %s", code, stderr)
		}
		if code, _, stderr := runCLI(t, "audit", "review", "--config", "testdata/review_config.yaml", "--since", "2027-04-05", "--until", "2027-04-01", logs); code != 1 || !strings.Contains(stderr, "is not before") {
			t.Errorf("reversed period: exit %d, %s", code, stderr)
		}
	})
}

// TestAuditReviewBrowser opens the HTML review in headless Chromium from
// the file, as a reviewer would: every section renders, the charts have a
// size and bars, nothing is fetched and no script runs. With
// IAMGATE_SCREENSHOTS=1 it writes docs/images/audit-review.png (the top
// of the review) and docs/images/audit-review-role.png (a role's
// checklist).
func TestAuditReviewBrowser(t *testing.T) {
	browser := testenv.StartChromium(t)
	reviewEnv(t)
	dir := t.TempDir()
	reviewTestLogs(t, dir)
	out := filepath.Join(dir, "review.html")
	if code, stdout, stderr := runCLI(t, append(slices.Concat([]string{"audit", "review"}, reviewArgs), "-o", out, dir)...); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}

	tab := browser.NewTab(t)
	tab.Do("open the review", chromedp.EmulateViewport(1280, 1500), chromedp.Navigate("file://"+out), chromedp.WaitVisible(chromedp.CSS("#signoff")))
	type box struct {
		ID     string  `json:"id"`
		Width  float64 `json:"w"`
		Height float64 `json:"h"`
		Bars   int     `json:"bars"`
	}
	boxes := testenv.Run(tab, "measure", chromedp.Evaluate[[]box](`[...document.querySelectorAll("section, header, article, svg")].map(e => {
		const r = e.getBoundingClientRect();
		return {id: e.id, w: r.width, h: r.height, bars: e.querySelectorAll("rect.bar").length};
	})`))
	got := map[string]box{}
	for _, b := range boxes {
		got[b.ID] = b
	}
	for _, id := range []string{"summary", "charts", "integrity", "roles", "role-0", "role-1", "role-2", "role-3", "role-4", "unused", "expiry", "denials", "agents", "traffic", "signoff"} {
		if b, ok := got[id]; !ok || b.Width < 100 || b.Height < 20 {
			t.Errorf("section %q renders as %+v", id, b)
		}
	}
	for _, id := range []string{"chart-requests", "chart-bytes", "chart-denials"} {
		if b := got[id]; b.Width < 300 || b.Height < 100 || b.Bars == 0 {
			t.Errorf("chart %q renders as %+v", id, b)
		}
	}
	if errs := tab.JSErrors(); len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
	if n := testenv.Run(tab, "scripts", chromedp.Evaluate[int](`document.scripts.length + document.images.length`)); n != 0 {
		t.Errorf("%d scripts or images in the review", n)
	}
	text := testenv.Run(tab, "text", chromedp.Evaluate[string](`document.body.innerText`))
	for _, want := range []string{`<script>alert("sub")</script>`, "Keep", "Remove", "Narrow", "Reviewer", "matched nobody", "restore-job"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	if os.Getenv("IAMGATE_SCREENSHOTS") == "1" {
		shots := filepath.Join("..", "..", "docs", "images")
		top := testenv.Run(tab, "screenshot", chromedp.CaptureScreenshot())
		role := testenv.Run(tab, "role screenshot", chromedp.Screenshot(chromedp.CSS("#role-0")))
		for name, png := range map[string][]byte{"audit-review.png": top, "audit-review-role.png": role} {
			if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
