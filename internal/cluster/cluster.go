// Package cluster runs several iamgate replicas behind HAProxy, with the
// MinIO, Ory Hydra and Redis they share, as local processes on loopback:
// for the scale-out integration test and for `make demo-cluster`.
//
// Every replica is a real `iamgate serve` process (the binary given in
// Options) with its own configuration file, audit file and log; they share
// the session keys, the store, the issuer and the state in Redis. HAProxy
// balances round-robin and checks /_iamgate/readyz, so a replica that
// drains (SIGTERM) leaves the rotation before its listener closes.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
)

// Options configures Start.
type Options struct {
	// Binary is a built iamgate; required.
	Binary string
	// Replicas is how many iamgate processes run; default 3.
	Replicas int
	// DrainDelay is every replica's server.drain_delay; default 1s (the
	// load balancer checks readiness every 150ms).
	DrainDelay time.Duration
	// Bucket is created in the store for the roles' policy; default
	// "cluster".
	Bucket string
	// Ports fixes the loopback ports of the load balancer (Ports[0]) and
	// of the replicas' S3 listeners (Ports[1:]); nil picks free ones. The
	// demo uses fixed ports so that its printed commands stay valid.
	Ports []int
	// Log receives progress lines (the demo prints them); nil: t.Logf.
	Log func(format string, args ...any)
}

// User is a person who can sign in through Hydra's login form.
type User struct {
	Name, Password string
}

// Cluster is a running set of replicas behind the load balancer.
type Cluster struct {
	// URL is the load balancer's address, "http://127.0.0.1:PORT"; it is
	// also every replica's console.public_url.
	URL string
	// StatsURL is HAProxy's statistics page.
	StatsURL string
	Bucket   string
	Replicas []*Replica

	MinIO *testenv.MinIO
	Hydra *testenv.Hydra
	// RedisURL is the shared state's address.
	RedisURL string
	// AdminTokenFile holds the bearer token of the replicas' admin
	// endpoint (iamgate revoke --token-file).
	AdminTokenFile string
	// Machine is a client_credentials client whose tokens carry
	// project=cluster (role "loader"); Alice signs in through the browser
	// flow (role "engineer").
	Machine *testenv.HydraClient
	Alice   User

	Dir string

	binary   string
	env      []string // the secrets the configurations read with env:
	balancer *process
	log      func(format string, args ...any)
}

// Replica is one iamgate process; after Stop it can Start again on the
// same ports with the same audit file.
type Replica struct {
	Name string // r1, r2, ...
	// URL is the S3 listener, "http://127.0.0.1:PORT"; MetricsAddr the
	// metrics (and admin) listener's host:port.
	URL         string
	MetricsAddr string
	Config      string // the configuration file
	AuditFile   string

	c      *Cluster
	binary string
	addr   string
	proc   *process
	start  int // how many times it was started
}

