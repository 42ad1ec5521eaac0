package authz

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestResourceMatching(t *testing.T) {
	tests := []struct {
		name     string
		pattern  string
		resource string
		want     bool
	}{
		{"exact object", "arn:aws:s3:::b/k", "arn:aws:s3:::b/k", true},
		{"exact bucket", "arn:aws:s3:::b", "arn:aws:s3:::b", true},
		{"bucket/* does not match bucket", "arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"bucket/* matches keys", "arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", true},
		{"bucket/* matches empty key", "arn:aws:s3:::b/*", "arn:aws:s3:::b/", true},
		{"b* matches bucket and keys", "arn:aws:s3:::b*", "arn:aws:s3:::bx/k", true},
		{"star crosses slashes", "arn:aws:s3:::b/*/x", "arn:aws:s3:::b/1/2/x", true},
		{"case-sensitive", "arn:aws:s3:::B/*", "arn:aws:s3:::b/k", false},
		{"question one ascii", "arn:aws:s3:::b/caf?.txt", "arn:aws:s3:::b/cafe.txt", true},
		{"question one multibyte char", "arn:aws:s3:::b/caf?.txt", "arn:aws:s3:::b/café.txt", true},
		{"question is not one byte", "arn:aws:s3:::b/caf??.txt", "arn:aws:s3:::b/café.txt", false},
		{"question needs a char", "arn:aws:s3:::b/k?", "arn:aws:s3:::b/k", false},
		{"star then question multibyte", "arn:aws:s3:::b/*?", "arn:aws:s3:::b/日本", true},
		{"star alone", "*", "arn:aws:s3:::b/k", true},
		{"other service never matches", "arn:aws:iam:::b/*", "arn:aws:s3:::b/k", false},
		{"other partition never matches", "arn:aws-cn:s3:::b/*", "arn:aws:s3:::b/k", false},
		{"no resource matched by *", "*", "*", true},
		{"no resource matched by arn:aws:s3:::*", "arn:aws:s3:::*", "*", true},
		{"no resource not matched by bucket", "arn:aws:s3:::b", "*", false},
		{"backtracking", "arn:aws:s3:::b/*a*b", "arn:aws:s3:::b/aaaaaaaaaaaaaaaaaaaaaaaaac", false},
		{"backtracking match", "arn:aws:s3:::b/*a*b", "arn:aws:s3:::b/xaxxb", true},
		{"escape star literal", "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*", true},
		{"escape star not wildcard", "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x", false},
		{"escape question", "arn:aws:s3:::b/${?}", "arn:aws:s3:::b/?", true},
		{"escape dollar", "arn:aws:s3:::b/${$}x", "arn:aws:s3:::b/$x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineWith(t, allowStmt("s3:GetObject", tt.pattern, ""))
			d := decide(t, e, nil, Request{Action: GetObject, Resource: tt.resource})
			if d.Allowed != tt.want {
				t.Errorf("%s vs %s: allowed=%v, want %v (%+v)", tt.pattern, tt.resource, d.Allowed, tt.want, d)
			}
		})
	}
}

func TestActionMatching(t *testing.T) {
	tests := []struct {
		pattern string
		action  Action
		want    bool
	}{
		{"s3:GetObject", GetObject, true},
		{"s3:getobject", GetObject, true},
		{"S3:GETOBJECT", GetObject, true},
		{"s3:Get*", GetObject, true},
		{"s3:Get*", PutObject, false},
		{"s3:*Object", DeleteObject, true},
		{"s3:*Object", GetObjectTagging, false},
		{"s3:GetObjec?", GetObject, true},
		{"*", RestoreObject, true},
		{"s3:*", ListAllMyBuckets, true},
		{"admin:*", GetObject, false}, // accepted, with a warning, and ignored
		{"sts:GetObject", GetObject, false},
		{"KMS:*", GetObject, false},
		{"s3:GetObjectVersion", GetObject, false}, // MinIO quirk 3: not in iamgate
		{"s3:GetObject", "s3:getobject", true},    // request spelled in lower case
		{"s3:Get*", "s3:GetSomethingNew", true},   // unknown action, slow path
		{"s3:Put*", "s3:GetSomethingNew", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+string(tt.action), func(t *testing.T) {
			e := engineWith(t, allowStmt(tt.pattern, "*", ""))
			d := decide(t, e, nil, Request{Action: tt.action, Resource: "arn:aws:s3:::b/k"})
			if d.Allowed != tt.want {
				t.Errorf("allowed=%v, want %v (%+v)", d.Allowed, tt.want, d)
			}
		})
	}
}

