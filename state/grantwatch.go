package state

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrGrantsNotFresh is returned by [GrantWatcher.Active] when the grants
// could not be confirmed current within the freshness bound: a grant
// revoked on another replica might still be in the copy, so callers
// grant nothing (fail closed) until the store answers again.
var ErrGrantsNotFresh = errors.New("state: the access grants cannot be confirmed current")

// GrantWatcherConfig configures a [GrantWatcher]; zero values are
// defaults.
type GrantWatcherConfig struct {
	// PollInterval is how often the store's version is asked; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// FreshnessBound is how old the last confirmation may be before
	// Active fails; default DefaultFreshnessBound. A revocation on any
	// replica applies everywhere within it.
	FreshnessBound time.Duration
	Now            func() time.Time // nil: time.Now
	Logger         *slog.Logger     // nil: discard
	// OnError is called for each failed poll (for a metric).
	OnError func(error)
	// OnExpire is called once per grant, on the one replica that marked
	// it expired, after its End has passed (for the audit event and the
	// notification).
	OnExpire func(AccessRequest)
}

// GrantWatcher keeps a local copy of the grants in force, so that a
// request never waits for the store to learn whether its identity holds
// a grant: Run asks the store for its version every PollInterval and
// reads the records again when it changed. Whether a grant is in force
// is decided at each call with the clock, so a grant ends exactly at its
// End on every replica, whatever the poll.
type GrantWatcher struct {
	store Grants
	cfg   GrantWatcherConfig
	local bool

	snap atomic.Pointer[grantSnapshot]

	mu        sync.Mutex
	confirmed time.Time
	lastErr   error
}

// grantSnapshot is an immutable copy of the records, with the approved
// grants indexed by person.
type grantSnapshot struct {
	set      GrantSet
	byPerson map[grantHolder][]AccessRequest
}

// grantHolder indexes the copy by person without hashing or allocating.
type grantHolder struct{ issuer, subject string }

// NewGrantWatcher returns a watcher of store; call Run, or Refresh once,
// before Active can succeed.
func NewGrantWatcher(store Grants, cfg GrantWatcherConfig) *GrantWatcher {
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
	_, local := store.(*GrantMemory)
	return &GrantWatcher{store: store, cfg: cfg, local: local}
}

// Store returns the record the watcher reads.
func (w *GrantWatcher) Store() Grants { return w.store }

// Run polls until ctx is done; after each poll it marks the grants past
// their end as expired.
func (w *GrantWatcher) Run(ctx context.Context) {
	pollLoop(ctx, w.cfg.PollInterval, func() {
		if w.Refresh(ctx) == nil {
			w.ExpireDue(ctx)
		}
	})
}

// Refresh asks the store for its version and, if it changed, its
// records.
func (w *GrantWatcher) Refresh(ctx context.Context) error {
	err := w.refresh(ctx)
	if err != nil && ctx.Err() != nil {
		return err
	}
	w.mu.Lock()
	prev := w.lastErr
	w.lastErr = err
	if err == nil {
		w.confirmed = w.cfg.Now()
	}
	w.mu.Unlock()
	reportRead(w.cfg.Logger, w.cfg.OnError, prev, err,
		"access grants cannot be read from the shared state; grants are not honoured until they can", "access grants readable again")
	return err
}

func (w *GrantWatcher) refresh(ctx context.Context) error {
	epoch, v, err := w.store.Version(ctx)
	if err != nil {
		return err
	}
	if s := w.snap.Load(); s != nil && s.set.Epoch == epoch && s.set.Version == v {
		return nil
	}
	set, err := w.store.List(ctx)
	if err != nil {
		return err
	}
	s := &grantSnapshot{set: set, byPerson: map[grantHolder][]AccessRequest{}}
	for _, a := range set.Requests {
		if a.Status == GrantApproved {
			k := grantHolder{a.Requester.Issuer, a.Requester.Subject}
			s.byPerson[k] = append(s.byPerson[k], a)
		}
	}
	w.snap.Store(s)
	return nil
}

// ExpireDue marks the approved grants of the copy whose End has passed
// as expired, and calls OnExpire for those this replica marked.
func (w *GrantWatcher) ExpireDue(ctx context.Context) {
	s := w.snap.Load()
	if s == nil {
		return
	}
	now := w.cfg.Now()
	changed := false
	for _, a := range s.set.Requests {
		if a.Status != GrantApproved || now.Before(a.End) {
			continue
		}
		done, ok, err := w.store.Expire(ctx, a.ID)
		if err != nil {
			if !errors.Is(err, ErrRequestNotFound) {
				w.cfg.Logger.Warn("an ended grant could not be marked expired; the next poll tries again", "grant_id", a.ID, "err", err)
			}
			continue
		}
		changed = true
		if ok && w.cfg.OnExpire != nil {
			w.cfg.OnExpire(done)
		}
	}
	if changed {
		_ = w.Refresh(ctx)
	}
}

// fresh reports why the copy cannot be used, or nil.
func (w *GrantWatcher) fresh() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return staleness(w.confirmed, w.cfg.Now(), w.cfg.FreshnessBound, w.local, w.lastErr, ErrGrantsNotFresh)
}

// Active returns the grants of the person (issuer and subject) in force
// now, by the watcher's clock; ErrGrantsNotFresh (and no grant) when the
// copy is not confirmed current. It does no I/O.
func (w *GrantWatcher) Active(issuer, subject string) ([]AccessRequest, error) {
	s := w.snap.Load()
	if s == nil || len(s.byPerson) == 0 {
		// Nobody holds a grant: nothing to confirm.
		if s == nil {
			return nil, w.fresh()
		}
		return nil, nil
	}
	list := s.byPerson[grantHolder{issuer, subject}]
	if len(list) == 0 {
		return nil, nil
	}
	if err := w.fresh(); err != nil {
		return nil, err
	}
	now := w.cfg.Now()
	var out []AccessRequest
	for _, a := range list {
		if a.Active(now) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Snapshot returns the records of the last read (for the console's
// listing), or ErrGrantsNotFresh.
func (w *GrantWatcher) Snapshot() (GrantSet, error) {
	s := w.snap.Load()
	if err := w.fresh(); err != nil || s == nil {
		if err == nil {
			err = ErrGrantsNotFresh
		}
		return GrantSet{}, err
	}
	return s.set, nil
}

// Changed reads the store again at once, so that a change made on this
// replica applies here without waiting for the next poll.
func (w *GrantWatcher) Changed(ctx context.Context) {
	if err := w.Refresh(ctx); err != nil {
		w.cfg.Logger.Warn("access grant changed, but the local copy was not refreshed; the next poll will", "err", err)
	}
}
