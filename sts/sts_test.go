package sts

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/devissuer"
)

const testAudience = "iamgate"

// testNow is the fixed clock of the issuer, the verifier and the service.
var testNow = time.Now().UTC().Truncate(time.Second)

type testEnv struct {
	iss  *devissuer.Issuer
	down *devissuer.Issuer // an issuer whose keys never load
	keys *identity.KeyRing
	svc  *Service
	srv  *httptest.Server

	mu     sync.Mutex
	events []Event
}

func newTestEnv(t testing.TB, mods ...func(*Config)) *testEnv {
	t.Helper()
	clock := func() time.Time { return testNow }
	e := &testEnv{
		iss:  devissuer.StartTestWith(t, devissuer.Options{Now: clock}),
		down: devissuer.StartTestWith(t, devissuer.Options{Now: clock}),
	}
	e.down.SetDown(true)
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.IssuerConfig{
			{Name: "corp", URL: e.iss.URL(), Audiences: []string{testAudience}},
			{Name: "flaky", URL: e.down.URL(), Audiences: []string{testAudience}},
		},
		Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	eng, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
		Roles: []authz.RoleConfig{
			{Name: "analyst", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}}},
			{Name: "admin", Kind: authz.KindHuman, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "admins"}}}},
			{Name: "ci", Kind: authz.KindMachine, Policies: []string{"read"},
				Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"sub": "repo:acme/*"}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.keys, err = identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Engine:   eng,
		Verifier: v,
		Keys:     e.keys,
		Roles: map[string]RoleSettings{
			"ci": {MaxSession: 2 * time.Hour, SessionMayOutliveToken: true},
		},
		Revocations: []identity.Revocation{{Subject: "mallory"}},
		Now:         clock,
		Fingerprint: func(h [32]byte) string { return "fp-" + strconv.Itoa(int(h[0])) },
		OnEvent: func(ev Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	}
	for _, m := range mods {
		m(&cfg)
	}
	e.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEnv) mint(t testing.TB, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	all := map[string]any{"sub": "alice", "aud": testAudience, "groups": []string{"staff"}}
	for k, v := range claims {
		all[k] = v
	}
	tok, err := e.iss.Mint(all, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *testEnv) lastEvent(t *testing.T) Event {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) == 0 {
		t.Fatal("no event reported")
	}
	return e.events[len(e.events)-1]
}

