package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// collector is the audit webhook endpoint of the benchmark: it accepts every
// batch and records, per event, the delay from the request's arrival at
// iamgate (eventTime) to the event's arrival here.
type collector struct {
	srv *http.Server
	url string

	mu     sync.Mutex
	delays []time.Duration
	events int
	bad    int
}

func startCollector() (*collector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &collector{url: "http://" + ln.Addr().String() + "/ingest"}
	c.srv = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(ln)
	return c, nil
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var delays []time.Duration
	bad := 0
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Time time.Time `json:"eventTime"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Time.IsZero() {
			bad++
			continue
		}
		delays = append(delays, now.Sub(ev.Time))
	}
	if err := sc.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.delays = append(c.delays, delays...)
	c.events += len(delays)
	c.bad += bad
	c.mu.Unlock()
}

// reset forgets what was recorded (the warm-up's events).
func (c *collector) reset() {
	c.mu.Lock()
	c.delays, c.events, c.bad = c.delays[:0], 0, 0
	c.mu.Unlock()
}

// summary describes the delivery delays recorded so far, once the events
// still on their way have arrived (nothing new for 1.5 s, at most 15 s).
func (c *collector) summary() string {
	deadline := time.Now().Add(15 * time.Second)
	last, quiet := -1, time.Now()
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := c.events
		c.mu.Unlock()
		if n != last {
			last, quiet = n, time.Now()
		} else if time.Since(quiet) > 1500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.mu.Lock()
	d := slices.Clone(c.delays)
	bad := c.bad
	c.mu.Unlock()
	if len(d) == 0 {
		return "No events reached the webhook collector."
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("Webhook delivery delay, from the request's arrival at iamgate to the event's arrival at the collector "+
		"(default batching: up to 500 events or 1 s): **p50 %s, p99 %s**, max %s, over %d events (%d unreadable).",
		dur(q(0.50)), dur(q(0.99)), dur(d[len(d)-1]), len(d), bad)
}

func (c *collector) close() { c.srv.Close() }
