package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// corpusCase is one file of testdata/decisions: a configuration, an
// identity, a request and the decision expected.
type corpusCase struct {
	Name          string                     `json:"name"`
	Policies      map[string]json.RawMessage `json:"policies"`
	Roles         []corpusRole               `json:"roles"`
	Identity      corpusIdentity             `json:"identity"`
	Role          string                     `json:"role,omitempty"` // hold only this role instead of all trusted ones
	SessionPolicy json.RawMessage            `json:"session_policy,omitempty"`
	Request       corpusRequest              `json:"request"`
	Expect        struct {
		Allowed bool       `json:"allowed"`
		Reason  ReasonCode `json:"reason"`
		Role    *string    `json:"role,omitempty"`
		Policy  string     `json:"policy"`
		Sid     string     `json:"sid"`
		// TagsRead, when set, says whether the object's tags were asked
		// for (s3:ExistingObjectTag is read lazily).
		TagsRead *bool `json:"tags_read,omitempty"`
	} `json:"expect"`
}

type corpusRole struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Trust []struct {
		Issuer string         `json:"issuer"`
		Claims map[string]any `json:"claims"`
	} `json:"trust"`
	Policies []string `json:"policies"`
}

type corpusIdentity struct {
	Issuer  string         `json:"issuer"`
	Subject string         `json:"subject"`
	Claims  map[string]any `json:"claims"`
}

type corpusRequest struct {
	Action          Action  `json:"action"`
	Resource        string  `json:"resource"`
	SourceIP        string  `json:"source_ip"`
	SecureTransport bool    `json:"secure_transport"`
	Time            string  `json:"time"`
	UserAgent       string  `json:"user_agent"`
	Prefix          *string `json:"prefix"`
	Delimiter       *string `json:"delimiter"`
	MaxKeys         *string `json:"max_keys"`
	CopySource      *string `json:"copy_source"`
	SSE             *string `json:"sse"`
	VersionID       *string `json:"version_id"`
	Referer         *string `json:"referer"`

	SignatureVersion   *string `json:"signature_version"`
	AuthType           *string `json:"auth_type"`
	TLSVersion         *string `json:"tls_version"`
	ContentSHA256      *string `json:"content_sha256"`
	LockMode           *string `json:"lock_mode"`
	LockRetainUntil    *string `json:"lock_retain_until"`
	LockLegalHold      *string `json:"lock_legal_hold"`
	LocationConstraint *string `json:"location_constraint"`

	ACL                     *string `json:"acl"`
	GrantFullControl        *string `json:"grant_full_control"`
	GrantRead               *string `json:"grant_read"`
	GrantReadACP            *string `json:"grant_read_acp"`
	GrantWrite              *string `json:"grant_write"`
	GrantWriteACP           *string `json:"grant_write_acp"`
	StorageClass            *string `json:"storage_class"`
	MetadataDirective       *string `json:"metadata_directive"`
	SSEKMSKeyID             *string `json:"sse_kms_key_id"`
	SSECustomerAlgorithm    *string `json:"sse_customer_algorithm"`
	WebsiteRedirectLocation *string `json:"website_redirect"`
	ObjectOwnership         *string `json:"object_ownership"`
	IfMatch                 *string `json:"if_match"`
	IfNoneMatch             *string `json:"if_none_match"`

	// RequestTags are the tags the request sets; key order is sorted.
	RequestTags map[string]string `json:"request_tags"`
	// ExistingTags are the object's current tags; absent: the request has
	// no ExistingTags source (the key is not supported). ExistingTagsError
	// makes the source fail.
	ExistingTags      *map[string]string `json:"existing_tags"`
	ExistingTagsError string             `json:"existing_tags_error"`
}

// corpusTags is a TagSource that counts how often it is asked.
type corpusTags struct {
	tags  TagSet
	err   error
	calls int
}

func (c *corpusTags) ObjectTags() (TagSet, error) {
	c.calls++
	return c.tags, c.err
}

func tagSetOf(m map[string]string) TagSet {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var t TagSet
	for _, k := range keys {
		t.Add(k, m[k])
	}
	return t
}

func (c *corpusCase) config() Config {
	var cfg Config
	names := make([]string, 0, len(c.Policies))
	for n := range c.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cfg.Policies = append(cfg.Policies, PolicyDoc{Name: n, JSON: c.Policies[n]})
	}
	for _, r := range c.Roles {
		rc := RoleConfig{Name: r.Name, Kind: r.Kind, Policies: r.Policies}
		if rc.Kind == "" {
			rc.Kind = KindHuman
		}
		for _, t := range r.Trust {
			rc.Trust = append(rc.Trust, TrustRule{Issuer: t.Issuer, Claims: t.Claims})
		}
		cfg.Roles = append(cfg.Roles, rc)
	}
	return cfg
}

