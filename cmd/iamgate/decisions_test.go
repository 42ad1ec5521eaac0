package main

import (
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/s3req"
)

// decisionCase is one request, as a client sends it, by an identity of a
// configuration, and the decision expected.
type decisionCase struct {
	name   string
	issuer string
	claims map[string]any
	method string
	target string // path and query
	hdr    []string
	body   string // a condition document (tags, retention, legal hold, bucket configuration)
	tags   string // the object's current tags, URL-query encoded; "" for none
	ip     string // default 10.1.2.3
	secure bool
	sig    string // "AWS4-HMAC-SHA256 REST-HEADER" and the like; "" for a bearer token

	allowed bool
	reason  authz.ReasonCode
	policy  string // the deciding policy (allow and explicit deny)
	sid     string
}

type fixedTags authz.TagSet

func (t fixedTags) ObjectTags() (authz.TagSet, error) { return authz.TagSet(t), nil }

// decideAll classifies tc as serve does and authorizes every check.
func decideAll(t *testing.T, e *authz.Engine, tc decisionCase) authz.Decision {
	t.Helper()
	u, err := url.Parse(tc.target)
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Request{Method: tc.method, URL: u, Header: http.Header{}, Host: "s3.example.com"}
	for i := 0; i+1 < len(tc.hdr); i += 2 {
		r.Header.Set(tc.hdr[i], tc.hdr[i+1])
	}
	req, serr := s3req.Classify(r, s3req.Config{})
	if serr != nil {
		t.Fatalf("%s: classify: %v", tc.name, serr)
	}
	if req.Body != s3req.BodyNone {
		if _, serr := req.ApplyBody([]byte(tc.body)); serr != nil {
			t.Fatalf("%s: body: %v", tc.name, serr)
		}
	}
	id := &authz.Identity{Issuer: tc.issuer, Subject: "sub-1", Claims: tc.claims}
	roles, _ := e.Trust(id)
	p := e.NewPrincipal(id, roles)
	ip := tc.ip
	if ip == "" {
		ip = "10.1.2.3"
	}
	ar := authz.Request{SourceIP: netip.MustParseAddr(ip), SecureTransport: tc.secure,
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), UserAgent: "test", S3: req.S3}
	if ref := r.Referer(); ref != "" {
		ar.Referer = authz.V(ref)
	}
	if v, a, ok := strings.Cut(tc.sig, " "); ok {
		ar.S3.SignatureVersion, ar.S3.AuthType = authz.V(v), authz.V(a)
	}
	existing, terr := s3req.ParseTaggingHeader(tc.tags)
	if terr != nil {
		t.Fatal(terr)
	}
	var d authz.Decision
	for _, c := range req.Checks {
		ar.Action, ar.Resource = c.Action, c.Resource
		ar.ExistingTags = nil
		if req.ExistingTagsOf(c) != nil {
			ar.ExistingTags = fixedTags(existing)
		}
		if d = e.Authorize(p, &ar); !d.Allowed {
			return d
		}
	}
	return d
}

