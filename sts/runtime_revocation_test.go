package sts

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
)

type revocationSource struct {
	rules []identity.Revocation
	err   error
}

func (r *revocationSource) Revocations() ([]identity.Revocation, error) { return r.rules, r.err }

// Run-time revocations are checked at issuance like the configured ones;
// when they cannot be confirmed current, nothing is issued (503).
func TestRuntimeRevocations(t *testing.T) {
	src := &revocationSource{}
	e := newTestEnv(t, func(c *Config) { c.RuntimeRevocations = src })
	tok := e.mint(t, map[string]any{"agent_run": "r-42"}, time.Hour)
	if res, body := e.call(t, false, webIdentity(tok, "analyst", "s1")); res.StatusCode != http.StatusOK {
		t.Fatalf("no rule: %d %s", res.StatusCode, body)
	}
	// A rule with a future issued_before voids what would be issued now.
	src.rules = []identity.Revocation{{ID: "rv-1", Claim: "agent_run", ClaimValue: "r-42", IssuedBefore: testNow.Add(time.Hour)}}
	if res, body := e.call(t, false, webIdentity(tok, "analyst", "s1")); res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked: %d %s", res.StatusCode, body)
	}
	src.rules, src.err = nil, errors.New("not current")
	res, body := e.call(t, false, webIdentity(tok, "analyst", "s1"))
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "ServiceUnavailable") {
		t.Fatalf("unknown: %d %s", res.StatusCode, body)
	}
}
