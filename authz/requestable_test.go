package authz

import (
	"strings"
	"testing"
	"time"
)

func TestRequestable(t *testing.T) {
	pol := PolicyDoc{Name: "p", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}
	e, err := Compile(Config{Policies: []PolicyDoc{pol}, Roles: []RoleConfig{
		{Name: "staff", Kind: KindHuman, Policies: []string{"p"}, Trust: []TrustRule{{Issuer: "corp"}}},
		{Name: "prod", Kind: KindHuman, Policies: []string{"p"}, Requestable: &Requestable{MaxDuration: time.Hour,
			Approvers: []TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "security"}}, {Issuer: "corp", Claims: map[string]any{"sub": "lead"}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	staff, _ := e.Role("staff")
	prod, _ := e.Role("prod")
	if _, ok := staff.Requestable(); ok {
		t.Error("staff is requestable")
	}
	if d, ok := prod.Requestable(); !ok || d != time.Hour {
		t.Errorf("prod: %v %v", d, ok)
	}
	for _, c := range []struct {
		id   Identity
		want bool
	}{
		{Identity{Issuer: "corp", Subject: "a", Claims: map[string]any{"groups": []any{"eng", "security"}}}, true},
		{Identity{Issuer: "corp", Subject: "lead", Claims: map[string]any{"sub": "lead"}}, true},
		{Identity{Issuer: "corp", Subject: "b", Claims: map[string]any{"groups": "eng"}}, false},
		{Identity{Issuer: "other", Subject: "lead", Claims: map[string]any{"sub": "lead"}}, false},
	} {
		if got := prod.MayApprove(&c.id); got != c.want {
			t.Errorf("%+v: %v", c.id, got)
		}
		if staff.MayApprove(&c.id) {
			t.Errorf("staff approves %+v", c.id)
		}
	}
	// A requestable role trusts nobody by itself.
	if trusted, _ := e.Trust(&Identity{Issuer: "corp", Subject: "lead"}); len(trusted) != 1 || trusted[0] != staff {
		t.Errorf("trusted %v", trusted)
	}
	_, err = Compile(Config{Policies: []PolicyDoc{pol}, Roles: []RoleConfig{
		{Name: "x", Kind: KindHuman, Policies: []string{"p"}, Requestable: &Requestable{Approvers: []TrustRule{{Claims: map[string]any{"a..b": "c"}}}}}}})
	if err == nil || !strings.Contains(err.Error(), "max duration must be positive") || !strings.Contains(err.Error(), "approvers rule 1: issuer is empty") {
		t.Errorf("errors: %v", err)
	}
}
