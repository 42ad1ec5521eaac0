package config

import (
	"testing"
	"time"
)

const requestableYAML = `
upstream: {endpoint: "http://127.0.0.1:9000", access_key_id: env:MINIO_KEY, secret_access_key: env:MINIO_SECRET}
issuers: [{name: corp, url: "https://sso.example.com", audiences: [iamgate]}]
roles:
  - name: staff
    kind: human
    trust: {issuer: corp, claims: {groups: staff}}
    policies: [read]
  - name: prod-admin
    kind: human
    policies: [read]
    requestable:
      approvers:
        - {issuer: corp, claims: {groups: security}}
        - {issuer: corp, claims: {sub: "oncall-lead"}}
      max_duration: 1h
      reason: required
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
access_requests: {webhook: "https://hooks.example.com/services/T0/B0/x"}
`

func TestRequestable(t *testing.T) {
	f, warns, err := Parse("jit.yaml", []byte(requestableYAML), "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if f.Roles[0].Requestable != nil {
		t.Error("staff is requestable")
	}
	r := f.Roles[1].Requestable
	if r == nil || len(r.Approvers) != 2 || r.Approvers[0].Issuer != "corp" || r.Approvers[1].Claims["sub"] != "oncall-lead" ||
		r.MaxDuration != time.Hour || !r.ReasonRequired || r.Pos.Line != 13 {
		t.Fatalf("requestable %+v", r)
	}
	if len(f.Roles[1].Trust) != 0 {
		t.Errorf("trust %+v", f.Roles[1].Trust)
	}
	if f.AccessRequests == nil || f.AccessRequests.Webhook != "https://hooks.example.com/services/T0/B0/x" {
		t.Errorf("access_requests %+v", f.AccessRequests)
	}
}
