// Package identity verifies OpenID Connect bearer tokens (JWTs) issued by a
// configured set of trusted issuers and turns them into [Token] values.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
)

// Token is a verified token. Tokens returned by [Verifier.Verify] may be
// shared between callers through the cache and must not be modified.
type Token struct {
	// Issuer is the configured name of the issuer (IssuerConfig.Name).
	Issuer string
	// IssuerURL is the iss claim.
	IssuerURL string
	Subject   string
	Audience  []string
	Expiry    time.Time
	// IssuedAt and NotBefore are zero when the claim is absent.
	IssuedAt  time.Time
	NotBefore time.Time
	// Claims holds every claim as decoded by encoding/json (numbers are
	// float64).
	Claims map[string]any
	// Hash is the SHA-256 of the raw token. It identifies the token in the
	// cache and may be logged in its place.
	Hash [32]byte
}

// Verifier verifies tokens. It is safe for concurrent use. Create one with
// [New], replace it with [Verifier.Reload], and stop its background work
// with [Verifier.Close].
type Verifier struct {
	issuers []*issuer
	byURL   map[string]*issuer
	cache   *tokenCache
	now     func() time.Time

	// signatureChecks counts full verifications, for tests.
	signatureChecks atomic.Int64

	closeOnce sync.Once
}

type issuer struct {
	issuerSettings
	keys *keySet
}

// signingAlgs are the algorithms the JWS parser accepts at all; per-issuer
// lists are enforced afterwards so that the error can say which issuer
// refused the algorithm. HMAC and "none" are included only so that they
// are reported as bad_algorithm rather than malformed.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
	jose.HS256, jose.HS384, jose.HS512,
	"none",
}

var defaultHTTPClient = &http.Client{Timeout: fetchTimeout}

// New validates cfg and returns a Verifier. It does no network I/O and
// succeeds even if no issuer is reachable: keys are loaded in the background
// right away, retried with backoff, and loaded on demand by Verify. Use
// [Verifier.Ready] to learn whether keys are loaded. ctx is not retained.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	return build(cfg, nil)
}

// Reload returns a new Verifier for cfg. Issuers whose URL and JWKSURL are
// unchanged keep their loaded keys, so a reload works while an issuer is
// unreachable. The token cache of the new Verifier starts empty. v keeps
// working until it is closed; close it once the new Verifier is in use.
// On error, v is unaffected.
func (v *Verifier) Reload(ctx context.Context, cfg Config) (*Verifier, error) {
	return build(cfg, v)
}

func build(cfg Config, prev *Verifier) (*Verifier, error) {
	settings, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	ksBase := keySetSettings{
		client:      cfg.HTTPClient,
		minInterval: cfg.JWKSMinRefreshInterval,
		logger:      cfg.Logger,
		onRefresh:   cfg.OnJWKSRefresh,
	}
	if ksBase.client == nil {
		ksBase.client = defaultHTTPClient
	}
	if ksBase.minInterval == 0 {
		ksBase.minInterval = DefaultJWKSMinRefreshInterval
	}
	if ksBase.logger == nil {
		ksBase.logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{
		byURL: make(map[string]*issuer, len(settings)),
		cache: newTokenCache(size),
		now:   now,
	}
	for _, s := range settings {
		kss := ksBase
		kss.name = s.name
		var ks *keySet
		if prev != nil {
			if old := prev.byURL[s.url]; old != nil && old.jwksURL == s.jwksURL && old.keys.acquire(kss) {
				ks = old.keys
			}
		}
		if ks == nil {
			ks = newKeySet(s.url, s.jwksURL, kss)
		}
		is := &issuer{issuerSettings: s, keys: ks}
		v.issuers = append(v.issuers, is)
		v.byURL[s.url] = is
	}
	return v, nil
}

// Close stops the background key refreshes of v (those shared with a
// Verifier returned by Reload keep running until that one is closed too).
// Verify must not be called after Close.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		for _, is := range v.issuers {
			is.keys.release()
		}
	})
}