// Start runs MinIO, Hydra, Redis, the replicas and HAProxy, and waits until
// the load balancer sees every replica up. Everything stops when the test
// ends; the logs' tails are printed if it failed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Binary == "" {
		t.Fatal("cluster: Options.Binary is required")
	}
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.DrainDelay == 0 {
		opts.DrainDelay = time.Second
	}
	if opts.Bucket == "" {
		opts.Bucket = "cluster"
	}
	haproxy := requireHAProxy(t)
	c := &Cluster{Dir: t.TempDir(), Bucket: opts.Bucket, log: opts.Log, binary: opts.Binary}
	if c.log == nil {
		c.log = t.Logf
	}
	ports := opts.Ports
	if ports == nil {
		for range opts.Replicas + 1 {
			ports = append(ports, testenv.FreePort(t))
		}
	}
	if len(ports) != opts.Replicas+1 {
		t.Fatalf("cluster: %d ports for %d replicas and the load balancer", len(ports), opts.Replicas)
	}
	c.URL = "http://" + testenv.HostPort(ports[0])

	c.log("starting MinIO, Hydra and Redis")
	c.MinIO = testenv.StartMinIO(t)
	c.MinIO.MakeBucket(t, c.Bucket)
	c.Hydra = testenv.StartHydra(t)
	c.RedisURL = startRedis(t)

	c.Alice = User{Name: "alice", Password: "alice-" + testenv.RandomHex(t, 6)}
	c.Hydra.AddUser(t, c.Alice.Name, c.Alice.Password, map[string]any{
		"email": "alice@corp.test", "groups": []any{"eng"}, "name": "Alice Engineer"})
	browser := c.Hydra.BrowserClient(t, []string{c.URL + "/_iamgate/callback"}, []string{c.URL + "/_iamgate/signedout"})
	c.Machine = c.Hydra.Client(t, map[string]any{"project": "cluster"}, "iamgate")

	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	c.env = []string{
		"CLUSTER_MINIO_USER=" + c.MinIO.AccessKey,
		"CLUSTER_MINIO_PASSWORD=" + c.MinIO.SecretKey,
		"CLUSTER_SESSION_KEY=" + testenv.RandomHex(t, 32),
		"CLUSTER_FINGERPRINT_KEY=" + testenv.RandomHex(t, 32),
		"CLUSTER_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed),
		"CLUSTER_CLIENT_SECRET=" + browser.Secret,
	}
	adminToken := testenv.RandomHex(t, 32)
	c.env = append(c.env, "CLUSTER_ADMIN_TOKEN="+adminToken)
	c.AdminTokenFile = filepath.Join(c.Dir, "admin.token")
	if err := os.WriteFile(c.AdminTokenFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var servers []string
	for i := range opts.Replicas {
		r := &Replica{
			Name:        fmt.Sprintf("r%d", i+1),
			c:           c,
			addr:        testenv.HostPort(ports[i+1]),
			MetricsAddr: testenv.HostPort(testenv.FreePort(t)),
		}
		r.URL = "http://" + r.addr
		r.Config = filepath.Join(c.Dir, r.Name+".yaml")
		r.AuditFile = filepath.Join(c.Dir, r.Name+"-audit.log")
		cfg := fmt.Sprintf(replicaConfig, r.addr, r.MetricsAddr, c.MinIO.Endpoint, opts.DrainDelay,
			c.Hydra.IssuerURL, browser.ID, c.URL, c.Bucket, c.Bucket, stateSection(c.RedisURL), r.AuditFile)
		if err := os.WriteFile(r.Config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Replicas = append(c.Replicas, r)
		servers = append(servers, r.Name+" "+r.addr)
	}
	for _, r := range c.Replicas {
		r.binary = opts.Binary
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.kill() })
		registerLogDump(t, func() *process { return r.proc })
	}
	for _, r := range c.Replicas {
		if err := r.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	statsPort := testenv.FreePort(t)
	c.StatsURL = "http://" + testenv.HostPort(statsPort) + "/stats"
	cfgPath := filepath.Join(c.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(HAProxyConfig(testenv.HostPort(ports[0]), testenv.HostPort(statsPort), servers)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := startProcess("haproxy", haproxy, []string{"-db", "-f", cfgPath}, nil, filepath.Join(c.Dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.balancer = p
	t.Cleanup(p.kill)
	registerLogDump(t, func() *process { return c.balancer })
	for _, r := range c.Replicas {
		if err := c.WaitBalanced(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	c.log("cluster ready: %d replicas behind %s", len(c.Replicas), c.URL)
	return c
}

// Env is the environment the replicas' configurations need (their secrets
// are read with env:), for commands that load a configuration, such as
// `iamgate audit verify --config`.
func (c *Cluster) Env() []string { return append(os.Environ(), c.env...) }

// Start starts the replica's process; WaitReady waits for it.
func (r *Replica) Start() error {
	if r.proc != nil && !r.proc.exited() {
		return fmt.Errorf("cluster: %s is running", r.Name)
	}
	r.start++
	p, err := startProcess(r.Name, r.binary, []string{"serve", "--config", r.Config}, r.c.env,
		filepath.Join(r.c.Dir, fmt.Sprintf("%s-%d.log", r.Name, r.start)))
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// AdminURL is the replica's admin endpoint (its metrics listener), for
// iamgate revoke --admin-url.
func (r *Replica) AdminURL() string { return "http://" + r.MetricsAddr }

// PID is the process id of the replica's current process.
func (r *Replica) PID() int { return r.proc.cmd.Process.Pid }

// Running reports whether the replica's process is alive.
func (r *Replica) Running() bool { return r.proc != nil && !r.proc.exited() }

// Exited is closed when the replica's current process has exited.
func (r *Replica) Exited() <-chan struct{} { return r.proc.done }

// WaitReady waits until the replica's readyz answers 200.
func (r *Replica) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if last = probe(ctx, r.URL+"/_iamgate/readyz"); last == nil {
			return nil
		}
		select {
		case <-r.proc.done:
			return fmt.Errorf("cluster: %s exited before it was ready (%v):\n%s", r.Name, r.proc.err, r.proc.logTail(3000))
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s not ready after %s: %v", r.Name, readyTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM (a graceful shutdown: drain, then the in-flight
// requests finish) and waits until the process exits. A non-zero exit is
// an error.
func (r *Replica) Stop(ctx context.Context) error {
	if !r.Running() {
		return nil
	}
	if err := r.Terminate(); err != nil {
		return err
	}
	return r.Wait(ctx)
}

// Terminate sends SIGTERM to the replica's process.
func (r *Replica) Terminate() error { return r.proc.signalTerm() }

// Wait waits until the replica's process exits; a non-zero exit is an
// error.
func (r *Replica) Wait(ctx context.Context) error {
	select {
	case <-r.proc.done:
	case <-ctx.Done():
		return fmt.Errorf("cluster: %s still running after SIGTERM: %w", r.Name, ctx.Err())
	}
	if r.proc.err != nil {
		return fmt.Errorf("cluster: %s exited with %v:\n%s", r.Name, r.proc.err, r.proc.logTail(3000))
	}
	return nil
}

func (r *Replica) kill() {
	if r.proc != nil {
		r.proc.kill()
	}
}

// probe GETs url and wants 200.
func probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}

// replicaConfig is one replica's configuration: listen, metrics_listen,
// the store, drain_delay, the issuer and its browser client, the public
// URL, the bucket (twice), the state section and the audit file.
const replicaConfig = `listen: %s
metrics_listen: %s
upstream:
  endpoint: %s
  access_key_id: env:CLUSTER_MINIO_USER
  secret_access_key: env:CLUSTER_MINIO_PASSWORD
server:
  drain_delay: %s
  shutdown_grace: 60s
sts:
  session_keys: [{id: k1, secret: env:CLUSTER_SESSION_KEY}]
issuers:
  - name: hydra
    url: %s
    audiences: [iamgate]
    client_id: %s
    client_secret: env:CLUSTER_CLIENT_SECRET
    scopes: [openid, profile, email, offline_access]
console:
  public_url: %s
roles:
  - name: loader
    kind: machine
    trust: {issuer: hydra, claims: {project: cluster}}
    policies: [cluster-rw]
  - name: engineer
    kind: human
    trust: {issuer: hydra, claims: {groups: eng}}
    policies: [cluster-rw]
policies:
  cluster-rw: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload"],"Resource":"arn:aws:s3:::%s/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%s"}]}'
%saudit:
  file: %s
  fingerprint_key: env:CLUSTER_FINGERPRINT_KEY
  signing_key: env:CLUSTER_AUDIT_SIGNING_KEY
log: {level: warn, format: text}
`

// readyTimeout bounds how long a replica may take to become ready, and
// the load balancer to see it.
const readyTimeout = 60 * time.Second

// requireHAProxy finds Debian's haproxy (skips under -short).
func requireHAProxy(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("cluster: %s needs haproxy, MinIO and Hydra; skipped in -short mode", t.Name())
	}
	p, err := testenv.ToolPath("haproxy")
	if errors.Is(err, testenv.ErrToolNotFound) {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr == nil {
			return "/usr/sbin/haproxy"
		}
	}
	if err != nil {
		t.Fatalf("%v\nrun scripts/install-tools.sh (it installs Debian's haproxy)", err)
	}
	return p
}

// registerLogDump prints the tail of a process log if the test failed.
func registerLogDump(t testing.TB, p func() *process) {
	t.Cleanup(func() {
		if pr := p(); t.Failed() && pr != nil {
			t.Logf("cluster: last lines of the %s log (%s):\n%s", pr.name, pr.logPath, pr.logTail(3000))
		}
	})
}
