package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// env is everything a run starts: the development issuer (in process),
// MinIO, iamgate (audit to a file, to stdout into /dev/null, to a file and
// a webhook, and with GOMAXPROCS set), the reference proxy and the two
// floors (also with GOMAXPROCS set), nginx and oauth2-proxy.
type env struct {
	dir       string
	issuerURL string
	token     string
	minioAddr string
	root      credentials

	// The endpoints, by role; a peer that is not installed is nil.
	direct, directSigV4   *endpoint
	nginx, oauth2         *endpoint
	bearer, sigv4         *endpoint
	bearerDevNull         *endpoint
	baseline              *endpoint // -baseline-iamgate
	bearerWebhook         *endpoint // audit to a file and a webhook
	ref                   *endpoint // bare httputil.ReverseProxy (bench/refproxy)
	bearerProcs, refProcs *endpoint // the same with GOMAXPROCS=gomaxprocs; nil without -gomaxprocs
	// The floors: net/http's server with iamgate's upstream client
	// (bench/netfloor) and fasthttp's server and client (bench/fastfloor),
	// no security work; and the same with GOMAXPROCS=gomaxprocs.
	netFloor, fastFloor           *endpoint
	netFloorProcs, fastFloorProcs *endpoint
	floorCPUProfile               string // directory of the floors' CPU profiles; "": none
	gomaxprocs                    int
	auditFsync                    string // audit.fsync of every iamgate; "": the default
	// bearerLimits and bearerLimitsRedis have limits on their role,
	// counted in memory and in redis (nil: redis-server missing).
	bearerLimits, bearerLimitsRedis *endpoint
	redis                           *redis.Client
	collector                       *collector
	minioSTS, iamgateSTS            *endpoint

	iamgateBin        string
	iamgateCPUProfile string
	baselineBin       string
	baselineEnv       []string
	bigSizes          []int64
	dataDir           string   // MinIO's data, removed by stop
	dataOn            string   // where dataDir is, for the report
	notes             []string // what was skipped, and why
	versions          map[string]string
	procs             []*exec.Cmd
	issuerClose       func()
}

