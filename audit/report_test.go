package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var reviewT0 = time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)

// reviewLog encodes events as a Logger does, one line each.
func reviewLog(t *testing.T, events ...Event) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	l := NewLogger(WriterSink{W: &buf})
	for i := range events {
		if err := l.Log(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

func at(hours int) time.Time { return reviewT0.Add(time.Duration(hours) * time.Hour) }

func s3Event(h int, issuer, subject, role, decision string) Event {
	e := Event{Time: at(h), Kind: "s3", AuthMethod: "bearer", Issuer: issuer, Subject: subject,
		Operation: "GetObject", Action: "s3:GetObject", Decision: decision, Reason: "allowed"}
	if role != "" {
		e.Roles = []string{role}
	}
	if decision == "deny" {
		e.Reason = "no_allow"
	}
	return e
}

func findRole(t *testing.T, r *AccessReview, name string) RoleUsage {
	t.Helper()
	for _, ru := range r.Roles {
		if ru.Name == name {
			return ru
		}
	}
	t.Fatalf("role %q not in review", name)
	return RoleUsage{}
}

func TestReviewTrustAttribution(t *testing.T) {
	cfg := ReviewConfig{AsOf: reviewT0, Roles: []ReviewRole{
		{Name: "one", Trust: []ReviewTrustRule{{Issuer: "corp"}}},
		{Name: "two", Trust: []ReviewTrustRule{{Issuer: "gh"}, {Issuer: "gh"}, {Issuer: "corp"}}},
		{Name: "svc", Trust: []ReviewTrustRule{{Issuer: "corp"}}},
		{Name: "idle", Trust: []ReviewTrustRule{{Issuer: "corp"}, {Issuer: "gh"}}},
	}}
	rv := NewReviewer(cfg)
	svc := Event{Time: at(3), Kind: "s3", AuthMethod: "service-credential", Issuer: "service-credential",
		Subject: "job", Roles: []string{"svc"}, Decision: "allow"}
	sts := Event{Time: at(4), Kind: "sts", AuthMethod: "web_identity", Issuer: "corp", Subject: "alice",
		Roles: []string{"one"}, Role: "one", Decision: "allow", Reason: "issued"}
	log := reviewLog(t, s3Event(1, "gh", "repo", "two", "allow"), s3Event(2, "gh", "repo", "two", "deny"), svc, sts)
	if err := rv.Read("a.log", log); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()

	tests := []struct {
		role   string
		status string
		trust  []string
	}{
		{"one", RoleUsed, []string{TrustMatched}},
		{"two", RoleUsed, []string{TrustUndetermined, TrustUndetermined, TrustUnmatched}},
		{"svc", RoleServiceOnly, []string{TrustUnmatched}},
		{"idle", RoleUnused, []string{TrustUnmatched, TrustUnmatched}},
	}
	for _, tt := range tests {
		ru := findRole(t, r, tt.role)
		if ru.Status != tt.status {
			t.Errorf("%s: status %q, want %q", tt.role, ru.Status, tt.status)
		}
		var got []string
		for _, tu := range ru.Trust {
			got = append(got, tu.Status)
		}
		if strings.Join(got, ",") != strings.Join(tt.trust, ",") {
			t.Errorf("%s: trust %v, want %v", tt.role, got, tt.trust)
		}
	}
	two := findRole(t, r, "two")
	// The denied request counts, but the last use is the last allowed one.
	if two.Requests != 2 || two.Allowed != 1 || two.Denied != 1 || len(two.Identities) != 1 || !two.LastUsed.Equal(at(1)) ||
		len(two.Refused) != 1 || two.Refused[0].Count != 1 || two.Refused[0].LastReason != "no_allow" {
		t.Errorf("two: %+v", two)
	}
}

// TestReviewRefusedAttemptsAreNotUse: a refused STS call or a denied
// request naming a role neither makes the role used nor marks a trust rule
// matched; the attempts are listed apart, in JSON and text.
func TestReviewRefusedAttemptsAreNotUse(t *testing.T) {
	cfg := ReviewConfig{AsOf: reviewT0, Roles: []ReviewRole{
		{Name: "admin", Kind: "human", Trust: []ReviewTrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "admins"}}}},
		{Name: "reader", Kind: "human", Trust: []ReviewTrustRule{{Issuer: "corp"}}},
		{Name: "svc", Kind: "machine", Trust: []ReviewTrustRule{{Issuer: "corp"}}},
	}, ServiceCredentials: []ReviewCredential{{Name: "job", AccessKeyID: "AKJOB", Role: "svc", Expires: reviewT0.AddDate(0, 6, 0)}}}
	refusedSTS := Event{Time: at(1), Kind: "sts", AuthMethod: "web_identity", Issuer: "corp", Subject: "eve", Username: "eve",
		Operation: "AssumeRoleWithWebIdentity", Roles: []string{"admin"}, Role: "admin", Decision: "deny", Reason: "sts_refused"}
	deniedS3 := s3Event(2, "corp", "bob", "reader", "deny")
	deniedService := Event{Time: at(3), Kind: "s3", AuthMethod: "service-credential", Issuer: "service-credential", Subject: "job",
		AccessKeyID: "AKJOB", Roles: []string{"svc"}, Operation: "PutObject", Action: "s3:PutObject", Decision: "deny", Reason: "no_allow"}
	rv := NewReviewer(cfg)
	if err := rv.Read("a.log", reviewLog(t, refusedSTS, deniedS3, deniedS3, deniedService)); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()
	for _, tt := range []struct {
		role     string
		refusals int
		who      string
		reason   string
	}{{"admin", 1, "corp/eve", "sts_refused"}, {"reader", 2, "corp/bob", "no_allow"}, {"svc", 1, "service-credential/job", "no_allow"}} {
		ru := findRole(t, r, tt.role)
		if ru.Status != RoleUnused || len(ru.Identities) != 0 || ru.LastUsed != nil || ru.Allowed != 0 {
			t.Errorf("%s: status %q, identities %v, last used %v: a refused attempt counted as use", tt.role, ru.Status, ru.Identities, ru.LastUsed)
		}
		for _, tu := range ru.Trust {
			if tu.Status != TrustUnmatched {
				t.Errorf("%s: trust rule %d %q: a refused attempt matched it", tt.role, tu.Index, tu.Status)
			}
		}
		if len(ru.Refused) != 1 || ru.Refused[0].Identity.String() != tt.who || ru.Refused[0].Count != tt.refusals ||
			ru.Refused[0].LastReason != tt.reason || ru.Refused[0].ServiceCredential != (tt.role == "svc") {
			t.Errorf("%s: refused %+v", tt.role, ru.Refused)
		}
	}
	if c := r.ServiceCredentials[0]; !c.Unused || c.Requests != 1 || c.Denied != 1 || c.LastUsed != nil {
		t.Errorf("a credential with only refused requests: %+v", c)
	}

	b, _ := json.Marshal(r)
	var m struct {
		Roles []struct {
			Name    string
			Status  string
			Refused []map[string]any
		}
	}
	json.Unmarshal(b, &m)
	if m.Roles[0].Name != "admin" || m.Roles[0].Status != "unused" || len(m.Roles[0].Refused) != 1 ||
		m.Roles[0].Refused[0]["subject"] != "eve" || m.Roles[0].Refused[0]["count"] != 1.0 || m.Roles[0].Refused[0]["last_reason"] != "sts_refused" {
		t.Errorf("JSON roles %+v", m.Roles)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	never := text.String()[strings.Index(text.String(), "ROLES NEVER USED"):]
	for _, want := range []string{"role admin (human): nobody used it", "refused attempts (not use): 1 identity", "corp/eve", "sts_refused",
		"service-credential/job (service credential)", "UNUSED in period, ONLY REFUSED ATTEMPTS"} {
		if !strings.Contains(never, want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func TestReviewPeriod(t *testing.T) {
	log := reviewLog(t,
		s3Event(-1, "corp", "early", "r", "allow"),
		s3Event(0, "corp", "first", "r", "allow"), // Since is inclusive
		s3Event(23, "corp", "inside", "r", "allow"),
		s3Event(24, "corp", "late", "r", "allow"), // Until is exclusive
		Event{Time: at(5), Kind: "checkpoint"},
		Event{Time: at(6), Kind: "start"},
	)
	rv := NewReviewer(ReviewConfig{AsOf: reviewT0, Since: at(0), Until: at(24), Roles: []ReviewRole{{Name: "r"}}})
	if err := rv.Read("a.log", log); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()
	if r.Events != 2 || r.OutOfPeriod != 2 || r.Ignored != 2 {
		t.Fatalf("events %d, out of period %d, ignored %d; want 2, 2, 2", r.Events, r.OutOfPeriod, r.Ignored)
	}
	var subjects []string
	for _, iu := range findRole(t, r, "r").Identities {
		subjects = append(subjects, iu.Subject)
	}
	if strings.Join(subjects, ",") != "first,inside" {
		t.Errorf("identities %v, want first, inside", subjects)
	}
	if !r.FirstEvent.Equal(at(0)) || !r.LastEvent.Equal(at(23)) {
		t.Errorf("events from %v to %v", r.FirstEvent, r.LastEvent)
	}
}

func TestReviewSkipsLines(t *testing.T) {
	var in strings.Builder
	in.WriteString(reviewLog(t, s3Event(1, "corp", "a", "r", "allow")).String())
	for range 12 {
		in.WriteString("garbage\n")
	}
	in.WriteString("\n   \n")                         // blank lines are not counted
	in.WriteString(`{"kind":"s3"}` + "\n")            // no time
	in.WriteString(`[1,2]` + "\n")                    // not an object
	in.WriteString(`{"time":"2027-04-01T00:00:00Z"}`) // no kind, no final newline
	rv := NewReviewer(ReviewConfig{AsOf: reviewT0})
	if err := rv.Read("x.log", strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()
	if r.Events != 1 || r.Skipped != 15 || len(r.SkippedLines) != maxSkippedShown {
		t.Fatalf("events %d, skipped %d (%d shown)", r.Events, r.Skipped, len(r.SkippedLines))
	}
	if s := r.SkippedLines[0]; s.File != "x.log" || s.Line != 2 {
		t.Errorf("first skipped line %+v, want x.log:2", s)
	}
	// A role the events name but the configuration lacks is reported.
	if ru := findRole(t, r, "r"); ru.InConfig || ru.Status != RoleUsed {
		t.Errorf("role r: %+v", ru)
	}
}

func TestReviewCredentials(t *testing.T) {
	creds := []ReviewCredential{
		{Name: "used", AccessKeyID: "AKUSED", Role: "svc", Expires: reviewT0.AddDate(1, 0, 0)},
		{Name: "idle", AccessKeyID: "AKIDLE", Role: "svc", Expires: reviewT0.AddDate(0, 0, 30)},
		{Name: "gone", AccessKeyID: "AKGONE", Role: "svc", Expires: reviewT0},
	}
	log := reviewLog(t,
		Event{Time: at(1), Kind: "s3", AuthMethod: "service-credential", Issuer: "service-credential", Subject: "used",
			Roles: []string{"svc"}, Decision: "allow", BytesOut: 10, BytesIn: 3},
		// A refused expired credential has no subject; its access key names it.
		Event{Time: at(2), Kind: "auth_failure", AuthMethod: "service-credential", AccessKeyID: "AKGONE",
			Operation: "PutObject", Decision: "deny", Reason: "expired"},
	)
	rv := NewReviewer(ReviewConfig{AsOf: reviewT0, ServiceCredentials: creds})
	if err := rv.Read("a.log", log); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()
	type flags struct {
		requests, denied             int
		unused, expired, expiresSoon bool
	}
	want := map[string]flags{
		"used": {1, 0, false, false, false},
		"idle": {0, 0, true, false, true},
		"gone": {1, 1, true, true, false}, // refused attempts are not use
	}
	for _, c := range r.ServiceCredentials {
		got := flags{c.Requests, c.Denied, c.Unused, c.Expired, c.ExpiresSoon}
		if got != want[c.Name] || !c.InConfig {
			t.Errorf("%s: %+v, want %+v", c.Name, got, want[c.Name])
		}
	}
	if len(r.DeniedIdentities) != 1 || r.DeniedIdentities[0].Identity != (Identity{Issuer: "service-credential", Subject: "gone", Username: "gone"}) {
		t.Errorf("denied identities %+v", r.DeniedIdentities)
	}
	if len(r.Traffic) != 1 || r.Traffic[0].BytesRead != 10 || r.Traffic[0].BytesWritten != 3 {
		t.Errorf("traffic %+v", r.Traffic)
	}
}

func TestReviewDeniedAndTraffic(t *testing.T) {
	var events []Event
	for i := range 5 {
		e := s3Event(i, "corp", "bob", "r", "deny")
		if i == 4 {
			e.Reason = "explicit_deny"
		}
		events = append(events, e)
	}
	events = append(events,
		s3Event(6, "corp", "carol", "r", "deny"),
		Event{Time: at(7), Kind: "auth_failure", AuthMethod: "bearer", Issuer: "corp", Decision: "deny", Reason: "expired"},
		Event{Time: at(8), Kind: "s3", AuthMethod: "none", Operation: "ListBuckets", Decision: "deny", Reason: "anonymous"},
	)
	for i, n := range []int64{100, 300, 200} {
		e := s3Event(10+i, "corp", []string{"a", "b", "c"}[i], "r", "allow")
		e.BytesOut = n
		events = append(events, e)
	}
	// Denied requests move no counted bytes.
	d := s3Event(20, "corp", "a", "r", "deny")
	d.BytesOut = 1 << 20
	events = append(events, d)

	rv := NewReviewer(ReviewConfig{AsOf: reviewT0, Top: 2})
	if err := rv.Read("a.log", reviewLog(t, events...)); err != nil {
		t.Fatal(err)
	}
	r := rv.Finish()
	if r.DeniedIdentitiesN != 5 || len(r.DeniedIdentities) != 2 {
		t.Fatalf("denied identities %d of %d", len(r.DeniedIdentities), r.DeniedIdentitiesN)
	}
	if top := r.DeniedIdentities[0]; top.Subject != "bob" || top.Count != 5 || top.LastReason != "explicit_deny" {
		t.Errorf("top denied identity %+v", top)
	}
	if top := r.DeniedActions[0]; top.Action != "s3:GetObject" || top.Count != 7 || top.LastReason != "no_allow" {
		t.Errorf("top denied action %+v", top)
	}
	var got []string
	for _, tr := range r.Traffic {
		got = append(got, tr.Subject)
	}
	if strings.Join(got, ",") != "b,c" || r.TrafficN != 3 {
		t.Errorf("traffic %v of %d, want b, c of 3", got, r.TrafficN)
	}

	rv = NewReviewer(ReviewConfig{AsOf: reviewT0, Top: -1})
	rv.Read("a.log", reviewLog(t, events...))
	if r := rv.Finish(); len(r.DeniedIdentities) != 5 || r.Top != 0 {
		t.Errorf("no limit: %d denied identities, top %d", len(r.DeniedIdentities), r.Top)
	}
}

// The JSON form is the documented one; an empty review still has every
// list, as [] rather than null.
func TestReviewJSONShape(t *testing.T) {
	r := NewReviewer(ReviewConfig{AsOf: reviewT0}).Finish()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"files", "skipped_lines", "roles", "service_credentials", "denied_identities", "denied_actions", "traffic"} {
		if v, ok := m[k].([]any); !ok || len(v) != 0 {
			t.Errorf("%s = %v, want []", k, m[k])
		}
	}
	for _, k := range []string{"as_of", "top", "events", "out_of_period", "ignored", "skipped", "denied_identities_total", "denied_actions_total", "traffic_total"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "Access review: all events") {
		t.Errorf("text: %v\n%s", err, text.String())
	}
}

func TestReviewBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 40: "5.0 TiB"} {
		if got := reviewBytes(n); got != want {
			t.Errorf("reviewBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
