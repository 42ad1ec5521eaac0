package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingMetrics records what sinks report.
type countingMetrics struct {
	mu                                           sync.Mutex
	emitted, delivered, spooled, dropped, errors map[string]int
	depthEvents, depthBytes                      int64
	delays                                       []time.Duration
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{emitted: map[string]int{}, delivered: map[string]int{}, spooled: map[string]int{},
		dropped: map[string]int{}, errors: map[string]int{}}
}

func (m *countingMetrics) add(c map[string]int, sink string, n int) {
	m.mu.Lock()
	c[sink] += n
	m.mu.Unlock()
}
func (m *countingMetrics) Emitted(sink string)          { m.add(m.emitted, sink, 1) }
func (m *countingMetrics) Delivered(sink string, n int) { m.add(m.delivered, sink, n) }
func (m *countingMetrics) Spooled(sink string)          { m.add(m.spooled, sink, 1) }
func (m *countingMetrics) Dropped(sink string)          { m.add(m.dropped, sink, 1) }
func (m *countingMetrics) SinkError(sink string)        { m.add(m.errors, sink, 1) }
func (m *countingMetrics) SpoolDepth(_ string, e, b int64) {
	m.mu.Lock()
	m.depthEvents, m.depthBytes = e, b
	m.mu.Unlock()
}
func (m *countingMetrics) DeliveryDelay(_ string, d time.Duration) {
	m.mu.Lock()
	m.delays = append(m.delays, d)
	m.mu.Unlock()
}

func (m *countingMetrics) get(c map[string]int, sink string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return c[sink]
}

var _ Metrics = (*countingMetrics)(nil)

// collector is a webhook collector that keeps every line it accepts. Its
// mode decides what it answers: 0 accept, else that status. Like the
// collectors docs/audit.md describes, it drops an event of a stream whose
// seq it has already accepted: a batch whose sender gave up waiting (drain
// timeout, cancellation) may still arrive, and is then sent again.
type collector struct {
	t       *testing.T
	mu      sync.Mutex
	lines   [][]byte
	last    map[string]uint64 // highest seq accepted per stream
	dups    int
	batches []string
	headers []http.Header
	status  atomic.Int32 // 0: accept
	srv     *http.Server
	addr    string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if s := c.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = append(c.headers, r.Header.Clone())
	c.batches = append(c.batches, r.Header.Get(HeaderBatch))
	for line := range bytes.SplitAfterSeq(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m lineMeta
		if json.Unmarshal(line, &m) == nil && m.Chain.Stream != "" {
			if c.last == nil {
				c.last = map[string]uint64{}
			}
			if m.Chain.Seq <= c.last[m.Chain.Stream] {
				c.dups++
				continue
			}
			c.last[m.Chain.Stream] = m.Chain.Seq
		}
		c.lines = append(c.lines, line)
	}
}

// start serves on addr ("" for a new port); the collector can be stopped
// and started again on the same address.
func (c *collector) start() {
	addr := c.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.srv = &http.Server{Handler: c}
	go c.srv.Serve(ln)
}

// kill stops the collector: it closes the listener and every connection,
// letting requests being handled finish first (a collector that dies
// mid-request loses its answer, and the batch is sent again: that is what
// HeaderBatch is for).
func (c *collector) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c.srv.Shutdown(ctx) != nil {
		c.srv.Close()
	}
}

func (c *collector) url() string { return "http://" + c.addr + "/ingest" }

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

func newCollector(t *testing.T) *collector {
	c := &collector{t: t}
	c.start()
	t.Cleanup(c.kill)
	return c
}

