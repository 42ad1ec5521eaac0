package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a [RevocationWatcher].
const (
	DefaultPollInterval   = 250 * time.Millisecond
	DefaultFreshnessBound = time.Second
)

// ErrNotFresh is returned by [RevocationWatcher.Rules] when the rules
// could not be confirmed current within the freshness bound: a rule added
// on another replica might be missing, so callers refuse what a rule
// could void (fail closed).
var ErrNotFresh = errors.New("state: the run-time revocations cannot be confirmed current")

// WatcherConfig configures a [RevocationWatcher]; zero values are
// defaults.
type WatcherConfig struct {
	// PollInterval is how often the store's version is asked; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// FreshnessBound is how old the last confirmation may be before Rules
	// fails; default DefaultFreshnessBound. A rule added on any replica
	// applies everywhere within it.
	FreshnessBound time.Duration
	Now            func() time.Time // nil: time.Now
	Logger         *slog.Logger     // nil: discard
	// OnError is called for each failed poll (for a metric).
	OnError func(error)
	// OnChange is called with each new set of rules, from the goroutine
	// that found it.
	OnChange func(RevocationSet)
}

// RevocationWatcher keeps a local copy of the run-time revocations, so
// that checking a request never waits for the store: Run asks the store
// for its version every PollInterval and reads the rules again when it
// changed. When the store comes back with another epoch (it lost its
// data), the watcher writes back the rules it knows, so that no
// revocation is forgotten while it can still void a session.
type RevocationWatcher struct {
	store Revocations
	cfg   WatcherConfig
	// local: the store is in this process, so the copy is always current
	// once read (every change goes through Add).
	local bool

	mu        sync.Mutex
	set       RevocationSet
	confirmed time.Time // when the store last confirmed set
	lastErr   error
}

// NewRevocationWatcher returns a watcher of store; call Run, or Refresh
// once, before Rules can succeed.
func NewRevocationWatcher(store Revocations, cfg WatcherConfig) *RevocationWatcher {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.FreshnessBound <= 0 {
		cfg.FreshnessBound = DefaultFreshnessBound
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	_, local := store.(*RevocationMemory)
	return &RevocationWatcher{store: store, cfg: cfg, local: local}
}

// Run polls until ctx is done.
func (w *RevocationWatcher) Run(ctx context.Context) {
	pollLoop(ctx, w.cfg.PollInterval, func() { _ = w.Refresh(ctx) })
}

// Refresh asks the store for its version and, if it changed, its rules.
func (w *RevocationWatcher) Refresh(ctx context.Context) error {
	err := w.refresh(ctx)
	if err != nil && ctx.Err() != nil {
		return err // stopping, not a failure of the store
	}
	w.mu.Lock()
	prev := w.lastErr
	w.lastErr = err
	w.mu.Unlock()
	reportRead(w.cfg.Logger, w.cfg.OnError, prev, err,
		"run-time revocations cannot be read from the shared state", "run-time revocations readable again")
	return err
}

func (w *RevocationWatcher) refresh(ctx context.Context) error {
	epoch, v, err := w.store.Version(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	have := w.set
	confirmedOnce := !w.confirmed.IsZero()
	w.mu.Unlock()
	if confirmedOnce && epoch == have.Epoch && v == have.Version {
		w.confirm(have, false)
		return nil
	}
	if confirmedOnce && epoch != have.Epoch && len(have.Rules) > 0 {
		// The store lost its data: write back what this replica knows.
		now := w.cfg.Now()
		var keep []Revocation
		for _, r := range have.Rules {
			if r.Expires.After(now) {
				keep = append(keep, r)
			}
		}
		if err := w.store.Restore(ctx, keep); err != nil {
			return fmt.Errorf("write back %d revocations after the store lost them: %w", len(keep), err)
		}
		w.cfg.Logger.Warn("the shared state lost its run-time revocations (restarted without persistence?); wrote back the ones this replica knew",
			"rules", len(keep))
	}
	set, err := w.store.List(ctx)
	if err != nil {
		return err
	}
	w.confirm(set, true)
	return nil
}

func (w *RevocationWatcher) confirm(set RevocationSet, changed bool) {
	w.mu.Lock()
	w.set = set
	w.confirmed = w.cfg.Now()
	w.mu.Unlock()
	if changed && w.cfg.OnChange != nil {
		w.cfg.OnChange(set)
	}
}

// Add adds r to the store and reads the rules again, so that r applies on
// this replica at once.
func (w *RevocationWatcher) Add(ctx context.Context, r Revocation) (Revocation, error) {
	r, err := w.store.Add(ctx, r)
	if err != nil {
		return r, err
	}
	if err := w.Refresh(ctx); err != nil {
		w.cfg.Logger.Warn("revocation added, but the local copy was not refreshed; the next poll will", "err", err)
	}
	return r, nil
}

// Rules returns the local copy, or ErrNotFresh (wrapping the last error)
// when the store has not confirmed it within the freshness bound.
func (w *RevocationWatcher) Rules() (RevocationSet, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.set, staleness(w.confirmed, w.cfg.Now(), w.cfg.FreshnessBound, w.local, w.lastErr, ErrNotFresh)
}

// Ready reports why Rules would fail, for a readiness check; nil when it
// would not.
func (w *RevocationWatcher) Ready() error {
	_, err := w.Rules()
	return err
}
