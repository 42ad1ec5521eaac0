package cluster

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// HAProxyConfig is the load balancer's configuration: round-robin over
// servers ("name host:port" each) on bind, statistics on stats.
//
// Readiness is checked every 150 ms; one failed check takes a replica out
// of the rotation (fall 1), two good ones put it back (rise 2), so a
// replica's drain delay must exceed about 300 ms on an idle machine (the
// cluster uses 1s). A request is sent again to another replica (retries,
// option redispatch) only when no replica answered it: when the connection
// could not be made (conn-failure: nothing reached a replica), or when a
// replica closed the connection without a byte of answer (empty-response:
// a keep-alive connection closed as the request was sent). The second case
// is replayed for idempotent methods only (GET, HEAD, PUT, DELETE,
// OPTIONS), never for POST (STS, multipart uploads, DeleteObjects,
// sign-in forms), and HAProxy never replays a request whose body did not
// fit in its buffer (16 KiB): a large upload is not sent twice. Client and
// server timeouts are inactivity timeouts, long enough for slow transfers
// of large objects.
func HAProxyConfig(bind, stats string, servers []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option redispatch 1
    retries 3
    retry-on conn-failure empty-response
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    timeout http-keep-alive 30s
    timeout queue 30s
    timeout check 2s

frontend s3
    bind %s
    default_backend iamgate

backend iamgate
    balance roundrobin
    option httpchk GET /_iamgate/readyz
    http-check expect status 200
    http-request disable-l7-retry if !{ method GET HEAD PUT DELETE OPTIONS }
    default-server check inter 150ms fall 1 rise 2
`, bind)
	for _, s := range servers {
		fmt.Fprintf(&b, "    server %s\n", s)
	}
	fmt.Fprintf(&b, `
listen stats
    bind %s
    stats enable
    stats uri /stats
`, stats)
	return b.String()
}

// ServerStatus reads the load balancer's view of each replica: "UP",
// "DOWN", "UP 1/2" (coming up), "NOLB"…, by replica name.
func (c *Cluster) ServerStatus(ctx context.Context) (map[string]string, error) {
	rows, err := c.stats(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, row := range rows {
		if row["pxname"] == "iamgate" && row["svname"] != "BACKEND" {
			out[row["svname"]] = row["status"]
		}
	}
	return out, nil
}

// BalancerCounters reads the load balancer's totals for the replicas:
// requests it sent again (wretr: retries, wredis: to another replica) and
// failures (econ: connection errors, eresp: response errors), as HAProxy's
// statistics name them.
func (c *Cluster) BalancerCounters(ctx context.Context) (map[string]string, error) {
	rows, err := c.stats(ctx)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row["pxname"] == "iamgate" && row["svname"] == "BACKEND" {
			return map[string]string{"wretr": row["wretr"], "wredis": row["wredis"], "econ": row["econ"], "eresp": row["eresp"]}, nil
		}
	}
	return nil, fmt.Errorf("haproxy stats: no backend row")
}

// stats reads HAProxy's statistics (CSV), one map per row.
func (c *Cluster) stats(ctx context.Context) ([]map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.StatsURL+";csv", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("haproxy stats: %s", res.Status)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: empty")
	}
	header := rows[0]
	for i, name := range header {
		header[i] = strings.TrimPrefix(strings.TrimSpace(name), "# ")
	}
	var out []map[string]string
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, v := range row {
			if i < len(header) {
				m[header[i]] = v
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// WaitBalanced waits until the load balancer sends requests to r.
func (c *Cluster) WaitBalanced(ctx context.Context, r *Replica) error {
	return c.waitStatus(ctx, r, func(s string) bool { return s == "UP" })
}

// WaitUnbalanced waits until the load balancer has taken r out.
func (c *Cluster) WaitUnbalanced(ctx context.Context, r *Replica) error {
	return c.waitStatus(ctx, r, func(s string) bool { return strings.HasPrefix(s, "DOWN") })
}

func (c *Cluster) waitStatus(ctx context.Context, r *Replica, want func(string) bool) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last string
	for {
		st, err := c.ServerStatus(ctx)
		if err == nil && want(st[r.Name]) {
			return nil
		}
		last = st[r.Name]
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: load balancer status of %s: %s", r.Name, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
