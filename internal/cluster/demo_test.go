package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoCluster is `make demo-cluster`: it runs the cluster for people
// until Ctrl-C, printing what to try, and starts a replica again when its
// process exits (so that `kill PID` shows a restart). It runs only with
// IAMGATE_DEMO_CLUSTER=1; IAMGATE_BIN names a built iamgate (else it is
// built), IAMGATE_CLUSTER_PORT the load balancer's port (default 8480;
// the replicas take the next three).
func TestDemoCluster(t *testing.T) {
	if os.Getenv("IAMGATE_DEMO_CLUSTER") != "1" {
		t.Skip("the demo runs with IAMGATE_DEMO_CLUSTER=1 (make demo-cluster)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin := os.Getenv("IAMGATE_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "iamgate")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/iamgate/iamgate/cmd/iamgate").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	port := 8480
	if p := os.Getenv("IAMGATE_CLUSTER_PORT"); p != "" {
		var err error
		if port, err = strconv.Atoi(p); err != nil {
			t.Fatalf("IAMGATE_CLUSTER_PORT=%q: %v", p, err)
		}
	}
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	c := Start(t, Options{Binary: bin, Ports: []int{port, port + 1, port + 2, port + 3},
		Log: func(format string, args ...any) { say("demo-cluster: "+format, args...) }})

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("")
	w("iamgate: %d replicas behind HAProxy at %s (statistics: %s)", len(c.Replicas), c.URL, c.StatsURL)
	for _, r := range c.Replicas {
		w("  %s  %s  pid %d  metrics %s  audit %s", r.Name, r.URL, r.PID(), r.MetricsAddr, r.AuditFile)
	}
	if c.RedisURL != "" {
		w("  shared state: %s", c.RedisURL)
	}
	w("  store: MinIO at %s, bucket %q; issuer: Ory Hydra at %s", c.MinIO.Endpoint, c.Bucket, c.Hydra.IssuerURL)
	w("")
	envFile := filepath.Join(c.Dir, "env")
	env := append(c.env, "CLUSTER_MACHINE_ID="+c.Machine.ID, "CLUSTER_MACHINE_SECRET="+c.Machine.Secret)
	if err := os.WriteFile(envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	awsConfig := filepath.Join(c.Dir, "aws.config")
	if err := os.WriteFile(awsConfig, []byte(fmt.Sprintf("[profile cluster]\nregion = us-east-1\ncredential_process = %s credentials --endpoint %s --role loader --token-file %s\n",
		bin, c.Replicas[0].URL, filepath.Join(c.Dir, "machine.token"))), 0o600); err != nil {
		t.Fatal(err)
	}
	w("Try, in another shell:")
	w("  # the demo's secrets (a throw-away store, issuer and keys)")
	w("  set -a; . %s; set +a", envFile)
	w("  # a machine token (role loader), then an upload and three downloads through the load balancer")
	w("  TOKEN=$(curl -sS -d grant_type=client_credentials -d client_id=\"$CLUSTER_MACHINE_ID\" -d client_secret=\"$CLUSTER_MACHINE_SECRET\" -d audience=iamgate %soauth2/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')",
		c.Hydra.IssuerURL)
	w("  echo hello > /tmp/hello.txt")
	w("  curl -sS -H \"Authorization: Bearer $TOKEN\" -T /tmp/hello.txt %s/%s/hello.txt", c.URL, c.Bucket)
	w("  for i in 1 2 3; do curl -sS -H \"Authorization: Bearer $TOKEN\" %s/%s/hello.txt; done", c.URL, c.Bucket)
	w("  # temporary credentials issued by replica r1 alone, used through the load balancer")
	w("  echo \"$TOKEN\" > %s", filepath.Join(c.Dir, "machine.token"))
	w("  AWS_CONFIG_FILE=%s aws --profile cluster --endpoint-url %s s3 ls s3://%s/", awsConfig, c.URL, c.Bucket)
	w("  # the console: open %s/_iamgate/ui/ and sign in as %s, password %s", c.URL, c.Alice.Name, c.Alice.Password)
	w("  # a rolling restart: SIGTERM a replica; it drains, exits and is started again")
	w("  kill -TERM %d; sleep 2; curl -s '%s;csv' | cut -d, -f1,2,18 | grep ^iamgate", c.Replicas[0].PID(), c.StatsURL)
	if ex := revokeExample(c); ex != "" {
		w("  # a revocation added on r1 (the machine identity's token and sessions issued until now) applies on every replica")
		w("  %s", ex)
	}
	w("  # the three audit streams verify together")
	w("  %s audit verify --config %s %s", bin, c.Replicas[0].Config, strings.Join(auditFiles(c), " "))
	w("")
	w("Ctrl-C stops everything.")
	fmt.Print(b.String())

	for {
		for _, r := range c.Replicas {
			if r.Running() {
				continue
			}
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			say("demo-cluster: %s exited; started again (pid %d)", r.Name, r.PID())
			go func() {
				if err := r.WaitReady(ctx); err == nil {
					say("demo-cluster: %s is ready", r.Name)
				}
			}()
		}
		select {
		case <-ctx.Done():
			say("demo-cluster: stopping")
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func auditFiles(c *Cluster) []string {
	var out []string
	for _, r := range c.Replicas {
		out = append(out, r.AuditFile)
	}
	return out
}