// Ready returns nil when the signing keys of every issuer are loaded, and
// otherwise an error naming each issuer that is not ready.
func (v *Verifier) Ready() error {
	var errs []error
	for _, is := range v.issuers {
		if err := is.keys.ready(); err != nil {
			errs = append(errs, fmt.Errorf("identity: issuer %q: %w", is.name, err))
		}
	}
	return errors.Join(errs...)
}

// Verify checks rawJWT and returns the verified token. Any error is an
// [*AuthError]. A token verified before is served from the cache until it
// expires, without signature work.
func (v *Verifier) Verify(ctx context.Context, rawJWT string) (*Token, error) {
	if rawJWT == "" {
		return nil, authErr(ReasonMalformed, "", "token is empty")
	}
	if len(rawJWT) > MaxTokenLength {
		return nil, authErr(ReasonMalformed, "", "token is longer than %d bytes", MaxTokenLength)
	}
	// Hashing reads the string in place; sha256 does not modify its input.
	hash := sha256.Sum256(unsafe.Slice(unsafe.StringData(rawJWT), len(rawJWT)))
	now := v.now()
	if tok := v.cache.get(&hash, now.UnixNano()); tok != nil {
		return tok, nil
	}
	tok, is, err := v.verify(ctx, rawJWT, now)
	if err != nil {
		return nil, err
	}
	tok.Hash = hash
	v.cache.put(&hash, tok, tok.Expiry.Add(is.skew).UnixNano(), now.UnixNano())
	return tok, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Token, *issuer, error) {
	switch strings.Count(raw, ".") {
	case 2:
	case 4:
		return nil, nil, authErr(ReasonMalformed, "", "encrypted tokens (JWE) are not supported")
	default:
		return nil, nil, authErr(ReasonMalformed, "", "token is not a JWT: it must have three dot-separated parts")
	}
	jws, err := jose.ParseSignedCompact(raw, signingAlgs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, nil, authErr(ReasonBadAlgorithm, "", "signing algorithm %q is not supported", clip(string(ua.Got)))
		}
		e := authErr(ReasonMalformed, "", "token is not a valid signed JWT")
		e.cause = err
		return nil, nil, e
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, authErr(ReasonMalformed, "", "token must carry exactly one signature")
	}
	hdr := jws.Signatures[0].Header
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims == nil {
		return nil, nil, authErr(ReasonMalformed, "", "token claims are not a JSON object")
	}
	issRaw, ok := claims["iss"]
	if !ok || issRaw == nil {
		return nil, nil, authErr(ReasonMissingClaim, "", "missing required claim %q", "iss")
	}
	iss, ok := issRaw.(string)
	if !ok {
		return nil, nil, authErr(ReasonMalformed, "", "claim %q is not a string", "iss")
	}
	is := v.byURL[iss]
	if is == nil {
		return nil, nil, authErr(ReasonUnknownIssuer, "", "token issuer %q is not trusted", clip(iss))
	}
	if !is.algs[hdr.Algorithm] {
		return nil, nil, authErr(ReasonBadAlgorithm, is.name, "signing algorithm %q is not allowed", clip(hdr.Algorithm))
	}
	v.signatureChecks.Add(1)
	if _, err := is.keys.verify(ctx, is.name, jws, hdr.KeyID, hdr.Algorithm); err != nil {
		return nil, nil, err
	}
	tok, err := is.check(claims, now)
	if err != nil {
		return nil, nil, err
	}
	return tok, is, nil
}

