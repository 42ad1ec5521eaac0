package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// periodicRefresh is how often loaded keys are refreshed in the
	// background, so that removed keys stop being trusted.
	periodicRefresh = 15 * time.Minute
	// retryMin and retryMax bound the background retry backoff while an
	// issuer cannot be reached.
	retryMin = time.Second
	retryMax = 5 * time.Minute
	// fetchTimeout bounds one discovery + JWKS load.
	fetchTimeout = 30 * time.Second
	// maxDocBytes bounds discovery documents and key sets.
	maxDocBytes = 1 << 20
)

// keySnapshot is an immutable set of an issuer's public keys.
type keySnapshot struct {
	keys []jose.JSONWebKey
}

// keySetSettings are the parts of the configuration a key set may pick up
// again on reload without dropping its keys.
type keySetSettings struct {
	name        string
	client      *http.Client
	minInterval time.Duration
	logger      *slog.Logger
	onRefresh   func(issuer string, err error)
}

// keySet caches the signing keys of one issuer. It loads them lazily and in
// the background, refreshes them when a token names an unknown key ID (at
// most once per minInterval, concurrent callers sharing one fetch), and
// keeps the old keys when a refresh fails.
type keySet struct {
	issuerURL string
	jwksURL   string // configured; "" means discover

	keys atomic.Pointer[keySnapshot] // nil until the first successful load

	ctx    context.Context // canceled when the last user releases the set
	cancel context.CancelFunc

	mu          sync.Mutex
	settings    keySetSettings
	refs        int
	inflight    *fetch
	lastAttempt time.Time // real clock
	lastErr     error     // outcome of the last attempt
	discovered  string    // jwks_uri found by discovery
}

// fetch is one load shared by every caller waiting for it.
type fetch struct {
	done chan struct{}
	err  error
}

func newKeySet(issuerURL, jwksURL string, s keySetSettings) *keySet {
	ctx, cancel := context.WithCancel(context.Background())
	ks := &keySet{
		issuerURL: issuerURL,
		jwksURL:   jwksURL,
		ctx:       ctx,
		cancel:    cancel,
		settings:  s,
		refs:      1,
	}
	go ks.run()
	return ks
}

// acquire takes a reference for a new verifier and updates the settings.
// It fails if the set was already stopped.
func (ks *keySet) acquire(s keySetSettings) bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.refs == 0 {
		return false
	}
	ks.refs++
	ks.settings = s
	return true
}

// release drops a reference; the last one stops background work.
func (ks *keySet) release() {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.refs == 0 {
		return
	}
	ks.refs--
	if ks.refs == 0 {
		ks.cancel()
	}
}

