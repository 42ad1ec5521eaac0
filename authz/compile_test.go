package authz

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestCompileErrors(t *testing.T) {
	pol := func(stmt string) string {
		return `{"Version":"2012-10-17","Statement":[` + stmt + `]}`
	}
	policies := []struct {
		name, doc string
	}{
		{"bad-json", `{"Version":`},
		{"trailing", `{"Version":"2012-10-17","Statement":[]} {}`},
		{"duplicate-key", `{"Version":"2012-10-17","Statement":[],"Statement":[]}`},
		{"not-object", `[]`},
		{"bad-version", `{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`},
		{"old-version-vars", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}`},
		{"unknown-top", `{"Version":"2012-10-17","Statment":[]}`},
		{"empty-statement", `{"Version":"2012-10-17","Statement":[]}`},
		{"statement-string", `{"Statement":"allow everything"}`},
		{"effect-case", pol(`{"Sid":"Lower","Effect":"allow","Action":"s3:GetObject","Resource":"*"}`)},
		{"missing-parts", pol(`{"Sid":"Empty"}`)},
		{"both-actions", pol(`{"Effect":"Allow","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"*"}`)},
		{"both-resources", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","NotResource":"arn:aws:s3:::b"}`)},
		{"principal", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`)},
		{"unknown-key", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Resources":"*"}`)},
		{"bad-action", pol(`{"Effect":"Allow","Action":["GetObject","s3:Get Object","*:GetObject",""],"Resource":"*"}`)},
		{"bad-resource", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":["bucket/*","arn:aws:s3:::","arn::s3:::b","arn:aws:s3"]}`)},
		{"empty-action-list", pol(`{"Effect":"Allow","Action":[],"Resource":[1]}`)},
		{"bad-variables", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/${foo}","arn:aws:s3:::b/${jwt:x","arn:aws:s3:::b/${jwt:x, none}","arn:aws:s3:::b/${jwt:}"]}`)},
		{"duplicate-sid", pol(`{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:GetObject","Resource":"*"}`)},
		{"bad-conditions", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{
			"StringEqualz":{"s3:prefix":"x"},
			"StringEquals":{"aws:PrincipalTag/team":"x","s3:prefix":[],"jwt:":"x","s3:delimiter":{"a":1}},
			"NumericLessThan":{"s3:max-keys":"ten"},
			"DateLessThan":{"aws:CurrentTime":"yesterday"},
			"Bool":{"aws:SecureTransport":"yes"},
			"IpAddress":{"aws:SourceIp":"10.0.0.0/33"},
			"NullIfExists":{"s3:prefix":true},
			"ForAnyValue:Null":{"s3:prefix":true},
			"StringLike":"s3:prefix",
			"StringNotLike":{}}}`)},
		{"bad-condition-keys", pol(`{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{
			"StringEquals":{"s3:prefx":"x","s3:ExistingObjectTags/class":"x","s3:ExistingObjectTag/":"x","s3:signatureAge":"1",
				"aws:ResourceTag/class":"x","aws:PrincipalTag/team":"x","aws:Referrer":"x","s3:tlsversion":"1.2"},
			"StringLike":{"s3:prefix":"${s3:ExistingObjectTag/owner}","s3:delimiter":"${s3:RequestObjectTagKeys}"}}}`)},
		{"", allowStmt("s3:GetObject", "*", "")},
		{"valid", allowStmt("s3:GetObject", "*", "")},
		{"valid", allowStmt("s3:GetObject", "*", "")},
		{"unknown-actions", pol(`{"Sid":"NoDelete","Effect":"Deny","Action":["s3:DeleteObjekt","s4:GetObject","s3:Get*Objekt","s4:*","s3:*Foo","iam:PassRole"],"Resource":"*"}`)},
		{"unknown-not-actions", pol(`{"Effect":"Allow","NotAction":["s3:deleteobjekt","S3:DeleteObject"],"Resource":"*"}`)},
	}
	var cfg Config
	for i, p := range policies {
		cfg.Policies = append(cfg.Policies, PolicyDoc{Name: p.name, JSON: []byte(p.doc), Source: "policies.yaml:" + itoa(10*i+1)})
	}
	cfg.Roles = []RoleConfig{
		{Name: "ok", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: []string{"valid"}, Source: "roles.yaml:1"},
		{Name: "broken", Kind: "robot", Source: "roles.yaml:10", Policies: []string{"valid", "missing", "valid", "bad-json"},
			Trust: []TrustRule{{Issuer: "", Claims: map[string]any{"groups": map[string]any{"a": 1}, "a..b": "x", "empty": []any{}}}}},
		{Name: "ok", Kind: KindMachine, Trust: []TrustRule{{Issuer: "ci"}}, Policies: []string{"valid"}, Source: "roles.yaml:20"},
		{Name: "", Kind: KindAgent, Source: "roles.yaml:30"},
	}
	_, err := Compile(cfg)
	if err == nil {
		t.Fatal("Compile succeeded, want errors")
	}
	got := err.Error() + "\n"

	golden := filepath.Join("testdata", "compile_errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("compile errors differ from %s (run with -update to accept):\n--- got\n%s--- want\n%s", golden, got, want)
	}
	// Every message names where it comes from.
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "policies.yaml:") && !strings.HasPrefix(line, "roles.yaml:") {
			t.Errorf("message without source: %s", line)
		}
	}
}

func TestParsePolicyValid(t *testing.T) {
	docs := []string{
		`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`,
		`{"Version":"2008-10-17","Id":"x","Statement":[{"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::b"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:*","kms:CreateKey","sts:AssumeRoleWithWebIdentity"],"Resource":"arn:aws-cn:ec2:cn-north-1:123:instance/*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:getobject","S3:LISTBUCKET","s3:PutBucketPublicAccessBlock","s3:HeadBucket","s3:Get*Tagging"],"Resource":"*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ForAllValues:StringLikeIfExists":{"jwt:groups":["a*",1,true]}}}]}`,
	}
	for _, d := range docs {
		if _, err := ParsePolicy("p", []byte(d)); err != nil {
			t.Errorf("ParsePolicy(%s): %v", d, err)
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
