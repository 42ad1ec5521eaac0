package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// sharedState is the state every replica must agree on, kept for the
// process across reloads: in memory, or in Redis when the file has
// state.redis (read at start; changing it needs a restart).
type sharedState struct {
	signedOut   state.SignedOut
	failures    state.Failures
	counters    state.Counters
	watcher     *state.RevocationWatcher
	revocations *runtimeRevocations
	delegations state.Delegations
	redis       *state.Redis // nil: in memory
}

// newSharedState builds the state of f. It does no I/O but reading
// state.redis.ca_file; the first read of the revocations is done by
// start.
func newSharedState(f *config.File, log *slog.Logger, reg prometheus.Registerer) (*sharedState, error) {
	s := &sharedState{}
	rc := f.State.Redis
	if rc == nil {
		state.NewMetrics(reg, func() bool { return true })
		s.signedOut = signedOutRecord(f)
		s.failures = state.NewFailureMemory(state.FailureMemoryConfig{})
		s.counters = state.NewCounterMemory(nil)
		s.watcher = state.NewRevocationWatcher(state.NewRevocationMemory(nil), state.WatcherConfig{Logger: log})
		s.revocations = &runtimeRevocations{w: s.watcher}
		s.delegations = state.NewDelegationMemory(nil)
		return s, nil
	}
	var m *state.Metrics
	cfg := state.RedisConfig{URL: rc.URL, Username: rc.Username, KeyPrefix: rc.KeyPrefix,
		DialTimeout: rc.DialTimeout, Timeout: rc.Timeout, PoolSize: rc.PoolSize,
		OnError: func(use string, err error) { m.Errors.WithLabelValues(use).Inc() }}
	if rc.Password != nil {
		cfg.Password = rc.Password.Reveal()
	}
	if rc.CAFile != "" {
		pem, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("state.redis.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("state.redis.ca_file %s holds no PEM certificate", rc.CAFile)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	r, err := state.NewRedis(cfg)
	if err != nil {
		return nil, err
	}
	m = state.NewMetrics(reg, r.Up)
	s.redis = r
	s.signedOut = r.SignedOut()
	s.failures = &state.FailuresFallback{Primary: r.Failures(), Local: state.NewFailureMemory(state.FailureMemoryConfig{}),
		OnError: func(err error) {
			log.Warn("failed sign-in counts cannot be shared; counting on this replica alone", "err", err)
		}}
	policy := state.CountersClosed
	if f.State.CountersOnError == "open" {
		policy = state.CountersOpen
	}
	s.counters = &state.GuardedCounters{Counters: r.Counters(), Policy: policy}
	s.watcher = state.NewRevocationWatcher(r.Revocations(), state.WatcherConfig{Logger: log})
	s.revocations = &runtimeRevocations{w: s.watcher}
	s.delegations = r.Delegations()
	return s, nil
}

// prime reads the revocations once, so that requests can be served at
// once when the store answers.
func (s *sharedState) prime(ctx context.Context, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.watcher.Refresh(rctx); err != nil {
		log.Error("the shared state cannot be read at start; requests made with sessions are refused until it can", "err", err)
	}
}

// run keeps the revocations current until ctx is done (in memory they
// are current by construction).
func (s *sharedState) run(ctx context.Context) {
	if s.redis != nil {
		s.watcher.Run(ctx)
	}
}

// ready reports why the shared state cannot be relied on, for readyz;
// nil for state in memory.
func (s *sharedState) ready() func() error {
	if s.redis == nil {
		return nil
	}
	return s.watcher.Ready
}

func (s *sharedState) close() {
	if s.redis != nil {
		s.redis.Close()
	}
}

// runtimeRevocations serves the watcher's rules as identity rules,
// converted once per version.
type runtimeRevocations struct {
	w   *state.RevocationWatcher
	cur atomic.Pointer[convertedRules]
}

type convertedRules struct {
	epoch   string
	version int64
	rules   []identity.Revocation
}

var _ identity.RevocationSource = (*runtimeRevocations)(nil)

// Revocations returns the rules in force, or an error when they are not
// known to be current.
func (r *runtimeRevocations) Revocations() ([]identity.Revocation, error) {
	set, err := r.w.Rules()
	if err != nil {
		return nil, err
	}
	if c := r.cur.Load(); c != nil && c.epoch == set.Epoch && c.version == set.Version {
		return c.rules, nil
	}
	c := &convertedRules{epoch: set.Epoch, version: set.Version}
	for _, v := range set.Rules {
		c.rules = append(c.rules, identity.Revocation{ID: v.ID, Subject: v.Subject, Issuer: v.Issuer, Role: v.Role,
			SessionID: v.SessionID, Claim: v.Claim, ClaimValue: v.ClaimValue, IssuedBefore: v.IssuedBefore})
	}
	r.cur.Store(c)
	return c.rules, nil
}