// checkExactlyOnce checks that got holds the lines of one stream with seq
// 1..n, each once and in order, and that the chain verifies.
func checkExactlyOnce(t *testing.T, got [][]byte, n uint64) {
	t.Helper()
	if uint64(len(got)) != n {
		t.Errorf("collector has %d events, want %d", len(got), n)
	}
	for i, line := range got {
		var m lineMeta
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m.Chain.Seq != uint64(i)+1 {
			t.Fatalf("line %d has seq %d, want %d (duplicate, missing or out of order)", i, m.Chain.Seq, i+1)
		}
	}
	v := NewVerifier(VerifyConfig{})
	v.Read("collector", bytes.NewReader(bytes.Join(got, nil)))
	if r := v.Finish(); !r.OK() {
		t.Errorf("chain: %v", r.Problems)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookRoundTrip(t *testing.T) {
	c := newCollector(t)
	m := newCountingMetrics()
	w, err := NewWebhook(WebhookConfig{
		URL: c.url(), SpoolDir: t.TempDir(), BatchSize: 4, FlushInterval: 20 * time.Millisecond,
		BearerToken: "token-0123", HMACSecret: "hmac-secret-0123456789", Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{}, w)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Available(); err != nil {
		t.Fatalf("Available: %v", err)
	}
	waitFor(t, 5*time.Second, "10 events", func() bool { return c.count() == 10 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c.lines, 11) // the closing checkpoint is delivered by Close

	// The batches cover the stream in order, at most 4 events each.
	next := uint64(1)
	for _, b := range c.batches {
		var first, last uint64
		if _, err := fmt.Sscanf(strings.TrimPrefix(b, l.Stream()+":"), "%d-%d", &first, &last); err != nil ||
			!strings.HasPrefix(b, l.Stream()+":") || first != next || last < first || last-first >= 4 {
			t.Fatalf("batch %q after seq %d (all: %q)", b, next-1, c.batches)
		}
		next = last + 1
	}
	if next != 12 {
		t.Errorf("batches %q", c.batches)
	}
	h := c.headers[0]
	if h.Get("Content-Type") != "application/x-ndjson" || h.Get("Authorization") != "Bearer token-0123" {
		t.Errorf("headers %v", h)
	}
	body := bytes.Join(c.lines[:4], nil)
	mac := hmac.New(sha256.New, []byte("hmac-secret-0123456789"))
	mac.Write(body)
	if got, want := h.Get(HeaderSignature), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if m.get(m.emitted, SinkWebhook) != 11 || m.get(m.spooled, SinkWebhook) != 11 || m.get(m.delivered, SinkWebhook) != 11 ||
		m.get(m.dropped, SinkWebhook) != 0 || m.depthEvents != 0 || len(m.delays) != 11 {
		t.Errorf("metrics: emitted %v spooled %v delivered %v dropped %v depth %d delays %d",
			m.emitted, m.spooled, m.delivered, m.dropped, m.depthEvents, len(m.delays))
	}
	if err := w.WriteEvent([]byte("{}\n")); !errors.Is(err, ErrSinkClosed) {
		t.Errorf("WriteEvent after Close: %v", err)
	}
}

// TestWebhookOutage kills the collector during a burst, then makes it
// answer 503, then brings it back: it receives every event exactly once
// and in order.
func TestWebhookOutage(t *testing.T) {
	c := newCollector(t)
	m := newCountingMetrics()
	var deliveryErrs atomic.Int32
	w, err := NewWebhook(WebhookConfig{
		URL: c.url(), SpoolDir: t.TempDir(), BatchSize: 200, FlushInterval: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Metrics: m,
		OnError: func(err error) {
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Errorf("OnError got %T %v", err, err)
			}
			deliveryErrs.Add(1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 1000}, w)
	if err != nil {
		t.Fatal(err)
	}
	const events = 5000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range events / 4 {
				ev := sampleEvent()
				ev.RequestID = fmt.Sprintf("g%d-%d", g, i)
				if err := l.Log(ev); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					time.Sleep(5 * time.Millisecond) // a burst over about a second
				}
			}
		})
	}
	waitFor(t, 5*time.Second, "first deliveries", func() bool { return c.count() > 0 })
	c.kill()
	killedAt := c.count()
	time.Sleep(300 * time.Millisecond)
	c.status.Store(http.StatusServiceUnavailable)
	c.start()
	time.Sleep(300 * time.Millisecond)
	c.status.Store(0)
	wg.Wait()
	if err := l.Close(); err != nil { // delivers the rest, closing checkpoint included
		t.Fatal(err)
	}
	c.kill()
	if killedAt >= events || deliveryErrs.Load() == 0 {
		t.Errorf("the outage did not interrupt delivery: %d delivered before it, %d failed attempts", killedAt, deliveryErrs.Load())
	}
	var last lineMeta
	json.Unmarshal(c.lines[len(c.lines)-1], &last)
	if last.Chain.Seq < events+events/1000+1 {
		t.Fatalf("last seq %d: not every event arrived", last.Chain.Seq)
	}
	checkExactlyOnce(t, c.lines, last.Chain.Seq)
	t.Logf("%d events; %d delivered before the kill; %d failed attempts; %d batches", len(c.lines), killedAt, deliveryErrs.Load(), len(c.batches))
	if d := m.get(m.delivered, SinkWebhook); d != len(c.lines) {
		t.Errorf("delivered metric %d, collector has %d", d, len(c.lines))
	}
}

// TestWebhookRestart resumes delivery from the persisted cursor: nothing
// is lost or sent twice.
func TestWebhookRestart(t *testing.T) {
	c := newCollector(t)
	dir := t.TempDir()
	cfg := WebhookConfig{URL: c.url(), SpoolDir: dir, BatchSize: 10, FlushInterval: 5 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, DrainTimeout: 50 * time.Millisecond}
	w1, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWebhook(cfg); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second Webhook on the same spool: %v", err)
	}
	l, err := NewChainedLogger(ChainConfig{}, w1)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		l.Log(sampleEvent())
	}
	waitFor(t, 5*time.Second, "30 events", func() bool { return c.count() == 30 })
	c.status.Store(http.StatusServiceUnavailable)
	for range 45 {
		l.Log(sampleEvent())
	}
	if err := l.Close(); err != nil { // the collector refuses: 46 events stay spooled
		t.Fatal(err)
	}
	if n := c.count(); n != 30 {
		t.Fatalf("collector has %d events", n)
	}

	c.status.Store(0)
	w2, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := w2.Depth(); e != 46 {
		t.Errorf("spool depth after restart %d, want 46", e)
	}
	waitFor(t, 5*time.Second, "76 events", func() bool { return c.count() >= 76 })
	if n := c.count(); n != 76 {
		t.Fatalf("collector has %d events, want 76", n)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c.lines, 76)
	// Delivered segments are gone: the spool holds the lock, the cursor and
	// at most the empty segment of the last run.
	ents, _ := os.ReadDir(dir)
	var segs int
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), segmentExt) {
			segs++
		}
	}
	if segs > 2 {
		t.Errorf("%d segments left after delivery", segs)
	}
}

