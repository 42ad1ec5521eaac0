package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

// Two replicas share one Redis: a grant approved through one applies on
// the other within a poll, a revocation through one ends it on the other,
// and a short grant ends on both at its end, with exactly one expiry
// event between them.
func TestGrantsAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	rd := testenv.StartRedis(t)
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	iss := devissuer.StartTest(t)
	dir := t.TempDir()
	t.Setenv("SERVE_KEY", "k")
	t.Setenv("CONSOLE_SECRET", "console-client-secret")
	t.Setenv("CONSOLE_SESSION_KEY", "0123456789abcdef0123456789abcdef-session")
	conf := func(audit string) string {
		c := fmt.Sprintf(consoleServeConfig, up.URL, iss.URL(), filepath.Join(dir, audit)) + fmt.Sprintf("state: {redis: {url: %q}}\n", rd.URL)
		c = strings.Replace(c, `policies: [read]}]`, `policies: [read]},
  {name: prod, kind: human, policies: [prod], requestable: {approvers: {issuer: dev, claims: {sub: "lead-*"}}, max_duration: 1h}}]`, 1)
		return strings.Replace(c, "policies:\n", `policies:
  prod: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::prod/*"}]}'
`, 1)
	}
	cfgA, cfgB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, cfgA, conf("audit-a.log"))
	writeFile(t, cfgB, conf("audit-b.log"))
	a, b := startReplica(t, cfgA), startReplica(t, cfgB)
	tok, err := iss.Mint(map[string]any{"sub": "u-1", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	get := func(r *app) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.Addr()+"/prod/db.sql", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// within waits until r answers want (404: allowed and forwarded to a
	// store that has nothing; 403: refused).
	within := func(d time.Duration, r *app, want int) {
		t.Helper()
		start := time.Now()
		for got := get(r); got != want; got = get(r) {
			if time.Since(start) > d {
				t.Fatalf("%s: %d after %v, want %d", r.Addr(), got, d, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, r := range []*app{a, b} {
		if got := get(r); got != http.StatusForbidden {
			t.Fatalf("before the grant: %d", got)
		}
	}
	ctx := context.Background()
	approve := func(d time.Duration) state.AccessRequest {
		t.Helper()
		req, err := a.grants.store.Request(ctx, state.AccessRequest{Role: "prod", Requester: state.Person{Issuer: "dev", Subject: "u-1"},
			Reason: "INC-7", Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		g, err := a.grants.store.Decide(ctx, req.ID, true, state.Person{Issuer: "dev", Subject: "lead-1"})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := approve(time.Hour)
	within(time.Second, b, http.StatusNotFound)
	within(time.Second, a, http.StatusNotFound)
	if _, err := a.grants.store.Revoke(ctx, g.ID, state.Person{Issuer: "dev", Subject: "u-1"}); err != nil {
		t.Fatal(err)
	}
	within(time.Second, b, http.StatusForbidden)

	// A grant of two seconds (shorter than a request allows, made in the
	// store directly) ends on both replicas, and one of them writes the
	// expiry event.
	short := approve(2 * time.Second)
	within(time.Second, b, http.StatusNotFound)
	within(3*time.Second, b, http.StatusForbidden)
	if get(a) != http.StatusForbidden {
		t.Error("a still honours the ended grant")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, f := range []string{"audit-a.log", "audit-b.log"} {
			raw, _ := os.ReadFile(filepath.Join(dir, f))
			n += strings.Count(string(raw), `"eventName":"ExpireAccessGrant"`)
		}
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("%d expiry events for grant %s", n, short.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Give the other replica a few polls: still one event.
	time.Sleep(600 * time.Millisecond)
	n := 0
	for _, f := range []string{"audit-a.log", "audit-b.log"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		n += strings.Count(string(raw), `"eventName":"ExpireAccessGrant"`)
	}
	if n != 1 {
		t.Errorf("%d expiry events", n)
	}
}
