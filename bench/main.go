// Command bench measures iamgate against direct MinIO on this machine, in
// one run, interleaving the targets round by round:
//
//	go run ./bench [-short] [-rounds N] [-duration D] [-conns C] [-results FILE]
//
// It starts a MinIO (from scripts/install-tools.sh), an in-process
// development issuer and an `iamgate serve` process built from this tree,
// then reports requests/s and latency for small GETs (direct MinIO with
// anonymous read vs iamgate with a bearer token) and iamgate's peak RSS
// while 1 GiB objects stream through it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	short      bool
	rounds     int
	duration   time.Duration
	conns      int
	bigSize    int64
	results    string
	cpuProfile string
	only       string
}

func run() error {
	var o options
	flag.BoolVar(&o.short, "short", false, "short run: 3 rounds of 3s")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per scenario (targets interleaved)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each load run")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections for the small-object scenario")
	flag.StringVar(&o.results, "results", "", "append a markdown report to this file")
	flag.StringVar(&o.cpuProfile, "iamgate-cpuprofile", "", "have iamgate write a CPU profile to this file")
	flag.StringVar(&o.only, "only", "", "run only scenarios whose title contains this")
	flag.Parse()
	o.bigSize = 1 << 30
	if o.short {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			o.rounds = 3
		}
		if !set["duration"] {
			o.duration = 3 * time.Second
		}
	}

	env, err := start(o)
	if err != nil {
		return err
	}
	defer env.stop()

	var report bytes.Buffer
	fmt.Fprintf(&report, "\n## Run of %s (%s, %d CPUs, %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Fprintf(&report, "`go run ./bench %s` — %d rounds × %s per target, interleaved; medians.\n\n",
		strings.Join(os.Args[1:], " "), o.rounds, o.duration)

	creds, err := iamgateSTS(env)
	if err != nil {
		return err
	}
	small := []target{
		{name: "MinIO direct (anonymous)", url: env.minioURL + "/bench/small-4k"},
		{name: "MinIO direct (SigV4, root key)", newReq: signedGet(env.minioURL+"/bench/small-4k",
			aws.Credentials{AccessKeyID: env.minioUser, SecretAccessKey: env.minioPass})},
		{name: "iamgate, bearer JWT", url: env.iamgateURL + "/bench/small-4k", token: env.token, pid: env.iamgatePID},
		{name: "iamgate, SigV4 with STS session", newReq: signedGet(env.iamgateURL+"/bench/small-4k", creds), pid: env.iamgatePID},
	}
	for _, c := range []int{o.conns, 1} {
		scenario(&report, fmt.Sprintf("4 KiB GET, %d connection(s)", c), small, c, o)
	}
	stsTargets := []target{
		{name: "MinIO's own STS", newReq: stsRequest(env.minioURL, "WebIdentityToken="+env.token)},
		{name: "iamgate STS", newReq: stsRequest(env.iamgateURL, "WebIdentityToken="+env.token+"&RoleArn=bench&RoleSessionName=bench"), pid: env.iamgatePID},
	}
	scenario(&report, fmt.Sprintf("AssumeRoleWithWebIdentity, same token, %d connections", o.conns), stsTargets, o.conns, o)

	bigTitle := fmt.Sprintf("%d MiB PUT then GET, one stream", o.bigSize>>20)
	if o.only != "" && !strings.Contains(bigTitle, o.only) {
		os.Stdout.Write(report.Bytes())
		return nil
	}
	fmt.Fprintf(&report, "### %s\n\n", bigTitle)
	fmt.Fprintf(&report, "| target | PUT MiB/s | GET MiB/s | iamgate peak RSS |\n|---|---|---|---|\n")
	for _, t := range []target{
		{name: "MinIO direct (anonymous)", url: env.minioURL + "/bench/big"},
		{name: "iamgate, bearer JWT", url: env.iamgateURL + "/bench/big", token: env.token},
	} {
		put, get, err := bigTransfer(t, o.bigSize, env.iamgatePID)
		if err != nil {
			return err
		}
		rss := "—"
		if t.token != "" {
			rss = fmt.Sprintf("%.1f MiB", float64(peakRSS(env.iamgatePID))/(1<<20))
		}
		fmt.Fprintf(&report, "| %s | %.0f | %.0f | %s |\n", t.name, put, get, rss)
	}
	fmt.Fprintln(&report)

	os.Stdout.Write(report.Bytes())
	if o.results != "" {
		f, err := os.OpenFile(o.results, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write(report.Bytes())
		return err
	}
	return nil
}

