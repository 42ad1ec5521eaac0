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
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of WebhookConfig.
const (
	DefaultBatchSize     = 500
	DefaultMaxBatchBytes = 4 << 20
	DefaultFlushInterval = time.Second
	DefaultSpoolMaxBytes = 1 << 30
	DefaultPostTimeout   = 30 * time.Second
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultDrainTimeout  = 5 * time.Second
)

// Headers of a webhook POST.
const (
	// HeaderBatch identifies a batch as <stream>:<first seq>-<last seq>,
	// so that a collector can drop a batch it has already stored. A batch
	// never spans two streams. Events of an unchained Logger have no seq:
	// their batches have no HeaderBatch.
	HeaderBatch = "X-Iamgate-Batch"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the body,
	// keyed with WebhookConfig.HMACSecret.
	HeaderSignature = "X-Iamgate-Signature"
)

// WebhookConfig configures a Webhook. URL and SpoolDir are required; a
// zero value of another field means its default.
type WebhookConfig struct {
	// URL receives the batches as POST requests. It may hold a query but
	// is never logged with it.
	URL string

	// BearerToken, if set, is sent as "Authorization: Bearer <token>".
	BearerToken Secret
	// HMACSecret, if set, signs each body in HeaderSignature.
	HMACSecret Secret

	// BatchSize is the most events in one POST; default DefaultBatchSize.
	BatchSize int
	// MaxBatchBytes is the largest body of one POST, unless a single event
	// is larger; default DefaultMaxBatchBytes.
	MaxBatchBytes int64
	// FlushInterval is the longest an event waits for its batch to fill
	// before the batch is sent anyway; default DefaultFlushInterval.
	FlushInterval time.Duration

	// SpoolDir holds the spool; created mode 0700 if missing. It belongs
	// to one Webhook: a second one on the same directory fails to start.
	SpoolDir string
	// SpoolMaxBytes bounds the spool on disk; default DefaultSpoolMaxBytes.
	// When it is full, WriteEvent fails with ErrSpoolFull. Available fails
	// a little earlier, keeping 1/32 of it (at most 32 MiB) for the events
	// of requests already being served.
	SpoolMaxBytes int64
	// Fsync is the sync policy of the spool; "" means FsyncInterval.
	Fsync Fsync
	// SyncInterval is how often FsyncInterval syncs; default
	// DefaultSyncInterval.
	SyncInterval time.Duration

	// Timeout bounds one POST; default DefaultPostTimeout.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a batch
	// that was not accepted: it doubles from MinBackoff up to MaxBackoff,
	// with jitter. Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// DrainTimeout is how long Close keeps delivering; what is left stays
	// in the spool for the next Webhook on SpoolDir. Default
	// DefaultDrainTimeout; negative: Close does not wait.
	DrainTimeout time.Duration

	// Client sends the requests; nil: a client of its own. Redirects are
	// never followed (a 3xx answer is a failed delivery), so that events
	// and credentials go nowhere but URL.
	Client *http.Client

	// Metrics counts events; nil: none.
	Metrics Metrics
	// OnError receives every failed delivery attempt (a *DeliveryError)
	// and background spool errors. It is called from the sender goroutine.
	// nil: they are only counted.
	OnError func(error)
}

// DeliveryError is a batch the collector did not accept. The batch is
// retried; nothing is dropped.
type DeliveryError struct {
	Batch  string // its HeaderBatch, or ""
	Events int
	Status int   // the collector's HTTP status; 0: no answer
	Err    error // why there was no answer; nil with a Status
}

