package config

import (
	"strings"
	"testing"
	"time"
)

const protectBase = stateBase + `issuers: [{name: corp, url: "https://idp.example.com", audiences: [iamgate]}]
policies:
  rw: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
roles:
  - name: agent
    kind: agent
    trust: {issuer: corp, claims: {sub: bot}}
    policies: [rw]
`

func TestProtect(t *testing.T) {
	f, _, err := parse("t.yaml", []byte(protectBase+`    protect: {delete: versioned-only, overwrite: deny, bulk_delete: {max_keys: 100, window: 10m}}
`), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Roles[0].Protect
	if p.Delete != GuardVersionedOnly || p.Overwrite != GuardDeny || p.BulkDelete == nil ||
		p.BulkDelete.MaxKeys != 100 || p.BulkDelete.Window != 10*time.Minute {
		t.Errorf("protect %+v", p)
	}
	f, _, err = parse("t.yaml", []byte(protectBase), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Roles[0].Protect; p.Delete != "" || p.Overwrite != "" || p.BulkDelete != nil {
		t.Errorf("no protect section: %+v", p)
	}
	for in, want := range map[string]string{
		`{delete: versioned}`:                         `t.yaml:11:23: roles[0].protect.delete: invalid value "versioned"; must be one of deny, versioned-only`,
		`{overwrite: allow}`:                          `roles[0].protect.overwrite: invalid value "allow"`,
		`{deletes: deny}`:                             `roles[0].protect`,
		`{bulk_delete: {max_keys: 0, window: 10m}}`:   `roles[0].protect.bulk_delete.max_keys: must be between 1 and`,
		`{bulk_delete: {max_keys: 10}}`:               `roles[0].protect.bulk_delete: missing required key "window"`,
		`{bulk_delete: {max_keys: 10, window: 10ms}}`: `roles[0].protect.bulk_delete.window: 10ms is out of range`,
		`deny`: `roles[0].protect: expected a mapping, got a string`,
	} {
		_, _, err := parse("t.yaml", []byte(protectBase+"    protect: "+in+"\n"), ".", lookup, testNow)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
