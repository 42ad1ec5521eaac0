package sts

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/identity/ldapdir"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

type ldapEnv struct {
	slapd *testenv.Slapd
	keys  *identity.KeyRing
	svc   *Service
	now   time.Time
	mu    sync.Mutex
	last  Event
}

func newLDAPEnv(t *testing.T) *ldapEnv {
	t.Helper()
	e := &ldapEnv{slapd: testenv.StartSlapd(t), now: testNow}
	clock := func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.now
	}
	dir, err := ldapdir.New(ldapdir.Config{
		Name: "corp-ldap", URL: e.slapd.URL,
		LookupBindDN: testenv.SlapdLookupDN, LookupBindPassword: e.slapd.LookupPassword,
		UserSearchBase: testenv.SlapdPeople, UserSearchFilter: testenv.SlapdUserFilter,
		GroupSearchBase: testenv.SlapdGroups, GroupSearchFilter: testenv.SlapdGroupFilter,
		Attributes: []string{"mail"}, DialTimeout: time.Second,
		Throttle: ldapdir.Throttle{Failures: state.NewFailureMemory(state.FailureMemoryConfig{Now: clock}), MaxFailures: 3, Window: 10 * time.Minute, Lockout: time.Minute},
		Now:      clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Close)
	v, err := identity.New(context.Background(), identity.Config{Issuers: nil})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
		Roles: []authz.RoleConfig{
			{Name: "analysts", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp-ldap", Claims: map[string]any{"groups": testenv.SlapdGroupDN("analysts")}}}},
			{Name: "admins", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp-ldap", Claims: map[string]any{"groups": testenv.SlapdGroupDN("admins")}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.keys, _ = identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	e.svc, err = New(Config{Engine: eng, Verifier: v, Keys: e.keys, Directories: []Directory{dir}, Now: clock,
		Roles:   map[string]RoleSettings{"admins": {MaxSession: 2 * time.Hour}},
		OnEvent: func(ev Event) { e.mu.Lock(); e.last = ev; e.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *ldapEnv) call(t *testing.T, params url.Values) (*httptest.ResponseRecorder, Event) {
	t.Helper()
	params.Set("Action", "AssumeRoleWithLDAPIdentity")
	params.Set("Version", "2011-06-15")
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(params.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "192.0.2.1:1234"
	w := httptest.NewRecorder()
	e.svc.ServeHTTP(w, r)
	if pw := params.Get("LDAPPassword"); pw != "" && strings.Contains(w.Body.String(), pw) {
		t.Fatalf("the response holds the password: %s", w.Body)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return w, e.last
}

func creds(user, pass string) url.Values {
	return url.Values{"LDAPUsername": {user}, "LDAPPassword": {pass}}
}

func TestAssumeRoleWithLDAPIdentity(t *testing.T) {
	e := newLDAPEnv(t)
	alice, dave := e.slapd.User("alice"), e.slapd.User("dave")

	w, ev := e.call(t, creds("alice", alice.Password))
	if w.Code != 200 {
		t.Fatalf("alice: %d %s", w.Code, w.Body)
	}
	var resp struct {
		XMLName xml.Name `xml:"AssumeRoleWithLDAPIdentityResponse"`
		Result  struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
			AssumedRoleUser struct{ Arn string }
		} `xml:"AssumeRoleWithLDAPIdentityResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	c := resp.Result.Credentials
	if !strings.HasPrefix(c.AccessKeyId, "ASIA") || c.Expiration != testNow.Add(time.Hour).UTC().Format(time.RFC3339) ||
		resp.Result.AssumedRoleUser.Arn != "arn:aws:sts::iamgate:assumed-role/analysts/alice" || resp.RequestID == "" {
		t.Fatalf("response = %+v", resp)
	}
	sess, err := e.keys.Open(c.SessionToken, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Issuer != "corp-ldap" || sess.Subject != alice.DN() || sess.Claims["mail"] != alice.Mail || sess.Roles[0] != "analysts" {
		t.Fatalf("session = %+v", sess)
	}
	if ev.Issuer != "corp-ldap" || ev.Subject != alice.DN() || ev.Username != "alice" || ev.Role != "analysts" || ev.Status != 200 {
		t.Fatalf("event = %+v", ev)
	}

	for _, tc := range []struct {
		name        string
		params      url.Values
		status      int
		code        string
		msg, reason string
	}{
		{"wrong password", creds("alice", "wrong-password"), 403, "AccessDenied", credentialsMessage, "invalid_credentials"},
		{"unknown user", creds("nobody", "wrong-password"), 403, "AccessDenied", credentialsMessage, "user_not_found"},
		{"locked", creds("carol", e.slapd.User("carol").Password), 403, "AccessDenied", credentialsMessage, "account_locked"},
		{"no trusted group", creds("bob", e.slapd.User("bob").Password), 403, "AccessDenied", "no role trusts this identity", "no_role"},
		{"several roles", creds("dave", dave.Password), 400, "MissingParameter", `parameter RoleArn: several roles trust this identity ("analysts", "admins")`, "no_role"},
		{"role not trusting", func() url.Values {
			v := creds("alice", alice.Password)
			v.Set("RoleArn", "arn:aws:iam::iamgate:role/admins")
			return v
		}(), 403, "AccessDenied", `role "admins" does not trust this identity`, "no_role"},
		{"missing password", url.Values{"LDAPUsername": {"alice"}}, 400, "MissingParameter", "LDAPPassword", ""},
		{"unknown directory", func() url.Values {
			v := creds("alice", alice.Password)
			v.Set("LDAPDirectory", "other")
			return v
		}(), 400, "InvalidParameterValue", "names no configured directory", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ev := e.call(t, tc.params)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), "<Code>"+tc.code+"</Code>") || !strings.Contains(w.Body.String(), xmlEscape(tc.msg)) {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			if ev.Reason != tc.reason {
				t.Fatalf("event reason %q, want %q", ev.Reason, tc.reason)
			}
		})
	}

	t.Run("RoleArn chooses", func(t *testing.T) {
		v := creds("dave", dave.Password)
		v.Set("RoleArn", "arn:aws:iam::iamgate:role/admins")
		v.Set("DurationSeconds", "7200")
		v.Set("RoleSessionName", "dave-s")
		w, ev := e.call(t, v)
		if w.Code != 200 || ev.Role != "admins" || ev.Duration != 2*time.Hour || ev.RoleSessionName != "dave-s" {
			t.Fatalf("%d %s %+v", w.Code, w.Body, ev)
		}
	})

	t.Run("throttled", func(t *testing.T) {
		for range 3 {
			e.call(t, creds("alice", "guess-guess"))
		}
		w, ev := e.call(t, creds("alice", alice.Password))
		if w.Code != 429 || !strings.Contains(w.Body.String(), "<Code>Throttling</Code>") || w.Header().Get("Retry-After") != "61" || ev.Reason != "throttled" {
			t.Fatalf("%d %s %q %+v", w.Code, w.Body, w.Header().Get("Retry-After"), ev)
		}
		e.mu.Lock()
		e.now = e.now.Add(time.Minute)
		e.mu.Unlock()
		if w, _ := e.call(t, creds("alice", alice.Password)); w.Code != 200 {
			t.Fatalf("after the lockout: %d %s", w.Code, w.Body)
		}
	})

	t.Run("directory down", func(t *testing.T) {
		e.slapd.Stop()
		w, ev := e.call(t, creds("alice", alice.Password))
		if w.Code != 503 || !strings.Contains(w.Body.String(), "<Code>ServiceUnavailable</Code>") || ev.Reason != "directory_unavailable" {
			t.Fatalf("%d %s %+v", w.Code, w.Body, ev)
		}
		e.slapd.Restart(t)
		if w, _ := e.call(t, creds("alice", alice.Password)); w.Code != 200 {
			t.Fatalf("after restart: %d %s", w.Code, w.Body)
		}
	})
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