func (e *DeliveryError) Error() string {
	what := "batch " + e.Batch
	if e.Batch == "" {
		what = "batch"
	}
	what += " (" + strconv.Itoa(e.Events) + " events)"
	if e.Status != 0 {
		return "audit: webhook: collector answered " + strconv.Itoa(e.Status) + " to " + what + "; retrying"
	}
	return fmt.Sprintf("audit: webhook: %s not delivered: %v; retrying", what, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Webhook is a Sink that delivers events to an HTTP collector. WriteEvent
// appends the event to an on-disk spool and returns; a background sender
// POSTs the spool in order, in batches of JSON lines
// (application/x-ndjson), retrying with backoff until the collector
// answers 2xx, and only then moves on.
//
// While the process runs, every event is delivered once and in order,
// unless an answer is lost after the collector stored the batch (a
// timeout, a connection cut): that batch is sent again. The position up
// to which the collector has accepted events is persisted, so after a
// crash or restart delivery resumes there: at least once, the last
// unacknowledged batch possibly twice. Collectors deduplicate by
// HeaderBatch.
type Webhook struct {
	cfg    WebhookConfig
	url    *url.URL
	spool  *spool
	client *http.Client

	closing atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once
	synced  chan struct{} // closed when the sync goroutine returns
}

var (
	_ BatchSink    = (*Webhook)(nil)
	_ Availability = (*Webhook)(nil)
	_ io.Closer    = (*Webhook)(nil)
)

// NewWebhook opens the spool in cfg.SpoolDir and starts the sender. Events
// left in the spool by an earlier process are delivered first.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("audit: webhook URL must be an http or https URL")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("audit: webhook needs a spool directory")
	}
	if cfg.BatchSize < 0 || cfg.MaxBatchBytes < 0 || cfg.FlushInterval < 0 || cfg.SpoolMaxBytes < 0 ||
		cfg.SyncInterval < 0 || cfg.Timeout < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("audit: negative webhook setting")
	}
	switch cfg.Fsync {
	case "":
		cfg.Fsync = FsyncInterval
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return nil, fmt.Errorf("audit: unknown fsync policy %q", cfg.Fsync)
	}
	setDefault(&cfg.BatchSize, DefaultBatchSize)
	setDefault(&cfg.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&cfg.FlushInterval, DefaultFlushInterval)
	setDefault(&cfg.SpoolMaxBytes, DefaultSpoolMaxBytes)
	setDefault(&cfg.SyncInterval, DefaultSyncInterval)
	setDefault(&cfg.Timeout, DefaultPostTimeout)
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.DrainTimeout, DefaultDrainTimeout)
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)

	client := &http.Client{Timeout: cfg.Timeout}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
		if client.Timeout == 0 {
			client.Timeout = cfg.Timeout
		}
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	sp, err := openSpool(spoolConfig{dir: cfg.SpoolDir, maxBytes: cfg.SpoolMaxBytes, fsync: cfg.Fsync})
	if err != nil {
		return nil, err
	}
	w := &Webhook{cfg: cfg, url: u, spool: sp, client: client, stop: make(chan struct{}), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.depth()
	go w.run()
	w.synced = make(chan struct{})
	go w.syncLoop()
	return w, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// WriteEvent implements Sink: it appends line to the spool. It fails with
// ErrSpoolFull when the spool is full, or with the disk's error.
func (w *Webhook) WriteEvent(line []byte) error {
	m := w.cfg.Metrics
	if m != nil {
		m.Emitted(SinkWebhook)
	}
	err := ErrSinkClosed
	if !w.closing.Load() {
		err = w.spool.append(line)
	}
	if m != nil {
		if err != nil {
			m.Dropped(SinkWebhook)
			m.SinkError(SinkWebhook)
		} else {
			m.Spooled(SinkWebhook)
			w.depth()
		}
	}
	return err
}

// WriteEvents implements BatchSink: n lines appended to the spool in one
// write (and one sync under FsyncAlways) if they fit in it together, else
// one by one, each as WriteEvent would. An error fails every line of the
// call, although some may have been spooled (and will be delivered).
func (w *Webhook) WriteEvents(lines []byte, n int) error {
	if n > 1 && !w.closing.Load() {
		if ok, err := w.spool.appendAll(lines, n); ok {
			if m := w.cfg.Metrics; m != nil {
				for range n {
					m.Emitted(SinkWebhook)
					if err != nil {
						m.Dropped(SinkWebhook)
					} else {
						m.Spooled(SinkWebhook)
					}
				}
				if err != nil {
					m.SinkError(SinkWebhook)
				} else {
					w.depth()
				}
			}
			return err
		}
	}
	var errs []error
	for len(lines) > 0 {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line = lines[:i+1]
		}
		if err := w.WriteEvent(line); err != nil {
			errs = append(errs, err)
		}
		lines = lines[len(line):]
	}
	return errors.Join(errs...)
}

// Available implements Availability: an error when the spool is full (or
// nearly: see WebhookConfig.SpoolMaxBytes), the last spool write failed,
// or the Webhook is closed.
func (w *Webhook) Available() error {
	if w.closing.Load() {
		return ErrSinkClosed
	}
	return w.spool.available()
}

