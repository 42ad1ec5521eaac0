package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/web"
)

// prodAdmin is requestable for an hour at most, approved by the security
// group.
var prodAdmin = authz.RoleConfig{Name: "prod-admin", Kind: "human", Policies: []string{"console"},
	Requestable: &authz.Requestable{MaxDuration: time.Hour,
		Approvers: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "security"}}}}}

func (e *env) signInAs(t *testing.T, sub, name string, groups ...string) *http.Client {
	t.Helper()
	gs := make([]any, len(groups))
	for i, g := range groups {
		gs[i] = g
	}
	e.idp.mu.Lock()
	e.idp.claims = map[string]any{"sub": sub, "preferred_username": name, "groups": gs}
	e.idp.mu.Unlock()
	return e.login(t)
}

func TestConsoleAccessRequests(t *testing.T) {
	ctx := context.Background()
	var clock func() time.Time // the env's, once it exists
	g := state.NewGrantMemory(func() time.Time { return clock() })
	var mu sync.Mutex
	var notes []web.Notification
	e := newEnv(t, envOpts{roles: []authz.RoleConfig{prodAdmin}, grants: g, notify: func(n web.Notification) {
		mu.Lock()
		notes = append(notes, n)
		mu.Unlock()
	}})
	clock = e.clk.now
	// Alice is in the security group too: an approvers rule matches her,
	// and still she cannot approve her own request.
	alice := e.signInAs(t, "id-alice", "alice", "staff", "security")
	page := do(t, alice, "GET", e.srv.URL+web.AccessPath, nil)
	if page.status != 200 || !strings.Contains(page.body, `data-role="prod-admin"`) || !strings.Contains(page.body, `<option value="1h0m0s" selected>1 hour</option>`) {
		t.Fatalf("%d %s", page.status, page.body)
	}
	token := csrf(t, page.body)
	post := func(c *http.Client, path string, v url.Values) result {
		return do(t, noFollow(c), "POST", e.srv.URL+path, strings.NewReader(v.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	}
	if r := post(alice, web.RequestAccessPath, url.Values{"csrf": {"wrong"}, "role": {"prod-admin"}, "duration": {"1h"}, "reason": {"x"}}); r.status != 403 {
		t.Fatalf("without CSRF: %d", r.status)
	}
	for _, c := range []struct {
		v      url.Values
		status int
		reason string
	}{
		{url.Values{"role": {"prod-admin"}, "duration": {"1h"}, "reason": {"  "}}, 400, "reason_required"},
		{url.Values{"role": {"prod-admin"}, "duration": {"2h"}, "reason": {"db"}}, 400, "bad_duration"},
		{url.Values{"role": {"staff"}, "duration": {"1h"}, "reason": {"db"}}, 403, "not_requestable"},
	} {
		c.v.Set("csrf", token)
		if r := post(alice, web.RequestAccessPath, c.v); r.status != c.status {
			t.Errorf("%v: %d", c.v, r.status)
		}
		if ev := e.lastEvent("access_request"); ev.Reason != c.reason || ev.Decision != "deny" {
			t.Errorf("%v: event %+v", c.v, ev)
		}
	}
	r := post(alice, web.RequestAccessPath, url.Values{"csrf": {token}, "role": {"prod-admin"}, "duration": {"30m"}, "reason": {"INC-42 restore"}})
	if r.status != 303 || !strings.HasPrefix(r.hdr.Get("Location"), web.AccessPath+"?requested=ar-") {
		t.Fatalf("request: %d %v %s", r.status, r.hdr, r.body)
	}
	set, _ := g.List(ctx)
	if len(set.Requests) != 1 || set.Requests[0].Duration != 30*time.Minute || set.Requests[0].Requester.Subject != "id-alice" {
		t.Fatalf("record %+v", set)
	}
	id := set.Requests[0].ID
	ev := e.lastEvent("access_request")
	if ev.Operation != "RequestAccess" || ev.Decision != "allow" || ev.Grant == nil || ev.Grant.ID != id || ev.Grant.Reason != "INC-42 restore" || ev.Subject != "id-alice" {
		t.Fatalf("request event %+v %+v", ev, ev.Grant)
	}
	// Her own request is listed for her, with no Approve button.
	page = do(t, alice, "GET", e.srv.URL+web.AccessPath, nil)
	if !strings.Contains(page.body, `id="nothing-to-decide"`) || !strings.Contains(page.body, `<tr class="pending" data-request-id="`+id) ||
		strings.Contains(page.body, `data-role="prod-admin"`) {
		t.Fatalf("alice's page: %s", page.body)
	}
	if r := post(alice, web.DecideAccessPath, url.Values{"csrf": {token}, "id": {id}, "decision": {"approve"}}); r.status != 403 {
		t.Fatalf("self-approval: %d", r.status)
	}
	if ev := e.lastEvent("access_request"); ev.Reason != "self_approval" || ev.Operation != "ApproveAccessRequest" || ev.Decision != "deny" {
		t.Fatalf("self-approval event %+v", ev)
	}
	if a, _ := g.Get(ctx, id); a.Status != state.GrantPending {
		t.Fatalf("after self-approval: %s", a.Status)
	}
	// Carol is staff, not security: she may not decide.
	carol := e.signInAs(t, "id-carol", "carol", "staff")
	ct := csrf(t, do(t, carol, "GET", e.srv.URL+web.AccessPath, nil).body)
	if r := post(carol, web.DecideAccessPath, url.Values{"csrf": {ct}, "id": {id}, "decision": {"approve"}}); r.status != 403 {
		t.Fatalf("not an approver: %d", r.status)
	}
	// Bob approves.
	bob := e.signInAs(t, "id-bob", "bob", "staff", "security")
	page = do(t, bob, "GET", e.srv.URL+web.AccessPath, nil)
	if !strings.Contains(page.body, `<tr class="pending" data-request-id="`+id) || !strings.Contains(page.body, `value="approve">Approve</button>`) {
		t.Fatalf("bob's page: %s", page.body)
	}
	bt := csrf(t, page.body)
	r = post(bob, web.DecideAccessPath, url.Values{"csrf": {bt}, "id": {id}, "decision": {"approve"}})
	if r.status != 303 || r.hdr.Get("Location") != web.AccessPath+"?approved="+id {
		t.Fatalf("approve: %d %v", r.status, r.hdr)
	}
	a, _ := g.Get(ctx, id)
	if a.Status != state.GrantApproved || a.DecidedBy.Subject != "id-bob" || a.End.Sub(a.Start) != 30*time.Minute {
		t.Fatalf("approved %+v", a)
	}
	ev = e.lastEvent("access_request")
	if ev.Operation != "ApproveAccessRequest" || ev.Subject != "id-bob" || ev.Grant.Status != "approved" || ev.Grant.RequesterSubject != "id-alice" {
		t.Fatalf("approve event %+v %+v", ev, ev.Grant)
	}
	if r := post(bob, web.DecideAccessPath, url.Values{"csrf": {bt}, "id": {id}, "decision": {"reject"}}); r.status != 409 {
		t.Fatalf("decided twice: %d", r.status)
	}
	// Alice sees the grant with its time left, and revokes it.
	page = do(t, alice, "GET", e.srv.URL+web.AccessPath, nil)
	if !strings.Contains(page.body, `<tr class="approved" data-request-id="`+id) || !strings.Contains(page.body, "30 minutes</time>") {
		t.Fatalf("alice's grant: %s", page.body)
	}
	if r := post(carol, web.RevokeAccessPath, url.Values{"csrf": {ct}, "id": {id}}); r.status != 403 {
		t.Fatalf("carol revokes: %d", r.status)
	}
	at := csrf(t, page.body)
	if r := post(alice, web.RevokeAccessPath, url.Values{"csrf": {at}, "id": {id}}); r.status != 303 {
		t.Fatalf("revoke: %d", r.status)
	}
	if a, _ := g.Get(ctx, id); a.Status != state.GrantRevoked || a.RevokedBy.Subject != "id-alice" {
		t.Fatalf("revoked %+v", a)
	}
	mu.Lock()
	defer mu.Unlock()
	var steps []string
	for _, n := range notes {
		steps = append(steps, n.Event)
	}
	if strings.Join(steps, ",") != "requested,approved,revoked" {
		t.Fatalf("notifications %v", steps)
	}
	if n := notes[0]; n.ID != id || n.Role != "prod-admin" || n.DurationSeconds != 1800 ||
		n.Text != `[iamgate] alice (id-alice) requests role prod-admin for 30 minutes: "INC-42 restore" (`+id+`)` {
		t.Errorf("notification %+v", n)
	}
}

// The webhook posts each notification as JSON with a text member, the
// form Slack's incoming webhooks take.
func TestAccessWebhook(t *testing.T) {
	got := make(chan map[string]any, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
			t.Errorf("body %q", b)
		}
		got <- m
	}))
	defer srv.Close()
	w := web.NewWebhook(srv.URL+"/hook?token=secret", nil, nil)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := state.AccessRequest{ID: "ar-abc", Role: "prod-admin", Requester: state.Person{Issuer: "corp", Subject: "id-alice", Username: "alice"},
		Reason: "INC-42", Duration: time.Hour, Status: state.GrantApproved, Start: now, End: now.Add(time.Hour)}
	bob := state.Person{Issuer: "corp", Subject: "id-bob", Username: "bob"}
	w.Send(web.NewNotification("approved", &a, &bob, now, "https://s3.example.com"))
	a.Reason = "<!channel> see <https://evil.example|the runbook> & more"
	a.Status = state.GrantPending
	w.Send(web.NewNotification("requested", &a, &a.Requester, now, ""))
	w.Close()
	m := <-got
	want := map[string]any{"event": "approved", "id": "ar-abc", "role": "prod-admin", "reason": "INC-42", "duration_seconds": 3600.0,
		"status": "approved", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "time": "2026-12-01T10:00:00Z",
		"url":  "https://s3.example.com/_iamgate/ui/access",
		"text": "[iamgate] bob (id-bob) approved alice (id-alice)'s request for role prod-admin, until 2026-12-01 11:00 UTC (ar-abc) https://s3.example.com/_iamgate/ui/access"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if req, _ := m["requester"].(map[string]any); req["subject"] != "id-alice" || req["issuer"] != "corp" {
		t.Errorf("requester %v", m["requester"])
	}
	if by, _ := m["by"].(map[string]any); by["subject"] != "id-bob" {
		t.Errorf("by %v", m["by"])
	}
	// The reason cannot ping a channel or hide a link in a chat tool.
	m = <-got
	if text := m["text"]; text != `[iamgate] alice (id-alice) requests role prod-admin for 1 hour: "&lt;!channel&gt; see &lt;https://evil.example|the runbook&gt; &amp; more" (ar-abc)` ||
		m["reason"] != a.Reason {
		t.Errorf("text %v reason %v", text, m["reason"])
	}
}
