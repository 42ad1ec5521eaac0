package identity

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAct(t *testing.T) {
	deep := map[string]any{"sub": "a6"}
	for i := 5; i >= 1; i-- {
		deep = map[string]any{"sub": "a" + string(rune('0'+i)), "act": deep}
	}
	tests := []struct {
		name    string
		claims  map[string]any
		sub     string
		iss     string
		wantErr string
	}{
		{"none", map[string]any{"sub": "alice"}, "", "", "no act claim"},
		{"simple", map[string]any{"act": map[string]any{"sub": "agent-1"}}, "agent-1", "", ""},
		{"with issuer", map[string]any{"act": map[string]any{"sub": "agent-1", "iss": "https://idp"}}, "agent-1", "https://idp", ""},
		{"chain: the outermost acts", map[string]any{"act": map[string]any{"sub": "agent-2", "act": map[string]any{"sub": "agent-1", "act": map[string]any{"sub": "orchestrator"}}}}, "agent-2", "", ""},
		{"not an object", map[string]any{"act": "agent-1"}, "", "", "not a JSON object"},
		{"array", map[string]any{"act": []any{map[string]any{"sub": "a"}}}, "", "", "not a JSON object"},
		{"null", map[string]any{"act": nil}, "", "", "not a JSON object"},
		{"no sub", map[string]any{"act": map[string]any{"client_id": "x"}}, "", "", "has no sub"},
		{"empty sub", map[string]any{"act": map[string]any{"sub": ""}}, "", "", "has no sub"},
		{"numeric sub", map[string]any{"act": map[string]any{"sub": 7.0}}, "", "", "has no sub"},
		{"iss not a string", map[string]any{"act": map[string]any{"sub": "a", "iss": true}}, "", "", "iss"},
		{"malformed in the chain", map[string]any{"act": map[string]any{"sub": "a", "act": map[string]any{"iss": "x"}}}, "", "", "has no sub"},
		{"too deep", map[string]any{"act": deep}, "", "", "more than 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseActor(tt.claims)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Subject != tt.sub || a.IssuerURL != tt.iss {
				t.Fatalf("actor = %+v", a)
			}
		})
	}
}

func FuzzParseAct(f *testing.F) {
	f.Add(`{"act":{"sub":"a","iss":"https://idp","act":{"sub":"b"}}}`)
	f.Add(`{"act":{"sub":""}}`)
	f.Add(`{"act":[1]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		a, err := ParseActor(claims)
		if err != nil {
			if a != nil {
				t.Fatal("an actor with an error")
			}
			return
		}
		if a.Subject == "" {
			t.Fatalf("empty actor subject from %s", doc)
		}
		depth := 0
		for m := a.Claims; m != nil; m, _ = m["act"].(map[string]any) {
			depth++
		}
		if depth > MaxActorDepth {
			t.Fatalf("chain of %d accepted", depth)
		}
	})
}
