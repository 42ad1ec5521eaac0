package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of RefresherConfig.
const (
	DefaultRefreshBefore = 10 * time.Minute
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
)

// Fetch obtains new credentials (mints a token and calls the STS).
type Fetch func(ctx context.Context) (Credentials, error)

// RefresherConfig configures a Refresher. Zero values are documented per
// field.
type RefresherConfig struct {
	// RefreshBefore is how long before expiry new credentials are fetched;
	// 0 means DefaultRefreshBefore. RefreshFraction, when above 0, is used
	// instead: the fraction of the credentials' lifetime left when they
	// are renewed (0.25: after three quarters of it). When the lifetime is
	// shorter than RefreshBefore, credentials are renewed at half-life.
	RefreshBefore   time.Duration
	RefreshFraction float64
	// MinBackoff and MaxBackoff bound the wait between failed attempts
	// (doubling, with jitter); 0 means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// OnCredentials receives each new set of credentials; it must swap
	// them in atomically (sigv4.Transport.SetCredentials).
	OnCredentials func(Credentials)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Jitter returns a random number in [0, 1) that spreads retries;
	// nil means math/rand/v2.
	Jitter  func() float64
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *Metrics     // nil: none
}

// Refresher keeps temporary credentials fresh: it fetches them, hands
// them to OnCredentials, and fetches new ones before they expire, retrying
// with backoff. A failed refresh keeps the current credentials, which
// stay in use until they expire; Ready reports the state.
type Refresher struct {
	fetch Fetch
	cfg   RefresherConfig

	mu       sync.Mutex
	current  *Credentials // nil until the first success
	obtained time.Time    // when current was fetched
	lastErr  error
	failures int // consecutive
}

// NewRefresher returns a Refresher that obtains credentials with fetch.
func NewRefresher(fetch Fetch, cfg RefresherConfig) *Refresher {
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnCredentials == nil {
		cfg.OnCredentials = func(Credentials) {}
	}
	return &Refresher{fetch: fetch, cfg: cfg}
}

// Run fetches credentials now and then whenever they are due, until ctx
// is done.
func (r *Refresher) Run(ctx context.Context) {
	for {
		next := r.Step(ctx)
		d := next.Sub(r.cfg.Now())
		if d < 0 {
			d = 0
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Step makes one attempt to fetch credentials and returns when the next
// attempt is due: the renewal time after a success, a backoff after a
// failure. Run calls it in a loop; tests call it with an injected clock.
func (r *Refresher) Step(ctx context.Context) time.Time {
	start := r.cfg.Now()
	c, err := r.fetch(ctx)
	now := r.cfg.Now()
	if ctx.Err() != nil {
		return now // stopping: neither a failure nor new credentials
	}
	if err == nil && !c.Expiration.After(now) {
		err = fmt.Errorf("federation: the STS returned credentials that expired at %s", c.Expiration.Format(time.RFC3339))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
		r.lastErr = err
		if m := r.cfg.Metrics; m != nil {
			m.RefreshFailures.Inc()
		}
		next := now.Add(r.backoff())
		level := slog.LevelWarn
		if r.current == nil || !r.current.Expiration.After(now) {
			level = slog.LevelError
		}
		r.cfg.Logger.Log(ctx, level, "upstream credentials: refresh failed; retrying",
			"err", err, "failures", r.failures, "retry_in", next.Sub(now).Round(time.Millisecond).String(),
			"current_expires", r.expiryLocked())
		return next
	}
	r.current, r.obtained, r.lastErr, r.failures = &c, start, nil, 0
	r.cfg.OnCredentials(c)
	if m := r.cfg.Metrics; m != nil {
		m.Refreshes.Inc()
		m.Expiry.Set(float64(c.Expiration.UnixNano()) / 1e9)
	}
	next := r.renewAt(start, c.Expiration)
	r.cfg.Logger.Info("upstream credentials obtained", "credentials", c, "renew_at", next.UTC().Format(time.RFC3339))
	return next
}

// renewAt is when credentials obtained at start that expire at exp are
// renewed.
func (r *Refresher) renewAt(start, exp time.Time) time.Time {
	life := exp.Sub(start)
	before := r.cfg.RefreshBefore
	if r.cfg.RefreshFraction > 0 {
		before = time.Duration(float64(life) * r.cfg.RefreshFraction)
	}
	if before >= life {
		before = life / 2
	}
	return exp.Add(-before)
}

// backoff is the wait after r.failures consecutive failures: MinBackoff
// doubling up to MaxBackoff, scaled by a random factor in [0.5, 1).
func (r *Refresher) backoff() time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < r.failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.5 + r.cfg.Jitter()/2))
}

func (r *Refresher) expiryLocked() string {
	if r.current == nil {
		return "none"
	}
	return r.current.Expiration.UTC().Format(time.RFC3339)
}

// ErrNoCredentials is wrapped by Ready when there are no credentials that
// have not expired.
var ErrNoCredentials = errors.New("no upstream credentials")

// Ready returns nil while the current credentials have not expired, and
// otherwise an error wrapping ErrNoCredentials with the last failure.
func (r *Refresher) Ready() error {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.current != nil && r.current.Expiration.After(now):
		return nil
	case r.current != nil:
		return fmt.Errorf("%w: expired at %s; last refresh error: %v", ErrNoCredentials,
			r.current.Expiration.UTC().Format(time.RFC3339), r.lastErr)
	case r.lastErr != nil:
		return fmt.Errorf("%w yet from the store's STS: %v", ErrNoCredentials, r.lastErr)
	}
	return fmt.Errorf("%w yet from the store's STS", ErrNoCredentials)
}

// Current returns the credentials in use, if any (expired ones too).
func (r *Refresher) Current() (Credentials, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return Credentials{}, false
	}
	return *r.current, true
}

// Metrics are the Refresher's Prometheus metrics.
type Metrics struct {
	Expiry          prometheus.Gauge
	Refreshes       prometheus.Counter
	RefreshFailures prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iamgate_upstream_credentials_expiry_timestamp_seconds",
			Help: "When the temporary upstream credentials in use expire (Unix time); 0 before the first.",
		}),
		Refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "iamgate_upstream_credentials_refreshes_total",
			Help: "Temporary upstream credentials obtained from the store's STS.",
		}),
		RefreshFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "iamgate_upstream_credentials_refresh_failures_total",
			Help: "Failed attempts to obtain upstream credentials from the store's STS.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Expiry, m.Refreshes, m.RefreshFailures)
	}
	return m
}