func (e *env) stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		p.Process.Signal(os.Interrupt) // iamgate flushes its profile on a clean shutdown
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	if e.issuerClose != nil {
		e.issuerClose()
	}
	if e.collector != nil {
		e.collector.close()
	}
	if e.dataDir != "" {
		os.RemoveAll(e.dataDir)
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func retry(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(url string, limit time.Duration) error {
	return retry(limit, func() error {
		res, err := http.Get(url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return errors.New(res.Status)
		}
		return nil
	})
}

// startProc starts a command with its output in dir/name.log.
func (e *env) startProc(name string, cmd *exec.Cmd) error {
	if cmd.Stdout == nil {
		f, err := os.Create(filepath.Join(e.dir, name+".log"))
		if err != nil {
			return err
		}
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		f, err := os.Create(filepath.Join(e.dir, name+".err.log"))
		if err != nil {
			return err
		}
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	e.procs = append(e.procs, cmd)
	return nil
}

func (e *env) logTail(name string) string {
	var out []string
	for _, f := range []string{name + ".log", name + ".err.log"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, f))
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		if len(b) > 0 {
			out = append(out, string(b))
		}
	}
	return strings.Join(out, "\n")
}

func start(ctx context.Context, o options) (_ *env, err error) {
	minioBin, err := testenv.ToolPath("minio")
	if err != nil {
		return nil, fmt.Errorf("%w; run scripts/install-tools.sh minio", err)
	}
	dir, err := os.MkdirTemp("", "iamgate-bench-")
	if err != nil {
		return nil, err
	}
	// nginx's workers drop root; they must be able to reach their files.
	os.Chmod(dir, 0o711)
	e := &env{dir: dir, versions: map[string]string{}, bigSizes: o.bigSizes, iamgateCPUProfile: o.cpuProfile, floorCPUProfile: o.floorCPUProfile, baselineBin: o.baseline, gomaxprocs: o.gomaxprocs, auditFsync: o.auditFsync}
	if o.baselineEnv != "" {
		e.baselineEnv = strings.Split(o.baselineEnv, ",")
	}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	if err := e.startIssuer(); err != nil {
		return nil, err
	}
	if err := e.makeDataDir(o); err != nil {
		return nil, err
	}
	if err := e.startMinIO(ctx, minioBin); err != nil {
		return nil, err
	}
	e.versions["MinIO"] = toolVersion("minio")
	if err := e.fixtures(ctx); err != nil {
		return nil, fmt.Errorf("create test objects: %w", err)
	}
	if err := e.startIamgate(ctx); err != nil {
		return nil, err
	}
	if err := e.startRefProxy(ctx); err != nil {
		return nil, err
	}
	e.startFloors(ctx)
	if err := e.startNginx(); err != nil {
		e.notes = append(e.notes, "nginx: "+err.Error())
		e.nginx = nil
	}
	if err := e.startOAuth2Proxy(); err != nil {
		e.notes = append(e.notes, "oauth2-proxy: "+err.Error())
		e.oauth2 = nil
	}
	return e, nil
}

// makeDataDir picks where MinIO keeps its data: tmpfs unless 1 GiB objects
// are written (8 streams overwriting 1 GiB keys would take too much memory),
// so that PUTs measure MinIO and the proxies rather than the disk's fsyncs.
func (e *env) makeDataDir(o options) error {
	parent, on := o.dataDir, "the directory given by -data"
	if parent == "" {
		parent, on = e.dir, "disk (a temporary directory)"
		var st syscall.Statfs_t
		if !o.full && syscall.Statfs("/dev/shm", &st) == nil && int64(st.Bavail)*st.Bsize >= 4<<30 {
			parent, on = "/dev/shm", "tmpfs (/dev/shm)"
		}
	}
	dir, err := os.MkdirTemp(parent, "iamgate-bench-minio-")
	if err != nil {
		return err
	}
	e.dataDir, e.dataOn = dir, on
	return nil
}

// emptyTrash deletes what MinIO has moved to its trash (overwritten
// objects), which it would delete itself only gradually: 8 streams
// overwriting 1 GiB objects round after round otherwise fill a disk.
func (e *env) emptyTrash() {
	trash := filepath.Join(e.dataDir, ".minio.sys", "tmp", ".trash")
	ents, _ := os.ReadDir(trash)
	for _, ent := range ents {
		os.RemoveAll(filepath.Join(trash, ent.Name()))
	}
}

func (e *env) startIssuer() error {
	iss, err := devissuer.New(devissuer.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	iss.SetURL("http://" + ln.Addr().String())
	srv := &http.Server{Handler: iss.Handler()}
	go srv.Serve(ln)
	e.issuerClose = func() { srv.Close() }
	e.issuerURL = iss.URL()
	// One token for every bearer path: iamgate trusts it on "groups",
	// MinIO's STS maps "policy" to a MinIO policy, oauth2-proxy wants a
	// verified email.
	e.token, err = iss.Mint(map[string]any{
		"sub": "bench", "aud": "iamgate", "groups": []string{"bench"}, "policy": "readwrite",
		"email": "bench@example.com", "email_verified": true,
	}, 6*time.Hour)
	return err
}

func (e *env) startMinIO(ctx context.Context, bin string) error {
	e.root = credentials{AccessKeyID: "bench", SecretAccessKey: randomHex(16)}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	caddr, err := freeAddr()
	if err != nil {
		return err
	}
	m := exec.Command(bin, "server", e.dataDir, "--address", addr, "--console-address", caddr)
	m.Env = append(os.Environ(), "MINIO_ROOT_USER="+e.root.AccessKeyID, "MINIO_ROOT_PASSWORD="+e.root.SecretAccessKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off",
		"MINIO_IDENTITY_OPENID_CONFIG_URL="+e.issuerURL+"/.well-known/openid-configuration",
		"MINIO_IDENTITY_OPENID_CLIENT_ID=iamgate", "MINIO_IDENTITY_OPENID_CLAIM_NAME=policy")
	if err := e.startProc("minio", m); err != nil {
		return err
	}
	e.minioAddr = addr
	e.direct = &endpoint{name: "MinIO direct (anonymous)", addr: addr}
	e.directSigV4 = &endpoint{name: "MinIO direct (SigV4, root key)", addr: addr, auth: authSigV4, creds: e.root}
	e.minioSTS = &endpoint{name: "MinIO's own STS", addr: addr, token: e.token}
	return nil
}

// fixtures creates the bucket with an anonymous read/write/list policy (how
// nginx and oauth2-proxy are used in front of MinIO), the 4 KiB object, the
// 1,000 keys under list/ and the large objects, directly in MinIO.
func (e *env) fixtures(ctx context.Context) error {
	mc, err := minio.New(e.minioAddr, &minio.Options{Creds: mcreds.NewStaticV4(e.root.AccessKeyID, e.root.SecretAccessKey, "")})
	if err != nil {
		return err
	}
	if err := retry(30*time.Second, func() error { return mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}) }); err != nil {
		return fmt.Errorf("MinIO did not start: %w\n%s", err, e.logTail("minio"))
	}
	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::bench/*"]},` +
		`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::bench"]}]}`
	if err := mc.SetBucketPolicy(ctx, bucket, policy); err != nil {
		return err
	}
	if _, err := mc.PutObject(ctx, bucket, smallKey, bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{}); err != nil {
		return err
	}
	keys := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				name := fmt.Sprintf("%sobject-%04d", listPrefix, k)
				if _, err := mc.PutObject(ctx, bucket, name, bytes.NewReader(small[:256]), 256, minio.PutObjectOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for k := range listKeys {
		keys <- k
	}
	close(keys)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for _, size := range e.bigSizes {
		w := newWorker(0, e.direct)
		st := &workerStats{}
		put := op{want: 200, build: func(w *worker, i int) *request {
			return &request{method: "PUT", path: "/" + bucket + "/" + bigKey(size), body: &pattern{n: size}, size: size}
		}}
		_, ok := w.do(put, 0, st)
		w.conn.close()
		if !ok {
			return fmt.Errorf("PUT %s: %s", bigKey(size), st.firstErr)
		}
	}
	return nil
}

func (e *env) startIamgate(ctx context.Context) error {
	e.iamgateBin = filepath.Join(e.dir, "iamgate")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.iamgateBin, "./cmd/iamgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build iamgate: %w", err)
	}
	sessionKey := randomHex(32)
	pid, addr, err := e.iamgateProc("iamgate", fmt.Sprintf("{file: %q}", filepath.Join(e.dir, "audit.log")), nil, sessionKey, e.iamgateCPUProfile)
	if err != nil {
		return err
	}
	e.bearer = &endpoint{name: "iamgate, bearer JWT", addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}
	e.iamgateSTS = &endpoint{name: "iamgate STS", addr: addr, token: e.token, pid: pid, iamgate: true}
	creds, err := assumeRole(addr, e.token)
	if err != nil {
		return err
	}
	e.sigv4 = &endpoint{name: "iamgate, SigV4 with STS session", addr: addr, auth: authSigV4, creds: creds, pid: pid, iamgate: true}

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	pid, addr, err = e.iamgateProc("iamgate-devnull", "{stdout: true}", devNull, sessionKey, "")
	devNull.Close()
	if err != nil {
		return err
	}
	e.bearerDevNull = &endpoint{name: "iamgate, bearer JWT, audit to stdout > /dev/null", addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}

	e.collector, err = startCollector()
	if err != nil {
		return err
	}
	sink := fmt.Sprintf("{file: %q, webhook: {url: %q, spool_dir: %q}}", filepath.Join(e.dir, "audit-webhook.log"),
		e.collector.url, filepath.Join(e.dir, "spool"))
	pid, addr, err = e.iamgateProc("iamgate-webhook", sink, nil, sessionKey, "")
	if err != nil {
		return err
	}
	e.bearerWebhook = &endpoint{name: "iamgate, bearer JWT, audit to a file and a webhook", addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}

	if err := e.startLimited(ctx, sessionKey); err != nil {
		return err
	}

	if e.gomaxprocs > 0 {
		procs := fmt.Sprintf("GOMAXPROCS=%d", e.gomaxprocs)
		pid, addr, err = e.iamgateBinProc(e.iamgateBin, []string{procs}, "iamgate-gomaxprocs", fmt.Sprintf("{file: %q}", filepath.Join(e.dir, "audit-gomaxprocs.log")), nil, sessionKey, "")
		if err != nil {
			return err
		}
		e.bearerProcs = &endpoint{name: "iamgate, bearer JWT, " + procs, addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}
	}

	if e.baselineBin != "" {
		pid, addr, err = e.iamgateBinProc(e.baselineBin, e.baselineEnv, "iamgate-baseline", fmt.Sprintf("{file: %q}", filepath.Join(e.dir, "audit-baseline.log")), nil, sessionKey, "")
		if err != nil {
			return fmt.Errorf("baseline iamgate: %w", err)
		}
		name := "iamgate baseline build, bearer JWT"
		if len(e.baselineEnv) > 0 {
			name = "iamgate baseline build (" + strings.Join(e.baselineEnv, " ") + "), bearer JWT"
		}
		e.baseline = &endpoint{name: name, addr: addr, auth: authBearer, token: e.token, pid: pid}
	}
	return nil
}

// startRefProxy builds bench/refproxy and runs it in front of MinIO, and
// once more with GOMAXPROCS set if asked.
func (e *env) startRefProxy(ctx context.Context) error {
	bin := filepath.Join(e.dir, "refproxy")
	if err := goBuild(ctx, ".", "./bench/refproxy", bin); err != nil {
		return fmt.Errorf("build the reference proxy: %w", err)
	}
	const name = "bare httputil.ReverseProxy"
	var err error
	if e.ref, err = e.passThrough(bin, "refproxy", name+" (anonymous)", nil, nil); err != nil {
		return err
	}
	if e.gomaxprocs > 0 {
		procs := fmt.Sprintf("GOMAXPROCS=%d", e.gomaxprocs)
		if e.refProcs, err = e.passThrough(bin, "refproxy-gomaxprocs", name+", "+procs, []string{procs}, nil); err != nil {
			return err
		}
	}
	return nil
}

// startFloors builds the two floor targets, bench/netfloor (net/http's
// server with iamgate's upstream client) and bench/fastfloor (fasthttp's
// server and HostClient; a module of its own, built in its directory),
// and runs each in front of MinIO, and once more with GOMAXPROCS set if
// asked. A floor that does not build or start is skipped with a note
// (fasthttp must be in the module cache or reachable).
func (e *env) startFloors(ctx context.Context) {
	floors := []struct {
		proc, name, dir, pkg string
		ep, procs            **endpoint
	}{
		{"netfloor", "floor: net/http server + iamgate's upstream client", ".", "./bench/netfloor", &e.netFloor, &e.netFloorProcs},
		{"fastfloor", "floor: fasthttp server + HostClient", filepath.Join("bench", "fastfloor"), ".", &e.fastFloor, &e.fastFloorProcs},
	}
	for _, f := range floors {
		bin := filepath.Join(e.dir, f.proc)
		if err := goBuild(ctx, f.dir, f.pkg, bin); err != nil {
			e.notes = append(e.notes, f.proc+": build: "+err.Error())
			continue
		}
		var args []string
		if e.floorCPUProfile != "" {
			args = []string{"-cpuprofile", filepath.Join(e.floorCPUProfile, f.proc+".prof")}
		}
		ep, err := e.passThrough(bin, f.proc, f.name+" (anonymous)", nil, args)
		if err != nil {
			e.notes = append(e.notes, f.proc+": "+err.Error())
			continue
		}
		*f.ep = ep
		if e.gomaxprocs > 0 {
			procs := fmt.Sprintf("GOMAXPROCS=%d", e.gomaxprocs)
			if *f.procs, err = e.passThrough(bin, f.proc+"-gomaxprocs", f.name+", "+procs, []string{procs}, nil); err != nil {
				e.notes = append(e.notes, f.proc+", "+procs+": "+err.Error())
			}
		}
	}
}

// goBuild builds the package pkg of the module in dir into bin.
func goBuild(ctx context.Context, dir, pkg, bin string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = dir
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// passThrough starts bin, a proxy taking -listen and -upstream (and extra
// arguments), in front of MinIO with env added to its environment, and
// waits until it serves the 4 KiB object.
func (e *env) passThrough(bin, proc, name string, env, extra []string) (*endpoint, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"-listen", addr, "-upstream", "http://" + e.minioAddr}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	if err := e.startProc(proc, cmd); err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+addr+"/"+bucket+"/"+smallKey, 15*time.Second); err != nil {
		return nil, fmt.Errorf("%s did not start: %w\n%s", proc, err, e.logTail(proc))
	}
	return &endpoint{name: name, addr: addr, pid: cmd.Process.Pid}, nil
}

// iamgateProc starts `iamgate serve` with the audit sink given and waits
// until it is ready.
func (e *env) iamgateProc(name, audit string, stdout *os.File, sessionKey, cpuProfile string) (pid int, addr string, err error) {
	return e.iamgateBinProc(e.iamgateBin, nil, name, audit, stdout, sessionKey, cpuProfile)
}

// iamgateBinProc is iamgateProc with the binary bin and extra environment.
func (e *env) iamgateBinProc(bin string, env []string, name, audit string, stdout *os.File, sessionKey, cpuProfile string) (pid int, addr string, err error) {
	return e.iamgateConfProc(bin, env, name, audit, stdout, sessionKey, cpuProfile, "", "")
}

// iamgateConfProc is iamgateBinProc with more settings of the role
// (role, YAML flow mapping entries) and of the configuration (extra, top
// level).
func (e *env) iamgateConfProc(bin string, env []string, name, audit string, stdout *os.File, sessionKey, cpuProfile, role, extra string) (pid int, addr string, err error) {
	if role != "" {
		role = ",\n  " + role
	}
	addr, err = freeAddr()
	if err != nil {
		return 0, "", err
	}
	if e.auditFsync != "" {
		audit = strings.TrimSuffix(audit, "}") + ", fsync: " + e.auditFsync + "}"
	}
	cfg := filepath.Join(e.dir, name+".yaml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
upstream: {endpoint: "http://%s", access_key_id: env:BENCH_USER, secret_access_key: env:BENCH_PASS}
sts: {session_keys: [{id: bench, secret: env:BENCH_SESSION_KEY}]}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles: [{name: bench, kind: machine, trust: {issuer: dev, claims: {groups: bench}}, policies: [rw], session_may_outlive_token: true, max_session: 12h%s}]
policies:
  rw: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bench/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bench"}]}'
server: {drain_delay: 0s} # no load balancer watches readiness here
audit: %s
log: {level: warn}
%s
`, addr, e.minioAddr, e.issuerURL, role, audit, extra)), 0o600)
	if err != nil {
		return 0, "", err
	}
	args := []string{"serve", "--config", cfg}
	if cpuProfile != "" {
		args = append(args, "--cpuprofile", cpuProfile)
	}
	g := exec.Command(bin, args...)
	g.Env = append(os.Environ(), "BENCH_USER="+e.root.AccessKeyID, "BENCH_PASS="+e.root.SecretAccessKey, "BENCH_SESSION_KEY="+sessionKey)
	g.Env = append(g.Env, env...)
	if stdout != nil {
		g.Stdout = stdout
	}
	if err := e.startProc(name, g); err != nil {
		return 0, "", err
	}
	if err := waitHTTP("http://"+addr+"/_iamgate/readyz", 30*time.Second); err != nil {
		return 0, "", fmt.Errorf("%s did not become ready: %w\n%s", name, err, e.logTail(name))
	}
	return g.Process.Pid, addr, nil
}

// assumeRole gets session credentials from iamgate's STS.
func assumeRole(addr, token string) (credentials, error) {
	body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=43200&RoleArn=bench&RoleSessionName=bench&WebIdentityToken=" + token
	res, err := http.Post("http://"+addr+"/", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		return credentials{}, err
	}
	defer res.Body.Close()
	var out struct {
		Result struct {
			Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		} `xml:"AssumeRoleWithWebIdentityResult"`
	}
	b, _ := io.ReadAll(res.Body)
	if err := xml.Unmarshal(b, &out); err != nil || res.StatusCode != 200 {
		return credentials{}, fmt.Errorf("iamgate STS: %s %s", res.Status, b)
	}
	c := out.Result.Credentials
	return credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
}

// toolVersion is the pinned version stamped by the install scripts.
func toolVersion(name string) string {
	p, err := testenv.ToolPath(name)
	if err != nil {
		return "not installed"
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(p), "."+name+".version"))
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(string(b))
}