// Depth returns the events and bytes in the spool: not yet accepted by the
// collector.
func (w *Webhook) Depth() (events, bytes int64) { return w.spool.stats() }

func (w *Webhook) depth() {
	if w.cfg.Metrics != nil {
		e, b := w.spool.stats()
		w.cfg.Metrics.SpoolDepth(SinkWebhook, e, b)
	}
}

// Close stops taking events and delivers what it can within DrainTimeout.
// Undelivered events stay in the spool for the next Webhook on SpoolDir.
func (w *Webhook) Close() error {
	var err error
	w.once.Do(func() {
		w.closing.Store(true)
		close(w.stop)
		<-w.synced
		err = w.spool.closeWrites()
		if w.cfg.DrainTimeout < 0 {
			w.cancel()
		} else {
			t := time.AfterFunc(w.cfg.DrainTimeout, w.cancel)
			defer t.Stop()
		}
		<-w.done
		w.cancel()
		w.spool.release()
	})
	return err
}

// syncLoop syncs the spool every SyncInterval under FsyncInterval, also
// while the sender is retrying.
func (w *Webhook) syncLoop() {
	defer close(w.synced)
	if w.cfg.Fsync != FsyncInterval {
		return
	}
	t := time.NewTicker(w.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := w.spool.syncActive(); err != nil {
				w.report(err)
			}
		case <-w.stop:
			return
		}
	}
}

func (w *Webhook) report(err error) {
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.SinkError(SinkWebhook)
	}
	if w.cfg.OnError != nil {
		w.cfg.OnError(err)
	}
}

// lineMeta is what the sender reads from an event line.
type lineMeta struct {
	Time  time.Time `json:"eventTime"`
	Chain struct {
		Seq    uint64 `json:"seq"`
		Stream string `json:"stream"`
	} `json:"chain"`
}