// scenario runs every target o.rounds times, interleaved, and reports
// medians; ratios are against the first target.
func scenario(report *bytes.Buffer, title string, targets []target, conns int, o options) {
	if o.only != "" && !strings.Contains(title, o.only) {
		return
	}
	res := make([][]loadResult, len(targets))
	for r := 0; r < o.rounds; r++ {
		for i, t := range targets {
			res[i] = append(res[i], load(t, conns, o.duration))
		}
	}
	fmt.Fprintf(report, "### %s\n\n", title)
	fmt.Fprintf(report, "| target | req/s | ratio | p50 | p90 | p99 | iamgate CPU/req | errors |\n|---|---|---|---|---|---|---|---|\n")
	base := median(res[0], func(l loadResult) float64 { return l.rps })
	for i, t := range targets {
		rps := median(res[i], func(l loadResult) float64 { return l.rps })
		cpu := "—"
		if t.pid != 0 {
			cpu = dur(median(res[i], func(l loadResult) float64 { return float64(l.cpuPerReq) }))
		}
		fmt.Fprintf(report, "| %s | %.0f | %.2f | %s | %s | %s | %s | %d |\n", t.name, rps, rps/base,
			dur(median(res[i], func(l loadResult) float64 { return float64(l.p50) })),
			dur(median(res[i], func(l loadResult) float64 { return float64(l.p90) })),
			dur(median(res[i], func(l loadResult) float64 { return float64(l.p99) })),
			cpu, sum(res[i], func(l loadResult) int { return l.errors }))
	}
	fmt.Fprintln(report)
}

// signedGet signs each GET with SigV4 header auth, as an SDK does.
func signedGet(url string, creds aws.Credentials) func() *http.Request {
	signer := v4.NewSigner()
	return func() *http.Request {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		signer.SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		return req
	}
}

