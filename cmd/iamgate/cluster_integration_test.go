package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/minio/minio-go/v7"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/cluster"
	"github.com/iamgate/iamgate/web"
)

// bigObject is the size of the large uploads and downloads of the load
// run.
const bigObject = 100 << 20

// TestCluster runs three replicas behind HAProxy with the store, the
// issuer and the shared state, and shows that they act as one: credentials
// and browser sessions made on one replica work on the others, sign-out
// and revocations reach every replica, a rolling restart under load fails
// no request, and the three audit streams verify together and account for
// every request.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs MinIO, Hydra, Redis, HAProxy and three iamgate processes")
	}
	bin := filepath.Join(t.TempDir(), "iamgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	c := cluster.Start(t, cluster.Options{Binary: bin})
	ctx := context.Background()

	// Credentials issued by replica 1 alone.
	r1 := c.Replicas[0]
	creds, err := assumeRoleAt(ctx, r1.URL, c.Hydra.Token(t, c.Machine, "iamgate"), "loader")
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity at %s: %v", r1.Name, err)
	}
	s3 := &s3Client{creds: creds, http: &http.Client{Transport: &http.Transport{DisableCompression: true}}}

	t.Run("STS credentials work on every replica", func(t *testing.T) {
		for i, r := range c.Replicas {
			key := "sts/from-" + r.Name
			if err := s3.put(ctx, r.URL, c.Bucket, key, []byte("written at "+r.Name)); err != nil {
				t.Errorf("PUT at %s: %v", r.Name, err)
				continue
			}
			next := c.Replicas[(i+1)%len(c.Replicas)]
			if got, err := s3.get(ctx, next.URL, c.Bucket, key); err != nil || string(got) != "written at "+r.Name {
				t.Errorf("GET at %s of what %s stored: %q, %v", next.Name, r.Name, got, err)
			}
		}
	})

	var load loadRecord // what the rolling restart's load run sent
	var cookie string
	t.Run("a browser session works on every replica", func(t *testing.T) {
		cookie = signIn(t, c, r1)
		c.MinIO.PutObject(t, c.Bucket, "browser/page.txt", []byte("for alice"))
		for _, r := range c.Replicas {
			if code, body := getWithCookie(t, r.URL+"/"+c.Bucket+"/browser/page.txt", cookie); code != http.StatusOK || body != "for alice" {
				t.Errorf("%s: %d %q", r.Name, code, body)
			}
		}
	})

	t.Run("signing out on one replica ends the session on all", func(t *testing.T) {
		if cookie == "" {
			t.Skip("no browser session")
		}
		r2 := c.Replicas[1]
		if code, body := getWithCookie(t, r2.URL+"/_iamgate/logout", cookie); code != http.StatusFound {
			t.Fatalf("sign-out at %s: %d %s", r2.Name, code, body)
		}
		for _, r := range c.Replicas {
			if code, _ := getWithCookie(t, r.URL+"/"+c.Bucket+"/browser/page.txt", cookie); code != http.StatusForbidden {
				t.Errorf("%s after sign-out at %s: %d, want 403", r.Name, r2.Name, code)
			}
		}
	})

	t.Run("a revocation added on one replica applies on all within a second", func(t *testing.T) {
		// Another machine identity, so that the load run's is untouched.
		victim := c.Hydra.Client(t, map[string]any{"project": "cluster"}, "iamgate")
		vcreds, err := assumeRoleAt(ctx, c.Replicas[1].URL, c.Hydra.Token(t, victim, "iamgate"), "loader")
		if err != nil {
			t.Fatal(err)
		}
		vs3 := &s3Client{creds: vcreds, http: s3.http}
		for _, r := range c.Replicas {
			if err := vs3.put(ctx, r.URL, c.Bucket, "revoked/"+r.Name, []byte("before")); err != nil {
				t.Fatalf("before the revocation, at %s: %v", r.Name, err)
			}
		}
		cmd := exec.Command(bin, "revoke", "--admin-url", r1.AdminURL(), "--token-file", c.AdminTokenFile,
			"--subject", victim.ID, "--reason", "cluster test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("iamgate revoke: %v\n%s", err, out)
		}
		added := time.Now()
		refused := map[string]time.Duration{}
		for len(refused) < len(c.Replicas) && time.Since(added) < 10*time.Second {
			for _, r := range c.Replicas {
				if _, done := refused[r.Name]; done {
					continue
				}
				err := vs3.put(ctx, r.URL, c.Bucket, "revoked/after-"+r.Name, []byte("after"))
				switch {
				case err != nil && strings.Contains(err.Error(), "<Code>ExpiredToken</Code>"):
					refused[r.Name] = time.Since(added)
				case err != nil:
					t.Fatalf("after the revocation, at %s: %v", r.Name, err)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("revocation added at %s; refused by %v", r1.Name, refused)
		for _, r := range c.Replicas {
			if d, ok := refused[r.Name]; !ok || d > time.Second {
				t.Errorf("%s: the revocation applied after %v (not refused: %v), want within 1s", r.Name, d, !ok)
			}
		}
	})

	t.Run("rolling restart under load fails no request", func(t *testing.T) {
		testRollingRestart(t, c, s3, &load)
	})

	t.Run("the audit streams verify together and account for every request", func(t *testing.T) {
		// Graceful stops close each replica's stream with a checkpoint.
		for _, r := range c.Replicas {
			sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			err := r.Stop(sctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
		files := make([]string, len(c.Replicas))
		for i, r := range c.Replicas {
			files[i] = r.AuditFile
		}
		cmd := exec.Command(bin, append([]string{"audit", "verify", "--strict", "--config", r1.Config}, files...)...)
		cmd.Env = c.Env()
		out, err := cmd.CombinedOutput()
		t.Logf("iamgate audit verify --strict %s:\n%s", strings.Join(files, " "), out)
		if err != nil {
			t.Fatalf("audit verify: %v", err)
		}
		got := allowedObjectEvents(t, files)
		want := load.counts()
		if len(want) == 0 {
			t.Fatal("the load run made no request")
		}
		missing, extra := 0, 0
		for k, n := range want {
			if got[k] != n {
				if missing+extra < 10 {
					t.Errorf("%s %s: %d allowed events, %d requests made", k.op, k.key, got[k], n)
				}
				if got[k] < n {
					missing++
				} else {
					extra++
				}
			}
		}
		total := 0
		for _, n := range want {
			total += n
		}
		t.Logf("audit: %d requests of the load run, each with its one allowed event in the three streams (%d missing, %d extra)", total, missing, extra)
	})
}

// assumeRoleAt calls AssumeRoleWithWebIdentity at one replica's address.
func assumeRoleAt(ctx context.Context, base, token, role string) (aws.Credentials, error) {
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), RetryMaxAttempts: 1})
	out, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::000000000000:role/" + role),
		RoleSessionName:  aws.String("cluster"),
		WebIdentityToken: aws.String(token)})
	if err != nil {
		return aws.Credentials{}, err
	}
	cr := out.Credentials
	return aws.Credentials{AccessKeyID: *cr.AccessKeyId, SecretAccessKey: *cr.SecretAccessKey, SessionToken: *cr.SessionToken}, nil
}