func TestNotActionNotResource(t *testing.T) {
	pol := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","NotAction":["s3:Delete*","s3:Put*"],"Resource":"*"},
	 {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`
	e := engineWith(t, pol)
	tests := []struct {
		action   Action
		resource string
		want     bool
		reason   ReasonCode
	}{
		{GetObject, "arn:aws:s3:::public/k", true, ReasonAllowed},
		{ListBucket, "arn:aws:s3:::public", true, ReasonAllowed},
		{PutObject, "arn:aws:s3:::public/k", false, ReasonNoAllow},
		{DeleteObject, "arn:aws:s3:::public/k", false, ReasonNoAllow},
		{GetObject, "arn:aws:s3:::private/k", false, ReasonExplicitDeny},
		{"s3:SomethingUnknown", "arn:aws:s3:::public/k", true, ReasonAllowed},
		{"s3:SomethingUnknown", "arn:aws:s3:::other/k", false, ReasonExplicitDeny},
	}
	for _, tt := range tests {
		d := decide(t, e, nil, Request{Action: tt.action, Resource: tt.resource})
		if d.Allowed != tt.want || d.Reason != tt.reason {
			t.Errorf("%s %s: got %+v, want allowed=%v reason=%s", tt.action, tt.resource, d, tt.want, tt.reason)
		}
	}
}

func TestVariables(t *testing.T) {
	claims := map[string]any{
		"sub":                "u-123",
		"preferred_username": "alice",
		"email":              "alice@example.com",
		"groups":             []any{"eng", "data"},
		"org":                map[string]any{"team": "blue"},
		"wild":               "*",
		"n":                  float64(42),
	}
	tests := []struct {
		name     string
		pattern  string
		resource string
		want     bool
	}{
		{"username", "arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/alice/x", true},
		{"username other", "arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/bob/x", false},
		{"userid", "arn:aws:s3:::home/${aws:userid}/*", "arn:aws:s3:::home/u-123/x", true},
		{"jwt claim", "arn:aws:s3:::home/${jwt:email}/*", "arn:aws:s3:::home/alice@example.com/x", true},
		{"nested claim", "arn:aws:s3:::teams/${jwt:org.team}/*", "arn:aws:s3:::teams/blue/x", true},
		{"multi-valued first", "arn:aws:s3:::g/${jwt:groups}/*", "arn:aws:s3:::g/eng/x", true},
		{"multi-valued second", "arn:aws:s3:::g/${jwt:groups}/*", "arn:aws:s3:::g/data/x", true},
		{"multi-valued none", "arn:aws:s3:::g/${jwt:groups}/*", "arn:aws:s3:::g/ops/x", false},
		{"two multi-valued", "arn:aws:s3:::g/${jwt:groups}/${jwt:groups}", "arn:aws:s3:::g/data/eng", true},
		{"star in claim is literal", "arn:aws:s3:::w/${jwt:wild}", "arn:aws:s3:::w/anything", false},
		{"star in claim matches itself", "arn:aws:s3:::w/${jwt:wild}", "arn:aws:s3:::w/*", true},
		{"missing claim matches nothing", "arn:aws:s3:::m/${jwt:missing}*", "arn:aws:s3:::m/x", false},
		{"missing claim not empty", "arn:aws:s3:::m/${jwt:missing}", "arn:aws:s3:::m/", false},
		{"default used", "arn:aws:s3:::m/${jwt:missing, 'none'}/*", "arn:aws:s3:::m/none/x", true},
		{"default unused", "arn:aws:s3:::m/${jwt:email, 'none'}/*", "arn:aws:s3:::m/none/x", false},
		{"number claim", "arn:aws:s3:::n/${jwt:n}", "arn:aws:s3:::n/42", true},
		{"role", "arn:aws:s3:::roles/${iamgate:role}/*", "arn:aws:s3:::roles/r/x", true},
		{"role other", "arn:aws:s3:::roles/${iamgate:role}/*", "arn:aws:s3:::roles/q/x", false},
		{"username falls back to email", "arn:aws:s3:::h/${aws:username}", "arn:aws:s3:::h/bob@example.com", true},
		{"username falls back to subject", "arn:aws:s3:::h/${aws:username}", "arn:aws:s3:::h/sub-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims
			switch tt.name {
			case "username falls back to email":
				c = map[string]any{"email": "bob@example.com"}
			case "username falls back to subject":
				c = map[string]any{}
			}
			e := engineWith(t, allowStmt("s3:GetObject", tt.pattern, ""))
			d := decide(t, e, c, Request{Action: GetObject, Resource: tt.resource})
			if d.Allowed != tt.want {
				t.Errorf("%s vs %s: allowed=%v, want %v", tt.pattern, tt.resource, d.Allowed, tt.want)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := Request{
		Action:          ListBucket,
		Resource:        "arn:aws:s3:::b",
		SourceIP:        netip.MustParseAddr("10.1.2.3"),
		SecureTransport: true,
		Time:            now,
		UserAgent:       "aws-cli/2.0",
		S3:              S3Context{Prefix: V("home/alice/docs"), MaxKeys: V("100")},
	}
	claims := map[string]any{
		"preferred_username": "alice",
		"groups":             []any{"eng", "data"},
		"admin":              true,
		"level":              float64(3),
		"org":                map[string]any{"team": "Blue"},
	}
	tests := []struct {
		name string
		cond string
		mod  func(*Request)
		want bool
	}{
		{"StringEquals", `{"StringEquals":{"s3:prefix":"home/alice/docs"}}`, nil, true},
		{"StringEquals no", `{"StringEquals":{"s3:prefix":"home/alice"}}`, nil, false},
		{"StringEquals any of values", `{"StringEquals":{"s3:prefix":["x","home/alice/docs"]}}`, nil, true},
		{"StringEquals star literal", `{"StringEquals":{"s3:prefix":"home/*"}}`, nil, false},
		{"StringEquals key case-insensitive", `{"StringEquals":{"S3:Prefix":"home/alice/docs"}}`, nil, true},
		{"StringEquals absent", `{"StringEquals":{"s3:delimiter":"/"}}`, nil, false},
		{"StringEquals empty present", `{"StringEquals":{"s3:prefix":""}}`, func(r *Request) { r.S3.Prefix = V("") }, true},
		{"StringEquals empty absent", `{"StringEquals":{"s3:prefix":""}}`, func(r *Request) { r.S3.Prefix = Value{} }, false},
		{"StringEquals variable", `{"StringEquals":{"s3:prefix":"home/${aws:username}/docs"}}`, nil, true},
		{"StringNotEquals", `{"StringNotEquals":{"s3:prefix":"other"}}`, nil, true},
		{"StringNotEquals none of values", `{"StringNotEquals":{"s3:prefix":["other","home/alice/docs"]}}`, nil, false},
		{"StringNotEquals absent holds", `{"StringNotEquals":{"s3:delimiter":"/"}}`, nil, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"s3:prefix":"HOME/Alice/DOCS"}}`, nil, true},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase":{"s3:prefix":"HOME/Alice/DOCS"}}`, nil, false},
		{"StringLike", `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, nil, true},
		{"StringLike no", `{"StringLike":{"s3:prefix":"home/bob/*"}}`, nil, false},
		{"StringLike question", `{"StringLike":{"s3:prefix":"home/alic?/docs"}}`, nil, true},
		{"StringNotLike", `{"StringNotLike":{"s3:prefix":"secret/*"}}`, nil, true},
		{"StringNotLike no", `{"StringNotLike":{"s3:prefix":"home/*"}}`, nil, false},
		{"NumericEquals", `{"NumericEquals":{"s3:max-keys":"100"}}`, nil, true},
		{"NumericEquals number value", `{"NumericEquals":{"s3:max-keys":100}}`, nil, true},
		{"NumericNotEquals", `{"NumericNotEquals":{"s3:max-keys":100}}`, nil, false},
		{"NumericLessThan", `{"NumericLessThan":{"s3:max-keys":101}}`, nil, true},
		{"NumericLessThan no", `{"NumericLessThan":{"s3:max-keys":100}}`, nil, false},
		{"NumericLessThanEquals", `{"NumericLessThanEquals":{"s3:max-keys":100}}`, nil, true},
		{"NumericGreaterThan", `{"NumericGreaterThan":{"s3:max-keys":99}}`, nil, true},
		{"NumericGreaterThanEquals", `{"NumericGreaterThanEquals":{"s3:max-keys":101}}`, nil, false},
		{"Numeric non-number key fails", `{"NumericLessThan":{"s3:max-keys":1000}}`, func(r *Request) { r.S3.MaxKeys = V("lots") }, false},
		{"NumericNotEquals non-number key fails", `{"NumericNotEquals":{"s3:max-keys":1}}`, func(r *Request) { r.S3.MaxKeys = V("lots") }, false},
		{"Numeric jwt claim", `{"NumericGreaterThanEquals":{"jwt:level":3}}`, nil, true},
		{"DateLessThan", `{"DateLessThan":{"aws:CurrentTime":"2026-03-02T00:00:00Z"}}`, nil, true},
		{"DateLessThan no", `{"DateLessThan":{"aws:CurrentTime":"2026-03-01T12:00:00Z"}}`, nil, false},
		{"DateLessThanEquals", `{"DateLessThanEquals":{"aws:CurrentTime":"2026-03-01T12:00:00Z"}}`, nil, true},
		{"DateEquals", `{"DateEquals":{"aws:CurrentTime":"2026-03-01T13:00:00+01:00"}}`, nil, true},
		{"DateNotEquals", `{"DateNotEquals":{"aws:CurrentTime":"2026-03-01T12:00:00Z"}}`, nil, false},
		{"DateGreaterThan date only", `{"DateGreaterThan":{"aws:CurrentTime":"2026-03-01"}}`, nil, true},
		{"DateGreaterThanEquals epoch", `{"DateGreaterThanEquals":{"aws:CurrentTime":1772366400}}`, nil, true},
		{"DateGreaterThan epoch key", `{"DateGreaterThan":{"aws:EpochTime":"2026-01-01T00:00:00Z"}}`, nil, true},
		{"NumericLessThan epoch", `{"NumericLessThan":{"aws:EpochTime":1772366401}}`, nil, true},
		{"Date absent time", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}`, func(r *Request) { r.Time = time.Time{} }, false},
		{"Bool true", `{"Bool":{"aws:SecureTransport":"true"}}`, nil, true},
		{"Bool TRUE", `{"Bool":{"aws:SecureTransport":"TRUE"}}`, nil, true},
		{"Bool FALSE", `{"Bool":{"aws:SecureTransport":"FALSE"}}`, func(r *Request) { r.SecureTransport = false }, true},
		{"Bool json false", `{"Bool":{"aws:SecureTransport":false}}`, nil, false},
		{"Bool jwt claim", `{"Bool":{"jwt:admin":true}}`, nil, true},
		{"IpAddress cidr", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, true},
		{"IpAddress plain", `{"IpAddress":{"aws:SourceIp":"10.1.2.3"}}`, nil, true},
		{"IpAddress no", `{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.1.2.4"]}}`, nil, false},
		{"IpAddress v6", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, func(r *Request) { r.SourceIP = netip.MustParseAddr("2001:db8::1") }, true},
		{"IpAddress mapped v4", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, func(r *Request) { r.SourceIP = netip.MustParseAddr("::ffff:10.0.0.1") }, true},
		{"IpAddress absent", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, func(r *Request) { r.SourceIP = netip.Addr{} }, false},
		{"NotIpAddress", `{"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}}`, nil, true},
		{"NotIpAddress no", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, false},
		{"IfExists absent", `{"StringEqualsIfExists":{"s3:delimiter":"/"}}`, nil, true},
		{"IfExists present mismatch", `{"StringEqualsIfExists":{"s3:prefix":"x"}}`, nil, false},
		{"IfExists present match", `{"StringLikeIfExists":{"s3:prefix":"home/*"}}`, nil, true},
		{"NumericLessThanIfExists absent", `{"NumericLessThanIfExists":{"s3:max-keys":10}}`, func(r *Request) { r.S3.MaxKeys = Value{} }, true},
		{"Null true absent", `{"Null":{"s3:delimiter":"true"}}`, nil, true},
		{"Null true present", `{"Null":{"s3:prefix":"true"}}`, nil, false},
		{"Null false present", `{"Null":{"s3:prefix":false}}`, nil, true},
		{"Null jwt missing", `{"Null":{"jwt:nope":true}}`, nil, true},
		{"ForAnyValue match", `{"ForAnyValue:StringEquals":{"jwt:groups":["data","ops"]}}`, nil, true},
		{"ForAnyValue no", `{"ForAnyValue:StringEquals":{"jwt:groups":["ops"]}}`, nil, false},
		{"ForAnyValue absent", `{"ForAnyValue:StringEquals":{"jwt:nope":["ops"]}}`, nil, false},
		{"ForAnyValue absent IfExists", `{"ForAnyValue:StringEqualsIfExists":{"jwt:nope":["ops"]}}`, nil, true},
		{"ForAllValues subset", `{"ForAllValues:StringEquals":{"jwt:groups":["eng","data","ops"]}}`, nil, true},
		{"ForAllValues not subset", `{"ForAllValues:StringEquals":{"jwt:groups":["eng"]}}`, nil, false},
		{"ForAllValues absent", `{"ForAllValues:StringEquals":{"jwt:nope":["eng"]}}`, nil, true},
		{"ForAllValues absent s3 key", `{"ForAllValues:StringLike":{"s3:delimiter":["/"]}}`, nil, true},
		{"ForAnyValue StringNotEquals", `{"ForAnyValue:StringNotEquals":{"jwt:groups":["eng"]}}`, nil, true},
		{"ForAllValues StringNotEquals", `{"ForAllValues:StringNotEquals":{"jwt:groups":["eng"]}}`, nil, false},
		{"multi-valued claim unqualified any", `{"StringEquals":{"jwt:groups":"data"}}`, nil, true},
		{"multi-valued claim negated none", `{"StringNotEquals":{"jwt:groups":"data"}}`, nil, false},
		{"nested jwt key", `{"StringEquals":{"jwt:org.team":"Blue"}}`, nil, true},
		{"jwt claim name case-sensitive", `{"StringEquals":{"jwt:ORG.team":"Blue"}}`, nil, false},
		{"keys ANDed", `{"StringLike":{"s3:prefix":"home/*","aws:UserAgent":"aws-cli/*"}}`, nil, true},
		{"keys ANDed one fails", `{"StringLike":{"s3:prefix":"home/*","aws:UserAgent":"boto3/*"}}`, nil, false},
		{"operators ANDed", `{"StringLike":{"s3:prefix":"home/*"},"Bool":{"aws:SecureTransport":false}}`, nil, false},
		{"UserAgent empty present", `{"StringEquals":{"aws:UserAgent":""}}`, func(r *Request) { r.UserAgent = "" }, true},
		{"ArnLike", `{"ArnLike":{"s3:x-amz-copy-source":"src/*"}}`, func(r *Request) { r.S3.CopySource = V("src/k") }, true},
		{"ArnNotLike", `{"ArnNotLike":{"s3:x-amz-copy-source":"src/*"}}`, func(r *Request) { r.S3.CopySource = V("src/k") }, false},
		{"VersionId", `{"StringEquals":{"s3:VersionId":"v1"}}`, func(r *Request) { r.S3.VersionID = V("v1") }, true},
		{"SSE", `{"StringEquals":{"s3:x-amz-server-side-encryption":"AES256"}}`, func(r *Request) { r.S3.ServerSideEncryption = V("AES256") }, true},
		{"string op on ip key", `{"StringLike":{"aws:SourceIp":"10.*"}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineWith(t, allowStmt("s3:ListBucket", "arn:aws:s3:::b", tt.cond))
			req := base
			if tt.mod != nil {
				tt.mod(&req)
			}
			d := decide(t, e, claims, req)
			if d.Allowed != tt.want {
				_, tr := e.Explain(e.NewPrincipal(&Identity{Issuer: "corp", Claims: claims}, e.Roles()), &req)
				t.Errorf("%s: allowed=%v, want %v; trace %+v", tt.cond, d.Allowed, tt.want, tr)
			}
		})
	}
}

func TestExplicitDenyWinsAcrossRoles(t *testing.T) {
	cfg := Config{
		Policies: []PolicyDoc{
			{Name: "read-all", JSON: []byte(allowStmt("s3:*", "*", ""))},
			{Name: "no-secrets", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"DenySecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::secrets/*"}]}`)},
		},
		Roles: []RoleConfig{
			{Name: "reader", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: []string{"read-all"}},
			{Name: "guard", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: []string{"no-secrets"}},
		},
	}
	e, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reader, _ := e.Role("reader")
	guard, _ := e.Role("guard")
	id := &Identity{Issuer: "corp", Subject: "s"}
	tests := []struct {
		name  string
		roles []*Role
		res   string
		want  Decision
	}{
		{"deny in second role", []*Role{reader, guard}, "arn:aws:s3:::secrets/k", Decision{Reason: ReasonExplicitDeny, Role: "guard", Policy: "no-secrets", Sid: "DenySecrets", Detail: `explicit deny in role "guard" policy "no-secrets" statement 1 (Sid "DenySecrets")`}},
		{"deny in first role", []*Role{guard, reader}, "arn:aws:s3:::secrets/k", Decision{Reason: ReasonExplicitDeny, Role: "guard", Policy: "no-secrets", Sid: "DenySecrets", Detail: `explicit deny in role "guard" policy "no-secrets" statement 1 (Sid "DenySecrets")`}},
		{"allowed elsewhere", []*Role{guard, reader}, "arn:aws:s3:::public/k", Decision{Allowed: true, Reason: ReasonAllowed, Role: "reader", Policy: "read-all"}},
		{"guard alone", []*Role{guard}, "arn:aws:s3:::public/k", Decision{Reason: ReasonNoAllow, Detail: "no statement allows s3:GetObject"}},
		{"no roles", nil, "arn:aws:s3:::public/k", Decision{Reason: ReasonNoRole, Detail: "the principal holds no role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Authorize(e.NewPrincipal(id, tt.roles), &Request{Action: GetObject, Resource: tt.res})
			if d != tt.want {
				t.Errorf("got %+v\nwant %+v", d, tt.want)
			}
		})
	}
}

