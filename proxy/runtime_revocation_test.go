package proxy

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/sigv2test"
)

// revocationList is a RevocationSource whose rules and error change
// while the generation serves.
type revocationList struct {
	mu    sync.Mutex
	rules []identity.Revocation
	err   error
}

func (l *revocationList) Revocations() ([]identity.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rules, l.err
}

func (l *revocationList) set(rules []identity.Revocation, err error) {
	l.mu.Lock()
	l.rules, l.err = rules, err
	l.mu.Unlock()
}

// Run-time revocations apply to session credentials on every request,
// the cached ones included, without a new generation; when they cannot be
// confirmed current, requests made with sessions are refused with 503
// while other credentials are served.
func TestRuntimeRevocations(t *testing.T) {
	f := newFixture(t, nil, nil)
	withPolicy(t, f, testPolicy)
	session := withSigV2(t, f)()
	src := &revocationList{}
	gen := *f.h.Current()
	gen.principals = nil
	gen.RuntimeRevocations = src
	if err := f.h.Swap(&gen); err != nil {
		t.Fatal(err)
	}
	send := func(c sigv2test.Credentials) (int, string) {
		t.Helper()
		req := f.newV2Request(t, "GET", "/bkt/home/alice/f.txt", "")
		sigv2test.Sign(req, c, time.Now(), "")
		code, body, _ := f.sendV2(t, req)
		return code, body
	}
	if code, body := send(session); code != 200 {
		t.Fatalf("before: %d %s", code, body)
	}
	// The principal is cached now; a rule added at run time applies.
	src.set([]identity.Revocation{{ID: "rv-1", Claim: "preferred_username", ClaimValue: "alice", IssuedBefore: time.Now()}}, nil)
	if code, body := send(session); code != 400 || !strings.Contains(body, "ExpiredToken") || !strings.Contains(body, "was revoked") {
		t.Fatalf("revoked: %d %s", code, body)
	}
	if ev := f.lastEvent(t); ev.Reason != "revoked" || ev.Kind != "auth_failure" {
		t.Errorf("event %+v", ev)
	}
	// A rule for someone else does not.
	src.set([]identity.Revocation{{ID: "rv-2", Subject: "id-bob", IssuedBefore: time.Now()}}, nil)
	if code, body := send(session); code != 200 {
		t.Fatalf("another person's rule: %d %s", code, body)
	}
	// Unknown: refused with 503; a service credential is served.
	src.set(nil, errors.New("state: the run-time revocations cannot be confirmed current"))
	if code, body := send(session); code != 503 || !strings.Contains(body, "ServiceUnavailable") {
		t.Fatalf("unknown: %d %s", code, body)
	}
	if ev := f.lastEvent(t); ev.Reason != "state_unavailable" {
		t.Errorf("event %+v", ev)
	}
	if code, body := send(aliceV2); code != 200 {
		t.Fatalf("service credential while unknown: %d %s", code, body)
	}
	// Bearer tokens too, by their iat.
	tok := f.token(t, "alice", "staff")
	if res, body := f.do(t, "GET", "/bkt/home/alice/f.txt", tok, nil); res.StatusCode != 503 {
		t.Fatalf("bearer while unknown: %d %s", res.StatusCode, body)
	}
	src.set([]identity.Revocation{{ID: "rv-3", Subject: "id-alice", IssuedBefore: time.Now().Add(time.Minute)}}, nil)
	if res, body := f.do(t, "GET", "/bkt/home/alice/f.txt", tok, nil); res.StatusCode != 400 || !strings.Contains(body, "was revoked") {
		t.Fatalf("bearer revoked: %d %s", res.StatusCode, body)
	}
	src.set([]identity.Revocation{{ID: "rv-4", Subject: "id-alice", IssuedBefore: time.Now().Add(-time.Hour)}}, nil)
	if res, body := f.do(t, "GET", "/bkt/home/alice/f.txt", tok, nil); res.StatusCode != 200 {
		t.Fatalf("bearer issued after the rule: %d %s", res.StatusCode, body)
	}
}
