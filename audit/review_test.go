package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var reviewSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

// hostile are claim and identity values that try to inject markup.
const (
	hostileSubject = `<script>alert("sub")</script>`
	hostileName    = `"><img src=x onerror=alert(1)>`
	hostileRun     = `</code><script>alert('run')</script>`
	hostileAction  = `s3:<svg onload=alert(2)>`
)

// reviewCorpus is a week of events (from reviewT0) written by a signed
// chained Logger, with events before and after the period, and the
// options that review it.
func reviewCorpus(t testing.TB) ([]byte, ReviewOptions) {
	t.Helper()
	var buf bytes.Buffer
	now := reviewT0.Add(-72 * time.Hour)
	l, err := NewChainedLogger(ChainConfig{SigningKey: ed25519.NewKeyFromSeed(reviewSeed), CheckpointInterval: 5,
		Now: func() time.Time { return now }, Rand: bytes.NewReader(bytes.Repeat([]byte{1}, 16))}, WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log := func(e Event) {
		t.Helper()
		now = e.Time
		if err := l.Log(&e); err != nil {
			t.Fatal(err)
		}
	}
	human := func(h int, sub, group, op string, decision string, in, out int64) Event {
		e := Event{Time: at(h), Kind: KindS3, AuthMethod: "bearer", Issuer: "corp", Subject: sub, Username: sub,
			Claims: map[string]any{"groups": []any{group}}, Roles: []string{"data"}, RoleKind: RoleKindHuman,
			Operation: op, Action: "s3:" + op, Decision: decision, Reason: "allowed", Status: 200, BytesIn: in, BytesOut: out}
		if decision == "deny" {
			e.Reason, e.Status = "no_allow", 403
		}
		return e
	}
	agent := func(h int, run, decision, reason string, out int64) Event {
		return Event{Time: at(h), Kind: KindS3, AuthMethod: "bearer", Issuer: "agents", Subject: "research",
			Claims: map[string]any{"client_id": "research", "agent_run": run}, Roles: []string{"agent"}, RoleKind: RoleKindAgent,
			Operation: "GetObject", Action: "s3:GetObject", Decision: decision, Reason: reason, Status: 200, BytesOut: out}
	}

	log(Event{Time: reviewT0.Add(-48 * time.Hour), Kind: KindStart, Decision: "allow", ConfigDigest: "digest-old"})
	log(human(-24, "alice", "eng", "GetObject", "allow", 0, 99)) // before the period
	log(Event{Time: at(1), Kind: KindConfigReload, Decision: "allow", ConfigDigest: "digest-new"})
	log(human(2, "alice", "eng", "GetObject", "allow", 0, 1000))
	log(human(5, "bob", "data", "PutObject", "allow", 500, 0))
	log(human(30, "alice", "eng", "GetObject", "allow", 0, 3000))
	log(human(31, "mallory", "eng", "DeleteObject", "deny", 0, 0))
	log(human(32, "mallory", "eng", "DeleteObject", "deny", 0, 0))
	log(human(33, "mallory", "eng", "PutObject", "deny", 0, 0))
	log(Event{Time: at(3), Kind: KindS3, AuthMethod: "bearer", Issuer: "gh", Subject: "repo:org/app", Roles: []string{"ci"},
		RoleKind: RoleKindMachine, Operation: "PutObject", Action: "s3:PutObject", Decision: "allow", Status: 200, BytesIn: 4096})
	log(Event{Time: at(40), Kind: KindS3, AuthMethod: "service-credential", AccessKeyID: "AKNIGHTLY", Roles: []string{"ci"},
		RoleKind: RoleKindMachine, Operation: "GetObject", Action: "s3:GetObject", Decision: "allow", Status: 200, BytesOut: 2048})
	log(agent(50, "run-1", "allow", "allowed", 100))
	log(agent(51, "run-1", "allow", "allowed", 200))
	log(agent(52, "run-1", "deny", "limit_rate", 0))
	log(Event{Time: at(52), Kind: KindEscalation, Issuer: "agents", Subject: "research", Claims: map[string]any{"agent_run": "run-1"}, Decision: "allow", Reason: "throttle"})
	log(agent(60, "run-2", "allow", "allowed", 50))
	log(Event{Time: at(70), Kind: KindAuthFailure, AuthMethod: "bearer", Decision: "deny", Reason: "invalid_token", Status: 401})
	log(Event{Time: at(80), Kind: KindS3, AuthMethod: "bearer", Issuer: "corp", Subject: hostileSubject, Username: hostileName,
		Claims: map[string]any{"groups": []any{"eng"}, "agent_run": hostileRun}, Roles: []string{"data"}, RoleKind: RoleKindHuman,
		Operation: "GetObject", Action: hostileAction, Decision: "deny", Reason: "no_allow", Status: 403})
	log(human(24*10, "alice", "eng", "GetObject", "allow", 0, 7)) // after the period
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	opts := ReviewOptions{
		ReviewConfig: ReviewConfig{Since: reviewT0, Until: reviewT0.Add(7 * 24 * time.Hour), AsOf: reviewT0.Add(8 * 24 * time.Hour),
			Roles: []ReviewRole{
				{Name: "data", Kind: RoleKindHuman, Trust: []ReviewTrustRule{
					{Issuer: "corp", Claims: map[string]any{"groups": "eng"}, Source: "iamgate.yaml:10:7"},
					{Issuer: "corp", Claims: map[string]any{"groups": "data"}, Source: "iamgate.yaml:11:7"},
					{Issuer: "corp", Claims: map[string]any{"groups": "ops"}, Source: "iamgate.yaml:12:7"},
				}},
				{Name: "ci", Kind: RoleKindMachine, Trust: []ReviewTrustRule{{Issuer: "gh", Claims: map[string]any{"repository": "org/app"}}}},
				{Name: "agent", Kind: RoleKindAgent, Trust: []ReviewTrustRule{{Issuer: "agents"}}},
				{Name: "legacy", Kind: RoleKindHuman, Trust: []ReviewTrustRule{{Issuer: "corp"}}},
			},
			ServiceCredentials: []ReviewCredential{
				{Name: "nightly", AccessKeyID: "AKNIGHTLY", Role: "ci", Expires: reviewT0.Add(365 * 24 * time.Hour)},
				{Name: "backup", AccessKeyID: "AKBACKUP", Role: "ci", Expires: reviewT0.Add(20 * 24 * time.Hour)},
				{Name: "old", AccessKeyID: "AKOLD", Role: "ci", Expires: reviewT0.Add(24 * time.Hour)},
			}},
		ConfigPath: "iamgate.yaml", ConfigDigest: "digest-new",
		PublicKey: ed25519.NewKeyFromSeed(reviewSeed).Public().(ed25519.PublicKey),
		// Groups are recorded: the rule whose group the token has matched.
		TrustMatch: func(role string, e *Event) int {
			if role != "data" {
				return -1
			}
			g, _ := e.Claims["groups"].([]any)
			for i, want := range []string{"eng", "data", "ops"} {
				if slices.Contains(g, any(want)) {
					return i
				}
			}
			return -1
		},
	}
	return buf.Bytes(), opts
}

func buildReview(t *testing.T, data []byte, opts ReviewOptions) *Review {
	t.Helper()
	b := NewReviewBuilder(opts)
	if err := b.Read("audit.log", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return b.Finish()
}

func roleReview(t *testing.T, r *Review, name string) RoleReview {
	t.Helper()
	for _, rr := range r.Roles {
		if rr.Name == name {
			return rr
		}
	}
	t.Fatalf("role %q not in the review", name)
	return RoleReview{}
}

func TestReviewAggregates(t *testing.T) {
	data, opts := reviewCorpus(t)
	r := buildReview(t, data, opts)

	if r.Events != 14 || r.OutOfPeriod == 0 {
		t.Errorf("events %d in the period, %d out of it", r.Events, r.OutOfPeriod)
	}

	t.Run("trust rules: last match and by whom", func(t *testing.T) {
		data := roleReview(t, r, "data")
		type want struct {
			status  string
			matches int
			last    time.Time
			by      string
		}
		wants := []want{{TrustMatched, 2, at(30), "alice"}, {TrustMatched, 1, at(5), "bob"}, {TrustUnmatched, 0, time.Time{}, ""}}
		for i, w := range wants {
			tr := data.Trust[i]
			var last time.Time
			by := ""
			if tr.LastMatch != nil {
				last, by = *tr.LastMatch, tr.LastMatchBy.Subject
			}
			if tr.Status != w.status || tr.Matches != w.matches || !last.Equal(w.last) || by != w.by {
				t.Errorf("rule %d: %s, %d matches, last %v by %q; want %+v", i, tr.Status, tr.Matches, last, by, w)
			}
		}
		ci := roleReview(t, r, "ci")
		if tr := ci.Trust[0]; tr.Status != TrustMatched || tr.LastMatch == nil || !tr.LastMatch.Equal(at(3)) || tr.LastMatchBy.Subject != "repo:org/app" {
			t.Errorf("ci rule: %+v", tr)
		}
	})

	t.Run("identities: first and last use, volume", func(t *testing.T) {
		data := roleReview(t, r, "data")
		var alice *RoleIdentity
		for i := range data.Identities {
			if data.Identities[i].Subject == "alice" {
				alice = &data.Identities[i]
			}
		}
		if alice == nil {
			t.Fatalf("alice is not an identity of role data: %+v", data.Identities)
		}
		if !alice.FirstUsed.Equal(at(2)) || !alice.LastUsed.Equal(at(30)) || alice.Requests != 2 || alice.BytesRead != 4000 || alice.BytesWritten != 0 {
			t.Errorf("alice: first %v last %v requests %d read %d written %d", alice.FirstUsed, alice.LastUsed, alice.Requests, alice.BytesRead, alice.BytesWritten)
		}
		for _, id := range data.Identities {
			if id.Subject == "mallory" {
				t.Errorf("mallory, only refused, is listed as using the role")
			}
		}
		if len(data.Refused) == 0 || data.Refused[0].Subject != "mallory" || data.Refused[0].Count != 3 {
			t.Errorf("refused: %+v", data.Refused)
		}
	})

	t.Run("unused trust rules and credentials", func(t *testing.T) {
		var got []string
		for _, u := range r.UnusedTrustRules {
			got = append(got, fmt.Sprintf("%s#%d", u.Role, u.Index))
		}
		if want := []string{"data#2", "legacy#0"}; !slices.Equal(got, want) {
			t.Errorf("unused trust rules %v, want %v", got, want)
		}
		if want := []string{"backup", "old"}; !slices.Equal(r.UnusedServiceCredentials, want) {
			t.Errorf("unused service credentials %v, want %v", r.UnusedServiceCredentials, want)
		}
		if roleReview(t, r, "legacy").Status != RoleUnused {
			t.Errorf("legacy is not unused")
		}
	})

	t.Run("near expiry at the injected as-of", func(t *testing.T) {
		if want := []string{"backup", "old"}; !slices.Equal(r.ExpiringServiceCredentials, want) {
			t.Errorf("expiring %v, want %v", r.ExpiringServiceCredentials, want)
		}
		for _, c := range r.ServiceCredentials {
			if c.Name == "old" && !c.Expired || c.Name == "backup" && (!c.ExpiresSoon || c.Expired) || c.Name == "nightly" && (c.ExpiresSoon || c.Unused) {
				t.Errorf("credential %+v", c)
			}
		}
	})

	t.Run("denials by identity and action", func(t *testing.T) {
		var got []string
		for _, d := range r.Denials {
			got = append(got, fmt.Sprintf("%s %s %d", d.Subject, d.Action, d.Count))
		}
		// Most denied first, then by issuer ("" for a failed authentication) and subject.
		want := []string{"mallory s3:DeleteObject 2", "  1", "research s3:GetObject 1", hostileSubject + " " + hostileAction + " 1", "mallory s3:PutObject 1"}
		if !slices.Equal(got, want) {
			t.Errorf("denials\n%q\nwant\n%q", got, want)
		}
	})

	t.Run("agents' runs", func(t *testing.T) {
		runs := map[string]ClaimUsage{}
		for _, v := range r.Runs.Values {
			runs[v.Value] = v
		}
		r1 := runs["run-1"]
		if r.Runs.Claim != DefaultRunClaim || r1.Requests != 3 || r1.Denials != 1 || r1.BytesRead != 300 || r1.LimitHits["rate"] != 1 || r1.Escalations["throttle"] != 1 {
			t.Errorf("run-1: %+v", r1)
		}
		if runs["run-2"].Requests != 1 || runs[hostileRun].Requests != 1 {
			t.Errorf("runs: %+v", r.Runs.Values)
		}
	})

	t.Run("configuration digests", func(t *testing.T) {
		c := r.Config
		if len(c.InForce) != 2 || c.InForce[0].Digest != "digest-old" || !c.InForce[0].BeforePeriod ||
			c.InForce[1].Digest != "digest-new" || !c.InForce[1].First.Equal(at(1)) || !c.InForce[1].Reviewed || !c.Matches {
			t.Errorf("config evidence %+v", c)
		}
	})

	t.Run("chain", func(t *testing.T) {
		c := r.Chain
		if !c.OK || !c.SignaturesChecked || c.KeyID != KeyID(opts.PublicKey) || len(c.CheckpointKeys) != 1 || !c.CheckpointKeys[0].Given ||
			len(c.Streams) != 1 || !c.Streams[0].Closed {
			t.Errorf("chain %+v", c)
		}
	})

	t.Run("series", func(t *testing.T) {
		s := r.Series
		if s.Step != 3*time.Hour || !s.Start.Equal(reviewT0) || len(s.Points) != 56 {
			t.Fatalf("series step %v start %v, %d points", s.Step, s.Start, len(s.Points))
		}
		var req, bytes, denials int64
		for _, p := range s.Points {
			req += p.Requests[RoleKindHuman] + p.Requests[RoleKindMachine] + p.Requests[RoleKindAgent] + p.Requests[RoleKindOther]
			bytes += p.Bytes[RoleKindHuman]
			denials += p.Denials
		}
		if req != int64(r.Events) || bytes != 4500 || denials != 6 {
			t.Errorf("series: %d requests, %d human bytes, %d denials", req, bytes, denials)
		}
		if p := s.Points[0]; p.Requests[RoleKindHuman] != 1 || p.Bytes[RoleKindHuman] != 1000 || p.Requests[RoleKindMachine] != 0 {
			t.Errorf("first point %+v", p)
		}
		if p := s.Points[1]; p.Requests[RoleKindHuman] != 1 || p.Requests[RoleKindMachine] != 1 || p.Bytes[RoleKindMachine] != 4096 {
			t.Errorf("second point %+v", p)
		}
	})
}

// A modified line, or the wrong public key, is in the review.
func TestReviewChainProblems(t *testing.T) {
	data, opts := reviewCorpus(t)
	tampered := bytes.Replace(data, []byte(`"principalId":"bob"`), []byte(`"principalId":"eve"`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("corpus has no bob")
	}
	r := buildReview(t, tampered, opts)
	if r.Chain.OK || len(r.Chain.Problems) == 0 || r.Chain.Problems[0].Code != FindingModified {
		t.Errorf("tampered: chain %+v", r.Chain)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	opts.PublicKey = other
	r = buildReview(t, data, opts)
	if r.Chain.OK || r.Chain.CheckpointKeys[0].Given || r.Chain.KeyID != KeyID(other) {
		t.Errorf("wrong key: chain %+v", r.Chain)
	}
	opts.PublicKey = nil
	r = buildReview(t, data, opts)
	if !r.Chain.OK || r.Chain.SignaturesChecked || len(r.Chain.Warnings) == 0 {
		t.Errorf("no key: chain %+v", r.Chain)
	}
}

// Without a way to tell which rule matched, a rule that shares its issuer
// with another is undetermined and shows when its issuer last used the
// role.
func TestReviewTrustWithoutMatcher(t *testing.T) {
	data, opts := reviewCorpus(t)
	opts.TrustMatch = nil
	r := buildReview(t, data, opts)
	for i, tr := range roleReview(t, r, "data").Trust {
		if tr.Status != TrustUndetermined || tr.LastMatch != nil || tr.IssuerLastUse == nil || !tr.IssuerLastUse.Equal(at(30)) || tr.IssuerLastUseBy.Subject != "alice" {
			t.Errorf("rule %d: %+v", i, tr)
		}
	}
	if tr := roleReview(t, r, "ci").Trust[0]; tr.Status != TrustMatched || tr.Matches != 1 {
		t.Errorf("ci, one rule for its issuer: %+v", tr)
	}
}

func TestReviewJSON(t *testing.T) {
	data, opts := reviewCorpus(t)
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(buildReview(t, data, opts)); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"as_of", "since", "until", "roles", "config", "chain", "unused_trust_rules", "unused_service_credentials",
		"expiring_service_credentials", "denials", "denied_identities", "denied_actions", "traffic", "runs", "series", "service_credentials"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	role := m["roles"].([]any)[0].(map[string]any)
	trust := role["trust"].([]any)[0].(map[string]any)
	id := role["identities"].([]any)[0].(map[string]any)
	if trust["last_match"] == nil || trust["last_match_by"] == nil || id["first_used"] == nil || id["bytes_read"] == nil {
		t.Errorf("role JSON lacks the review's fields: %v", role)
	}
}

// reviewSections are the ids of the HTML review's sections.
var reviewSections = []string{"summary", "charts", "integrity", "roles", "unused", "expiry", "denials", "agents", "traffic", "signoff"}

func TestReviewHTML(t *testing.T) {
	data, opts := reviewCorpus(t)
	r := buildReview(t, data, opts)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	var scripts, svgs, checkboxes, roles, external int
	var text strings.Builder
	for n := range doc.Descendants() {
		switch n.Type {
		case html.TextNode:
			text.WriteString(n.Data)
			continue
		case html.ElementNode:
		default:
			continue
		}
		switch n.Data {
		case "script", "iframe", "object", "embed", "img", "link":
			scripts++
		case "svg":
			svgs++
		case "input":
			checkboxes++
		case "article":
			roles++
		}
		for _, a := range n.Attr {
			if a.Key == "id" {
				ids[a.Val] = true
			}
			if a.Key == "src" || a.Key == "href" && !internalLink(a.Val) || strings.HasPrefix(a.Key, "on") {
				external++
			}
		}
	}
	for _, s := range reviewSections {
		if !ids[s] {
			t.Errorf("no section %q", s)
		}
	}
	for _, c := range []string{"chart-requests", "chart-bytes", "chart-denials"} {
		if !ids[c] {
			t.Errorf("no chart %q", c)
		}
	}
	if scripts != 0 || external != 0 {
		t.Errorf("%d script or embedding elements, %d src, href or event attributes: hostile values were not escaped", scripts, external)
	}
	if svgs != 3 || roles != len(r.Roles) || checkboxes != 3*len(r.Roles) {
		t.Errorf("%d charts, %d role sections of %d, %d checkboxes", svgs, roles, len(r.Roles), checkboxes)
	}
	// The hostile values are shown as text.
	for _, s := range []string{hostileSubject, hostileName, hostileRun, hostileAction, "digest-new", KeyID(opts.PublicKey), "Keep", "Remove", "Narrow", "Reviewer"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q", s)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("<script")) {
		t.Errorf("HTML contains <script")
	}
}

// internalLink reports whether href is a link to a section or role of the
// review, the only links it has.
func internalLink(href string) bool {
	id, ok := strings.CutPrefix(href, "#")
	if !ok {
		return false
	}
	if n, ok := strings.CutPrefix(id, "role-"); ok {
		_, err := strconv.Atoi(n)
		return err == nil
	}
	return slices.Contains(reviewSections, id)
}

// Charts with nothing to draw still render: axes and a note.
func TestReviewHTMLEmpty(t *testing.T) {
	r := NewReviewBuilder(ReviewOptions{ReviewConfig: ReviewConfig{Since: reviewT0, Until: reviewT0.Add(24 * time.Hour), AsOf: reviewT0}}).Finish()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no events in the period") || strings.Count(buf.String(), "<svg") != 3 {
		t.Errorf("empty review:\n%s", buf.String())
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.3, 1}, {3, 5}, {12, 20}, {45, 50}, {101, 200}, {1e6, 1e6}} {
		if got := niceStep(tt.in); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzReviewHTML feeds arbitrary lines, as audit files may hold, to a
// review and renders it: nothing panics, and no value becomes markup.
func FuzzReviewHTML(f *testing.F) {
	data, _ := reviewCorpus(f)
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"eventVersion":"2.0","eventTime":"9999-12-31T23:59:59Z","iamgate":{"kind":"s3","roles":["x"],"roleKind":"<b>","decision":"deny"}}`))
	f.Add([]byte(`{"eventVersion":"2.0","eventTime":"0001-01-01T00:00:01Z","iamgate":{"kind":"start","configDigest":"</td><script>"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		opts := ReviewOptions{ReviewConfig: ReviewConfig{Since: reviewT0.AddDate(-1, 0, 0), AsOf: reviewT0,
			Roles: []ReviewRole{{Name: "x", Kind: "human", Trust: []ReviewTrustRule{{Issuer: "corp"}, {Issuer: "corp"}}}}}}
		b := NewReviewBuilder(opts)
		if err := b.Read("a.log", bytes.NewReader(append(line, '\n'))); err != nil {
			t.Fatal(err)
		}
		r := b.Finish()
		if len(r.Series.Points) > maxSeriesPoints+1 {
			t.Fatalf("%d points", len(r.Series.Points))
		}
		var buf bytes.Buffer
		if err := r.WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			if n.Data == "script" || n.Data == "img" || n.Data == "iframe" {
				t.Fatalf("a %s element", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "href" && !internalLink(a.Val) {
					t.Fatalf("attribute %s=%q", a.Key, a.Val)
				}
			}
		}
	})
}

// BenchmarkReviewBuilder reviews a chained log of 20,000 S3 events; the
// events/s metric compares with audit report's and audit verify's.
func BenchmarkReviewBuilder(b *testing.B) {
	var buf bytes.Buffer
	now := reviewT0
	l, err := NewChainedLogger(ChainConfig{SigningKey: ed25519.NewKeyFromSeed(reviewSeed), Now: func() time.Time { return now }}, WriterSink{W: &buf})
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	for i := range n {
		now = reviewT0.Add(time.Duration(i) * 30 * time.Second)
		e := Event{Time: now, Kind: KindS3, AuthMethod: "bearer", Issuer: "corp", Subject: fmt.Sprintf("u-%d", i%50),
			Claims: map[string]any{"groups": []any{"eng"}, "agent_run": fmt.Sprintf("run-%d", i%20)}, Roles: []string{"data"}, RoleKind: RoleKindHuman,
			Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: fmt.Sprintf("k/%d", i), Decision: "allow", Reason: "allowed", Status: 200, BytesOut: 1000}
		if err := l.Log(&e); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	_, opts := reviewCorpus(b)
	opts.Until = time.Time{}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		rb := NewReviewBuilder(opts)
		if err := rb.Read("audit.log", bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
		if r := rb.Finish(); r.Events != n || !r.Chain.OK {
			b.Fatalf("%d events, chain %+v", r.Events, r.Chain.Problems)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
