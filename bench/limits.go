package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// limitsRole is the role's limits of the limited targets: every limit a
// GET meets (rate, concurrency, objects and bytes, per session and per
// identity) and the kill switch's deny check, all far above what a run
// reaches, so that each request pays for them and none is refused.
const limitsRole = `limits: {requests_per_second: 1000000, burst: 1000000, concurrent_requests: 10000, window: 1h,
    bytes_downloaded: 1048576GiB, objects_read: 1000000000000, per: [session, identity]},
  escalation: {window: 1h, deny_after: 1000, revoke_after: 2000}`

// startLimited runs iamgate twice more with limits on its role: counted in
// memory, and in a redis-server started here (as replicas sharing one
// budget run it).
func (e *env) startLimited(ctx context.Context, sessionKey string) error {
	audit := func(name string) string { return fmt.Sprintf("{file: %q}", filepath.Join(e.dir, name+".log")) }
	pid, addr, err := e.iamgateConfProc(e.iamgateBin, nil, "iamgate-limits", audit("audit-limits"), nil, sessionKey, "", limitsRole, "")
	if err != nil {
		return err
	}
	e.bearerLimits = &endpoint{name: "iamgate, bearer JWT, limits in memory", addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}

	bin, err := exec.LookPath("redis-server")
	if err != nil {
		e.notes = append(e.notes, "limits in Redis: redis-server is not installed")
		return nil
	}
	raddr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := strings.Cut(raddr, ":")
	rcmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", e.dir)
	if err := e.startProc("redis", rcmd); err != nil {
		return err
	}
	e.redis = redis.NewClient(&redis.Options{Addr: raddr})
	deadline := time.Now().Add(10 * time.Second)
	for e.redis.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not start:\n%s", e.logTail("redis"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	state := fmt.Sprintf("state: {redis: {url: %q}}", "redis://"+raddr+"/0")
	pid, addr, err = e.iamgateConfProc(e.iamgateBin, nil, "iamgate-limits-redis", audit("audit-limits-redis"), nil, sessionKey, "", limitsRole, state)
	if err != nil {
		return err
	}
	e.bearerLimitsRedis = &endpoint{name: "iamgate, bearer JWT, limits in Redis", addr: addr, auth: authBearer, token: e.token, pid: pid, iamgate: true}
	return nil
}

// redisScriptsPerRequest sends n GETs, one after another, through ep and
// reports the scripts Redis ran for them (a background batch of the
// counts left after the last included) and Redis's CPU time per request.
func (e *env) redisScriptsPerRequest(ep *endpoint, n int) string {
	ctx := context.Background()
	if e.redis == nil || ep == nil {
		return ""
	}
	if err := e.redis.ConfigResetStat(ctx).Err(); err != nil {
		return "Redis statistics: " + err.Error()
	}
	cpu0, _ := redisCPU(ctx, e.redis)
	w := newWorker(0, ep)
	st := &workerStats{}
	for i := range n {
		if _, ok := w.do(getOp(smallKey), i, st); !ok {
			w.conn.close()
			return "Redis round trips: a request failed: " + st.firstErr
		}
	}
	w.conn.close()
	time.Sleep(200 * time.Millisecond) // the background batch (within 25 ms)
	calls, usec := redisScripts(ctx, e.redis)
	cpu1, _ := redisCPU(ctx, e.redis)
	return fmt.Sprintf("Redis round trips, measured apart: %d GETs one after another through %q made Redis run %d scripts "+
		"(%.3f per request), %.1f µs of script time and %.1f µs of redis-server CPU per request.",
		n, ep.name, calls, float64(calls)/float64(n), float64(usec)/float64(n), (cpu1-cpu0)*1e6/float64(n))
}

// redisScripts sums the calls and time of EVAL and EVALSHA in Redis's
// command statistics.
func redisScripts(ctx context.Context, c *redis.Client) (calls, usec int64) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, rest, _ := strings.Cut(line, ":")
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			x, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += x
			case "usec":
				usec += x
			}
		}
	}
	return calls, usec
}

// redisCPU is redis-server's CPU time so far, in seconds.
func redisCPU(ctx context.Context, c *redis.Client) (float64, error) {
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			x, _ := strconv.ParseFloat(v, 64)
			sum += x
		}
	}
	return sum, nil
}