func loadEngine(t *testing.T, path string) *authz.Engine {
	t.Helper()
	f, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := compileEngine(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// runDecisions runs the cases and checks that every policy of the
// configuration decided at least one of them (allowed it, or denied it
// explicitly): no policy goes without a decision test.
func runDecisions(t *testing.T, path string, cases []decisionCase) {
	e := loadEngine(t, path)
	covered := map[string]bool{}
	for _, tc := range cases {
		d := decideAll(t, e, tc)
		if d.Allowed != tc.allowed || d.Reason != tc.reason || d.Policy != tc.policy || d.Sid != tc.sid {
			t.Errorf("%s: got %+v\nwant allowed=%v reason=%s policy=%q sid=%q", tc.name, d, tc.allowed, tc.reason, tc.policy, tc.sid)
		}
		covered[d.Policy] = true
	}
	f, _, _ := config.Load(path)
	var missing []string
	for _, p := range f.Policies {
		if !covered[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: no decision test is decided by policies %v", path, missing)
	}
}

// Every policy of deploy/examples, decided for requests as clients send
// them.
func TestExamplePolicyDecisions(t *testing.T) {
	t.Setenv("MINIO_ACCESS_KEY", "example-access-key")
	t.Setenv("MINIO_SECRET_KEY", "example-secret-key")
	t.Setenv("IAMGATE_FINGERPRINT_KEY", strings.Repeat("k", 64))
	t.Setenv("IAMGATE_SESSION_KEY", strings.Repeat("s", 64))
	analyst := map[string]any{"email": "ana@example.com", "email_verified": true, "groups": []any{"data-analysts"}, "preferred_username": "ana"}
	admin := map[string]any{"email": "root@example.com", "realm_access": map[string]any{"roles": []any{"platform-ops"}}}
	etl := map[string]any{"repository": "acme/etl", "ref": "refs/heads/main"}
	agent := map[string]any{"email": "bot@example.com", "azp": "report-agent", "client_id": "report-agent"}
	runDecisions(t, "../../deploy/examples/iamgate.yaml", []decisionCase{
		{name: "analyst lists datasets", issuer: "corp", claims: analyst, method: "GET", target: "/datasets?list-type=2&prefix=raw/",
			allowed: true, reason: "allowed", policy: "read-datasets", sid: "ListDatasets"},
		{name: "analyst reads a dataset", issuer: "corp", claims: analyst, method: "GET", target: "/datasets/2026/sales.parquet",
			allowed: true, reason: "allowed", policy: "read-datasets", sid: "ReadDatasets"},
		{name: "analyst reads a dataset version", issuer: "corp", claims: analyst, method: "GET", target: "/datasets/2026/sales.parquet?versionId=v1",
			allowed: true, reason: "allowed", policy: "read-datasets", sid: "ReadDatasets"},
		{name: "analyst never reads raw PII", issuer: "corp", claims: analyst, method: "GET", target: "/datasets/raw/pii/people.csv",
			reason: "explicit_deny", policy: "read-datasets", sid: "NeverTheRawPII"},
		{name: "analyst cannot write datasets", issuer: "corp", claims: analyst, method: "PUT", target: "/datasets/x", reason: "no_allow"},
		{name: "analyst lists own home", issuer: "corp", claims: analyst, method: "GET", target: "/home?prefix=ana/",
			allowed: true, reason: "allowed", policy: "own-home", sid: "ListOwnHome"},
		{name: "analyst lists another home", issuer: "corp", claims: analyst, method: "GET", target: "/home?prefix=bob/", reason: "no_allow"},
		{name: "analyst writes own home", issuer: "corp", claims: analyst, method: "PUT", target: "/home/ana/notes.txt",
			allowed: true, reason: "allowed", policy: "own-home", sid: "UseOwnHome"},
		{name: "analyst reads another home", issuer: "corp", claims: analyst, method: "GET", target: "/home/bob/notes.txt", reason: "no_allow"},
		{name: "admin inside the network", issuer: "corp", claims: admin, method: "DELETE", target: "/datasets", ip: "10.9.9.9",
			allowed: true, reason: "allowed", policy: "full-access"},
		{name: "admin outside the network", issuer: "corp", claims: admin, method: "DELETE", target: "/datasets", ip: "192.0.2.7", reason: "no_allow"},
		{name: "ETL writes curated over TLS", issuer: "github", claims: etl, method: "PUT", target: "/datasets/curated/day.parquet", secure: true,
			allowed: true, reason: "allowed", policy: "write-curated"},
		{name: "ETL writes curated without TLS", issuer: "github", claims: etl, method: "PUT", target: "/datasets/curated/day.parquet", reason: "no_allow"},
		{name: "ETL reads datasets", issuer: "github", claims: etl, method: "GET", target: "/datasets/raw/x.csv",
			allowed: true, reason: "allowed", policy: "read-datasets", sid: "ReadDatasets"},
		{name: "agent lists curated", issuer: "corp", claims: agent, method: "GET", target: "/datasets?prefix=curated/",
			allowed: true, reason: "allowed", policy: "read-curated"},
		{name: "agent reads curated", issuer: "corp", claims: agent, method: "GET", target: "/datasets/curated/q1.csv",
			allowed: true, reason: "allowed", policy: "read-curated"},
		{name: "agent reads raw", issuer: "corp", claims: agent, method: "GET", target: "/datasets/raw/q1.csv", reason: "no_allow"},
	})
}

// The realistic MinIO policies of testdata/minio-policies (object tags,
// aws:Referer, object lock, signature keys), decided for requests as
// clients send them.
func TestMinIOPolicyDecisions(t *testing.T) {
	t.Setenv("IAMGATE_TEST_KEY", "k")
	alice := map[string]any{"preferred_username": "alice", "groups": []any{"analysts"}}
	web := map[string]any{"groups": []any{"web"}}
	archiver := map[string]any{"groups": []any{"archivers"}}
	retention := func(mode, until string) string {
		return "<Retention><Mode>" + mode + "</Mode><RetainUntilDate>" + until + "</RetainUntilDate></Retention>"
	}
	v4 := "AWS4-HMAC-SHA256 REST-HEADER"
	runDecisions(t, "testdata/tags.yaml", []decisionCase{
		{name: "internal object", issuer: "corp", claims: alice, method: "GET", target: "/projects/a.pdf", tags: "classification=internal",
			allowed: true, reason: "allowed", policy: "classified-read", sid: "ReadUnrestricted"},
		{name: "restricted object", issuer: "corp", claims: alice, method: "GET", target: "/projects/a.pdf", tags: "classification=restricted&owner=alice",
			reason: "explicit_deny", policy: "classified-read", sid: "NeverRestricted"},
		{name: "untagged object", issuer: "corp", claims: alice, method: "GET", target: "/projects/a.pdf", reason: "no_allow"},
		{name: "own object without classification", issuer: "corp", claims: alice, method: "GET", target: "/projects/a.pdf", tags: "owner=alice",
			allowed: true, reason: "allowed", policy: "owner-tag", sid: "ReadAndRetagOwnObjects"},
		{name: "copy from a restricted object", issuer: "corp", claims: alice, method: "PUT", target: "/projects/copy.pdf",
			hdr:  []string{"X-Amz-Copy-Source", "/projects/a.pdf", "X-Amz-Tagging-Directive", "REPLACE", "X-Amz-Tagging", "classification=public&owner=alice"},
			tags: "classification=restricted", reason: "explicit_deny", policy: "classified-read", sid: "NeverRestricted"},
		{name: "tagged upload", issuer: "corp", claims: alice, method: "PUT", target: "/projects/new.csv",
			hdr:     []string{"X-Amz-Tagging", "classification=public&owner=alice&project=apollo"},
			allowed: true, reason: "allowed", policy: "tagged-uploads", sid: "UploadWithProjectTags"},
		{name: "upload tagged for someone else", issuer: "corp", claims: alice, method: "PUT", target: "/projects/new.csv",
			hdr: []string{"X-Amz-Tagging", "classification=public&owner=bob"}, reason: "explicit_deny", policy: "tagged-uploads", sid: "OwnerIsTheUploader"},
		{name: "upload with an unknown tag key", issuer: "corp", claims: alice, method: "PUT", target: "/projects/new.csv",
			hdr: []string{"X-Amz-Tagging", "classification=public&owner=alice&cost-center=7"}, reason: "no_allow"},
		{name: "untagged upload", issuer: "corp", claims: alice, method: "PUT", target: "/projects/new.csv",
			reason: "explicit_deny", policy: "tagged-uploads", sid: "OwnerIsTheUploader"},
		{name: "retag own object", issuer: "corp", claims: alice, method: "PUT", target: "/projects/a.pdf?tagging", tags: "owner=alice",
			body:    "<Tagging><TagSet><Tag><Key>owner</Key><Value>alice</Value></Tag><Tag><Key>classification</Key><Value>internal</Value></Tag></TagSet></Tagging>",
			allowed: true, reason: "allowed", policy: "tagged-uploads", sid: "UploadWithProjectTags"},
		{name: "untag a restricted object", issuer: "corp", claims: alice, method: "DELETE", target: "/projects/a.pdf?tagging", tags: "owner=alice&classification=restricted",
			reason: "explicit_deny", policy: "owner-tag", sid: "KeepClassification"},
		{name: "asset from the web app", issuer: "corp", claims: web, method: "GET", target: "/assets/logo.svg", hdr: []string{"Referer", "https://app.example.com/home"},
			allowed: true, reason: "allowed", policy: "webapp-assets", sid: "AssetsFromTheWebApp"},
		{name: "asset hotlinked", issuer: "corp", claims: web, method: "GET", target: "/assets/logo.svg", hdr: []string{"Referer", "https://evil.example.net/"}, reason: "no_allow"},
		{name: "private asset from the marketing site", issuer: "corp", claims: web, method: "GET", target: "/assets/private/plan.pdf",
			hdr: []string{"Referer", "https://www.example.com/"}, reason: "explicit_deny", policy: "webapp-assets", sid: "NoHotlinking"},
		{name: "seven-year compliance retention", issuer: "corp", claims: archiver, method: "PUT", target: "/archive/ledger.csv", sig: v4,
			hdr:     []string{"X-Amz-Object-Lock-Mode", "COMPLIANCE", "X-Amz-Object-Lock-Retain-Until-Date", "2033-03-02T00:00:00Z", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"},
			allowed: true, reason: "allowed", policy: "worm-archive", sid: "ArchiveWrites"},
		{name: "one-year retention", issuer: "corp", claims: archiver, method: "PUT", target: "/archive/ledger.csv?retention", sig: v4,
			body: retention("COMPLIANCE", "2027-03-01T00:00:00Z"), reason: "explicit_deny", policy: "worm-archive", sid: "ComplianceAtLeastSevenYears"},
		{name: "governance retention", issuer: "corp", claims: archiver, method: "PUT", target: "/archive/ledger.csv?retention", sig: v4,
			body: retention("GOVERNANCE", "2036-01-01T00:00:00Z"), reason: "explicit_deny", policy: "worm-archive", sid: "NoGovernanceMode"},
		{name: "legal hold released", issuer: "corp", claims: archiver, method: "PUT", target: "/archive/ledger.csv?legal-hold", sig: v4,
			body: "<LegalHold><Status>OFF</Status></LegalHold>", reason: "explicit_deny", policy: "worm-archive", sid: "NoLegalHoldRelease"},
		{name: "report with a signed payload", issuer: "corp", claims: archiver, method: "PUT", target: "/reports/q1.pdf", sig: v4,
			hdr:     []string{"X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
			allowed: true, reason: "allowed", policy: "signed-only", sid: "ReadWriteReports"},
		{name: "report with an unsigned payload", issuer: "corp", claims: archiver, method: "PUT", target: "/reports/q1.pdf", sig: v4,
			hdr: []string{"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}, reason: "explicit_deny", policy: "signed-only", sid: "SignedPayloads"},
		{name: "report by bearer token", issuer: "corp", claims: archiver, method: "GET", target: "/reports/q1.pdf",
			reason: "explicit_deny", policy: "signed-only", sid: "SigV4HeadersOnly"},
	})
}