// check validates the claims of a token whose signature was verified.
func (is *issuer) check(claims map[string]any, now time.Time) (*Token, error) {
	tok := &Token{Issuer: is.name, IssuerURL: is.url, Claims: claims}
	var err error
	if tok.Subject, err = is.stringClaim(claims, "sub", true); err != nil {
		return nil, err
	}
	if tok.Expiry, err = is.timeClaim(claims, "exp", true); err != nil {
		return nil, err
	}
	if tok.NotBefore, err = is.timeClaim(claims, "nbf", false); err != nil {
		return nil, err
	}
	if tok.IssuedAt, err = is.timeClaim(claims, "iat", false); err != nil {
		return nil, err
	}
	if tok.Audience, err = is.audience(claims); err != nil {
		return nil, err
	}
	if now.After(tok.Expiry.Add(is.skew)) {
		return nil, authErr(ReasonExpired, is.name, "token expired at %s", tok.Expiry.UTC().Format(time.RFC3339))
	}
	if !tok.NotBefore.IsZero() && now.Add(is.skew).Before(tok.NotBefore) {
		return nil, authErr(ReasonNotYetValid, is.name, "token is not valid before %s", tok.NotBefore.UTC().Format(time.RFC3339))
	}
	if !tok.IssuedAt.IsZero() && now.Add(is.skew).Before(tok.IssuedAt) {
		return nil, authErr(ReasonNotYetValid, is.name, "token is issued in the future, at %s", tok.IssuedAt.UTC().Format(time.RFC3339))
	}
	if !is.anyAud && !acceptsAny(is.audiences, tok.Audience) {
		return nil, authErr(ReasonWrongAudience, is.name, "token audience %s is not accepted", quoteList(tok.Audience))
	}
	for _, name := range is.required {
		if claims[name] == nil {
			return nil, authErr(ReasonMissingClaim, is.name, "missing required claim %q", clip(name))
		}
	}
	return tok, nil
}

func (is *issuer) stringClaim(claims map[string]any, name string, required bool) (string, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		if required {
			return "", authErr(ReasonMissingClaim, is.name, "missing required claim %q", name)
		}
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", authErr(ReasonMalformed, is.name, "claim %q is not a string", name)
	}
	if s == "" && required {
		return "", authErr(ReasonMissingClaim, is.name, "missing required claim %q", name)
	}
	return s, nil
}

// maxTime is 9999-12-31T23:59:59Z; later NumericDates are rejected so that
// conversions cannot overflow.
const maxTime = 253402300799

func (is *issuer) timeClaim(claims map[string]any, name string, required bool) (time.Time, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		if required {
			return time.Time{}, authErr(ReasonMissingClaim, is.name, "missing required claim %q", name)
		}
		return time.Time{}, nil
	}
	f, ok := raw.(float64)
	if !ok {
		return time.Time{}, authErr(ReasonMalformed, is.name, "claim %q is not a number", name)
	}
	if f <= 0 || f > maxTime {
		return time.Time{}, authErr(ReasonMalformed, is.name, "claim %q is out of range", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// audience decodes aud, which is a string or an array of strings.
func (is *issuer) audience(claims map[string]any) ([]string, error) {
	switch aud := claims["aud"].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{aud}, nil
	case []any:
		out := make([]string, 0, len(aud))
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return nil, authErr(ReasonMalformed, is.name, "claim %q is not a string or an array of strings", "aud")
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, authErr(ReasonMalformed, is.name, "claim %q is not a string or an array of strings", "aud")
	}
}

func acceptsAny(accepted, got []string) bool {
	for _, g := range got {
		for _, a := range accepted {
			if g == a {
				return true
			}
		}
	}
	return false
}

// quoteList renders a list of attacker-influenced strings for an error
// message, bounded in size.
func quoteList(list []string) string {
	const maxItems = 5
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i == maxItems {
			fmt.Fprintf(&b, " …%d more", len(list)-maxItems)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%q", clip(s))
	}
	b.WriteByte(']')
	return b.String()
}

// IssuerName returns the configured name of the issuer whose URL (the
// iss claim of its tokens) is url.
func (v *Verifier) IssuerName(url string) (string, bool) {
	is, ok := v.byURL[url]
	if !ok {
		return "", false
	}
	return is.name, true
}
