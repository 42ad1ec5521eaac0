package sts

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/authz"
)

// withAgents replaces the engine with one that also has an agent role,
// trusting client_id "agent-*" of issuer corp, and a second role trusting
// agent-2 as well (so agent-2 has to name its role).
func withAgents(t testing.TB) func(*Config) {
	return func(cfg *Config) {
		eng, err := authz.Compile(authz.Config{
			Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
			Roles: []authz.RoleConfig{
				{Name: "analyst", Kind: authz.KindHuman, Policies: []string{"read"},
					Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}}},
				{Name: "agent", Kind: authz.KindAgent, Policies: []string{"read"},
					Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"client_id": "agent-*"}}}},
				{Name: "agent-admin", Kind: authz.KindAgent, Policies: []string{"read"},
					Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"client_id": "agent-2"}}}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Engine = eng
		cfg.Roles = map[string]RoleSettings{"agent": {MaxSession: 2 * time.Hour, SessionMayOutliveToken: true}}
	}
}

type wireExchange struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
	ActorRole       string `json:"actor_role"`
	Error           string `json:"error"`
	Description     string `json:"error_description"`
}

func exchangeParams(subject, actor string, extra ...string) url.Values {
	v := url.Values{
		"grant_type":         {GrantTypeTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {TokenTypeJWT},
	}
	if actor != "" {
		v.Set("actor_token", actor)
		v.Set("actor_token_type", TokenTypeAccessToken)
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

func (e *testEnv) exchange(t *testing.T, params url.Values) (int, wireExchange) {
	t.Helper()
	resp, body := e.call(t, false, params)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q: %s", ct, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
	var out wireExchange
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return resp.StatusCode, out
}

func TestTokenExchange(t *testing.T) {
	e := newTestEnv(t, withAgents(t))
	person := e.mint(t, map[string]any{"sub": "alice", "email": "alice@example.com"}, 30*time.Minute)
	agent := e.mint(t, map[string]any{"sub": "agent-1", "client_id": "agent-1", "groups": nil}, 20*time.Minute)

	status, out := e.exchange(t, exchangeParams(person, agent, "role_session_name", "report-run"))
	if status != http.StatusOK {
		t.Fatalf("status %d: %+v", status, out)
	}
	if out.IssuedTokenType != TokenTypeAWSCredentials || out.TokenType != "N_A" || out.Version != 1 ||
		out.AccessToken == "" || out.AccessToken != out.SessionToken || out.ActorRole != "agent" {
		t.Fatalf("response %+v", out)
	}
	// Never beyond the earlier token: the person's role does not allow it.
	wantExp := testNow.Add(20 * time.Minute)
	if out.Expiration != wantExp.Format(time.RFC3339) || out.ExpiresIn != int64(20*time.Minute/time.Second) {
		t.Fatalf("expiration %s (%d s), want %s", out.Expiration, out.ExpiresIn, wantExp.Format(time.RFC3339))
	}
	s, err := e.keys.Open(out.SessionToken, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if s.Subject != "alice" || s.Roles[0] != "analyst" || s.Actor == nil || s.Actor.Subject != "agent-1" ||
		s.Actor.Issuer != "corp" || s.Actor.Roles[0] != "agent" || s.AccessKeyID != out.AccessKeyID || s.RoleSessionName != "report-run" {
		t.Fatalf("session %+v actor %+v", s, s.Actor)
	}
	ev := e.lastEvent(t)
	if ev.Action != "TokenExchange" || ev.Status != 200 || ev.Subject != "alice" || ev.Role != "analyst" ||
		ev.ActorSubject != "agent-1" || ev.ActorRole != "agent" || ev.SessionID != s.ID {
		t.Fatalf("event %+v", ev)
	}
}

func TestTokenExchangeChain(t *testing.T) {
	// A subject token that is itself delegated: the actor token's holder
	// becomes the current actor, the earlier one its chain.
	e := newTestEnv(t, withAgents(t))
	person := e.mint(t, map[string]any{"act": map[string]any{"sub": "orchestrator"}}, time.Hour)
	agent := e.mint(t, map[string]any{"sub": "agent-1", "client_id": "agent-1", "groups": nil}, time.Hour)
	status, out := e.exchange(t, exchangeParams(person, agent))
	if status != http.StatusOK {
		t.Fatalf("status %d: %+v", status, out)
	}
	s, err := e.keys.Open(out.SessionToken, testNow)
	if err != nil {
		t.Fatal(err)
	}
	prior, _ := s.Actor.Claims["act"].(map[string]any)
	if s.Actor.Subject != "agent-1" || prior["sub"] != "orchestrator" {
		t.Fatalf("actor %+v", s.Actor)
	}
}

func TestTokenExchangeFromActClaim(t *testing.T) {
	// Without actor_token, a subject token with an act claim (from an
	// identity provider that did the exchange) names the actor.
	e := newTestEnv(t, withAgents(t))
	tok := e.mint(t, map[string]any{"act": map[string]any{"sub": "agent-1", "client_id": "agent-1"}}, time.Hour)
	status, out := e.exchange(t, exchangeParams(tok, ""))
	if status != http.StatusOK || out.ActorRole != "agent" {
		t.Fatalf("status %d: %+v", status, out)
	}
}

func TestTokenExchangeErrors(t *testing.T) {
	e := newTestEnv(t, withAgents(t))
	person := e.mint(t, nil, time.Hour)
	agent := e.mint(t, map[string]any{"sub": "agent-1", "client_id": "agent-1", "groups": nil}, time.Hour)
	agent2 := e.mint(t, map[string]any{"sub": "agent-2", "client_id": "agent-2", "groups": nil}, time.Hour)
	stranger := e.mint(t, map[string]any{"sub": "bob", "groups": nil}, time.Hour)
	expired := e.mint(t, map[string]any{"sub": "agent-1", "client_id": "agent-1", "groups": nil}, -time.Hour)
	tests := []struct {
		name   string
		params url.Values
		status int
		code   string
		desc   string
	}{
		{"wrong grant type", exchangeParams(person, agent, "grant_type", "client_credentials"), 400, "unsupported_grant_type", "grant_type"},
		{"no subject token", exchangeParams("", agent), 400, "invalid_request", "subject_token"},
		{"no subject token type", exchangeParams(person, agent, "subject_token_type", "\x00"), 400, "invalid_request", "subject_token_type"},
		{"unknown token type", exchangeParams(person, agent, "subject_token_type", "urn:ietf:params:oauth:token-type:saml2"), 400, "invalid_request", "subject_token_type"},
		{"no actor token type", exchangeParams(person, agent, "actor_token_type", "\x00"), 400, "invalid_request", "actor_token_type"},
		{"actor type without token", exchangeParams(person, "", "actor_token_type", TokenTypeJWT), 400, "invalid_request", "without actor_token"},
		{"no actor at all", exchangeParams(person, ""), 400, "invalid_request", "actor_token"},
		{"other token type asked", exchangeParams(person, agent, "requested_token_type", TokenTypeAccessToken), 400, "invalid_request", "requested_token_type"},
		{"bad subject token", exchangeParams("x.y.z", agent), 400, "invalid_grant", "subject_token was rejected"},
		{"expired actor token", exchangeParams(person, expired), 400, "invalid_grant", "actor_token was rejected"},
		{"no role trusts the actor", exchangeParams(person, stranger), 400, "unauthorized_client", "no role trusts the actor"},
		{"actor role does not trust", exchangeParams(person, agent, "actor_role", "agent-admin"), 400, "unauthorized_client", "does not trust the actor"},
		{"several roles trust the actor", exchangeParams(person, agent2), 400, "invalid_request", "actor's role"},
		{"person role does not trust", exchangeParams(person, agent, "role", "agent"), 400, "unauthorized_client", "does not trust"},
		{"bad role", exchangeParams(person, agent, "role", "arn:aws:s3:::x"), 400, "invalid_request", "role"},
		{"duration above the maximum", exchangeParams(person, agent, "duration_seconds", "7200"), 400, "invalid_request", "maximum session duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.exchange(t, tt.params)
			if status != tt.status || out.Error != tt.code || !strings.Contains(out.Description, tt.desc) || out.AccessToken != "" {
				t.Fatalf("got %d %s %q, want %d %s containing %q", status, out.Error, out.Description, tt.status, tt.code, tt.desc)
			}
		})
	}
	t.Run("several roles trust the actor, one named", func(t *testing.T) {
		if status, out := e.exchange(t, exchangeParams(person, agent2, "actor_role", "arn:aws:iam::iamgate:role/agent-admin")); status != 200 || out.ActorRole != "agent-admin" {
			t.Fatalf("%d %+v", status, out)
		}
	})
	t.Run("query string", func(t *testing.T) {
		resp, body := e.call(t, true, exchangeParams(person, agent))
		if resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_request") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func TestTokenExchangeMayOutliveOnlyWhenBothAllow(t *testing.T) {
	both := func(cfg *Config) {
		withAgents(t)(cfg)
		cfg.Roles["analyst"] = RoleSettings{MaxSession: 2 * time.Hour, SessionMayOutliveToken: true}
	}
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want time.Duration
	}{
		{"only the agent's role allows", withAgents(t), 10 * time.Minute},
		{"both allow", both, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.mod)
			person := e.mint(t, nil, 10*time.Minute)
			agent := e.mint(t, map[string]any{"sub": "agent-1", "client_id": "agent-1", "groups": nil}, time.Hour)
			status, out := e.exchange(t, exchangeParams(person, agent))
			if status != 200 || out.ExpiresIn != int64(tt.want/time.Second) {
				t.Fatalf("%d expires_in %d, want %v: %+v", status, out.ExpiresIn, tt.want, out)
			}
		})
	}
}

func TestAssumeRoleWithWebIdentityActClaim(t *testing.T) {
	e := newTestEnv(t, withAgents(t))
	tok := e.mint(t, map[string]any{"act": map[string]any{"sub": "agent-1", "client_id": "agent-1", "act": map[string]any{"sub": "orchestrator"}}}, time.Hour)
	resp, body := e.call(t, false, webIdentity(tok, "analyst", "run-1"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var out wireWebIdentity
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	s, err := e.keys.Open(out.Result.Credentials.SessionToken, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if s.Subject != "alice" || s.Actor == nil || s.Actor.Subject != "agent-1" || s.Actor.Roles[0] != "agent" || s.Actor.Issuer != "corp" {
		t.Fatalf("session %+v actor %+v", s, s.Actor)
	}
	if ev := e.lastEvent(t); ev.ActorSubject != "agent-1" || ev.ActorRole != "agent" {
		t.Fatalf("event %+v", ev)
	}

	for _, tt := range []struct {
		name  string
		act   any
		extra []string
		code  string
		msg   string
	}{
		{"malformed act", "agent-1", nil, "InvalidIdentityToken", "not a JSON object"},
		{"no role trusts the actor", map[string]any{"sub": "stranger"}, nil, "IDPRejectedClaim", "no role trusts the actor"},
		{"unknown actor issuer", map[string]any{"sub": "agent-1", "client_id": "agent-1", "iss": "https://elsewhere.example"}, nil, "IDPRejectedClaim", "not a configured issuer"},
		{"named actor role that does not trust", map[string]any{"sub": "agent-1", "client_id": "agent-1"}, []string{"ActorRoleArn", "agent-admin"}, "IDPRejectedClaim", "does not trust the actor"},
		{"ActorRoleArn without act", nil, []string{"ActorRoleArn", "agent"}, "InvalidParameterValue", "no act claim"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{}
			if tt.act != nil {
				claims["act"] = tt.act
			}
			resp, body := e.call(t, false, webIdentity(e.mint(t, claims, time.Hour), "analyst", "run-1", tt.extra...))
			var we wireError
			if err := xml.Unmarshal(body, &we); err != nil {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if we.Error.Code != tt.code || !strings.Contains(we.Error.Message, tt.msg) {
				t.Fatalf("%d %s: %s", resp.StatusCode, we.Error.Code, we.Error.Message)
			}
		})
	}
}

func FuzzTokenExchangeParams(f *testing.F) {
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&actor_token=d.e.f&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&role=analyst&actor_role=arn%3Aaws%3Aiam%3A%3Aiamgate%3Arole%2Fagent&duration_seconds=900")
	f.Add("grant_type=x&role=a%2Fb&role_session_name=%00")
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=&duration_seconds=-1")
	f.Fuzz(func(t *testing.T, body string) {
		vals, aerr := parseValues("", body)
		if aerr != nil {
			return
		}
		req, err := parseExchange(vals)
		if err != nil {
			if tok := vals.Get("subject_token"); err.Code == "" || err.Status != http.StatusBadRequest || len(tok) > 8 && strings.Contains(err.Message, tok) {
				t.Fatalf("error %+v", err)
			}
			if o := toOAuth(err); o.Code != err.Code {
				t.Fatalf("parse error %q is not an OAuth code", err.Code)
			}
			return
		}
		if req.subjectToken == "" || vals.Get("grant_type") != GrantTypeTokenExchange {
			t.Fatalf("accepted %q", body)
		}
		if req.duration != 0 && (req.duration < MinDuration || req.duration > MaxMaxSession) {
			t.Fatalf("duration %v accepted", req.duration)
		}
		if strings.ContainsAny(req.role+req.actorRole, ":/") {
			t.Fatalf("role names %q %q", req.role, req.actorRole)
		}
	})
}