// call sends the parameters as a form POST (get false) or as a GET query.
func (e *testEnv) call(t testing.TB, get bool, params url.Values) (*http.Response, []byte) {
	t.Helper()
	var req *http.Request
	var err error
	if get {
		req, err = http.NewRequest(http.MethodGet, e.srv.URL+"/?"+params.Encode(), nil)
	} else {
		req, err = http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// Decoding types, written independently of the production ones.
type wireCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type wireWebIdentity struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		SubjectFromWebIdentityToken string
		Audience                    string
		AssumedRoleUser             struct{ Arn, AssumedRoleId string }
		Credentials                 wireCredentials
		Provider                    string
		PackedPolicySize            *int
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type wireClientGrants struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithClientGrantsResponse"`
	Result  struct {
		AssumedRoleUser  struct{ Arn, AssumedRoleId string }
		Credentials      wireCredentials
		SubjectFromToken string
		Provider         string
	} `xml:"AssumeRoleWithClientGrantsResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type wireError struct {
	XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error     struct{ Type, Code, Message string }
	RequestID string `xml:"RequestId"`
}

func webIdentity(token, role, session string, extra ...string) url.Values {
	v := url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {role},
		"RoleSessionName":  {session},
		"WebIdentityToken": {token},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "\x00" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	e := newTestEnv(t)
	token := e.mint(t, nil, 2*time.Hour)
	policy := `{
	  "Version": "2012-10-17",
	  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]
	}`
	for _, tc := range []struct {
		name string
		get  bool
		arn  string
	}{
		{"POST form, role ARN", false, "arn:aws:iam::123456789012:role/analyst"},
		{"GET query, bare role name", true, "analyst"},
		{"POST form, ARN with path", false, "arn:aws:iam::iamgate:role/teams/data/analyst"},
		{"other partition", true, "arn:aws-us-gov:iam::1:role/analyst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.call(t, tc.get, webIdentity(token, tc.arn, "alice@laptop", "Policy", policy))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
				t.Errorf("Content-Type = %q", ct)
			}
			var out wireWebIdentity
			if err := xml.Unmarshal(body, &out); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			res := out.Result
			if res.SubjectFromWebIdentityToken != "alice" || res.Audience != testAudience || res.Provider != e.iss.URL() {
				t.Errorf("result = %+v", res)
			}
			if res.AssumedRoleUser.Arn != "arn:aws:sts::iamgate:assumed-role/analyst/alice@laptop" {
				t.Errorf("Arn = %q", res.AssumedRoleUser.Arn)
			}
			if id := res.AssumedRoleUser.AssumedRoleId; !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":alice@laptop") || len(id) != 4+17+len(":alice@laptop") {
				t.Errorf("AssumedRoleId = %q", id)
			}
			compact := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}`
			if want := (len(compact)*100 + 2047) / 2048; res.PackedPolicySize == nil || *res.PackedPolicySize != want {
				t.Errorf("PackedPolicySize = %v, want %d", res.PackedPolicySize, want)
			}
			c := res.Credentials
			exp, err := time.Parse(time.RFC3339, c.Expiration)
			if err != nil || !exp.Equal(testNow.Add(time.Hour)) || !strings.HasSuffix(c.Expiration, "Z") {
				t.Errorf("Expiration = %q (%v), want %v", c.Expiration, err, testNow.Add(time.Hour))
			}
			if out.RequestID == "" || out.RequestID != resp.Header.Get("X-Amz-Request-Id") {
				t.Errorf("RequestId = %q, header %q", out.RequestID, resp.Header.Get("X-Amz-Request-Id"))
			}
			sess, err := e.keys.Open(c.SessionToken, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if sess.AccessKeyID != c.AccessKeyID || sess.SecretAccessKey != c.SecretAccessKey ||
				sess.Issuer != "corp" || sess.Subject != "alice" || len(sess.Roles) != 1 || sess.Roles[0] != "analyst" ||
				sess.RoleSessionName != "alice@laptop" || string(sess.SessionPolicy) != compact ||
				!sess.IssuedAt.Equal(testNow) || !sess.Expiry.Equal(exp) || sess.Claims["sub"] != "alice" ||
				sess.TokenFingerprint == "" {
				t.Errorf("session = %+v", sess)
			}
			if !identity.ValidAccessKeyID(c.AccessKeyID) || len(c.SecretAccessKey) != 40 {
				t.Errorf("credentials malformed: %q", c.AccessKeyID)
			}
			ev := e.lastEvent(t)
			if ev.Action != "AssumeRoleWithWebIdentity" || ev.Status != 200 || ev.Role != "analyst" || ev.Subject != "alice" ||
				ev.Issuer != "corp" || ev.SessionID != sess.ID || ev.AccessKeyID != c.AccessKeyID || ev.Duration != time.Hour ||
				!ev.Expiry.Equal(exp) || ev.TokenFingerprint != sess.TokenFingerprint || ev.Error != "" || ev.RequestID != out.RequestID {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func TestAssumeRoleWithClientGrants(t *testing.T) {
	e := newTestEnv(t)
	token := e.mint(t, map[string]any{"sub": "svc:etl/1"}, time.Hour)
	resp, body := e.call(t, false, url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {token}, "DurationSeconds": {"900"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out wireClientGrants
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if out.Result.SubjectFromToken != "svc:etl/1" || out.Result.AssumedRoleUser.Arn != "arn:aws:sts::iamgate:assumed-role/analyst/svc-etl-1" {
		t.Errorf("result = %+v", out.Result)
	}
	sess, err := e.keys.Open(out.Result.Credentials.SessionToken, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Roles[0] != "analyst" || !sess.Expiry.Equal(testNow.Add(15*time.Minute)) {
		t.Errorf("session = %+v", sess)
	}
}

func TestDurations(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name     string
		role     string
		tokenTTL time.Duration
		duration string // "" for none
		want     time.Duration
		code     string
		msg      string
	}{
		{"default is one hour", "analyst", 3 * time.Hour, "", time.Hour, "", ""},
		{"default shortened to token lifetime", "analyst", 20 * time.Minute, "", 20 * time.Minute, "", ""},
		{"default shortened below the minimum", "analyst", 5 * time.Minute, "", 5 * time.Minute, "", ""},
		{"explicit within token lifetime", "analyst", 2 * time.Hour, "1800", 30 * time.Minute, "", ""},
		{"explicit equal to max", "analyst", 2 * time.Hour, "3600", time.Hour, "", ""},
		{"explicit above role max", "analyst", 3 * time.Hour, "3601", 0, codeValidationError, `maximum session duration of role "analyst", 3600 seconds`},
		{"explicit outlives token", "analyst", 30 * time.Minute, "3600", 0, codeInvalidParameterValue, "web identity token expires at " + testNow.Add(30*time.Minute).Format(time.RFC3339) + "; the role does not allow sessions to outlive it"},
		{"below minimum", "analyst", time.Hour, "899", 0, codeValidationError, "at least 900"},
		{"not a number", "analyst", time.Hour, "1h", 0, codeInvalidParameterValue, "whole number"},
		{"negative", "analyst", time.Hour, "-900", 0, codeInvalidParameterValue, "whole number"},
		{"huge", "analyst", time.Hour, "99999999999999999", 0, codeValidationError, "maximum session"},
		{"role may outlive token", "ci", 10 * time.Minute, "7200", 2 * time.Hour, "", ""},
		{"outliving role default is not shortened", "ci", 10 * time.Minute, "", time.Hour, "", ""},
		{"outliving role max", "ci", 10 * time.Minute, "7201", 0, codeValidationError, "7200 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{}
			if tt.role == "ci" {
				claims["sub"] = "repo:acme/app:ref:refs/heads/main"
			}
			token := e.mint(t, claims, tt.tokenTTL)
			params := webIdentity(token, tt.role, "s1")
			if tt.duration != "" {
				params.Set("DurationSeconds", tt.duration)
			}
			resp, body := e.call(t, false, params)
			if tt.code != "" {
				wantError(t, resp, body, 400, tt.code, tt.msg, token)
				return
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var out wireWebIdentity
			if err := xml.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
			exp, _ := time.Parse(time.RFC3339, out.Result.Credentials.Expiration)
			if got := exp.Sub(testNow); got != tt.want {
				t.Fatalf("session lasts %v, want %v", got, tt.want)
			}
		})
	}
}

func wantError(t *testing.T, resp *http.Response, body []byte, status int, code, msg, token string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d: %s", resp.StatusCode, status, body)
	}
	var out wireError
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if out.Error.Code != code {
		t.Errorf("code = %q, want %q (%s)", out.Error.Code, code, out.Error.Message)
	}
	if !strings.Contains(out.Error.Message, msg) {
		t.Errorf("message %q does not contain %q", out.Error.Message, msg)
	}
	wantType := "Sender"
	if status >= 500 {
		wantType = "Receiver"
	}
	if out.Error.Type != wantType || out.RequestID == "" {
		t.Errorf("type %q request id %q", out.Error.Type, out.RequestID)
	}
	if token != "" {
		if bytes.Contains(body, []byte(token)) {
			t.Fatal("error response contains the token")
		}
		if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) >= 16 && bytes.Contains(body, []byte(parts[2])) {
			t.Fatal("error response contains the token signature")
		}
	}
}

func TestErrors(t *testing.T) {
	e := newTestEnv(t)
	good := e.mint(t, nil, time.Hour)
	expired := e.mint(t, map[string]any{"exp": testNow.Add(-time.Hour).Unix(), "iat": testNow.Add(-2 * time.Hour).Unix()}, 0)
	wrongAud := e.mint(t, map[string]any{"aud": "someone-else"}, time.Hour)
	both := e.mint(t, map[string]any{"groups": []string{"staff", "admins"}}, time.Hour)
	mallory := e.mint(t, map[string]any{"sub": "mallory"}, time.Hour)
	flaky, err := e.down.Mint(map[string]any{"sub": "alice", "aud": testAudience}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bigPolicy := `{"Version":"2012-10-17","Statement":[` + strings.Repeat(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"},`, 30) + `{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`
	del := "\x00"
	tests := []struct {
		name   string
		params url.Values
		status int
		code   string
		msg    string
	}{
		{"no action", url.Values{"Version": {"2011-06-15"}, "WebIdentityToken": {good}}, 400, codeMissingParameter, "Action"},
		{"unknown action", webIdentity(good, "analyst", "s1", "Action", "GetCallerIdentity"), 400, codeInvalidAction, `"GetCallerIdentity"`},
		{"wrong version", webIdentity(good, "analyst", "s1", "Version", "2012-01-01"), 400, codeInvalidParameterValue, "Version must be 2011-06-15"},
		{"missing role", webIdentity(good, "analyst", "s1", "RoleArn", del), 400, codeMissingParameter, "RoleArn"},
		{"missing session name", webIdentity(good, "analyst", "s1", "RoleSessionName", del), 400, codeMissingParameter, "RoleSessionName"},
		{"missing token", webIdentity(good, "analyst", "s1", "WebIdentityToken", del), 400, codeMissingParameter, "WebIdentityToken"},
		{"client grants token missing", url.Values{"Action": {"AssumeRoleWithClientGrants"}}, 400, codeMissingParameter, "Token"},
		{"session name too short", webIdentity(good, "analyst", "a"), 400, codeValidationError, "2 to 64"},
		{"session name bad char", webIdentity(good, "analyst", "al ice"), 400, codeValidationError, "only letters"},
		{"session name too long", webIdentity(good, "analyst", strings.Repeat("a", 65)), 400, codeValidationError, "2 to 64"},
		{"bad arn service", webIdentity(good, "arn:aws:s3:::analyst", "s1"), 400, codeValidationError, "not a role ARN"},
		{"bad arn user", webIdentity(good, "arn:aws:iam::1:user/analyst", "s1"), 400, codeValidationError, "not a role ARN"},
		{"bad arn empty name", webIdentity(good, "arn:aws:iam::1:role/", "s1"), 400, codeValidationError, "not a role ARN"},
		{"garbage token", webIdentity("not-a-jwt", "analyst", "s1"), 400, codeInvalidIdentityToken, "not a JWT"},
		{"expired token", webIdentity(expired, "analyst", "s1"), 400, codeExpiredToken, "token expired at"},
		{"wrong audience", webIdentity(wrongAud, "analyst", "s1"), 400, codeInvalidIdentityToken, "audience"},
		{"issuer unavailable", webIdentity(flaky, "analyst", "s1"), 400, codeIDPCommunicationError, "try again"},
		{"client grants invalid token", url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Token": {"x.y.z"}}, 400, codeInvalidClientGrantsToken, "not a valid"},
		{"no such role", webIdentity(good, "arn:aws:iam::1:role/ghost", "s1"), 403, codeAccessDenied, `Not authorized to perform sts:AssumeRoleWithWebIdentity: role "ghost" does not exist`},
		{"role does not trust", webIdentity(good, "admin", "s1"), 403, codeIDPRejectedClaim, `role "admin" does not trust this token: claim "groups" has no value matching "admins"`},
		{"role trusts another claim", webIdentity(good, "ci", "s1"), 403, codeIDPRejectedClaim, `claim "sub" has no value matching "repo:acme/*"`},
		{"client grants ambiguous", url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Token": {both}}, 400, codeMissingParameter, `RoleArn: several roles trust this token ("analyst", "admin")`},
		{"client grants no role", url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Token": {e.mint(t, map[string]any{"groups": "none"}, time.Hour)}}, 403, codeIDPRejectedClaim, "no role trusts"},
		{"revoked subject", webIdentity(mallory, "analyst", "s1"), 403, codeAccessDenied, "revoked"},
		{"policy not json", webIdentity(good, "analyst", "s1", "Policy", `{"Version":`), 400, codeMalformedPolicyDocument, "not valid JSON"},
		{"policy empty", webIdentity(good, "analyst", "s1", "Policy", ""), 400, codeMalformedPolicyDocument, "empty"},
		{"policy invalid language", webIdentity(good, "analyst", "s1", "Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Principal":"*"}]}`), 400, codeMalformedPolicyDocument, `policy "session"`},
		{"policy unknown action", webIdentity(good, "analyst", "s1", "Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteObjekt","Resource":"*"}]}`), 400, codeMalformedPolicyDocument,
			`Action "s3:DeleteObjekt": no such S3 action (did you mean "s3:DeleteObject"?)`},
		{"policy unknown service", webIdentity(good, "analyst", "s1", "Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s4:*","Resource":"*"}]}`), 400, codeMalformedPolicyDocument,
			`NotAction "s4:*": unknown service "s4" (did you mean "s3:*"?)`},
		{"policy pattern matching nothing", webIdentity(good, "analyst", "s1", "Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*Objekt","Resource":"*"}]}`), 400, codeMalformedPolicyDocument,
			`Action "s3:Get*Objekt": matches no S3 action`},
		{"policy too large", webIdentity(good, "analyst", "s1", "Policy", bigPolicy), 400, codePackedPolicyTooLarge, "the limit is 2048 bytes"},
		{"policy arns", webIdentity(good, "analyst", "s1", "PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/ReadOnly"), 400, codeInvalidParameterValue, "not supported"},
		{"provider id", webIdentity(good, "analyst", "s1", "ProviderId", "graph.facebook.com"), 400, codeInvalidParameterValue, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, get := range []bool{false, true} {
				resp, body := e.call(t, get, tt.params)
				wantError(t, resp, body, tt.status, tt.code, tt.msg, tt.params.Get("WebIdentityToken")+tt.params.Get("Token"))
				ev := e.lastEvent(t)
				if ev.ErrorCode != tt.code || ev.Status != tt.status || ev.AccessKeyID != "" || ev.SessionID != "" {
					t.Errorf("event = %+v", ev)
				}
				if tok := tt.params.Get("WebIdentityToken"); len(tok) > 20 && strings.Contains(ev.Error, tok) {
					t.Error("event error contains the token")
				}
			}
		})
	}
}

func TestMaxPolicySizeConfig(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxPolicySize = 100 })
	token := e.mint(t, nil, time.Hour)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}` // 96 bytes
	resp, body := e.call(t, false, webIdentity(token, "analyst", "s1", "Policy", policy))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out wireWebIdentity
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if p := out.Result.PackedPolicySize; p == nil || *p != 96 {
		t.Fatalf("PackedPolicySize = %v, want 96", *p)
	}
	// Without a policy, no PackedPolicySize.
	_, body = e.call(t, false, webIdentity(token, "analyst", "s1"))
	if bytes.Contains(body, []byte("PackedPolicySize")) {
		t.Fatalf("PackedPolicySize without a policy: %s", body)
	}
	resp, body = e.call(t, false, webIdentity(token, "analyst", "s1", "Policy", strings.Replace(policy, `"*"`, `"arn:aws:s3:::x/*"`, 1)))
	wantError(t, resp, body, 400, codePackedPolicyTooLarge, "limit is 100 bytes", token)
}

func TestSessionTooLarge(t *testing.T) {
	e := newTestEnv(t)
	groups := []string{"staff"}
	for i := range 300 {
		groups = append(groups, "group-with-a-long-name-"+strconv.Itoa(i))
	}
	token := e.mint(t, map[string]any{"groups": groups}, time.Hour)
	resp, body := e.call(t, false, webIdentity(token, "analyst", "s1"))
	wantError(t, resp, body, 400, codePackedPolicyTooLarge, "claims and the session policy are too large", token)
}

func TestRequestShape(t *testing.T) {
	e := newTestEnv(t)
	token := e.mint(t, nil, time.Hour)
	form := webIdentity(token, "analyst", "s1").Encode()

	t.Run("method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/?"+form, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, resp, body, 405, codeMethodNotAllowed, "GET and POST", token)
	})
	t.Run("body too large", func(t *testing.T) {
		big := form + "&Padding=" + strings.Repeat("x", MaxBodySize)
		resp, err := http.Post(e.srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, resp, body, 413, codeRequestEntityTooLarge, "65536", token)
	})
	t.Run("repeated parameter", func(t *testing.T) {
		resp, err := http.Post(e.srv.URL+"/?RoleArn=admin", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, resp, body, 400, codeInvalidParameterValue, `"RoleArn" is given more than once`, token)
	})
	t.Run("malformed encoding", func(t *testing.T) {
		resp, err := http.Post(e.srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=%zz"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, resp, body, 400, codeMalformedQueryString, "URL encoding", "")
	})
	t.Run("query on POST", func(t *testing.T) {
		resp, err := http.Post(e.srv.URL+"/?"+form, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("request id from config", func(t *testing.T) {
		e2 := newTestEnv(t, func(c *Config) { c.RequestID = func(*http.Request) string { return "RID-1" } })
		resp, body := e2.call(t, false, webIdentity(e2.mint(t, nil, time.Hour), "analyst", "s1"))
		if resp.Header.Get("X-Amz-Request-Id") != "RID-1" || !bytes.Contains(body, []byte("<RequestId>RID-1</RequestId>")) {
			t.Fatalf("request id not used: %s", body)
		}
	})
}

func TestResponseXMLShape(t *testing.T) {
	e := newTestEnv(t)
	resp, body := e.call(t, false, webIdentity(e.mint(t, nil, time.Hour), "analyst", "s1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := string(body)
	for _, want := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken><Audience>iamgate</Audience><AssumedRoleUser><Arn>arn:aws:sts::iamgate:assumed-role/analyst/s1</Arn><AssumedRoleId>AROA`,
		`</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>ASIA`,
		`</SessionToken><Expiration>` + testNow.Add(time.Hour).Format(time.RFC3339) + `</Expiration></Credentials><Provider>` + e.iss.URL() + `</Provider></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>`,
		`</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("response lacks %q:\n%s", want, s)
		}
	}
	resp, body = e.call(t, false, url.Values{"Action": {"Nope"}})
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>action &#34;Nope&#34; is not valid: iamgate supports AssumeRoleWithWebIdentity, AssumeRoleWithClientGrants and AssumeRoleWithLDAPIdentity</Message></Error><RequestId>` + resp.Header.Get("X-Amz-Request-Id") + `</RequestId></ErrorResponse>`
	if string(body) != want {
		t.Errorf("error document:\n got %s\nwant %s", body, want)
	}
}

