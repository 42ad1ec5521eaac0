package authz

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// benchConfig returns n roles, each with one policy of 10 statements in the
// style of real deployments: per-team buckets, home prefixes through
// variables, a TLS condition, a deny fence.
func benchConfig(n int) Config {
	var cfg Config
	for i := range n {
		b := fmt.Sprintf("team-%04d", i)
		stmts := []string{
			fmt.Sprintf(`{"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%s","Condition":{"StringLike":{"s3:prefix":["shared/*","home/${aws:username}/*"]}}}`, b),
			fmt.Sprintf(`{"Sid":"Home","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::%s/home/${aws:username}/*"}`, b),
			fmt.Sprintf(`{"Sid":"Shared","Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::%s/shared/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}`, b),
			fmt.Sprintf(`{"Sid":"Groups","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::%s/groups/${jwt:groups}/*"}`, b),
			fmt.Sprintf(`{"Sid":"Uploads","Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":"arn:aws:s3:::%s/uploads/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}`, b),
			fmt.Sprintf(`{"Sid":"Location","Effect":"Allow","Action":"s3:GetBucketLocation","Resource":"arn:aws:s3:::%s"}`, b),
			fmt.Sprintf(`{"Sid":"Versions","Effect":"Allow","Action":["s3:GetObjectVersion","s3:ListBucketVersions"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/archive/*"]}`, b),
			fmt.Sprintf(`{"Sid":"Tags","Effect":"Allow","Action":"s3:*Tagging","Resource":"arn:aws:s3:::%s/tagged/*"}`, b),
			fmt.Sprintf(`{"Sid":"Secrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::%s/secrets/*"}`, b),
			fmt.Sprintf(`{"Sid":"NoDeleteArchive","Effect":"Deny","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::%s/archive/*"}`, b),
		}
		name := fmt.Sprintf("policy-%04d", i)
		cfg.Policies = append(cfg.Policies, PolicyDoc{Name: name, JSON: []byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)})
		cfg.Roles = append(cfg.Roles, RoleConfig{
			Name: fmt.Sprintf("role-%04d", i), Kind: KindHuman, Policies: []string{name},
			Trust: []TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": fmt.Sprintf("team-%04d", i)}}},
		})
	}
	return cfg
}

func benchPrincipal(b *testing.B) (*Engine, *Principal) {
	e, err := Compile(benchConfig(1000))
	if err != nil {
		b.Fatal(err)
	}
	id := &Identity{Issuer: "corp", Subject: "u-1", Claims: map[string]any{
		"sub": "u-1", "preferred_username": "alice",
		"groups": []any{"team-0017", "team-0420", "team-0999", "readers"},
	}}
	roles, _ := e.Trust(id)
	if len(roles) != 3 {
		b.Fatalf("trusted %d roles, want 3", len(roles))
	}
	return e, e.NewPrincipal(id, roles)
}

func BenchmarkAuthorize(b *testing.B) {
	e, p := benchPrincipal(b)
	src := netip.MustParseAddr("10.2.3.4")
	now := time.Now()
	reqs := []struct {
		name string
		req  Request
		want ReasonCode
	}{
		{"allow-home-last-role", Request{Action: GetObject, Resource: "arn:aws:s3:::team-0999/home/alice/notes.txt", SecureTransport: true, SourceIP: src, Time: now}, ReasonAllowed},
		{"allow-list-condition", Request{Action: ListBucket, Resource: "arn:aws:s3:::team-0420", SourceIP: src, Time: now, S3: S3Context{Prefix: V("home/alice/")}}, ReasonAllowed},
		{"allow-group-variable", Request{Action: GetObject, Resource: "arn:aws:s3:::team-0999/groups/readers/x", SourceIP: src, Time: now}, ReasonAllowed},
		{"no-allow", Request{Action: GetObject, Resource: "arn:aws:s3:::team-0500/home/alice/notes.txt", SecureTransport: true, SourceIP: src, Time: now}, ReasonNoAllow},
		{"explicit-deny", Request{Action: GetObject, Resource: "arn:aws:s3:::team-0017/secrets/k", SourceIP: src, Time: now}, ReasonExplicitDeny},
	}
	for _, r := range reqs {
		b.Run(r.name, func(b *testing.B) {
			if d := e.Authorize(p, &r.req); d.Reason != r.want {
				b.Fatalf("got %+v, want %s", d, r.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				e.Authorize(p, &r.req)
			}
		})
	}
}

func BenchmarkTrust(b *testing.B) {
	e, err := Compile(benchConfig(1000))
	if err != nil {
		b.Fatal(err)
	}
	id := &Identity{Issuer: "corp", Subject: "u-1", Claims: map[string]any{"groups": []any{"team-0017", "team-0420"}}}
	b.ReportAllocs()
	for b.Loop() {
		e.Trust(id)
	}
}

func BenchmarkNewPrincipal(b *testing.B) {
	e, p := benchPrincipal(b)
	id := &p.id
	roles := p.Roles()
	b.ReportAllocs()
	for b.Loop() {
		e.NewPrincipal(id, roles)
	}
}

func BenchmarkCompile(b *testing.B) {
	cfg := benchConfig(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