// signIn signs alice in through Hydra's login form with every request to
// the public URL sent to replica r, and returns the session cookie.
func signIn(t *testing.T, c *cluster.Cluster, r *cluster.Replica) string {
	t.Helper()
	lb, target := strings.TrimPrefix(c.URL, "http://"), strings.TrimPrefix(r.URL, "http://")
	var d net.Dialer
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == lb {
			addr = target
		}
		return d.DialContext(ctx, network, addr)
	}}}
	res := c.Hydra.SubmitLogin(t, cl, c.URL+"/_iamgate/login", c.Alice.Name, c.Alice.Password)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended with %s at %s:\n%s", res.Status, res.Request.URL, body)
	}
	u := res.Request.URL
	for _, ck := range jar.Cookies(u) {
		if ck.Name == web.DefaultCookieName {
			return ck.Value
		}
	}
	t.Fatalf("no session cookie after sign-in (at %s)", u)
	return ""
}

// getWithCookie GETs url with the session cookie, not following redirects.
func getWithCookie(t *testing.T, url, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(&http.Cookie{Name: web.DefaultCookieName, Value: cookie})
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// s3Client sends SigV4-signed S3 requests with no retry of any kind: a
// request that fails is reported, and one the HTTP client sent twice (it
// may resend an idempotent request whose reused connection broke) counts
// as failed too.
type s3Client struct {
	creds aws.Credentials
	http  *http.Client
}

var errResent = errors.New("the HTTP client sent the request twice")

// do signs and sends one request; the caller closes the body.
func (s *s3Client) do(ctx context.Context, method, url string, body io.Reader, size int64) (*http.Response, error) {
	var conns atomic.Int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns.Add(1) }})
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		// Not replayable: net/http must not resend it on its own.
		req.GetBody = nil
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, s.creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	res, err := s.http.Do(req)
	if n := conns.Load(); n > 1 {
		if err == nil {
			res.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w (%d connections)", method, url, errResent, n)
	}
	return res, err
}

func (s *s3Client) put(ctx context.Context, base, bucket, key string, data []byte) error {
	return s.putStream(ctx, base, bucket, key, bytes.NewReader(data), int64(len(data)))
}

func (s *s3Client) putStream(ctx context.Context, base, bucket, key string, body io.Reader, size int64) error {
	res, err := s.do(ctx, "PUT", base+"/"+bucket+"/"+key, body, size)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s %s", key, res.Status, b)
	}
	return nil
}

