package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

func TestConsoleDelegations(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	dl := state.NewDelegationMemory(nil)
	rv := state.NewRevocationMemory(nil)
	for _, d := range []state.Delegation{
		{SessionID: "sess-alice-1", Issuer: "corp", Subject: "id-alice", Role: "staff", ActorIssuer: "corp", ActorSubject: "agent-7",
			ActorClientID: "report-bot", ActorRole: "agent", RoleSessionName: "nightly", IssuedAt: now, Expiry: now.Add(time.Hour)},
		{SessionID: "sess-bob-1", Issuer: "corp", Subject: "id-bob", Role: "staff", ActorIssuer: "corp", ActorSubject: "agent-9",
			ActorRole: "agent", IssuedAt: now, Expiry: now.Add(time.Hour)},
	} {
		if err := dl.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, envOpts{delegations: dl, revoke: rv})
	c := e.login(t)
	page := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/delegations", nil)
	if page.status != 200 || !strings.Contains(page.body, `data-session-id="sess-alice-1"`) || !strings.Contains(page.body, "agent-7 (report-bot)") ||
		strings.Contains(page.body, "sess-bob-1") {
		t.Fatalf("%d %s", page.status, page.body)
	}
	token := csrf(t, page.body)
	post := func(id, csrfToken string) result {
		return do(t, noFollow(c), "POST", e.srv.URL+"/_iamgate/delegations/revoke",
			strings.NewReader(url.Values{"session_id": {id}, "csrf": {csrfToken}}.Encode()),
			"Content-Type", "application/x-www-form-urlencoded")
	}
	if r := post("sess-alice-1", "wrong"); r.status != 403 {
		t.Fatalf("without the CSRF token: %d", r.status)
	}
	if r := post("sess-bob-1", token); r.status != 404 {
		t.Fatalf("another person's session: %d", r.status)
	}
	if set, _ := rv.List(ctx); len(set.Rules) != 0 {
		t.Fatalf("refused requests added rules: %+v", set.Rules)
	}
	r := post("sess-alice-1", token)
	if r.status != 303 || r.hdr.Get("Location") != "/_iamgate/ui/delegations?revoked=sess-alice-1" {
		t.Fatalf("revoke: %d %v", r.status, r.hdr)
	}
	set, _ := rv.List(ctx)
	if len(set.Rules) != 1 || set.Rules[0].SessionID != "sess-alice-1" || set.Rules[0].Subject != "" || !set.Rules[0].IssuedBefore.Equal(now.Add(time.Hour)) {
		t.Fatalf("rules %+v", set.Rules)
	}
	ev := e.lastEvent("revocation")
	if ev.Decision != "allow" || ev.Subject != "id-alice" || ev.Parameters["sessionId"] != "sess-alice-1" || ev.Parameters["actorSubject"] != "agent-7" {
		t.Fatalf("event %+v", ev)
	}
	after := do(t, c, "GET", e.srv.URL+"/_iamgate/ui/delegations?revoked=sess-alice-1", nil)
	if !strings.Contains(after.body, `class="delegation revoked" data-session-id="sess-alice-1"`) || !strings.Contains(after.body, "is revoked") ||
		strings.Contains(after.body, `name="session_id" value="sess-alice-1"`) {
		t.Fatalf("after: %s", after.body)
	}
}

type staticRevocations []identity.Revocation

func (s staticRevocations) Revocations() ([]identity.Revocation, error) { return s, nil }

// A run-time revocation by claim (an agent run, say) shows on the
// sessions whose person or actor carries the claim.
func TestConsoleDelegationsRevokedByClaim(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	dl := state.NewDelegationMemory(nil)
	for _, d := range []state.Delegation{
		{SessionID: "sess-run-42", Issuer: "corp", Subject: "id-alice", Role: "staff", ActorIssuer: "corp", ActorSubject: "agent-7",
			ActorRole: "agent", IssuedAt: now, Expiry: now.Add(time.Hour), ActorClaims: map[string]string{"agent_run": "r-42"}},
		{SessionID: "sess-run-7", Issuer: "corp", Subject: "id-alice", Role: "staff", ActorIssuer: "corp", ActorSubject: "agent-7",
			ActorRole: "agent", IssuedAt: now, Expiry: now.Add(time.Hour), ActorClaims: map[string]string{"agent_run": "r-7"}},
		{SessionID: "sess-dept", Issuer: "corp", Subject: "id-alice", Role: "staff", ActorIssuer: "corp", ActorSubject: "agent-8",
			ActorRole: "agent", IssuedAt: now, Expiry: now.Add(time.Hour), Claims: map[string]string{"department": "finance"}},
	} {
		if err := dl.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rules := staticRevocations{
		{Claim: "agent_run", ClaimValue: "r-42", IssuedBefore: now.Add(time.Second)},
		{Claim: "department", ClaimValue: "finance"},
	}
	e := newEnv(t, envOpts{delegations: dl, revoke: state.NewRevocationMemory(nil), runtime: rules})
	page := do(t, e.login(t), "GET", e.srv.URL+"/_iamgate/ui/delegations", nil)
	for id, revoked := range map[string]bool{"sess-run-42": true, "sess-run-7": false, "sess-dept": true} {
		class := `class="delegation" data-session-id="` + id + `"`
		if revoked {
			class = `class="delegation revoked" data-session-id="` + id + `"`
		}
		if !strings.Contains(page.body, class) {
			t.Errorf("%s: revoked %v not shown\n%s", id, revoked, page.body)
		}
	}
}
