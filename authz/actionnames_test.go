package authz

import (
	"fmt"
	"strings"
	"testing"
)

// An action that names no known action, or a pattern that matches none, is
// an error with the closest known action as a suggestion.
func TestUnknownActions(t *testing.T) {
	tests := []struct {
		key, action string
		want        string // "" for valid
	}{
		// Misspelt S3 actions.
		{"Action", "s3:GetObjekt", `no such S3 action (did you mean "s3:GetObject"?)`},
		{"Action", "s3:DeleteObjekt", `no such S3 action (did you mean "s3:DeleteObject"?)`},
		{"Action", "s3:getobjekt", `no such S3 action (did you mean "s3:GetObject"?)`},
		{"Action", "S3:DELETEOBJEKT", `no such S3 action (did you mean "s3:DeleteObject"?)`},
		{"Action", "s3:ListBuckets", `no such S3 action (did you mean "s3:ListBucket"? S3 authorizes ListBuckets with "s3:ListAllMyBuckets")`},
		// S3 API operations that are not actions.
		{"Action", "s3:ListObjectsV2", `no such S3 action (did you mean "s3:ListBucket"? S3 authorizes ListObjectsV2 with it)`},
		{"Action", "s3:headobject", `no such S3 action (did you mean "s3:GetObject"? S3 authorizes HeadObject with it)`},
		{"Action", "s3:DeleteObjects", `no such S3 action (did you mean "s3:DeleteObject"? S3 authorizes DeleteObjects with it)`},
		{"Action", "s3:CompleteMultipartUpload", `no such S3 action (did you mean "s3:PutObject"? S3 authorizes CompleteMultipartUpload with it)`},
		{"Action", "s4:ListObjectsV2", `unknown service "s4" (did you mean "s3:ListBucket"?)`},
		{"Action", "s3:PutBucketPublicAccesBlock", `no such S3 action (did you mean "s3:PutBucketPublicAccessBlock"?)`},
		{"Action", "s3:Frobnicate", `no such S3 action`},
		{"NotAction", "s3:DeleteObjekt", `no such S3 action (did you mean "s3:DeleteObject"?)`},
		// Patterns that match no S3 action.
		{"Action", "s3:Get*Objekt", `matches no S3 action (did you mean "s3:GetObject"?)`},
		{"Action", "s3:*Foo", `matches no S3 action`},
		{"Action", "s3:Delete?bjekt", `matches no S3 action (did you mean "s3:DeleteObject"?)`},
		{"NotAction", "s3:Put*Objekt*", `matches no S3 action (did you mean "s3:PutObject"?)`},
		{"NotAction", "s3:*Frobnicate*", `matches no S3 action`},
		// Unknown services; a typo of s3 gets the S3 action meant.
		{"Action", "s4:GetObject", `unknown service "s4" (did you mean "s3:GetObject"?)`},
		{"Action", "s4:getobject", `unknown service "s4" (did you mean "s3:GetObject"?)`},
		{"Action", "s4:GetObjekt", `unknown service "s4" (did you mean "s3:GetObject"?)`},
		{"Action", "s4:*", `unknown service "s4" (did you mean "s3:*"?)`},
		{"Action", "s4:Get*", `unknown service "s4" (did you mean "s3:Get*"?)`},
		{"NotAction", "s33:PutObject", `unknown service "s33" (did you mean "s3:PutObject"?)`},
		{"Action", "iam:PassRole", `unknown service "iam"; iamgate accepts s3 (and admin, kms, sts, as MinIO policies use them)`},
		{"Action", "s3-object-lambda:GetObject", `unknown service "s3-object-lambda"; iamgate accepts s3 (and admin, kms, sts, as MinIO policies use them)`},
		// Valid: case-insensitive, patterns that match some, actions
		// iamgate never asks for, MinIO's extensions and services.
		{"Action", "s3:getobject", ""},
		{"Action", "S3:GETOBJECT", ""},
		{"Action", "s3:Get*", ""},
		{"Action", "s3:*Object", ""},
		{"Action", "s3:GetObjec?", ""},
		{"Action", "s3:*", ""},
		{"Action", "*", ""},
		{"Action", "s3:GetObjectLegalHold", ""},
		{"Action", "s3:PutBucketPublicAccessBlock", ""},
		{"Action", "s3:ReplicateObject", ""},
		{"Action", "s3:ListStorageLensConfigurations", ""},
		{"Action", "s3:CreateJob", ""},
		{"Action", "s3:GetBucketCors", ""}, // MinIO's spelling of s3:GetBucketCORS
		{"Action", "s3:ListenBucketNotification", ""},
		{"Action", "admin:*", ""},
		{"Action", "kms:CreateKey", ""},
		{"NotAction", "sts:AssumeRoleWithWebIdentity", ""},
		{"NotAction", "s3:Delete*", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.action, func(t *testing.T) {
			doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny",%q:%q,"Resource":"*"}]}`, tt.key, tt.action)
			_, err := ParsePolicy("p", []byte(doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			want := fmt.Sprintf("policy \"p\": statement 1: %s %q: %s", tt.key, tt.action, tt.want)
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
}

// Every action iamgate asks for is in the vocabulary, with the kind of
// resource it is decided on; operation hints name actions.
func TestKnownActionsAreInTheVocabulary(t *testing.T) {
	for _, a := range KnownActions {
		i, ok := s3ActionIndex[strings.ToLower(string(a))]
		if !ok {
			t.Errorf("%s is not in s3Actions", a)
			continue
		}
		if s3Actions[i].name != string(a) || s3Actions[i].minio || s3Actions[i].scope == scopeOther {
			t.Errorf("%s: %+v", a, s3Actions[i])
		}
	}
	for lop, op := range operationActions {
		if _, ok := s3ActionIndex[strings.ToLower(op.action)]; !ok {
			t.Errorf("operation %s: %s is not an action", op.name, op.action)
		}
		if _, ok := s3ActionIndex["s3:"+lop]; ok {
			t.Errorf("operation %s is itself an action; it is never looked up", op.name)
		}
	}
	for i := 1; i < len(s3ActionsLower); i++ {
		if s3ActionsLower[i-1] >= s3ActionsLower[i] {
			t.Errorf("s3Actions: %s before %s (duplicate or unsorted)", s3ActionsLower[i-1], s3ActionsLower[i])
		}
	}
}

// An action written in any case means the known action.
func TestActionCaseInsensitive(t *testing.T) {
	for _, a := range []string{"s3:getobject", "S3:GetObject", "s3:GETOBJECT", "s3:getObject*"} {
		e := engineWith(t, allowStmt(a, "arn:aws:s3:::b/*", ""))
		if d := decide(t, e, nil, Request{Action: GetObject, Resource: "arn:aws:s3:::b/k"}); !d.Allowed {
			t.Errorf("%s: GetObject denied: %+v", a, d)
		}
		if d := decide(t, e, nil, Request{Action: PutObject, Resource: "arn:aws:s3:::b/k"}); d.Allowed {
			t.Errorf("%s: PutObject allowed", a)
		}
	}
}

// A Deny with a misspelt action must never load: if it did, the delete it
// was written to stop would go through.
func TestMisspeltDenyIsRefused(t *testing.T) {
	cfg := Config{
		Policies: []PolicyDoc{
			{Name: "all", JSON: []byte(allowStmt("s3:*", "*", ""))},
			{Name: "no-delete", Source: "iamgate.yaml:20", JSON: []byte(`{"Version":"2012-10-17","Statement":[
  {"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObjekt","Resource":"arn:aws:s3:::data/*"}]}`)},
		},
		Roles: []RoleConfig{{Name: "r", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: []string{"all", "no-delete"}}},
	}
	e, err := Compile(cfg)
	if e != nil || err == nil {
		t.Fatal("a policy with a misspelt Deny compiled")
	}
	want := `iamgate.yaml:20: policy "no-delete": statement 1 (Sid "NoDelete"): Action "s3:DeleteObjekt": no such S3 action (did you mean "s3:DeleteObject"?)`
	if err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	// Spelt right, the Deny holds.
	cfg.Policies[1].JSON = []byte(strings.Replace(string(cfg.Policies[1].JSON), "Objekt", "Object", 1))
	e, err = Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := decide(t, e, nil, Request{Action: DeleteObject, Resource: "arn:aws:s3:::data/k"}); d.Allowed || d.Reason != ReasonExplicitDeny {
		t.Fatalf("delete: %+v", d)
	}
	// The same goes for a session policy.
	if _, err := ParsePolicy("session-policy", cfg.Policies[1].JSON); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePolicy("session-policy", []byte(`{"Statement":{"Effect":"Allow","NotAction":"s3:DeleteObjekt","Resource":"*"}}`)); err == nil {
		t.Fatal("a session policy with a misspelt NotAction parsed")
	}
}

// Statements that can never match, and entries iamgate ignores, are
// warnings; they do not stop the policy from compiling.
func TestPolicyWarnings(t *testing.T) {
	stmt := func(effect, action, resource string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":%q,"Action":%s,"Resource":%s}]}`, effect, action, resource)
	}
	const p = `policy "p": statement 1: `
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"list on objects", stmt("Allow", `"s3:ListBucket"`, `"arn:aws:s3:::b/*"`),
			[]string{p + `Action "s3:ListBucket" applies to buckets, but every Resource names objects, so it never matches; the bucket itself is "arn:aws:s3:::b"`}},
		{"get on a bucket", stmt("Allow", `"s3:GetObject"`, `"arn:aws:s3:::b"`),
			[]string{p + `Action "s3:GetObject" applies to objects, but every Resource names a bucket, so it never matches; the bucket's objects are "arn:aws:s3:::b/*"`}},
		{"deny on a bucket", stmt("Deny", `"s3:DeleteObject"`, `["arn:aws:s3:::b","arn:aws:s3:::c"]`),
			[]string{p + `Action "s3:DeleteObject" applies to objects, but every Resource names a bucket, so it never matches; the bucket's objects are "arn:aws:s3:::b/*"`}},
		{"object pattern on a bucket", stmt("Allow", `"s3:GetObject*"`, `"arn:aws:s3:::b"`),
			[]string{p + `Action "s3:GetObject*" applies only to objects, but every Resource names a bucket, so it never matches; the bucket's objects are "arn:aws:s3:::b/*"`}},
		{"bucket pattern on objects", stmt("Allow", `"s3:ListBucket*"`, `"arn:aws:s3:::b/home/*"`),
			[]string{p + `Action "s3:ListBucket*" applies only to buckets, but every Resource names objects, so it never matches; the bucket itself is "arn:aws:s3:::b"`}},
		{"one of two actions", stmt("Allow", `["s3:ListBucket","s3:GetObject"]`, `"arn:aws:s3:::b/*"`),
			[]string{p + `Action "s3:ListBucket" applies to buckets, but every Resource names objects, so it never matches; the bucket itself is "arn:aws:s3:::b"`}},
		{"list all buckets on a bucket", stmt("Allow", `"s3:ListAllMyBuckets"`, `"arn:aws:s3:::b"`),
			[]string{p + `Action "s3:ListAllMyBuckets" takes no resource and matches only Resource "*", so it never matches here`}},
		{"admin", stmt("Allow", `["admin:ServerInfo","s3:GetObject"]`, `"arn:aws:s3:::b/*"`),
			[]string{p + `Action "admin:ServerInfo": iamgate authorizes only S3 requests; this entry has no effect`}},
		{"minio head bucket", stmt("Deny", `"s3:HeadBucket"`, `"arn:aws:s3:::b"`),
			[]string{p + `Action "s3:HeadBucket": a MinIO extension that iamgate never asks for (HeadBucket needs s3:ListBucket, as in AWS); this entry has no effect`}},
		{"minio listen", stmt("Allow", `"s3:ListenBucketNotification"`, `"arn:aws:s3:::b"`),
			[]string{p + `Action "s3:ListenBucketNotification": a MinIO extension that iamgate never asks for; this entry has no effect`}},
		{"not action ignored service", `{"Statement":{"Effect":"Allow","NotAction":"kms:*","Resource":"arn:aws:s3:::b/*"}}`,
			[]string{p + `NotAction "kms:*": iamgate authorizes only S3 requests; this entry has no effect`}},

		// Fine: each action has a resource of its kind, or a resource that
		// may be either.
		{"classic", stmt("Allow", `["s3:ListBucket","s3:GetObject"]`, `["arn:aws:s3:::b","arn:aws:s3:::b/*"]`), nil},
		{"bucket wildcard", stmt("Allow", `"s3:ListBucket"`, `"arn:aws:s3:::b*"`), nil},
		{"any bucket", stmt("Allow", `["s3:ListAllMyBuckets","s3:ListBucket","s3:GetObject"]`, `"arn:aws:s3:::*"`), nil},
		{"star", stmt("Allow", `["s3:ListAllMyBuckets","s3:ListBucket","s3:GetObject"]`, `"*"`), nil},
		{"variable", stmt("Allow", `"s3:GetObject"`, `"arn:aws:s3:::${aws:username}"`), nil},
		{"one character", stmt("Allow", `"s3:GetObject"`, `"arn:aws:s3:::b?"`), nil},
		{"mixed pattern", stmt("Allow", `"s3:Get*"`, `"arn:aws:s3:::b"`), nil},
		{"s3 star", stmt("Allow", `"s3:*"`, `"arn:aws:s3:::b/*"`), nil},
		{"not resource", `{"Statement":{"Effect":"Deny","Action":"s3:ListBucket","NotResource":"arn:aws:s3:::b/*"}}`, nil},
		{"not action", `{"Statement":{"Effect":"Allow","NotAction":"s3:ListBucket","Resource":"arn:aws:s3:::b/*"}}`, nil},
		{"access point", stmt("Allow", `"s3:GetObject"`, `"arn:aws:s3:us-east-1:123456789012:accesspoint/ap"`), nil},
		{"job action", stmt("Allow", `"s3:DescribeJob"`, `"arn:aws:s3:::b/*"`), nil},
		{"lower case", stmt("Allow", `["s3:listbucket","s3:getobject"]`, `["arn:aws:s3:::b","arn:aws:s3:::b/*"]`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Config{Policies: []PolicyDoc{{Name: "p", JSON: []byte(tt.doc)}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range e.Warnings() {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Messages about a statement point at the statement, through Locate; the
// others, and statements Locate cannot place, at the Source.
func TestProblemPositions(t *testing.T) {
	doc := `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b/*"},
      {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}
  ]
}`
	locate := func(line, col int) string { return fmt.Sprintf("read.json:%d:%d", line, col) }
	e, err := Compile(Config{Policies: []PolicyDoc{
		{Name: "located", JSON: []byte(doc), Source: "iamgate.yaml:3", Locate: locate},
		{Name: "unlocated", JSON: []byte(doc), Source: "iamgate.yaml:4", Locate: func(int, int) string { return "" }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range e.Warnings() {
		got = append(got, w.Source)
	}
	want := []string{"read.json:4:5", "read.json:5:7", "iamgate.yaml:4", "iamgate.yaml:4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("warning sources %v, want %v", got, want)
	}

	bad := strings.Replace(doc, "s3:GetObject", "s3:GetObjekt", 1)
	bad = strings.Replace(bad, `"Version": "2012-10-17"`, `"Version": "2012"`, 1)
	_, err = Compile(Config{Policies: []PolicyDoc{{Name: "located", JSON: []byte(bad), Source: "iamgate.yaml:3", Locate: locate}}})
	wantErr := `iamgate.yaml:3: policy "located": Version must be "2012-10-17" or "2008-10-17", got "2012"
read.json:5:7: policy "located": statement 2: Action "s3:GetObjekt": no such S3 action (did you mean "s3:GetObject"?)`
	if err == nil || err.Error() != wantErr {
		t.Fatalf("got  %v\nwant %s", err, wantErr)
	}
}