func (s *s3Client) get(ctx context.Context, base, bucket, key string) ([]byte, error) {
	res, err := s.do(ctx, "GET", base+"/"+bucket+"/"+key, nil, 0)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the body: %w", key, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %s", key, res.Status, b)
	}
	return b, nil
}

// createMultipart starts a multipart upload and returns its id.
func (s *s3Client) createMultipart(ctx context.Context, base, bucket, key string) (string, error) {
	res, err := s.do(ctx, "POST", base+"/"+bucket+"/"+key+"?uploads", nil, 0)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct{ UploadId string }
	if res.StatusCode != http.StatusOK || xml.Unmarshal(b, &out) != nil || out.UploadId == "" {
		return "", fmt.Errorf("POST %s?uploads: %s %s", key, res.Status, b)
	}
	return out.UploadId, nil
}

func (s *s3Client) abortMultipart(ctx context.Context, base, bucket, key, id string) error {
	res, err := s.do(ctx, "DELETE", base+"/"+bucket+"/"+key+"?uploadId="+url.QueryEscape(id), nil, 0)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("DELETE %s?uploadId: %s %s", key, res.Status, b)
	}
	return nil
}

// getChecksum downloads key and returns its length and CRC-32.
func (s *s3Client) getChecksum(ctx context.Context, base, bucket, key string) (int64, uint32, error) {
	res, err := s.do(ctx, "GET", base+"/"+bucket+"/"+key, nil, 0)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return 0, 0, fmt.Errorf("GET %s: %s %s", key, res.Status, b)
	}
	h := crc32.NewIEEE()
	n, err := io.Copy(h, res.Body)
	if err != nil {
		return n, 0, fmt.Errorf("GET %s: after %d bytes: %w", key, n, err)
	}
	return n, h.Sum32(), nil
}

// seededReader yields size bytes that depend on seed, without holding
// them in memory.
type seededReader struct {
	block []byte
	left  int64
	off   int
}

func newSeededReader(seed string, size int64) *seededReader {
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = seed[i%len(seed)] ^ byte(i>>8)
	}
	return &seededReader{block: block, left: size}
}

func (p *seededReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	p.left -= int64(n)
	return n, nil
}

func seededChecksum(seed string, size int64) uint32 {
	h := crc32.NewIEEE()
	io.Copy(h, newSeededReader(seed, size))
	return h.Sum32()
}

// objectOp is one request of the load run: an operation on a key.
type objectOp struct{ op, key string }

// loadRecord keeps what the load run did, for the audit check.
type loadRecord struct {
	mu   sync.Mutex
	reqs map[objectOp]int
}

func (l *loadRecord) add(op, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reqs == nil {
		l.reqs = map[objectOp]int{}
	}
	l.reqs[objectOp{op, key}]++
}

func (l *loadRecord) counts() map[objectOp]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reqs
}

// loadResult is one finished request of the load run.
type loadResult struct {
	op, key    string
	start, end time.Time
	err        error
}

