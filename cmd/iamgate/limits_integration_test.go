package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/limits"
)

const limitsConfig = `
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:MINIO_KEY, secret_access_key: env:MINIO_SECRET}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles:
  - name: agents
    kind: agent
    trust: {issuer: dev, claims: {sub: "agent-*"}}
    policies: [read]
    limits:
      concurrent_requests: 1
      bytes_downloaded: 42MiB
      window: 1h
      per: [session, identity]
      claim: agent_run
    escalation: {window: 1h, deny_after: 3, revoke_after: 5, revoke: identity}
policies:
  read: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::data","arn:aws:s3:::data/*"]}]}'
state: {redis: {url: %q}}
alerts: {webhook: %q}
audit: {file: %q, claims: [agent_run]}
log: {level: error}
`

// TestIntegrationAgentKillSwitch: an agent that downloads a bucket through
// two replicas sharing one Redis is throttled (503 SlowDown), then denied
// by the byte budget the replicas share (403 naming it), then denied by
// the kill switch, then revoked with every session of its agent_run on
// both replicas; each step is audited and alerted.
func TestIntegrationAgentKillSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO and redis-server")
	}
	m := testenv.StartMinIO(t)
	rd := testenv.StartRedis(t)
	iss := devissuer.StartTest(t)
	m.MakeBucket(t, "data")
	const mib = 1 << 20
	m.PutObject(t, "data", "big.bin", bytes.Repeat([]byte("b"), 32*mib))
	for i := 1; i <= 4; i++ {
		m.PutObject(t, "data", fmt.Sprintf("part-%d", i), bytes.Repeat([]byte("p"), 4*mib))
	}

	var mu sync.Mutex
	var alerts []limits.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a limits.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("alert body: %v", err)
		}
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	t.Setenv("MINIO_KEY", m.AccessKey)
	t.Setenv("MINIO_SECRET", m.SecretKey)
	cfgA, cfgB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, cfgA, fmt.Sprintf(limitsConfig, m.Endpoint, iss.URL(), rd.URL, hook.URL, filepath.Join(dir, "audit-a.log")))
	writeFile(t, cfgB, fmt.Sprintf(limitsConfig, m.Endpoint, iss.URL(), rd.URL, hook.URL, filepath.Join(dir, "audit-b.log")))
	if code, out, errOut := runCLI(t, "check", "-config", cfgA); code != 0 {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	a, b := startReplica(t, cfgA), startReplica(t, cfgB)

	mint := func(sub string) string {
		tok, err := iss.Mint(map[string]any{"sub": sub, "aud": "iamgate", "agent_run": "r-42"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok, other := mint("agent-1"), mint("agent-2") // two sessions of run r-42
	bystander, err := iss.Mint(map[string]any{"sub": "agent-3", "aud": "iamgate", "agent_run": "r-7"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	do := func(r *app, path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.Addr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	expect := func(r *app, path, token string, status int, code, text string) *http.Response {
		t.Helper()
		res := do(r, path, token)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != status || !strings.Contains(string(body), code) || !strings.Contains(string(body), text) {
			t.Fatalf("GET %s on %s: %d %s, want %d %s %q", path, r.Addr(), res.StatusCode, body, status, code, text)
		}
		return res
	}

	// The agent lists the bucket and starts downloading it.
	expect(a, "/data?list-type=2", tok, 200, "<Key>big.bin</Key>", "part-4")
	// 32 MiB, counted at once; read later, so that its request stays in
	// flight (more than loopback socket buffers hold).
	big := do(a, "/data/big.bin", tok)
	if big.StatusCode != 200 {
		t.Fatalf("big.bin: %d", big.StatusCode)
	}
	// Throttled: one request at a time per session on a replica.
	res := expect(a, "/data/part-1", tok, 503, "<Code>SlowDown</Code>", "concurrent_requests")
	if res.Header.Get("Retry-After") == "" {
		t.Error("SlowDown without Retry-After")
	}
	if n, _ := io.Copy(io.Discard, big.Body); n != 32*mib {
		t.Fatalf("big.bin: %d bytes", n)
	}
	big.Body.Close()
	// Replica a carries its counts to Redis with its next admission or
	// within 25 ms; Flush stands for that wait.
	if err := a.limits.limiter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The byte budget is shared with replica b: 32 + 4 + 4 MiB of 42 MiB
	// leaves too little for another 4 MiB object, refused before its
	// first byte.
	expect(b, "/data/part-1", tok, 200, "pppp", "")
	expect(b, "/data/part-2", tok, 200, "pppp", "")
	expect(b, "/data/part-3", tok, 403, "<Code>AccessDenied</Code>", "Limit bytes_downloaded per session reached (41943040 of 44040192); it resets at ")
	// Third limit hit: the kill switch denies the session, on both replicas.
	expect(b, "/data/part-4", tok, 403, "AccessDenied", "bytes_downloaded")
	expect(a, "/data/part-1", tok, 403, "AccessDenied", "denied after repeated limit hits")
	// Fifth: every session of run r-42 is revoked, on both replicas.
	expect(b, "/data?list-type=2", tok, 403, "AccessDenied", "denied after repeated limit hits")
	for _, r := range []*app{a, b} {
		for _, tk := range []string{tok, other} {
			deadline := time.Now().Add(2 * time.Second)
			for {
				res := do(r, "/data?list-type=2", tk)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == 400 && strings.Contains(string(body), "<Code>ExpiredToken</Code>") && strings.Contains(string(body), "revoked") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the revocation, on %s: %d %s", r.Addr(), res.StatusCode, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	// Another run is not affected.
	expect(a, "/data/part-1", bystander, 200, "pppp", "")

	// The alerts: deny, then revoke_identity, naming who, what and how much.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(alerts)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	got := append([]limits.Alert(nil), alerts...)
	mu.Unlock()
	if len(got) != 2 || got[0].Step != limits.StepDeny || got[1].Step != limits.StepRevokeIdentity {
		t.Fatalf("alerts %+v", got)
	}
	for _, al := range got {
		if al.Role != "agents" || al.RoleKind != "agent" || al.Subject != "agent-1" || al.Identity != "r-42" || al.Issuer != "dev" ||
			!strings.Contains(al.Usage, "bytes_downloaded 41943040 of 44040192") {
			t.Errorf("alert %+v", al)
		}
	}
	if got[0].Hits != 3 || got[1].Hits != 5 || got[1].RevocationID == "" || got[1].Error != "" {
		t.Errorf("alerts %+v", got)
	}

	// Audit: the refusals and both steps.
	auditA, _ := os.ReadFile(filepath.Join(dir, "audit-a.log"))
	auditB, _ := os.ReadFile(filepath.Join(dir, "audit-b.log"))
	log := string(auditA) + string(auditB)
	for _, want := range []string{`"reason":"limit_concurrent_requests"`, `"reason":"limit_bytes_downloaded"`,
		`"reason":"limit_escalation_denied"`, `"eventName":"LimitEscalation"`, `"reason":"deny"`, `"reason":"revoke_identity"`,
		`"reason":"revoked"`} {
		if !strings.Contains(log, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	// The report per run.
	code, out, errOut := runCLI(t, "audit", "report", "--by", "agent_run", "--json",
		filepath.Join(dir, "audit-a.log"), filepath.Join(dir, "audit-b.log"))
	if code != 0 {
		t.Fatalf("audit report --by: %d %s", code, errOut)
	}
	var rep struct {
		Values []struct {
			Value       string
			BytesRead   int64 `json:"bytes_read"`
			ObjectsRead int64 `json:"objects_read"`
			Denials     int64
			LimitHits   map[string]int64 `json:"limit_hits"`
			Escalations map[string]int64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Values) != 2 || rep.Values[0].Value != "r-42" || rep.Values[0].BytesRead != 40*mib ||
		rep.Values[0].ObjectsRead != 3 || rep.Values[0].LimitHits["bytes_downloaded"] != 2 ||
		rep.Values[0].LimitHits["concurrent_requests"] != 1 || rep.Values[0].Escalations["deny"] != 1 ||
		rep.Values[0].Escalations["revoke_identity"] != 1 || rep.Values[1].Value != "r-7" {
		t.Errorf("report by agent_run: %s", out)
	}
	metrics := scrape(t, b.MetricsAddr()) + scrape(t, a.MetricsAddr())
	for _, want := range []string{`iamgate_limit_hits_total{limit="bytes_downloaded",role_kind="agent"} 2`,
		`iamgate_escalations_total{role_kind="agent",step="deny"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "iamgate_limit"))
		}
	}
	if !strings.Contains(metrics, `iamgate_escalations_total{role_kind="agent",step="revoke_identity"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(metrics, "iamgate_escalations"))
	}
}
