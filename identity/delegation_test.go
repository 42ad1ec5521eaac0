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
