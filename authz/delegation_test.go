package authz

import "testing"

// delegationEngine compiles a person's role and an agent's role:
//
//   - person: reads and writes bucket "data", except "data/secret/*"
//     (explicit deny), and reads bucket "home";
//   - agent: reads "data" and "tools", and may not read "data/private/*"
//     (explicit deny).
func delegationEngine(t testing.TB) (*Engine, *Principal) {
	t.Helper()
	cfg := Config{
		Policies: []PolicyDoc{
			{Name: "person", JSON: []byte(`{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::data/*"},
				{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::home/*"},
				{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::data/secret/*"}]}`)},
			{Name: "agent", JSON: []byte(`{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::data/*","arn:aws:s3:::tools/*"]},
				{"Sid":"NoPrivate","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/private/*"}]}`)},
		},
		Roles: []RoleConfig{
			{Name: "person", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: []string{"person"}},
			{Name: "agent", Kind: KindAgent, Trust: []TrustRule{{Issuer: "corp", Claims: map[string]any{"client_id": "agent-*"}}}, Policies: []string{"agent"}},
		},
	}
	e, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	personRole, _ := e.Role("person")
	agentRole, _ := e.Role("agent")
	person := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "alice"}, []*Role{personRole})
	agent := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "bot", Claims: map[string]any{"client_id": "agent-1"}}, []*Role{agentRole})
	return e, person.WithActor(agent)
}

func TestDelegatedIntersection(t *testing.T) {
	e, p := delegationEngine(t)
	tests := []struct {
		name      string
		action    Action
		resource  string
		allowed   bool
		reason    ReasonCode
		byActor   bool
		role, sid string
	}{
		{"allowed by both", GetObject, "arn:aws:s3:::data/report.csv", true, ReasonAllowed, false, "person", ""},
		{"allowed by the person only", PutObject, "arn:aws:s3:::data/report.csv", false, ReasonNoAllow, true, "", ""},
		{"allowed by the person only, other bucket", GetObject, "arn:aws:s3:::home/notes.txt", false, ReasonNoAllow, true, "", ""},
		{"allowed by the agent only", GetObject, "arn:aws:s3:::tools/model.bin", false, ReasonNoAllow, false, "", ""},
		{"allowed by neither", DeleteObject, "arn:aws:s3:::other/x", false, ReasonNoAllow, false, "", ""},
		{"explicit deny of the person", GetObject, "arn:aws:s3:::data/secret/k", false, ReasonExplicitDeny, false, "person", "NoSecrets"},
		{"explicit deny of the agent", GetObject, "arn:aws:s3:::data/private/k", false, ReasonExplicitDeny, true, "agent", "NoPrivate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Authorize(p, &Request{Action: tt.action, Resource: tt.resource})
			if d.Allowed != tt.allowed || d.Reason != tt.reason || d.Actor != tt.byActor || d.Role != tt.role || d.Sid != tt.sid {
				t.Errorf("decision = %+v, want allowed=%v reason=%s actor=%v role=%q sid=%q", d, tt.allowed, tt.reason, tt.byActor, tt.role, tt.sid)
			}
		})
	}
}

func TestDelegatedExplicitDenyWinsOverDefaultDeny(t *testing.T) {
	// The agent's explicit deny decides even though the person does not
	// allow the request at all: the audit record names the statement.
	e, p := delegationEngine(t)
	d := e.Authorize(p, &Request{Action: GetObject, Resource: "arn:aws:s3:::data/private/k"})
	if d.Reason != ReasonExplicitDeny || !d.Actor {
		t.Fatalf("decision = %+v", d)
	}
}

func TestWithActorDoesNotChangeTheOriginal(t *testing.T) {
	e, p := delegationEngine(t)
	personRole, _ := e.Role("person")
	plain := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "alice"}, []*Role{personRole})
	if d := e.Authorize(plain, &Request{Action: PutObject, Resource: "arn:aws:s3:::data/x"}); !d.Allowed {
		t.Fatalf("person alone: %+v", d)
	}
	if p.Actor() == nil || plain.Actor() != nil {
		t.Fatal("Actor()")
	}
	if p.WithActor(nil).Actor() != nil {
		t.Fatal("WithActor(nil) keeps the actor")
	}
	// An actor's own actor is ignored.
	chained := plain.WithActor(p)
	if chained.Actor().Actor() != nil {
		t.Fatal("an actor's actor was kept")
	}
}

func TestDelegatedActorWithoutRole(t *testing.T) {
	e, _ := delegationEngine(t)
	personRole, _ := e.Role("person")
	person := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "alice"}, []*Role{personRole})
	p := person.WithActor(e.NewPrincipal(&Identity{Issuer: "corp", Subject: "bot"}, nil))
	if d := e.Authorize(p, &Request{Action: GetObject, Resource: "arn:aws:s3:::data/x"}); d.Allowed || d.Reason != ReasonNoRole || !d.Actor {
		t.Fatalf("decision = %+v", d)
	}
}

func BenchmarkAuthorizeDelegated(b *testing.B) {
	e, p := delegationEngine(b)
	r := &Request{Action: GetObject, Resource: "arn:aws:s3:::data/report.csv"}
	b.ReportAllocs()
	for b.Loop() {
		e.Authorize(p, r)
	}
}

// Explain traces the actor's statements too, marked as the actor's.
func TestExplainDelegated(t *testing.T) {
	e, p := delegationEngine(t)
	d, traces := e.Explain(p, &Request{Action: GetObject, Resource: "arn:aws:s3:::data/private/k"})
	if d.Allowed || !d.Actor || d.Sid != "NoPrivate" {
		t.Fatalf("decision %+v", d)
	}
	var person, actor int
	for _, tr := range traces {
		switch {
		case tr.Actor && tr.Role == "agent":
			actor++
			if tr.Sid == "NoPrivate" && !tr.Matched {
				t.Errorf("the actor's deny does not apply: %+v", tr)
			}
		case !tr.Actor && tr.Role == "person":
			person++
		default:
			t.Errorf("trace %+v", tr)
		}
	}
	if person != 3 || actor != 2 {
		t.Errorf("%d statements of the person, %d of the actor", person, actor)
	}
}