// TestSpoolFullRequired fills the spool while the collector refuses, and
// checks that Available reports it (so required mode refuses requests),
// that WriteEvent fails and counts the drop, and that both recover once
// the collector accepts again.
func TestSpoolFullRequired(t *testing.T) {
	c := newCollector(t)
	c.status.Store(http.StatusServiceUnavailable)
	m := newCountingMetrics()
	w, err := NewWebhook(WebhookConfig{URL: c.url(), SpoolDir: t.TempDir(), SpoolMaxBytes: 64 << 10,
		BatchSize: 50, FlushInterval: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{}, w)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var logErr error
	unavailableAt := -1
	for i := 0; i < 10000; i++ {
		if unavailableAt < 0 && l.Available() != nil {
			unavailableAt = i
		}
		if logErr = l.Log(sampleEvent()); logErr != nil {
			break
		}
	}
	if !errors.Is(logErr, ErrSpoolFull) {
		t.Fatalf("Log: %v, want ErrSpoolFull", logErr)
	}
	if err := l.Available(); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("Available: %v", err)
	}
	spooled := m.get(m.spooled, SinkWebhook)
	if unavailableAt < 0 || unavailableAt >= spooled {
		t.Errorf("Available failed before event %d; the spool took %d: no reserve", unavailableAt, spooled)
	}
	if m.get(m.dropped, SinkWebhook) != 1 {
		t.Errorf("dropped %d", m.get(m.dropped, SinkWebhook))
	}
	t.Logf("Available failed after %d events; the spool took %d (%d bytes)", unavailableAt, spooled, m.depthBytes)

	c.status.Store(0)
	waitFor(t, 5*time.Second, "the spool to drain", func() bool { return l.Available() == nil })
	if err := l.Log(sampleEvent()); err != nil {
		t.Fatalf("Log after recovery: %v", err)
	}
	waitFor(t, 5*time.Second, "every event", func() bool { return c.count() == spooled+1 })
	c.mu.Lock()
	lines := slices.Clone(c.lines)
	c.mu.Unlock()
	// The event refused while the spool was full is a gap in the chain.
	for i, line := range lines {
		var lm lineMeta
		json.Unmarshal(line, &lm)
		want := uint64(i + 1)
		if i == len(lines)-1 {
			want++
		}
		if lm.Chain.Seq != want {
			t.Fatalf("line %d: seq %d, want %d", i, lm.Chain.Seq, want)
		}
	}
}

