package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

const limitsYAML = `
upstream: {endpoint: "http://127.0.0.1:9000", access_key_id: env:MINIO_KEY, secret_access_key: env:MINIO_SECRET}
issuers: [{name: corp, url: "https://sso.example.com", audiences: [iamgate]}]
roles:
  - name: agents
    kind: agent
    trust:
      - {issuer: corp, claims: {sub: "agent-*"}}
      - issuer: corp
        claims: {sub: "trusted-*"}
        limits: {requests_per_second: 50}
    policies: [read]
    limits:
      requests_per_second: 2.5
      bytes_downloaded: 1GiB
      objects_read: 1000
      keys_listed: 10000
      bytes_uploaded: 100MiB
      window: 1h
      concurrent_requests: 4
      per: [session, identity, role]
      claim: agent_run
    escalation: {window: 15m, deny_after: 10, revoke_after: 20, revoke: identity}
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
alerts: {webhook: "https://alerts.example.com/iamgate"}
`

func TestLimits(t *testing.T) {
	f, warns, err := Parse("limits.yaml", []byte(limitsYAML), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	r := f.Roles[0]
	l := r.Limits
	if l == nil || l.RequestsPerSecond != 2.5 || l.Burst != 3 || l.BytesDownloaded != 1<<30 || l.ObjectsRead != 1000 ||
		l.KeysListed != 10000 || l.BytesUploaded != 100<<20 || l.Window != time.Hour || l.ConcurrentRequests != 4 ||
		len(l.Per) != 3 || l.Claim != "agent_run" {
		t.Errorf("limits %+v", l)
	}
	if r.Trust[0].Limits != nil {
		t.Errorf("trust rule 0 has limits %+v", r.Trust[0].Limits)
	}
	if tl := r.Trust[1].Limits; tl == nil || tl.RequestsPerSecond != 50 || tl.Burst != 50 || len(tl.Per) != 1 || tl.Per[0] != ScopeSession || tl.Claim != "sub" {
		t.Errorf("trust rule 1 limits %+v", tl)
	}
	e := r.Escalation
	if e == nil || e.Window != 15*time.Minute || e.DenyAfter != 10 || e.RevokeAfter != 20 || e.Revoke != ScopeIdentity {
		t.Errorf("escalation %+v", e)
	}
	if f.Alerts == nil || f.Alerts.Webhook != "https://alerts.example.com/iamgate" {
		t.Errorf("alerts %+v", f.Alerts)
	}
}

// The example configuration of docs/agents.md is valid.
func TestAgentsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### A complete example")
	if !ok {
		t.Fatal("no example section")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	env := func(string) (string, bool) { return "0123456789abcdef0123456789abcdef-secret", true }
	f, warns, err := Parse("agents.md", []byte(example), "", env)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if r := f.Roles[0]; r.Limits == nil || r.Escalation == nil || r.Trust[1].Limits == nil || f.Alerts == nil {
		t.Errorf("example %+v", r)
	}
}
