package main

import (
	"strings"
	"testing"
)

// explain names the guards of the roles for the operations they govern.
func TestExplainGuards(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"explain_guards_delete", []string{"DELETE", "/data/home/alice/notes.txt"}},
		{"explain_guards_put", []string{"PUT", "/data/home/alice/notes.txt"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", "testdata/guards.yaml", "--claims", "testdata/alice.json"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "Guard: role \"analyst\" protect.") {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			golden(t, tt.name+".golden", []byte(stdout))
		})
	}
}