// TestWebhookRejected retries a batch the collector answers 4xx to: it is
// reported, never dropped.
func TestWebhookRejected(t *testing.T) {
	c := newCollector(t)
	c.status.Store(http.StatusBadRequest)
	errs := make(chan error, 100)
	w, err := NewWebhook(WebhookConfig{URL: c.url() + "?token=query-secret", SpoolDir: t.TempDir(), FlushInterval: 5 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, BearerToken: "bearer-secret",
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewChainedLogger(ChainConfig{}, w)
	l.Log(sampleEvent())
	e1, e2 := <-errs, <-errs
	var de *DeliveryError
	if !errors.As(e1, &de) || de.Status != http.StatusBadRequest || de.Events != 1 || de.Batch != l.Stream()+":1-1" {
		t.Fatalf("error %v", e1)
	}
	c.status.Store(0)
	waitFor(t, 5*time.Second, "delivery", func() bool { return c.count() == 1 })
	l.Close()
	checkExactlyOnce(t, c.lines, 2)

	// Without an answer, the error names the URL without its query.
	c.kill()
	w, err = NewWebhook(WebhookConfig{URL: c.url() + "?token=query-secret", SpoolDir: t.TempDir(), FlushInterval: 5 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, DrainTimeout: -1, BearerToken: "bearer-secret",
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for len(errs) > 0 {
		<-errs
	}
	w.WriteEvent([]byte(`{"kind":"s3"}` + "\n"))
	e3 := <-errs
	w.Close()
	for _, e := range []error{e1, e2, e3} {
		if s := fmt.Sprintf("%v %+v", e, e); strings.Contains(s, "secret") {
			t.Errorf("error reveals a credential: %s", s)
		}
	}
	if !errors.As(e3, &de) || de.Status != 0 || !strings.Contains(e3.Error(), "POST http://"+c.addr+"/ingest:") {
		t.Errorf("error %v", e3)
	}
	if s := fmt.Sprintf("%v %+v %#v", WebhookConfig{BearerToken: "bearer-secret"}, WebhookConfig{HMACSecret: "bearer-secret"}, Secret("bearer-secret")); strings.Contains(s, "secret") {
		t.Errorf("config prints a credential: %s", s)
	}
}

// TestSpoolPartialWrite cuts off the remains of an interrupted write when
// the spool is opened again.
func TestSpoolPartialWrite(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(spoolConfig{dir: dir, maxBytes: 1 << 20, fsync: FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	s.append([]byte("{\"seq\":1}\n"))
	s.append([]byte("{\"seq\":2}\n"))
	s.closeWrites()
	s.release()
	f, _ := os.OpenFile(filepath.Join(dir, segName(1)), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`{"seq":3,"ki`))
	f.Close()

	s, err = openSpool(spoolConfig{dir: dir, maxBytes: 1 << 20, fsync: FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	s.append([]byte("{\"seq\":4}\n"))
	recs, _, err := s.read(s.cursor, 10, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, strings.TrimSpace(string(r.line)))
	}
	if want := []string{`{"seq":1}`, `{"seq":2}`, `{"seq":4}`}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if e, _ := s.stats(); e != 3 {
		t.Errorf("depth %d", e)
	}
}

// TestWebhookDeliveryDelay measures the time from an event to its
// acceptance by the collector, under a steady load. It reports, never
// asserts, the numbers.
func TestWebhookDeliveryDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	for _, tc := range []struct {
		name    string
		rate    int // events per second
		seconds float64
		flush   time.Duration
		batch   int
		fsync   Fsync
	}{
		{"defaults 2000/s", 2000, 1.5, DefaultFlushInterval, DefaultBatchSize, FsyncInterval},
		{"flush 100ms 2000/s", 2000, 1, 100 * time.Millisecond, DefaultBatchSize, FsyncInterval},
		{"flush 100ms 200/s", 200, 1, 100 * time.Millisecond, DefaultBatchSize, FsyncInterval},
		{"defaults 200/s", 200, 1.5, DefaultFlushInterval, DefaultBatchSize, FsyncInterval},
		{"flush 100ms 2000/s fsync always", 2000, 0.5, 100 * time.Millisecond, DefaultBatchSize, FsyncAlways},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t)
			m := newCountingMetrics()
			w, err := NewWebhook(WebhookConfig{URL: c.url(), SpoolDir: t.TempDir(), FlushInterval: tc.flush, BatchSize: tc.batch,
				Fsync: tc.fsync, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			l := NewLogger(w)
			n := int(float64(tc.rate) * tc.seconds)
			tick := time.Second / time.Duration(tc.rate)
			start := time.Now()
			var logTime time.Duration
			for i := range n {
				if d := time.Until(start.Add(time.Duration(i) * tick)); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				l.Log(sampleEvent())
				logTime += time.Since(t0)
			}
			waitFor(t, 10*time.Second, "delivery", func() bool { return c.count() == n })
			l.Close()
			m.mu.Lock()
			d := slices.Clone(m.delays)
			m.mu.Unlock()
			slices.Sort(d)
			t.Logf("%d events at %d/s, flush %v, batch %d, fsync %s: delivery delay p50 %v p99 %v max %v; Log %v/event",
				n, tc.rate, tc.flush, tc.batch, tc.fsync, d[len(d)/2].Round(time.Millisecond),
				d[len(d)*99/100].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond), (logTime / time.Duration(n)).Round(time.Microsecond))
		})
	}
}

// readLineMeta's fast path must agree with decoding the line, for every
// line this package writes whatever the event holds; any other input must
// not make it fail.
func FuzzReadLineMeta(f *testing.F) {
	f.Add("a", "curl/8", "alice", []byte(`{"eventVersion":"2.0","eventTime":"2026-01-01T00:00:00Z","chain":{"stream":"s","seq":1}}`))
	f.Add(`x","chain":{"stream":"f","seq":9}}`, "\n\"}}", "ünï", []byte(`{"eventVersion":"2.0","eventTime":"bad"}}`))
	f.Fuzz(func(t *testing.T, key, ua, user string, raw []byte) {
		var m lineMeta
		readLineMeta(raw, &m) // arbitrary input: no panic

		var buf bytes.Buffer
		l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 2, SigningKey: testKey}, WriterSink{W: &buf})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			e := sampleEvent()
			e.Key, e.UserAgent, e.Username = key, ua, user
			l.Log(e)
		}
		l.Close()
		for line := range bytes.SplitAfterSeq(buf.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var got, want lineMeta
			readLineMeta(line, &got)
			if err := json.Unmarshal(line, &want); err != nil {
				t.Fatalf("the logger wrote a line that is not JSON: %v", err)
			}
			if !got.Time.Equal(want.Time) || got.Chain != want.Chain || got.Chain.Seq == 0 {
				t.Fatalf("%s:\n fast %+v\n json %+v", line, got, want)
			}
		}
	})
}