func TestIsSTSRequest(t *testing.T) {
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		method, target, ctype string
		want                  bool
	}{
		{"POST", "/", form, true},
		{"POST", "/", form + "; charset=utf-8", true},
		{"POST", "/", "Application/X-WWW-Form-Urlencoded", true},
		{"POST", "/?Action=AssumeRoleWithWebIdentity", "", true},
		{"GET", "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15", "", true},
		{"GET", "/?Version=1&%41ction=AssumeRoleWithWebIdentity", "", true},
		{"GET", "/", "", false},
		{"GET", "/?list-type=2", "", false},
		{"GET", "/bucket?Action=x", "", false},
		{"POST", "/bucket", form, false},
		{"POST", "/?delete", form, false},
		{"POST", "/?uploads", "", false},
		{"POST", "/", "multipart/form-data; boundary=x", false},
		{"POST", "/", "application/xml", false},
		{"POST", "/", "", false},
		{"PUT", "/?Action=AssumeRoleWithWebIdentity", "", false},
		{"DELETE", "/", form, false},
		{"GET", "/?Actions=x", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if tt.ctype != "" {
			r.Header.Set("Content-Type", tt.ctype)
		}
		if got := IsSTSRequest(r); got != tt.want {
			t.Errorf("%s %s (%s) = %v, want %v", tt.method, tt.target, tt.ctype, got, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	e := newTestEnv(t)
	base := e.svc.cfg
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"nothing", func(c *Config) { *c = Config{} }, []string{"Engine is required", "Verifier is required", "Keys is required"}},
		{"unknown role", func(c *Config) { c.Roles = map[string]RoleSettings{"ghost": {}} }, []string{`role "ghost": no such role`}},
		{"max session too short", func(c *Config) { c.Roles = map[string]RoleSettings{"analyst": {MaxSession: time.Minute}} }, []string{"MaxSession must be between 15m0s and 12h0m0s, got 1m0s"}},
		{"max session too long", func(c *Config) { c.Roles = map[string]RoleSettings{"analyst": {MaxSession: 13 * time.Hour}} }, []string{"MaxSession must be between"}},
		{"negative policy size", func(c *Config) { c.MaxPolicySize = -1 }, []string{"MaxPolicySize must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func FuzzSTSParams(f *testing.F) {
	f.Add("Action=AssumeRoleWithWebIdentity&Version=2011-06-15", "RoleArn=arn:aws:iam::1:role/r&RoleSessionName=s1&WebIdentityToken=a.b.c&DurationSeconds=900")
	f.Add("", "Action=AssumeRoleWithClientGrants&Token=x&Policy=%7B%7D")
	f.Add("Action=AssumeRoleWithWebIdentity&Action=x", "")
	f.Add("Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::1:role/a/b/&RoleSessionName=%00%00&WebIdentityToken=t", "DurationSeconds=99999999999999999999")
	f.Add("%zz", "Policy=%7B%22a%22%3A%20%5B1%2C%202%5D%7D")
	f.Add("", "Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15&LDAPUsername=alice&LDAPPassword=s3cret-pw&DurationSeconds=900")
	f.Add("Action=AssumeRoleWithLDAPIdentity", "LDAPUsername=a%00b&LDAPPassword=x&RoleArn=arn:aws:iam::1:role/r&LDAPDirectory=corp")
	f.Fuzz(func(t *testing.T, query, body string) {
		vals, err := parseValues(query, body)
		if err != nil {
			if err.Status != 400 || err.Code == "" {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		req, err := parseRequest(vals, DefaultMaxPolicySize)
		if err != nil {
			if err.Status != 400 || err.Code == "" || len(err.Message) > 2000 {
				t.Fatalf("bad error %+v", err)
			}
			if tok := vals.Get("WebIdentityToken"); len(tok) > 16 && strings.Contains(err.Message, tok) {
				t.Fatalf("message contains the token")
			}
			if pw := vals.Get("LDAPPassword"); len(pw) > 8 && strings.Contains(err.Message, pw) {
				t.Fatalf("message contains the password")
			}
			return
		}
		switch req.action {
		case AssumeRoleWithWebIdentity, AssumeRoleWithClientGrants:
			if req.token == "" {
				t.Fatal("empty token accepted")
			}
		case AssumeRoleWithLDAPIdentity:
			if req.username == "" || req.password == "" || !printable(req.username) || len(req.username) > maxUsernameLength ||
				len(req.password) > maxPasswordLength || strings.IndexByte(req.password, 0) >= 0 {
				t.Fatalf("LDAP credentials accepted: %q", req.username)
			}
		default:
			t.Fatalf("action %q accepted", req.action)
		}
		if req.action == AssumeRoleWithWebIdentity && (req.roleName == "" || req.sessionName == "") {
			t.Fatalf("web identity request without role or session name: %+v", req)
		}
		if req.sessionName != "" && checkSessionName(req.sessionName) != nil {
			t.Fatalf("invalid session name %q accepted", req.sessionName)
		}
		if strings.ContainsAny(req.roleName, "/:") {
			t.Fatalf("role name %q", req.roleName)
		}
		if req.duration != 0 && req.duration < MinDuration {
			t.Fatalf("duration %v accepted", req.duration)
		}
		if req.policy != nil && (len(req.policy) > DefaultMaxPolicySize || len(req.policy) == 0) {
			t.Fatalf("policy of %d bytes accepted", len(req.policy))
		}
	})
}

func BenchmarkAssumeRoleWithWebIdentity(b *testing.B) {
	e := newTestEnv(b, func(c *Config) { c.OnEvent = nil })
	token := e.mint(b, nil, 2*time.Hour)
	form := webIdentity(token, "arn:aws:iam::1:role/analyst", "bench").Encode()
	do := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.svc.ServeHTTP(w, r)
		return w
	}
	if w := do(); w.Code != 200 { // warms the verifier cache
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w := do(); w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
