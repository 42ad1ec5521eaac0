package proxy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/sigv2test"
	"github.com/iamgate/iamgate/state"
)

type grantClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *grantClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *grantClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

const prodPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::prod/*"}]}`

// withGrantSource serves f with a requestable role prod-admin (trusting
// nobody) beside member, grants read from a watcher of g, and the
// handler's clock clk.
func withGrantSource(t *testing.T, f *fixture, clk *grantClock) (*state.GrantMemory, *state.GrantWatcher) {
	t.Helper()
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "p", JSON: []byte(testPolicy)}, {Name: "prod", JSON: []byte(prodPolicy)}},
		Roles: []authz.RoleConfig{
			{Name: "member", Kind: "human", Policies: []string{"p"},
				Trust: []authz.TrustRule{{Issuer: "dev", Claims: map[string]any{"groups": "staff"}}}},
			{Name: "prod-admin", Kind: "human", Policies: []string{"prod"}, Requestable: &authz.Requestable{
				Approvers: []authz.TrustRule{{Issuer: "dev", Claims: map[string]any{"groups": "security"}}}, MaxDuration: time.Hour}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := state.NewGrantMemory(clk.now)
	w := state.NewGrantWatcher(g, state.GrantWatcherConfig{Now: clk.now})
	if err := w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.h.cfg.Now = clk.now
	gen := *f.h.Current()
	gen.principals = nil
	gen.Engine = engine
	gen.Grants = w
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	return g, w
}

func grantFor(t *testing.T, g state.Grants, w *state.GrantWatcher, d time.Duration) state.AccessRequest {
	t.Helper()
	ctx := context.Background()
	r, err := g.Request(ctx, state.AccessRequest{Role: "prod-admin", Requester: state.Person{Issuer: "dev", Subject: "id-alice"},
		Reason: "incident", Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.Decide(ctx, r.ID, true, state.Person{Issuer: "dev", Subject: "id-bob"})
	if err != nil {
		t.Fatal(err)
	}
	w.Changed(ctx)
	return a
}

// A grant adds its role to the person's bearer requests from its
// approval until exactly its end, and every request it allowed names it
// in the audit event.
func TestGrantBeforeAtAfterEnd(t *testing.T) {
	f := newFixture(t, nil, nil)
	clk := &grantClock{t: time.Now().UTC()}
	g, w := withGrantSource(t, f, clk)
	alice := f.token(t, "alice", "staff")
	get := func() int {
		t.Helper()
		res, _ := f.do(t, "GET", "/prod/db.sql", alice, nil)
		return res.StatusCode
	}
	if code := get(); code != 403 {
		t.Fatalf("before the grant: %d", code)
	}
	if ev := f.lastEvent(t); ev.Grant != nil {
		t.Errorf("a denied request names a grant: %+v", ev.Grant)
	}
	a := grantFor(t, g, w, 10*time.Minute)
	if code := get(); code != 200 {
		t.Fatalf("with the grant: %d", code)
	}
	ev := f.lastEvent(t)
	if ev.Grant == nil || ev.Grant.ID != a.ID || ev.Grant.Role != "prod-admin" || ev.Role != "prod-admin" || !ev.Grant.End.Equal(a.End) {
		t.Fatalf("event %+v grant %+v", ev, ev.Grant)
	}
	if len(ev.Roles) != 2 || ev.Roles[1] != "prod-admin" {
		t.Errorf("roles %v", ev.Roles)
	}
	// A request through the role held by trust names no grant.
	if res, _ := f.do(t, "GET", "/bkt/home/alice/f.txt", alice, nil); res.StatusCode != 200 {
		t.Fatalf("member: %d", res.StatusCode)
	}
	if ev := f.lastEvent(t); ev.Grant != nil || ev.Role != "member" {
		t.Errorf("member's request: role %q grant %+v", ev.Role, ev.Grant)
	}
	// The cached principal holds until a nanosecond before the end, and
	// not at it: no poll is needed for the end.
	clk.set(a.End.Add(-time.Nanosecond))
	if code := get(); code != 200 {
		t.Fatalf("just before the end: %d", code)
	}
	clk.set(a.End)
	if code := get(); code != 403 {
		t.Fatalf("at the end: %d", code)
	}
	clk.set(a.End.Add(time.Minute))
	if code := get(); code != 403 {
		t.Fatalf("after the end: %d", code)
	}
	// Bob holds nothing of alice's grant.
	b := grantFor(t, g, w, 10*time.Minute)
	if res, _ := f.do(t, "GET", "/prod/db.sql", f.token(t, "bob", "staff"), nil); res.StatusCode != 403 {
		t.Fatalf("bob: %d", res.StatusCode)
	}
	// The role header can name a granted role.
	if res, body := f.do(t, "GET", "/prod/db.sql", alice, nil, RoleHeader, "prod-admin"); res.StatusCode != 200 {
		t.Fatalf("role header: %d %s", res.StatusCode, body)
	}
	// A revoked grant ends at once.
	if _, err := g.Revoke(context.Background(), b.ID, state.Person{Issuer: "dev", Subject: "id-alice"}); err != nil {
		t.Fatal(err)
	}
	w.Changed(context.Background())
	if code := get(); code != 403 {
		t.Fatalf("revoked: %d", code)
	}
}

// An STS session issued through a grant acts as the granted role while
// the grant is in force, its cached principal included; revoked, the
// session is refused with ExpiredToken.
func TestGrantSession(t *testing.T) {
	f := newFixture(t, nil, nil)
	_ = withSigV2(t, f)
	clk := &grantClock{t: time.Now().UTC()}
	g, w := withGrantSource(t, f, clk)
	ring := f.h.Current().Sessions
	a := grantFor(t, g, w, 10*time.Minute)
	s := identity.NewSession()
	s.Issuer, s.Subject, s.Roles, s.GrantID = "dev", "id-alice", []string{"prod-admin"}, a.ID
	s.Claims = map[string]any{"groups": []any{"staff"}, "preferred_username": "alice"}
	s.IssuedAt = time.Now().Add(-time.Minute).Truncate(time.Second)
	s.Expiry = a.End.Truncate(time.Second)
	tok, err := ring.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	creds := sigv2test.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: tok}
	send := func() (int, string) {
		t.Helper()
		req := f.newV2Request(t, "GET", "/prod/db.sql", "")
		sigv2test.Sign(req, creds, time.Now(), "")
		code, body, _ := f.sendV2(t, req)
		return code, body
	}
	for range 2 { // the second from the cached principal
		if code, body := send(); code != 200 {
			t.Fatalf("through the grant: %d %s", code, body)
		}
		if ev := f.lastEvent(t); ev.Grant == nil || ev.Grant.ID != a.ID || ev.Role != "prod-admin" {
			t.Fatalf("event %+v", ev)
		}
	}
	if _, err := g.Revoke(context.Background(), a.ID, state.Person{Issuer: "dev", Subject: "id-bob"}); err != nil {
		t.Fatal(err)
	}
	w.Changed(context.Background())
	if code, body := send(); code != 400 || !strings.Contains(body, "ExpiredToken") || !strings.Contains(body, a.ID) {
		t.Fatalf("revoked: %d %s", code, body)
	}
	if ev := f.lastEvent(t); ev.Reason != "grant_ended" {
		t.Errorf("event %+v", ev)
	}
}
