package authz

import (
	"encoding/json"
	"testing"
)

func TestTrust(t *testing.T) {
	claims := map[string]any{
		"sub":                      "repo:acme/web:ref:refs/heads/main",
		"groups":                   []any{"eng", "data-analysts"},
		"realm_access":             map[string]any{"roles": []any{"admin", "viewer"}},
		"email_verified":           true,
		"level":                    float64(3),
		"big":                      json.Number("12345678901"),
		"https://example.com/team": "blue",
	}
	tests := []struct {
		name   string
		issuer string
		rule   map[string]any
		want   bool
		reason string
	}{
		{"issuer only", "corp", nil, true, ""},
		{"issuer mismatch", "ci", nil, false, `issuer is "corp", role trusts "ci"`},
		{"exact", "corp", map[string]any{"sub": "repo:acme/web:ref:refs/heads/main"}, true, ""},
		{"exact mismatch", "corp", map[string]any{"sub": "repo:acme/web"}, false, `claim "sub" has no value matching "repo:acme/web"`},
		{"glob", "corp", map[string]any{"sub": "repo:acme/*:ref:refs/heads/main"}, true, ""},
		{"glob question", "corp", map[string]any{"sub": "repo:acme/we?:ref:*"}, true, ""},
		{"glob mismatch", "corp", map[string]any{"sub": "repo:other/*"}, false, `claim "sub" has no value matching "repo:other/*"`},
		{"list contains", "corp", map[string]any{"groups": "data-analysts"}, true, ""},
		{"list no", "corp", map[string]any{"groups": "ops"}, false, `claim "groups" has no value matching "ops"`},
		{"expected list any", "corp", map[string]any{"groups": []any{"ops", "eng"}}, true, ""},
		{"expected list none", "corp", map[string]any{"groups": []string{"ops", "sec"}}, false, `claim "groups" has no value matching any of "ops", "sec"`},
		{"nested path", "corp", map[string]any{"realm_access.roles": "admin"}, true, ""},
		{"nested path glob", "corp", map[string]any{"realm_access.roles": "view*"}, true, ""},
		{"claim name with dots", "corp", map[string]any{"https://example.com/team": "blue"}, true, ""},
		{"bool claim", "corp", map[string]any{"email_verified": true}, true, ""},
		{"bool claim as text", "corp", map[string]any{"email_verified": "true"}, true, ""},
		{"bool claim mismatch", "corp", map[string]any{"email_verified": false}, false, `claim "email_verified" has no value matching "false"`},
		{"number claim", "corp", map[string]any{"level": 3}, true, ""},
		{"number claim text", "corp", map[string]any{"level": "3"}, true, ""},
		{"json number claim", "corp", map[string]any{"big": float64(12345678901)}, true, ""},
		{"missing claim", "corp", map[string]any{"nope": "x"}, false, `claim "nope" is missing (expected "x")`},
		{"missing nested", "corp", map[string]any{"realm_access.nope": "x"}, false, `claim "realm_access.nope" is missing (expected "x")`},
		{"all entries must match", "corp", map[string]any{"groups": "eng", "level": 4}, false, `claim "level" has no value matching "4"`},
		{"object claim never matches", "corp", map[string]any{"realm_access": "*"}, false, `claim "realm_access" has no value matching "*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Config{
				Policies: []PolicyDoc{{Name: "p", JSON: []byte(allowStmt("s3:GetObject", "*", ""))}},
				Roles:    []RoleConfig{{Name: "r", Kind: KindMachine, Trust: []TrustRule{{Issuer: tt.issuer, Claims: tt.rule}}, Policies: []string{"p"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			trusted, misses := e.Trust(&Identity{Issuer: "corp", Claims: claims})
			if got := len(trusted) == 1; got != tt.want {
				t.Fatalf("trusted=%v, want %v (misses %v)", got, tt.want, misses)
			}
			if !tt.want && (len(misses) != 1 || misses[0].Reason != tt.reason || misses[0].Role != "r") {
				t.Errorf("misses %q, want reason %q", misses, tt.reason)
			}
		})
	}
}

func TestTrustAnyRule(t *testing.T) {
	e, err := Compile(Config{
		Policies: []PolicyDoc{{Name: "p", JSON: []byte(allowStmt("s3:GetObject", "*", ""))}},
		Roles: []RoleConfig{{Name: "r", Kind: KindAgent, Policies: []string{"p"}, Trust: []TrustRule{
			{Issuer: "ci", Claims: map[string]any{"repository": "acme/web"}},
			{Issuer: "corp", Claims: map[string]any{"groups": "admins"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, misses := e.Trust(&Identity{Issuer: "corp", Claims: map[string]any{"groups": []any{"eng"}}})
	want := `rule 1: issuer is "corp", role trusts "ci"; rule 2: claim "groups" has no value matching "admins"`
	if len(misses) != 1 || misses[0].Reason != want {
		t.Errorf("misses %q\nwant %q", misses, want)
	}
	trusted, _ := e.Trust(&Identity{Issuer: "ci", Claims: map[string]any{"repository": "acme/web"}})
	if len(trusted) != 1 || trusted[0].Name() != "r" || trusted[0].Kind() != KindAgent {
		t.Errorf("trusted %v", trusted)
	}
}