// The spool's gauges count what waits for the collector: once it has
// accepted everything, events and bytes are back to zero, though the
// drained segment is still on disk.
func TestWebhookSpoolDrained(t *testing.T) {
	c := newCollector(t)
	c.status.Store(http.StatusServiceUnavailable)
	m := newCountingMetrics()
	dir := t.TempDir()
	w, err := NewWebhook(WebhookConfig{URL: c.url(), SpoolDir: dir, BatchSize: 7, FlushInterval: 5 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLogger(w)
	defer l.Close()
	const n = 20
	for range n {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	depth := func() (int64, int64) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.depthEvents, m.depthBytes
	}
	spooled, spooledBytes := depth()
	c.status.Store(0)
	waitFor(t, 5*time.Second, "delivery", func() bool { return c.count() == n })
	c.mu.Lock()
	var size int64
	for _, line := range c.lines {
		size += int64(len(line))
	}
	c.mu.Unlock()
	if spooled != n || spooledBytes != size {
		t.Errorf("spooled: gauges %d events, %d bytes; want %d events, %d bytes", spooled, spooledBytes, n, size)
	}
	waitFor(t, 5*time.Second, "gauges at zero", func() bool { e, b := depth(); return e == 0 && b == 0 })
	if e, b := w.Depth(); e != 0 || b != 0 {
		t.Errorf("Depth() = %d events, %d bytes after the spool drained", e, b)
	}
	if used := w.spool.usedA.Load(); used == 0 {
		t.Errorf("the drained segment should still be on disk")
	}
}