func TestSessionPolicy(t *testing.T) {
	e := engineWith(t, allowStmt("s3:*", "arn:aws:s3:::b/*", ""))
	sp, err := ParsePolicy("session", []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${jwt:team}/*"},
		{"Sid":"NoTmp","Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::b/blue/tmp/*"},
		{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	base := e.NewPrincipal(&Identity{Issuer: "corp", Claims: map[string]any{"team": "blue"}}, e.Roles())
	p := base.WithSessionPolicy(sp)
	tests := []struct {
		name   string
		p      *Principal
		action Action
		res    string
		want   ReasonCode
	}{
		{"both allow", p, GetObject, "arn:aws:s3:::b/blue/x", ReasonAllowed},
		{"session does not allow action", p, PutObject, "arn:aws:s3:::b/blue/x", ReasonSessionPolicy},
		{"session variable", p, GetObject, "arn:aws:s3:::b/red/x", ReasonSessionPolicy},
		{"session deny", p, GetObject, "arn:aws:s3:::b/blue/tmp/x", ReasonExplicitDeny},
		{"session cannot widen", p, GetObject, "arn:aws:s3:::other/x", ReasonNoAllow},
		{"original unchanged", base, PutObject, "arn:aws:s3:::b/blue/x", ReasonAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Authorize(tt.p, &Request{Action: tt.action, Resource: tt.res})
			if d.Reason != tt.want || d.Allowed != (tt.want == ReasonAllowed) {
				t.Errorf("got %+v, want %s", d, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	e := engineWith(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Home","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}},
		{"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`)
	p := e.NewPrincipal(&Identity{Issuer: "corp", Claims: map[string]any{"preferred_username": "alice"}}, e.Roles())
	d, tr := e.Explain(p, &Request{Action: ListBucket, Resource: "arn:aws:s3:::b", S3: S3Context{Prefix: V("home/bob/")}})
	if d.Allowed || d.Detail != "no statement allows s3:ListBucket on arn:aws:s3:::b" {
		t.Errorf("decision %+v", d)
	}
	if len(tr) != 2 {
		t.Fatalf("got %d traces", len(tr))
	}
	if want := `condition StringLike "s3:prefix" ["home/alice/*"] (from ["home/${aws:username}/*"]) does not hold: the request has "home/bob/"`; tr[0].Why != want || !tr[0].ActionMatched || !tr[0].ResourceMatched || tr[0].ConditionsMatched {
		t.Errorf("trace 0: %+v\nwant why %s", tr[0], want)
	}
	if !strings.Contains(tr[1].Why, "action s3:ListBucket is not covered by Action") || !strings.Contains(tr[1].Why, "resource arn:aws:s3:::b matches no Resource") {
		t.Errorf("trace 1: %+v", tr[1])
	}
}

// Explain shows the patterns of a statement with the principal's values
// of its policy variables in place, beside the patterns as written.
func TestExplainExpandsVariables(t *testing.T) {
	e := engineWith(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Teams","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/${jwt:groups}/*","arn:aws:s3:::b/u/${aws:userid}/*","arn:aws:s3:::b/x/${jwt:absent}/*"]},
		{"Sid":"FromIP","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/ip/${aws:SourceIp}/*"},
		{"Sid":"Plain","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/shared/*"}]}`)
	p := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "u-1", Claims: map[string]any{"sub": "u-1", "groups": []any{"a", "b"}}}, e.Roles())
	_, tr := e.Explain(p, &Request{Action: GetObject, Resource: "arn:aws:s3:::b/z/k", SourceIP: netip.MustParseAddr("10.1.2.3")})
	want := []string{
		`resource arn:aws:s3:::b/z/k matches no Resource in ["arn:aws:s3:::b/a/*", "arn:aws:s3:::b/b/*", "arn:aws:s3:::b/u/u-1/*", "arn:aws:s3:::b/x/${jwt:absent}/*"] (from ["arn:aws:s3:::b/${jwt:groups}/*", "arn:aws:s3:::b/u/${aws:userid}/*", "arn:aws:s3:::b/x/${jwt:absent}/*"])`,
		`resource arn:aws:s3:::b/z/k matches no Resource in ["arn:aws:s3:::b/ip/10.1.2.3/*"] (from ["arn:aws:s3:::b/ip/${aws:SourceIp}/*"])`,
		`resource arn:aws:s3:::b/z/k matches no Resource in ["arn:aws:s3:::b/shared/*"]`,
	}
	if len(tr) != len(want) {
		t.Fatalf("got %d traces", len(tr))
	}
	for i, w := range want {
		if tr[i].Why != w {
			t.Errorf("trace %d:\n got %s\nwant %s", i, tr[i].Why, w)
		}
	}
}

func TestAuthorizeAllocs(t *testing.T) {
	e := engineWith(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/${jwt:groups}/*","Condition":{"Bool":{"aws:SecureTransport":true}}},
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
		{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"}]}`)
	p := e.NewPrincipal(&Identity{Issuer: "corp", Claims: map[string]any{"preferred_username": "alice", "groups": []any{"a", "b", "c"}}}, e.Roles())
	src := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name string
		req  Request
		want ReasonCode
	}{
		{"allow object", Request{Action: GetObject, Resource: "arn:aws:s3:::b/c/k", SecureTransport: true}, ReasonAllowed},
		{"allow list", Request{Action: ListBucket, Resource: "arn:aws:s3:::b", SourceIP: src, S3: S3Context{Prefix: V("alice/x")}}, ReasonAllowed},
		{"no allow", Request{Action: GetObject, Resource: "arn:aws:s3:::b/z/k", SecureTransport: true}, ReasonNoAllow},
		{"no allow condition", Request{Action: ListBucket, Resource: "arn:aws:s3:::b", SourceIP: src, S3: S3Context{Prefix: V("bob/x")}}, ReasonNoAllow},
		{"explicit deny", Request{Action: GetObject, Resource: "arn:aws:s3:::b/secret/k"}, ReasonExplicitDeny},
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
}