func (r *corpusRequest) request(t *testing.T) (Request, *corpusTags) {
	req := Request{Action: r.Action, Resource: r.Resource, SecureTransport: r.SecureTransport, UserAgent: r.UserAgent}
	if r.SourceIP != "" {
		req.SourceIP = netip.MustParseAddr(r.SourceIP)
	}
	if r.Time != "" {
		tm, err := time.Parse(time.RFC3339, r.Time)
		if err != nil {
			t.Fatal(err)
		}
		req.Time = tm
	}
	opt := func(s *string) Value {
		if s == nil {
			return Value{}
		}
		return V(*s)
	}
	req.Referer = opt(r.Referer)
	req.S3 = S3Context{Prefix: opt(r.Prefix), Delimiter: opt(r.Delimiter), MaxKeys: opt(r.MaxKeys),
		CopySource: opt(r.CopySource), ServerSideEncryption: opt(r.SSE), VersionID: opt(r.VersionID),
		SignatureVersion: opt(r.SignatureVersion), AuthType: opt(r.AuthType), TLSVersion: opt(r.TLSVersion),
		ContentSHA256: opt(r.ContentSHA256), ObjectLockMode: opt(r.LockMode), ObjectLockRetainUntilDate: opt(r.LockRetainUntil),
		ObjectLockLegalHold: opt(r.LockLegalHold), LocationConstraint: opt(r.LocationConstraint),
		RequestTags: tagSetOf(r.RequestTags),
		ACL:         opt(r.ACL), GrantFullControl: opt(r.GrantFullControl), GrantRead: opt(r.GrantRead),
		GrantReadACP: opt(r.GrantReadACP), GrantWrite: opt(r.GrantWrite), GrantWriteACP: opt(r.GrantWriteACP),
		StorageClass: opt(r.StorageClass), MetadataDirective: opt(r.MetadataDirective), SSEKMSKeyID: opt(r.SSEKMSKeyID),
		SSECustomerAlgorithm: opt(r.SSECustomerAlgorithm), WebsiteRedirectLocation: opt(r.WebsiteRedirectLocation),
		ObjectOwnership: opt(r.ObjectOwnership), IfMatch: opt(r.IfMatch), IfNoneMatch: opt(r.IfNoneMatch)}
	var src *corpusTags
	if r.ExistingTags != nil || r.ExistingTagsError != "" {
		src = &corpusTags{}
		if r.ExistingTags != nil {
			src.tags = tagSetOf(*r.ExistingTags)
		}
		if r.ExistingTagsError != "" {
			src.err = errors.New(r.ExistingTagsError)
		}
		req.ExistingTags = src
	}
	return req, src
}

func loadCorpus(t testing.TB) map[string]*corpusCase {
	files, err := filepath.Glob(filepath.Join("testdata", "decisions", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*corpusCase{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		var c corpusCase
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = &c
	}
	return out
}

func TestDecisionCorpus(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 25 {
		t.Errorf("corpus has %d cases, want at least 25", len(cases))
	}
	for file, c := range cases {
		t.Run(file, func(t *testing.T) {
			e, err := Compile(c.config())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			id := &Identity{Issuer: c.Identity.Issuer, Subject: c.Identity.Subject, Claims: c.Identity.Claims}
			var roles []*Role
			if c.Role != "" {
				r, ok := e.Role(c.Role)
				if !ok {
					t.Fatalf("no role %q", c.Role)
				}
				roles = []*Role{r}
			} else {
				roles, _ = e.Trust(id)
			}
			p := e.NewPrincipal(id, roles)
			if len(c.SessionPolicy) > 0 {
				sp, err := ParsePolicy("session", c.SessionPolicy)
				if err != nil {
					t.Fatalf("session policy: %v", err)
				}
				p = p.WithSessionPolicy(sp)
			}
			req, tags := c.Request.request(t)
			d := e.Authorize(p, &req)
			x := c.Expect
			if d.Allowed != x.Allowed || d.Reason != x.Reason || d.Policy != x.Policy || d.Sid != x.Sid || (x.Role != nil && d.Role != *x.Role) {
				_, tr := e.Explain(p, &req)
				t.Errorf("%s:\ngot  %+v\nwant %+v\ntrace %+v", c.Name, d, x, tr)
			}
			if x.TagsRead != nil {
				read := tags != nil && tags.calls > 0
				if read != *x.TagsRead {
					t.Errorf("%s: the object's tags were read: %v, want %v", c.Name, read, *x.TagsRead)
				}
				if read && !p.ReadsExistingObjectTags(req.Action) {
					t.Errorf("%s: tags read although ReadsExistingObjectTags(%s) is false", c.Name, req.Action)
				}
			}
			// Explain must agree with Authorize.
			if ed, _ := e.Explain(p, &req); ed.Allowed != d.Allowed || ed.Reason != d.Reason || ed.Sid != d.Sid {
				t.Errorf("Explain %+v disagrees with Authorize %+v", ed, d)
			}
		})
	}
}
