package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/testenv"
)

const delegationPolicies = `
policies:
  person: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::eng-data/*"},
      {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/*"}]}
  agent: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::eng-data/*", "arn:aws:s3:::tools/*"]}]}
`

// hydraIDToken signs user in at Hydra through the authorization code flow
// of client (whose redirect URI is redirect, never reached) and returns
// the ID token.
func hydraIDToken(t *testing.T, hy *testenv.Hydra, client *testenv.HydraClient, redirect, user, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	q := url.Values{"client_id": {client.ID}, "response_type": {"code"}, "scope": {"openid profile email"},
		"redirect_uri": {redirect}, "state": {"state-0123456789"}, "nonce": {"nonce-0123456789"}}
	resp := hy.SubmitLogin(t, c, hy.IssuerURL+"oauth2/auth?"+q.Encode(), user, password)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no authorization code: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}}
	req, _ := http.NewRequest(http.MethodPost, hy.IssuerURL+"oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(client.Secret))
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	b, _ := io.ReadAll(tr.Body)
	if err := json.Unmarshal(b, &out); err != nil || out.IDToken == "" {
		t.Fatalf("token endpoint: %s %s", tr.Status, b)
	}
	return out.IDToken
}

type delegatedCreds struct{ AccessKeyID, SecretAccessKey, SessionToken string }

func TestIntegrationDelegation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	m := testenv.StartMinIO(t)
	hy := testenv.StartHydra(t)
	agent := hy.Client(t, map[string]any{"agent_run": "run-42"}, "iamgate")
	hy.AddUser(t, "alice", "alice-password", map[string]any{"groups": []any{"eng"}})
	// carol's tokens come from an identity provider that did the exchange
	// itself: they carry an act claim naming the agent.
	hy.AddUser(t, "carol", "carol-password", map[string]any{"groups": []any{"eng"},
		"act": map[string]any{"sub": agent.ID, "client_id": agent.ID, "act": map[string]any{"sub": "orchestrator"}}})
	const redirect = "http://127.0.0.1:1/callback"
	browser := hy.BrowserClient(t, []string{redirect, "http://127.0.0.1:1/_iamgate/callback"}, nil)

	dir := t.TempDir()
	t.Setenv("DG_MINIO_USER", m.AccessKey)
	t.Setenv("DG_MINIO_PASSWORD", m.SecretKey)
	t.Setenv("DG_SESSION_KEY", "delegation-session-key-0123456789abcdef")
	t.Setenv("BT_CLIENT_SECRET", browser.Secret)
	auditFile := filepath.Join(dir, "audit.log")
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream:
  endpoint: %s
  access_key_id: env:DG_MINIO_USER
  secret_access_key: env:DG_MINIO_PASSWORD
server:
  shutdown_grace: 2s
sts:
  session_keys: [{id: k1, secret: env:DG_SESSION_KEY}]
issuers:
  - name: hydra
    url: %s
    audiences: [iamgate, %s]
    clock_skew: 1s
%s
roles:
  - name: engineering
    kind: human
    trust: {issuer: hydra, claims: {groups: eng}}
    policies: [person]
  - name: agent
    kind: agent
    trust: {issuer: hydra, claims: {client_id: %q}}
    policies: [agent]
audit:
  stdout: false
  file: %s