// testRollingRestart restarts every replica in turn (SIGTERM, wait for
// the exit, start on the same port, wait until the load balancer sends it
// requests) while a load generator sends small PUTs and GETs and 100 MiB
// uploads and downloads through the load balancer. No request may fail.
func testRollingRestart(t *testing.T, c *cluster.Cluster, s3 *s3Client, load *loadRecord) {
	ctx := context.Background()
	// The object the large downloads read, stored directly.
	const seedKey = "big/seed"
	if _, err := c.MinIO.Client(t).PutObject(ctx, c.Bucket, seedKey, newSeededReader(seedKey, bigObject), bigObject,
		minio.PutObjectOptions{DisableMultipart: true}); err != nil {
		t.Fatal(err)
	}
	seedSum := seededChecksum(seedKey, bigObject)

	var (
		mu      sync.Mutex
		results []loadResult
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	record := func(op, key string, start time.Time, err error) {
		load.add(op, key)
		mu.Lock()
		results = append(results, loadResult{op, key, start, time.Now(), err})
		mu.Unlock()
	}
	const smallWorkers = 4
	for w := range smallWorkers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("load/w%d/%05d", w, i)
				// Up to 64 KiB: most bodies are larger than what the load
				// balancer keeps to send a request again.
				data := bytes.Repeat([]byte(key+"\n"), 1+i*97%3600)
				start := time.Now()
				err := s3.put(ctx, c.URL, c.Bucket, key, data)
				record("PutObject", key, start, err)
				if err != nil {
					continue
				}
				start = time.Now()
				got, err := s3.get(ctx, c.URL, c.Bucket, key)
				if err == nil && !bytes.Equal(got, data) {
					err = fmt.Errorf("GET %s: %d bytes differ from the %d stored", key, len(got), len(data))
				}
				record("GetObject", key, start, err)
				if i%4 != 0 {
					continue
				}
				// A POST, which is never sent twice, and its DELETE.
				key += ".parts"
				start = time.Now()
				id, err := s3.createMultipart(ctx, c.URL, c.Bucket, key)
				record("CreateMultipartUpload", key, start, err)
				if err != nil {
					continue
				}
				start = time.Now()
				err = s3.abortMultipart(ctx, c.URL, c.Bucket, key, id)
				record("AbortMultipartUpload", key, start, err)
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			key := fmt.Sprintf("big/upload-%02d", i)
			start := time.Now()
			err := s3.putStream(ctx, c.URL, c.Bucket, key, newSeededReader(key, bigObject), bigObject)
			record("PutObject", key, start, err)
		}
	})
	wg.Go(func() {
		for !stop.Load() {
			start := time.Now()
			n, sum, err := s3.getChecksum(ctx, c.URL, c.Bucket, seedKey)
			if err == nil && (n != bigObject || sum != seedSum) {
				err = fmt.Errorf("GET %s: %d bytes, CRC-32 %08x, want %d bytes, %08x", seedKey, n, sum, bigObject, seedSum)
			}
			record("GetObject", seedKey, start, err)
		}
	})

	time.Sleep(time.Second) // the load is under way
	windowStart := time.Now()
	for _, r := range c.Replicas {
		old := r.PID()
		if err := r.Terminate(); err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		// Readiness fails while the listener still answers.
		if err := waitDraining(ctx, r); err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := r.Wait(sctx)
		cancel()
		if err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		if err := r.Start(); err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		if err := r.WaitReady(ctx); err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		if err := c.WaitBalanced(ctx, r); err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		t.Logf("%s restarted (pid %d → %d) after %s", r.Name, old, r.PID(), time.Since(windowStart).Round(time.Millisecond))
	}
	windowEnd := time.Now()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	lb, err := c.BalancerCounters(ctx)
	if err != nil {
		t.Error(err)
	}
	var failed []loadResult
	var inWindow []time.Duration
	bigUp, bigDown := 0, 0
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, r)
		}
		overlaps := r.start.Before(windowEnd) && r.end.After(windowStart)
		switch {
		case strings.HasPrefix(r.key, "big/") && overlaps && r.op == "PutObject":
			bigUp++
		case strings.HasPrefix(r.key, "big/") && overlaps:
			bigDown++
		case !strings.HasPrefix(r.key, "big/") && !r.start.Before(windowStart) && r.start.Before(windowEnd):
			inWindow = append(inWindow, r.end.Sub(r.start))
		}
	}
	slices.Sort(inWindow)
	pct := func(p float64) time.Duration {
		if len(inWindow) == 0 {
			return 0
		}
		return inWindow[min(len(inWindow)-1, int(p*float64(len(inWindow))))].Round(100 * time.Microsecond)
	}
	t.Logf("rolling restart of %d replicas in %s: %d requests made, %d failed; during the restarts %d small requests, p50 %s, p99 %s, max %s; 100 MiB transfers overlapping the restarts: %d uploads, %d downloads; load balancer: %s retries, %s redispatches, %s connection errors, %s response errors",
		len(c.Replicas), windowEnd.Sub(windowStart).Round(time.Millisecond), len(results), len(failed),
		len(inWindow), pct(0.50), pct(0.99), pct(1), bigUp, bigDown, lb["wretr"], lb["wredis"], lb["econ"], lb["eresp"])
	for i, f := range failed {
		if i == 10 {
			t.Errorf("… and %d more", len(failed)-10)
			break
		}
		t.Errorf("failed: %s %s at +%s: %v", f.op, f.key, f.start.Sub(windowStart).Round(time.Millisecond), f.err)
	}
	if bigUp == 0 || bigDown == 0 {
		t.Errorf("no 100 MiB upload (%d) or download (%d) ran during the restarts", bigUp, bigDown)
	}
}

// waitDraining waits until r's readyz answers 503 "shutting down".
func waitDraining(ctx context.Context, r *cluster.Replica) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.URL+"/_iamgate/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s: readyz after SIGTERM: %w", r.Name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte("shutting down")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: readyz after SIGTERM: %s %s", r.Name, res.Status, b)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// allowedObjectEvents counts the allowed S3 events of the audit files by
// operation and key.
func allowedObjectEvents(t *testing.T, files []string) map[objectOp]int {
	t.Helper()
	got := map[objectOp]int{}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", name, i+1, err)
			}
			if ev.Kind == audit.KindS3 && ev.Decision == "allow" {
				got[objectOp{ev.Operation, ev.Key}]++
			}
		}
	}
	return got
}
