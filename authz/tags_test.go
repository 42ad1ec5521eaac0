package authz

import (
	"errors"
	"strings"
	"testing"
)

// staticTags is a TagSource with fixed tags, counting its calls.
type staticTags struct {
	tags  TagSet
	err   error
	calls int
}

func (s *staticTags) ObjectTags() (TagSet, error) {
	s.calls++
	return s.tags, s.err
}

const tagPolicy = `{"Version":"2012-10-17","Statement":[
	{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::b/*"},
	{"Sid":"Write","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
	 "Condition":{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["classification","team"]}}},
	{"Sid":"NoSecret","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
	 "Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"secret"}}}]}`

// Whether a statement that applies to an action reads the object's tags is
// known from the compiled policies, so callers set up a tag lookup only
// where one can be needed.
func TestReadsExistingObjectTags(t *testing.T) {
	e := engineWith(t, tagPolicy)
	p := e.NewPrincipal(&Identity{Issuer: "corp"}, e.Roles())
	for _, tc := range []struct {
		action Action
		want   bool
	}{
		{GetObject, true},
		{"s3:getobject", true},
		{GetObjectTagging, false},
		{PutObject, false},
		{ListBucket, false},
		{"s3:GetObjectTorrent", true}, // not classified by iamgate: any statement counts
	} {
		if got := p.ReadsExistingObjectTags(tc.action); got != tc.want {
			t.Errorf("ReadsExistingObjectTags(%s) = %v, want %v", tc.action, got, tc.want)
		}
	}
	plain := engineWith(t, allowStmt("s3:*", "*", ""))
	if pp := plain.NewPrincipal(&Identity{Issuer: "corp"}, plain.Roles()); pp.ReadsExistingObjectTags(GetObject) || pp.ReadsExistingObjectTags("s3:Unknown") {
		t.Error("a policy without tag conditions reads tags")
	}
	sp, err := ParsePolicy("session", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObjectAcl","Resource":"*",
		"Condition":{"StringEquals":{"s3:ExistingObjectTag/share":"yes"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.WithSessionPolicy(sp).ReadsExistingObjectTags(GetObjectAcl) || p.ReadsExistingObjectTags(GetObjectAcl) {
		t.Error("a session policy's tag condition is not accounted for")
	}
	var nilP *Principal
	if nilP.ReadsExistingObjectTags(GetObject) {
		t.Error("nil principal")
	}
}

// Tag conditions are evaluated without allocating, and the tags are asked
// for only by a statement that needs them.
func TestAuthorizeAllocsWithTags(t *testing.T) {
	e := engineWith(t, tagPolicy)
	p := e.NewPrincipal(&Identity{Issuer: "corp"}, e.Roles())
	secret := &staticTags{tags: TagSet{Keys: []string{"classification"}, Values: []string{"secret"}}}
	public := &staticTags{}
	tests := []struct {
		name string
		req  Request
		want ReasonCode
	}{
		{"deny by tag", Request{Action: GetObject, Resource: "arn:aws:s3:::b/k", ExistingTags: secret}, ReasonExplicitDeny},
		{"allow untagged", Request{Action: GetObject, Resource: "arn:aws:s3:::b/k", ExistingTags: public}, ReasonAllowed},
		{"request tags", Request{Action: PutObject, Resource: "arn:aws:s3:::b/k",
			S3: S3Context{RequestTags: TagSet{Keys: []string{"team"}, Values: []string{"blue"}}}}, ReasonAllowed},
		{"request tags refused", Request{Action: PutObject, Resource: "arn:aws:s3:::b/k",
			S3: S3Context{RequestTags: TagSet{Keys: []string{"owner"}, Values: []string{"x"}}}}, ReasonNoAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decision
			n := testing.AllocsPerRun(100, func() { d = e.Authorize(p, &tt.req) })
			if d.Reason != tt.want {
				t.Fatalf("got %+v, want %s", d, tt.want)
			}
			if n != 0 {
				t.Errorf("Authorize allocated %v times per run, want 0", n)
			}
		})
	}
	tagging := &staticTags{}
	if d := e.Authorize(p, &Request{Action: GetObjectTagging, Resource: "arn:aws:s3:::b/k", ExistingTags: tagging}); !d.Allowed || tagging.calls != 0 {
		t.Errorf("GetObjectTagging: %+v, tags read %d times, want allowed without reading them", d, tagging.calls)
	}
}

// A tag lookup that fails never lets a request through a Deny that reads
// the tags: the decision is condition_unavailable, explained by Explain.
func TestExistingTagsUnavailable(t *testing.T) {
	e := engineWith(t, tagPolicy)
	p := e.NewPrincipal(&Identity{Issuer: "corp"}, e.Roles())
	req := Request{Action: GetObject, Resource: "arn:aws:s3:::b/k", ExistingTags: &staticTags{err: errors.New("the store answered 503")}}
	d, tr := e.Explain(p, &req)
	if d.Allowed || d.Reason != ReasonUnavailable || d.Sid != "NoSecret" || d.Policy != "p1" || d.Role != "r" {
		t.Fatalf("decision %+v", d)
	}
	if !strings.Contains(d.Detail, "the store answered 503") || !strings.Contains(d.Detail, `Deny in role "r" policy "p1" statement 3 (Sid "NoSecret")`) {
		t.Errorf("detail %q", d.Detail)
	}
	var deny StatementTrace
	for _, s := range tr {
		if s.Sid == "NoSecret" {
			deny = s
		}
	}
	if !deny.Undecided || deny.Matched || deny.ConditionsMatched || !strings.Contains(deny.Why, "could not be evaluated") {
		t.Errorf("trace %+v", deny)
	}
	// In a session policy too.
	sp, err := ParsePolicy("session", []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"StringEquals":{"s3:ExistingObjectTag/share":"yes"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	noDeny := engineWith(t, allowStmt("s3:GetObject", "*", ""))
	sess := noDeny.NewPrincipal(&Identity{Issuer: "corp"}, noDeny.Roles()).WithSessionPolicy(sp)
	if d := noDeny.Authorize(sess, &req); d.Reason != ReasonUnavailable || d.Policy != "session" || d.Role != "" {
		t.Errorf("session policy: %+v", d)
	}
	req.ExistingTags = &staticTags{tags: TagSet{Keys: []string{"share"}, Values: []string{"yes"}}}
	if d := noDeny.Authorize(sess, &req); !d.Allowed {
		t.Errorf("session policy with the tag: %+v", d)
	}
	req.ExistingTags = &staticTags{}
	if d := noDeny.Authorize(sess, &req); d.Reason != ReasonSessionPolicy {
		t.Errorf("session policy without the tag: %+v", d)
	}
}
