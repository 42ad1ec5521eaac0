package sts

import (
	"context"
	"encoding/xml"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/state"
)

// A role that does not trust the token is issued through a grant in
// force for the token's person, with credentials that end with the grant
// and a session that names it; another person, an agent acting for the
// person, and a role the grant is not for get nothing.
func TestAssumeRoleThroughGrant(t *testing.T) {
	ctx := context.Background()
	grants := state.NewGrantMemory(func() time.Time { return testNow })
	w := state.NewGrantWatcher(grants, state.GrantWatcherConfig{Now: func() time.Time { return testNow }})
	e := newTestEnv(t, func(c *Config) {
		eng, err := authz.Compile(authz.Config{
			Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
			Roles: []authz.RoleConfig{
				{Name: "analyst", Kind: authz.KindHuman, Policies: []string{"read"},
					Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}}},
				{Name: "prod", Kind: authz.KindHuman, Policies: []string{"read"}, Requestable: &authz.Requestable{MaxDuration: time.Hour,
					Approvers: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "security"}}}}},
				{Name: "other", Kind: authz.KindHuman, Policies: []string{"read"}, Requestable: &authz.Requestable{MaxDuration: time.Hour,
					Approvers: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "security"}}}}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Engine, c.Roles, c.Grants = eng, nil, w
	})
	token := e.mint(t, nil, 2*time.Hour)
	if resp, body := e.call(t, false, webIdentity(token, "prod", "sess")); resp.StatusCode != 403 {
		t.Fatalf("without a grant: %d %s", resp.StatusCode, body)
	}
	r, _ := grants.Request(ctx, state.AccessRequest{Role: "prod", Requester: state.Person{Issuer: "corp", Subject: "alice"}, Reason: "x", Duration: 20 * time.Minute})
	a, err := grants.Decide(ctx, r.ID, true, state.Person{Issuer: "corp", Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	w.Changed(ctx)
	resp, body := e.call(t, false, webIdentity(token, "prod", "sess"))
	if resp.StatusCode != 200 {
		t.Fatalf("with the grant: %d %s", resp.StatusCode, body)
	}
	var out wireWebIdentity
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	exp, _ := time.Parse(time.RFC3339, out.Result.Credentials.Expiration)
	if !exp.Equal(a.End.Truncate(time.Second)) {
		t.Errorf("expiration %s, want the grant's end %s", exp, a.End)
	}
	s, err := e.keys.Open(out.Result.Credentials.SessionToken, testNow)
	if err != nil || s.GrantID != a.ID || s.Roles[0] != "prod" {
		t.Fatalf("session %+v %v", s, err)
	}
	if ev := e.lastEvent(t); ev.GrantID != a.ID || ev.Role != "prod" || !ev.GrantEnd.Equal(a.End) {
		t.Errorf("event %+v", ev)
	}
	// A longer DurationSeconds is capped at the grant's end too.
	resp, body = e.call(t, false, webIdentity(token, "prod", "sess", "DurationSeconds", "3600"))
	if resp.StatusCode != 200 {
		t.Fatalf("DurationSeconds: %d %s", resp.StatusCode, body)
	}
	_ = xml.Unmarshal(body, &out)
	if exp, _ := time.Parse(time.RFC3339, out.Result.Credentials.Expiration); !exp.Equal(a.End.Truncate(time.Second)) {
		t.Errorf("capped expiration %s", exp)
	}
	for name, tok := range map[string]string{
		"another person": e.mint(t, map[string]any{"sub": "carol"}, time.Hour),
		"an agent":       e.mint(t, map[string]any{"act": map[string]any{"sub": "agent-1"}}, time.Hour),
	} {
		if resp, body := e.call(t, false, webIdentity(tok, "prod", "sess")); resp.StatusCode == 200 {
			t.Errorf("%s: %s", name, body)
		}
	}
	if resp, _ := e.call(t, false, webIdentity(token, "other", "sess")); resp.StatusCode != 403 {
		t.Errorf("a role the grant is not for: %d", resp.StatusCode)
	}
}