log: {level: warn, format: text}
%s`, m.Endpoint, hy.IssuerURL, browser.ID, fmt.Sprintf(browserLogin, browser.ID), agent.ID, auditFile, delegationPolicies))
	_, base := startApp(t, cfg)
	hy.SetClientURIs(t, browser, []string{redirect, base + "/_iamgate/callback"}, []string{base + "/_iamgate/signedout"})
	for _, b := range []string{"eng-data", "home", "tools"} {
		m.MakeBucket(t, b)
	}
	m.PutObject(t, "eng-data", "report.csv", []byte("q1,42\n"))
	m.PutObject(t, "home", "notes.txt", []byte("alice's notes\n"))
	m.PutObject(t, "tools", "model.bin", []byte("weights\n"))

	// checkBoth asserts that creds can do only what both roles allow.
	checkBoth := func(t *testing.T, creds delegatedCreds) {
		t.Helper()
		c, err := minio.New(strings.TrimPrefix(base, "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken), Region: "us-east-1", MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		status := func(err error) int {
			if err == nil {
				return 200
			}
			return minio.ToErrorResponse(err).StatusCode
		}
		if _, err := c.StatObject(ctx, "eng-data", "report.csv", minio.StatObjectOptions{}); err != nil {
			t.Errorf("read allowed by both: %v", err)
		}
		_, err = c.PutObject(ctx, "eng-data", "written-by-agent.txt", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		if s := status(err); s != 403 || !strings.Contains(minio.ToErrorResponse(err).Message, "the agent acting for it") {
			t.Errorf("write allowed by the person only: %d %v", s, err)
		}
		if _, err := c.StatObject(ctx, "home", "notes.txt", minio.StatObjectOptions{}); status(err) != 403 {
			t.Errorf("read of home (the person only): %v", err)
		}
		if _, err := c.StatObject(ctx, "tools", "model.bin", minio.StatObjectOptions{}); status(err) != 403 {
			t.Errorf("read of tools (the agent only): %v", err)
		}
	}

	// 1. Token exchange: alice's ID token and the agent's access token.
	aliceToken := hydraIDToken(t, hy, browser, redirect, "alice", "alice-password")
	agentToken := hy.Token(t, agent, "iamgate")
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {aliceToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
		"actor_token":        {agentToken},
		"actor_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"role_session_name":  {"nightly-report"},
	}
	resp, err := http.Post(base+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ex struct {
		IssuedTokenType string `json:"issued_token_type"`
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		ActorRole       string `json:"actor_role"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &ex) != nil || ex.SessionToken == "" || ex.ActorRole != "agent" {
		t.Fatalf("token exchange: %d %s", resp.StatusCode, body)
	}
	exchanged := delegatedCreds{ex.AccessKeyID, ex.SecretAccessKey, ex.SessionToken}
	t.Run("token exchange", func(t *testing.T) { checkBoth(t, exchanged) })

	// The agent alone cannot exchange someone else's token for itself:
	// without actor_token there is no actor.
	form.Del("actor_token")
	form.Del("actor_token_type")
	resp, err = http.Post(base+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"error":"invalid_request"`) {
		t.Fatalf("exchange without actor: %d %s", resp.StatusCode, body)
	}

	// 2. AssumeRoleWithWebIdentity with carol's act-carrying ID token.
	carolToken := hydraIDToken(t, hy, browser, redirect, "carol", "carol-password")
	resp, err = http.PostForm(base+"/", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"RoleArn": {"arn:aws:iam::000000000000:role/engineering"}, "RoleSessionName": {"carol-agent"}, "WebIdentityToken": {carolToken}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	field := func(name string) string {
		m := regexp.MustCompile("<" + name + ">([^<]*)</" + name + ">").FindSubmatch(body)
		if m == nil {
			t.Fatalf("AssumeRoleWithWebIdentity: %d %s", resp.StatusCode, body)
		}
		return string(m[1])
	}
	viaAct := delegatedCreds{field("AccessKeyId"), field("SecretAccessKey"), field("SessionToken")}
	t.Run("act claim", func(t *testing.T) { checkBoth(t, viaAct) })

	// The same token as a bearer token: the holder is the actor too.
	t.Run("act claim, bearer", func(t *testing.T) {
		for _, c := range []struct {
			path string
			want int
		}{{"/eng-data/report.csv", 200}, {"/home/notes.txt", 403}, {"/tools/model.bin", 403}} {
			req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+carolToken)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != c.want {
				t.Errorf("GET %s with carol's act-carrying token: %d, want %d", c.path, r.StatusCode, c.want)
			}
		}
	})

	// The audit events name both: the person as the user, the agent as the
	// actor with its role.
	t.Run("audit", func(t *testing.T) {
		if _, err := auditschema.File(auditFile); err != nil {
			t.Fatalf("the audit log does not follow the schema: %v", err)
		}
		events := readAuditEvents(t, auditFile)
		var s3Alice, s3Carol, stsEx, bearer int
		for _, ev := range events {
			switch {
			case ev.Kind == "sts" && ev.Operation == "TokenExchange" && ev.Decision == "allow":
				stsEx++
				if ev.Subject != "alice" || ev.Actor == nil || ev.Actor.Subject != agent.ID || ev.Actor.Role != "agent" {
					t.Errorf("token exchange event: subject %q actor %+v", ev.Subject, ev.Actor)
				}
			case ev.Kind == "s3" && ev.AccessKeyID == exchanged.AccessKeyID:
				s3Alice++
				if ev.Subject != "alice" || ev.Actor == nil || ev.Actor.Subject != agent.ID || ev.Actor.Role != "agent" || ev.Actor.ClientID != agent.ID {
					t.Errorf("s3 event of the exchanged session: subject %q actor %+v", ev.Subject, ev.Actor)
				}
			case ev.Kind == "s3" && ev.AuthMethod == "bearer" && ev.Subject == "carol":
				bearer++
				if ev.Actor == nil || ev.Actor.Subject != agent.ID || ev.Actor.Role != "agent" {
					t.Errorf("bearer event: actor %+v", ev.Actor)
				}
			case ev.Kind == "s3" && ev.AccessKeyID == viaAct.AccessKeyID:
				s3Carol++
				if ev.Subject != "carol" || ev.Actor == nil || ev.Actor.Subject != agent.ID || ev.Actor.Role != "agent" ||
					ev.Actor.Act == nil || ev.Actor.Act.Subject != "orchestrator" {
					t.Errorf("s3 event of the act session: subject %q actor %+v", ev.Subject, ev.Actor)
				}
			}
		}
		if stsEx != 1 || s3Alice != 4 || s3Carol != 4 || bearer != 3 {
			t.Errorf("events: %d token exchanges, %d, %d and %d S3 requests", stsEx, s3Alice, s3Carol, bearer)
		}
	})

	// 3. The console: alice sees the session acting for her and revokes it.
	t.Run("console", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		r := hy.SubmitLogin(t, c, base+"/_iamgate/login?rd="+url.QueryEscape("/_iamgate/ui/delegations"), "alice", "alice-password")
		page, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(page), "Agents acting for you") {
			t.Fatalf("console: %d at %s:\n%s", r.StatusCode, r.Request.URL, page)
		}
		var sid string
		if m := regexp.MustCompile(`data-session-id="([^"]+)"`).FindAllSubmatch(page, -1); len(m) == 1 {
			sid = string(m[0][1])
		} else {
			t.Fatalf("want one delegated session listed, got %d:\n%s", len(m), page)
		}
		if !strings.Contains(string(page), agent.ID) || !strings.Contains(string(page), "nightly-report") {
			t.Fatalf("the listing does not name the agent and the session:\n%s", page)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if csrf == nil {
			t.Fatal("no CSRF token in the form")
		}
		r2, err := c.PostForm(base+"/_iamgate/delegations/revoke", url.Values{"session_id": {sid}, "csrf": {string(csrf[1])}})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 200 || !strings.Contains(string(after), "is revoked") {
			t.Fatalf("revoke: %d %s", r2.StatusCode, after)
		}
		r3, err := c.Get(base + "/_iamgate/ui/delegations")
		if err != nil {
			t.Fatal(err)
		}
		again, _ := io.ReadAll(r3.Body)
		r3.Body.Close()
		if !strings.Contains(string(again), `class="delegation revoked" data-session-id="`+sid+`"`) {
			t.Fatalf("the listing does not show the session as revoked:\n%s", again)
		}
		mc, _ := minio.New(strings.TrimPrefix(base, "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(exchanged.AccessKeyID, exchanged.SecretAccessKey, exchanged.SessionToken), Region: "us-east-1", MaxRetries: 1})
		_, err = mc.StatObject(context.Background(), "eng-data", "report.csv", minio.StatObjectOptions{})
		if err == nil || minio.ToErrorResponse(err).StatusCode != 400 {
			t.Fatalf("the revoked session still works: %v", err)
		}
		// carol's session, not revoked, still works.
		checkBoth(t, viaAct)
	})

	// 4. The answer of a token exchange is a credential_process document:
	// the AWS CLI uses it through the script docs/clients.md shows.
	for _, cli := range awsCLIs(t) {
		t.Run("credential_process "+cli.version, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "person.jwt"), aliceToken)
			writeFile(t, filepath.Join(dir, "agent.jwt"), agentToken)
			script := filepath.Join(dir, "agent-credentials")
			writeFile(t, script, fmt.Sprintf(`#!/bin/sh
exec curl -sf %s/ \
  --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
  --data-urlencode 'subject_token@%s' \
  --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:id_token \
  --data-urlencode 'actor_token@%s' \
  --data-urlencode actor_token_type=urn:ietf:params:oauth:token-type:access_token
`, base, filepath.Join(dir, "person.jwt"), filepath.Join(dir, "agent.jwt")))
			if err := os.Chmod(script, 0o755); err != nil {
				t.Fatal(err)
			}
			cfgFile := filepath.Join(dir, "config")
			writeFile(t, cfgFile, "[profile agent]\nregion = us-east-1\ncredential_process = "+script+"\n")
			run := func(args ...string) (string, error) {
				cmd := exec.Command(cli.path, append([]string{"--profile", "agent", "--endpoint-url", base}, args...)...)
				cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+cfgFile, "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+dir)
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := run("s3api", "head-object", "--bucket", "eng-data", "--key", "report.csv"); err != nil {
				t.Fatalf("a read both roles allow: %v\n%s", err, out)
			}
			if out, err := run("s3api", "head-object", "--bucket", "home", "--key", "notes.txt"); err == nil || !strings.Contains(out, "403") {
				t.Fatalf("a read only the person's role allows: %v\n%s", err, out)
			}
		})
	}
}

func readAuditEvents(t *testing.T, path string) []*audit.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*audit.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ev, err := audit.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("audit line: %v", err)
		}
		out = append(out, ev)
	}
	return out
}
