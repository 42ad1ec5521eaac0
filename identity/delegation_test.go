package identity

import (
	"reflect"
	"testing"
)

func TestSessionActorRoundTrip(t *testing.T) {
	kr := testRing(t)
	s := testSession()
	s.Actor = &SessionActor{
		Issuer: "corp", Subject: "agent-7", Roles: []string{"agent"},
		Claims: map[string]any{"sub": "agent-7", "client_id": "agent-7", "act": map[string]any{"sub": "orchestrator"}},
	}
	got, err := kr.Open(seal(t, kr, s), sessionNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Actor, s.Actor) {
		t.Fatalf("actor = %+v, want %+v", got.Actor, s.Actor)
	}

	plain := testSession()
	got, err = kr.Open(seal(t, kr, plain), sessionNow)
	if err != nil || got.Actor != nil {
		t.Fatalf("a session without actor opened with %+v, %v", got.Actor, err)
	}
}

func TestSessionActorValidation(t *testing.T) {
	kr := testRing(t)
	for _, a := range []*SessionActor{
		{Subject: "a", Roles: []string{"agent"}},
		{Issuer: "corp", Roles: []string{"agent"}},
		{Issuer: "corp", Subject: "a"},
		{Issuer: "corp", Subject: "a", Roles: []string{""}},
	} {
		s := testSession()
		s.Actor = a
		if _, err := kr.Seal(s); err == nil {
			t.Errorf("actor %+v sealed", a)
		}
	}
}

func TestRevocationOfTheActor(t *testing.T) {
	s := testSession() // alice, issuer corp, role analyst
	s.Actor = &SessionActor{Issuer: "corp", Subject: "agent-7", Roles: []string{"agent"},
		Claims: map[string]any{"sub": "agent-7", "agent_run": "run-42"}}
	tests := []struct {
		name string
		r    Revocation
		want bool
	}{
		{"the person", Revocation{Subject: "alice"}, true},
		{"the actor", Revocation{Subject: "agent-7"}, true},
		{"the actor's role", Revocation{Role: "agent"}, true},
		{"the person's role", Revocation{Role: "analyst"}, true},
		{"the actor's claim", Revocation{Claim: "agent_run", ClaimValue: "run-42"}, true},
		{"another run", Revocation{Claim: "agent_run", ClaimValue: "run-43"}, false},
		{"the actor's subject with the person's role", Revocation{Subject: "agent-7", Role: "analyst"}, false},
		{"the actor, issued later", Revocation{Subject: "agent-7", IssuedBefore: sessionNow}, false},
		{"the session", Revocation{SessionID: s.ID}, true},
		{"another issuer's agent-7", Revocation{Subject: "agent-7", Issuer: "other"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := Revoked(s, []Revocation{tt.r}); got != tt.want {
				t.Errorf("Revoked = %v, want %v", got, tt.want)
			}
		})
	}
	plain := testSession()
	if got, _ := Revoked(plain, []Revocation{{Subject: "agent-7"}}); got {
		t.Error("a session without actor revoked by an actor rule")
	}
}