// ready returns nil once keys are loaded, else why they are not.
func (ks *keySet) ready() error {
	if ks.keys.Load() != nil {
		return nil
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.lastErr != nil {
		return fmt.Errorf("signing keys not loaded: %w", ks.lastErr)
	}
	return errors.New("signing keys not loaded yet")
}

// healthy reports whether keys are loaded and the last attempt succeeded.
func (ks *keySet) healthy() bool {
	if ks.keys.Load() == nil {
		return false
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastErr == nil
}

// refresh loads the keys unless a load ran less than minInterval ago (force
// ignores that limit), or joins the load in flight, and waits for it. It
// returns the error of the load it waited for, nil when it skipped loading,
// or ctx's error.
func (ks *keySet) refresh(ctx context.Context, force bool) error {
	ks.mu.Lock()
	f := ks.inflight
	if f == nil {
		if !force && !ks.lastAttempt.IsZero() && time.Since(ks.lastAttempt) < ks.settings.minInterval {
			ks.mu.Unlock()
			return nil
		}
		if ks.ctx.Err() != nil {
			ks.mu.Unlock()
			return errors.New("identity: verifier is closed")
		}
		f = &fetch{done: make(chan struct{})}
		ks.inflight = f
		ks.lastAttempt = time.Now()
		go ks.load(f)
	}
	ks.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// load runs one fetch and publishes its outcome.
func (ks *keySet) load(f *fetch) {
	ks.mu.Lock()
	s := ks.settings
	jwksURL := ks.jwksURL
	if jwksURL == "" {
		jwksURL = ks.discovered
	}
	ks.mu.Unlock()

	ctx, cancel := context.WithTimeout(ks.ctx, fetchTimeout)
	defer cancel()
	keys, discovered, err := fetchKeys(ctx, s.client, ks.issuerURL, jwksURL)

	ks.mu.Lock()
	if err == nil {
		ks.keys.Store(keys)
		if ks.jwksURL == "" {
			ks.discovered = discovered
		}
	} else if ks.jwksURL == "" {
		// The issuer may have moved its keys: discover again next time.
		ks.discovered = ""
	}
	ks.lastErr = err
	ks.inflight = nil
	f.err = err
	close(f.done)
	ks.mu.Unlock()

	if err != nil {
		s.logger.Warn("identity: loading issuer signing keys failed; keeping previous keys",
			"issuer", s.name, "error", err)
	} else {
		s.logger.Debug("identity: loaded issuer signing keys", "issuer", s.name, "keys", len(keys.keys))
	}
	if s.onRefresh != nil {
		s.onRefresh(s.name, err)
	}
}

// run loads the keys at start, retries with backoff while that fails, and
// refreshes them periodically, until the set is released.
func (ks *keySet) run() {
	backoff := retryMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ks.ctx.Done():
			return
		case <-timer.C:
		}
		wait := periodicRefresh
		if err := ks.refresh(ks.ctx, true); err != nil {
			// Full jitter in [backoff/2, backoff).
			wait = backoff/2 + rand.N(backoff/2)
			backoff = min(backoff*2, retryMax)
		} else {
			backoff = retryMin
		}
		timer.Reset(wait)
	}
}

var errKeyNotFound = errors.New("no matching key")

// verify checks jws against the cached keys, refreshing them once (subject
// to the rate limit) if no key matches kid. It returns the payload or an
// *AuthError.
func (ks *keySet) verify(ctx context.Context, issuer string, jws *jose.JSONWebSignature, kid, alg string) ([]byte, error) {
	snap := ks.keys.Load()
	if snap != nil {
		payload, err := snap.verify(jws, kid, alg)
		if err == nil {
			return payload, nil
		}
		if !errors.Is(err, errKeyNotFound) {
			return nil, badSignature(issuer, kid, err)
		}
	}
	ferr := ks.refresh(ctx, false)
	snap = ks.keys.Load()
	if snap == nil {
		if ferr == nil {
			ferr = ks.ready()
		}
		e := authErr(ReasonIssuerUnavailable, issuer, "signing keys of the issuer are not available")
		e.cause = ferr
		return nil, e
	}
	payload, err := snap.verify(jws, kid, alg)
	if err == nil {
		return payload, nil
	}
	if errors.Is(err, errKeyNotFound) && kid != "" && !ks.healthy() {
		// The key may be new while the issuer cannot be reached.
		e := authErr(ReasonIssuerUnavailable, issuer, "signing key %q is unknown and the issuer cannot be reached", clip(kid))
		e.cause = ferr
		return nil, e
	}
	return nil, badSignature(issuer, kid, err)
}

func badSignature(issuer, kid string, err error) *AuthError {
	var e *AuthError
	if errors.Is(err, errKeyNotFound) && kid != "" {
		e = authErr(ReasonBadSignature, issuer, "token is signed with unknown key %q", clip(kid))
	} else {
		e = authErr(ReasonBadSignature, issuer, "token signature is invalid")
	}
	e.cause = err
	return e
}

// verify tries the keys that match kid (all keys when kid is empty) and are
// usable with alg. errKeyNotFound means a refresh might help.
func (s *keySnapshot) verify(jws *jose.JSONWebSignature, kid, alg string) ([]byte, error) {
	found := false
	for i := range s.keys {
		k := &s.keys[i]
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		found = true
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	if !found || kid == "" {
		// Without a kid, a failure may also mean the key was rotated.
		return nil, errKeyNotFound
	}
	return nil, errors.New("signature does not verify with any matching key")
}

// fetchKeys loads the key set of issuerURL, discovering its location first
// when jwksURL is empty. It returns the jwks_uri it used.
func fetchKeys(ctx context.Context, client *http.Client, issuerURL, jwksURL string) (*keySnapshot, string, error) {
	if jwksURL == "" {
		var err error
		if jwksURL, err = discover(ctx, client, issuerURL); err != nil {
			return nil, "", err
		}
	}
	body, err := get(ctx, client, jwksURL)
	if err != nil {
		return nil, "", err
	}
	snap, err := parseJWKS(body)
	if err != nil {
		return nil, "", fmt.Errorf("key set %s: %w", jwksURL, err)
	}
	return snap, jwksURL, nil
}

func discover(ctx context.Context, client *http.Client, issuerURL string) (string, error) {
	u := strings.TrimSuffix(issuerURL, "/") + "/.well-known/openid-configuration"
	body, err := get(ctx, client, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery document %s: %w", u, err)
	}
	if doc.Issuer != issuerURL {
		return "", fmt.Errorf("discovery document %s names issuer %q, want %q", u, clip(doc.Issuer), issuerURL)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery document %s: jwks_uri %w", u, err)
	}
	return doc.JWKSURI, nil
}

func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: unexpected status %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocBytes {
		return nil, fmt.Errorf("GET %s: response is larger than %d bytes", u, maxDocBytes)
	}
	return body, nil
}

// parseJWKS decodes a JWK set, keeping only public signature keys of types
// this package can verify with. Keys it does not understand are skipped, as
// RFC 7517 section 5 asks.
func parseJWKS(body []byte) (*keySnapshot, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	snap := &keySnapshot{}
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && !knownAlgs[k.Algorithm] {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			k = k.Public()
		default:
			continue // symmetric or unsupported
		}
		snap.keys = append(snap.keys, k)
	}
	if len(snap.keys) == 0 {
		return nil, errors.New("no usable signing keys")
	}
	return snap, nil
}