func stsRequest(base, params string) func() *http.Request {
	body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=900&" + params
	return func() *http.Request {
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
}

// iamgateSTS gets session credentials from iamgate's STS.
func iamgateSTS(env *benchEnv) (aws.Credentials, error) {
	res, err := http.DefaultClient.Do(stsRequest(env.iamgateURL, "WebIdentityToken="+env.token+"&RoleArn=bench&RoleSessionName=bench")())
	if err != nil {
		return aws.Credentials{}, err
	}
	defer res.Body.Close()
	var out struct {
		Result struct {
			Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		} `xml:"AssumeRoleWithWebIdentityResult"`
	}
	b, _ := io.ReadAll(res.Body)
	if err := xml.Unmarshal(b, &out); err != nil || res.StatusCode != 200 {
		return aws.Credentials{}, fmt.Errorf("iamgate STS: %s %s", res.Status, b)
	}
	c := out.Result.Credentials
	return aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
}

type target struct {
	name, url, token string
	// newReq builds each request; nil means a GET of url, with the bearer
	// token if set.
	newReq func() *http.Request
	// pid, if set, is the process whose CPU time is charged per request.
	pid int
}

func (t target) request() *http.Request {
	if t.newReq != nil {
		return t.newReq()
	}
	req, _ := http.NewRequest("GET", t.url, nil)
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return req
}

type benchEnv struct {
	dir         string
	minioUser   string
	minioPass   string
	minioURL    string
	iamgateURL  string
	iamgatePID  int
	token       string
	procs       []*exec.Cmd
	issuerClose func()
}

func (e *benchEnv) stop() {
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
	os.RemoveAll(e.dir)
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

func start(o options) (*benchEnv, error) {
	minioBin, err := testenv.ToolPath("minio")
	if err != nil {
		return nil, fmt.Errorf("%w; run scripts/install-tools.sh", err)
	}
	dir, err := os.MkdirTemp("", "iamgate-bench-")
	if err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir}
	ok := false
	defer func() {
		if !ok {
			e.stop()
		}
	}()

	iss, err := devissuer.New(devissuer.Options{})
	if err != nil {
		return nil, err
	}
	iln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss.SetURL("http://" + iln.Addr().String())
	isrv := &http.Server{Handler: iss.Handler()}
	go isrv.Serve(iln)
	e.issuerClose = func() { isrv.Close() }
	// The same token works for iamgate (trust rule on groups) and for
	// MinIO's own STS (its "policy" claim names a MinIO policy).
	e.token, err = iss.Mint(map[string]any{"sub": "bench", "aud": "iamgate", "groups": []string{"bench"}, "policy": "readwrite"}, 6*time.Hour)
	if err != nil {
		return nil, err
	}

	user, pass := "bench", randomHex(16)
	maddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	caddr, _ := freeAddr()
	m := exec.Command(minioBin, "server", filepath.Join(dir, "minio"), "--address", maddr, "--console-address", caddr)
	m.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+pass, "MINIO_BROWSER=off", "MINIO_UPDATE=off",
		"MINIO_IDENTITY_OPENID_CONFIG_URL="+iss.URL()+"/.well-known/openid-configuration",
		"MINIO_IDENTITY_OPENID_CLIENT_ID=iamgate", "MINIO_IDENTITY_OPENID_CLAIM_NAME=policy")
	m.Stdout, _ = os.Create(filepath.Join(dir, "minio.log"))
	m.Stderr = m.Stdout
	if err := m.Start(); err != nil {
		return nil, err
	}
	e.procs = append(e.procs, m)
	e.minioURL = "http://" + maddr
	e.minioUser, e.minioPass = user, pass
	mc, err := minio.New(maddr, &minio.Options{Creds: credentials.NewStaticV4(user, pass, "")})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := retry(30*time.Second, func() error { return mc.MakeBucket(ctx, "bench", minio.MakeBucketOptions{}) }); err != nil {
		return nil, fmt.Errorf("MinIO did not start: %w", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::bench/*"]}]}`
	if err := mc.SetBucketPolicy(ctx, "bench", policy); err != nil {
		return nil, err
	}
	small := bytes.Repeat([]byte("0123456789abcdef"), 256)
	if _, err := mc.PutObject(ctx, "bench", "small-4k", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{}); err != nil {
		return nil, err
	}

	bin := filepath.Join(dir, "iamgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/iamgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build iamgate: %w", err)
	}
	gaddr, _ := freeAddr()
	cfg := filepath.Join(dir, "iamgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
upstream: {endpoint: %q, access_key_id: env:BENCH_USER, secret_access_key: env:BENCH_PASS}
sts: {session_keys: [{id: bench, secret: env:BENCH_SESSION_KEY}]}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles: [{name: bench, kind: machine, trust: {issuer: dev, claims: {groups: bench}}, policies: [rw], session_may_outlive_token: true, max_session: 12h}]
policies:
  rw: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bench/*"}]}'
audit: {file: %q}
log: {level: warn}
`, gaddr, e.minioURL, iss.URL(), filepath.Join(dir, "audit.log"))), 0o600)
	args := []string{"serve", "--config", cfg}
	if o.cpuProfile != "" {
		args = append(args, "--cpuprofile", o.cpuProfile)
	}
	g := exec.Command(bin, args...)
	g.Env = append(os.Environ(), "BENCH_USER="+user, "BENCH_PASS="+pass, "BENCH_SESSION_KEY="+randomHex(32))
	g.Stdout, _ = os.Create(filepath.Join(dir, "iamgate.log"))
	g.Stderr = g.Stdout
	if err := g.Start(); err != nil {
		return nil, err
	}
	e.procs = append(e.procs, g)
	e.iamgatePID = g.Process.Pid
	e.iamgateURL = "http://" + gaddr
	if err := retry(30*time.Second, func() error {
		res, err := http.Get(e.iamgateURL + "/_iamgate/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return errors.New(res.Status)
		}
		return nil
	}); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "iamgate.log"))
		return nil, fmt.Errorf("iamgate did not become ready: %w\n%s", err, log)
	}
	ok = true
	return e, nil
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

type loadResult struct {
	rps           float64
	p50, p90, p99 time.Duration
	errors        int
	cpuPerReq     time.Duration // of target.pid, when set
}

// cpuTime is a process's user+system CPU time from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// load runs conns workers doing GETs against t for d, after a short warm-up.
func load(t target, conns int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var stop atomic.Bool
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	var wg sync.WaitGroup
	warm := time.Now().Add(d / 5)
	var measured atomic.Int64
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lat[w] = make([]time.Duration, 0, 1<<16)
			buf := make([]byte, 32<<10)
			for !stop.Load() {
				req := t.request()
				s := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errs[w]++
					continue
				}
				for {
					if _, err := res.Body.Read(buf); err != nil {
						break
					}
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					errs[w]++
				}
				if s.After(warm) {
					lat[w] = append(lat[w], time.Since(s))
					measured.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(d / 5)
	begin := time.Now()
	cpu0 := cpuTime(t.pid)
	time.Sleep(d)
	elapsed := time.Since(begin)
	cpu1 := cpuTime(t.pid)
	stop.Store(true)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := loadResult{rps: float64(measured.Load()) / elapsed.Seconds()}
	if t.pid != 0 && measured.Load() > 0 {
		r.cpuPerReq = (cpu1 - cpu0) / time.Duration(measured.Load())
	}
	for _, e := range errs {
		r.errors += e
	}
	if len(all) > 0 {
		r.p50, r.p90, r.p99 = all[len(all)*50/100], all[len(all)*90/100], all[len(all)*99/100]
	}
	return r
}

// pattern yields n deterministic bytes without holding them.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		b[i] = byte(p.off + int64(i))
	}
	p.off += int64(len(b))
	return len(b), nil
}

func bigTransfer(t target, size int64, pid int) (putMiBs, getMiBs float64, err error) {
	req, _ := http.NewRequest("PUT", t.url, &pattern{n: size})
	req.ContentLength = size
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	s := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return 0, 0, fmt.Errorf("%s: PUT: %s", t.name, res.Status)
	}
	putMiBs = float64(size) / (1 << 20) / time.Since(s).Seconds()
	req, _ = http.NewRequest("GET", t.url, nil)
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	s = time.Now()
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || n != size {
		return 0, 0, fmt.Errorf("%s: GET: %d bytes, %v", t.name, n, err)
	}
	getMiBs = float64(size) / (1 << 20) / time.Since(s).Seconds()
	return putMiBs, getMiBs, nil
}

// peakRSS reads the process's high-water resident set size (VmHWM).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func sum[T any](xs []T, f func(T) int) int {
	n := 0
	for _, x := range xs {
		n += f(x)
	}
	return n
}

func dur(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
}