// run is the sender: it reads the spool from the cursor, fills a batch,
// posts it until it is accepted, acknowledges it, and so on. After Close
// it sends what is left without waiting for batches to fill, and returns
// when the spool is empty or the drain time is over.
func (w *Webhook) run() {
	defer close(w.done)
	w.spool.mu.Lock()
	pos := w.spool.cursor
	w.spool.mu.Unlock()

	var (
		batch    []record
		size     int64
		full     bool      // the batch cannot take more: send it now
		since    time.Time // when the batch got its first event
		draining bool
		flush    = time.NewTimer(time.Hour)
		attempt  int
	)
	flush.Stop()
	defer flush.Stop()
	for {
		if !full && len(batch) < w.cfg.BatchSize {
			from := pos
			if len(batch) > 0 {
				from = batch[len(batch)-1].end
			}
			recs, stopped, err := w.spool.read(from, w.cfg.BatchSize-len(batch), w.cfg.MaxBatchBytes-size, len(batch) == 0)
			if err != nil {
				w.report(err)
				if !w.sleep(w.backoff(attempt, 0)) {
					return
				}
				attempt++
				continue
			}
			if len(batch) == 0 && len(recs) > 0 {
				since = time.Now()
			}
			for _, r := range recs {
				readLineMeta(r.line, &r.meta)
				if len(batch) > 0 && r.meta.Chain.Stream != batch[0].meta.Chain.Stream {
					full = true
					break
				}
				batch = append(batch, r)
				size += int64(len(r.line))
			}
			full = full || stopped || len(batch) >= w.cfg.BatchSize
		}
		if len(batch) == 0 && draining {
			return
		}
		if len(batch) == 0 || !full && !draining {
			wait := w.cfg.FlushInterval
			if len(batch) > 0 {
				wait -= time.Since(since)
				if wait <= 0 {
					full = true
					continue
				}
			} else {
				wait = time.Hour
			}
			flush.Reset(wait)
			select {
			case <-w.spool.notify:
			case <-flush.C:
				full = len(batch) > 0
			case <-w.stop:
				draining = true
			case <-w.ctx.Done():
				return
			}
			flush.Stop()
			continue
		}

		retryAfter, err := w.post(batch)
		if err != nil {
			w.report(err)
			if !w.sleep(w.backoff(attempt, retryAfter)) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		last := batch[len(batch)-1]
		if err := w.spool.ack(last.end, len(batch), size); err != nil {
			w.report(err)
		}
		pos = last.end
		if m := w.cfg.Metrics; m != nil {
			m.Delivered(SinkWebhook, len(batch))
			now := time.Now()
			for _, r := range batch {
				if !r.meta.Time.IsZero() {
					m.DeliveryDelay(SinkWebhook, now.Sub(r.meta.Time))
				}
			}
			w.depth()
		}
		batch, size, full = batch[:0], 0, false
	}
}

// sleep waits d, or until the drain time is over (false). A Close during
// the wait does not cut it short: the batch is retried once more.
func (w *Webhook) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// backoff is the wait before attempt+1: exponential from MinBackoff to
// MaxBackoff, half of it random, and no shorter than the collector's
// Retry-After (up to MaxBackoff).
func (w *Webhook) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := w.cfg.MinBackoff << min(attempt, 30)
	if d <= 0 || d > w.cfg.MaxBackoff {
		d = w.cfg.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	return min(max(d, retryAfter), w.cfg.MaxBackoff)
}

// batchID is the HeaderBatch of batch, or "" for unchained events.
func batchID(batch []record) string {
	first, last := batch[0].meta, batch[len(batch)-1].meta
	if first.Chain.Stream == "" || first.Chain.Seq == 0 {
		return ""
	}
	return first.Chain.Stream + ":" + strconv.FormatUint(first.Chain.Seq, 10) + "-" + strconv.FormatUint(last.Chain.Seq, 10)
}

// post sends batch once. It returns nil when the collector answered 2xx,
// else the collector's Retry-After, if any, and a *DeliveryError.
func (w *Webhook) post(batch []record) (time.Duration, error) {
	var body bytes.Buffer
	for _, r := range batch {
		body.Write(r.line)
	}
	id := batchID(batch)
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url.String(), &body)
	if err != nil {
		return 0, &DeliveryError{Batch: id, Events: len(batch), Err: err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("User-Agent", "iamgate-audit")
	if id != "" {
		req.Header.Set(HeaderBatch, id)
	}
	if w.cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+string(w.cfg.BearerToken))
	}
	if w.cfg.HMACSecret != "" {
		mac := hmac.New(sha256.New, []byte(w.cfg.HMACSecret))
		mac.Write(body.Bytes())
		req.Header.Set(HeaderSignature, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// A *url.Error names the URL, query included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, &DeliveryError{Batch: id, Events: len(batch), Err: fmt.Errorf("POST %s: %w", w.redactedURL(), err)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return retryAfter, &DeliveryError{Batch: id, Events: len(batch), Status: resp.StatusCode}
}

// redactedURL is the URL without query and user info, for errors.
func (w *Webhook) redactedURL() string {
	u := *w.url
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// readLineMeta fills m from an event line. Lines written by this package
// put eventTime second and the chain last, and escape every quote inside
// strings, so both are found by position without decoding the line; any
// other line is decoded. A line without these fields leaves m zero.
func readLineMeta(line []byte, m *lineMeta) {
	*m = lineMeta{}
	if fastLineMeta(line, m) {
		return
	}
	*m = lineMeta{}
	json.Unmarshal(line, m) // a line without these fields is still sent
}

var (
	timePrefix  = []byte(`{"eventVersion":"` + Version + `","eventTime":"`)
	chainPrefix = []byte(`,"chain":{"stream":"`)
)

func fastLineMeta(line []byte, m *lineMeta) bool {
	line = bytes.TrimRight(line, "\n")
	if !bytes.HasPrefix(line, timePrefix) || !bytes.HasSuffix(line, []byte("}}")) {
		return false
	}
	rest := line[len(timePrefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return false
	}
	m.Time = t
	i := bytes.LastIndex(line, chainPrefix)
	if i < 0 {
		return false // unchained, or not this package's: decode it
	}
	rest = line[i+len(chainPrefix):]
	end = bytes.IndexByte(rest, '"')
	if end < 0 {
		return false
	}
	m.Chain.Stream = string(rest[:end])
	rest, ok := bytes.CutPrefix(rest[end:], []byte(`","seq":`))
	if !ok {
		return false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return false
	}
	// What follows the seq is the prev hash and, on checkpoints, the
	// signature: nothing that could repeat a member read above.
	if tail := rest[n:]; !bytes.HasPrefix(tail, []byte(`,"prev":"`)) || bytes.Count(tail, []byte(`"`)) > 12 {
		return false
	}
	m.Chain.Seq = seq
	return true
}
