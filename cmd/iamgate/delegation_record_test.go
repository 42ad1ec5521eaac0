package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A delegation record keeps the scalar claims revocations by claim
// compare, bounded in number and size.
func TestRecordedClaims(t *testing.T) {
	claims := map[string]any{
		"agent_run": "r-42", "n": float64(7), "ok": true, "num": json.Number("12.5"),
		"groups": []any{"eng"}, "act": map[string]any{"sub": "x"}, "long": strings.Repeat("x", 257),
	}
	got := recordedClaims(claims)
	want := map[string]string{"agent_run": "r-42", "n": "7", "ok": "true", "num": "12.5"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	many := map[string]any{}
	for i := range 40 {
		many[fmt.Sprintf("c%02d", i)] = "v"
	}
	if got := recordedClaims(many); len(got) != 32 || got["c00"] != "v" || got["c31"] != "v" || got["c32"] != "" {
		t.Fatalf("%d claims kept: %v", len(got), got)
	}
	if got := recordedClaims(nil); got != nil {
		t.Fatalf("nil claims: %v", got)
	}
}
