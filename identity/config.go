package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by [New] to zero-valued fields.
const (
	DefaultClockSkew              = 60 * time.Second
	DefaultCacheSize              = 10000
	DefaultJWKSMinRefreshInterval = 10 * time.Second
)

// defaultAlgorithms are the JWS algorithms accepted when
// IssuerConfig.Algorithms is empty, and the only ones that may be listed.
// All are asymmetric: with a symmetric one, anyone holding the issuer's
// public key could forge tokens.
var defaultAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// IssuerConfig describes one trusted OpenID Connect issuer.
type IssuerConfig struct {
	// Name identifies the issuer in errors, logs and [Token.Issuer], e.g.
	// "corp". Required and unique.
	Name string
	// URL is the issuer identifier. A token is routed to this issuer when its
	// iss claim equals URL exactly. Discovery is done at
	// URL + "/.well-known/openid-configuration". Required and unique.
	URL string
	// Audiences lists accepted aud values; a token must carry at least one
	// of them. Required unless AllowAnyAudience is set.
	Audiences []string
	// AllowAnyAudience disables the audience check. Tokens minted by the
	// issuer for any other application are then accepted too, so set it only
	// when the issuer is dedicated to this proxy.
	AllowAnyAudience bool
	// ClockSkew is the leeway applied to exp, nbf and iat. Zero means
	// [DefaultClockSkew]; negative values are invalid.
	ClockSkew time.Duration
	// RequiredClaims lists claims that must be present and non-null, in
	// addition to iss, sub and exp, which are always required.
	RequiredClaims []string
	// Algorithms lists the accepted JWS algorithms. Empty means RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA;
	// other values are invalid. "none" and the HMAC algorithms (HS256,
	// HS384, HS512) are rejected: with them anyone holding the issuer's
	// public key could forge tokens.
	Algorithms []string
	// JWKSURL, if set, is used to fetch the signing keys and discovery is
	// skipped.
	JWKSURL string
}

// Config configures a [Verifier].
type Config struct {
	// Issuers lists the trusted issuers. It may be empty (people then sign
	// in only with a directory): every token is refused as of an unknown
	// issuer.
	Issuers []IssuerConfig
	// CacheSize bounds the number of verified tokens kept in memory. Zero
	// means [DefaultCacheSize]; a negative value disables the cache.
	CacheSize int
	// JWKSMinRefreshInterval is the minimum time between two fetches of an
	// issuer's keys triggered by tokens (unknown key ID, keys not loaded).
	// It protects the issuer from being hammered by forged tokens. Zero means
	// [DefaultJWKSMinRefreshInterval]; negative values are invalid.
	JWKSMinRefreshInterval time.Duration
	// HTTPClient fetches discovery documents and key sets. Nil means a
	// client with a 30s timeout.
	HTTPClient *http.Client
	// Now returns the current time for token validity checks. Nil means
	// time.Now. Refresh scheduling always uses the real clock.
	Now func() time.Time
	// Logger receives key refresh events. Nil discards them. Tokens are
	// never logged.
	Logger *slog.Logger
	// OnJWKSRefresh, if set, is called after every attempt to load an
	// issuer's keys, with the issuer name and the error (nil on success).
	// It must not block.
	OnJWKSRefresh func(issuer string, err error)
}

// issuerSettings is an IssuerConfig with defaults applied, in the form the
// verification path wants.
type issuerSettings struct {
	name      string
	url       string
	jwksURL   string
	audiences []string
	anyAud    bool
	skew      time.Duration
	required  []string
	algs      map[string]bool
}

var knownAlgs = func() map[string]bool {
	m := make(map[string]bool)
	for _, a := range defaultAlgorithms {
		m[a] = true
	}
	return m
}()

// validate checks cfg as a whole and returns every problem at once. It does
// no I/O.
func (cfg *Config) validate() ([]issuerSettings, error) {
	var errs []error
	if cfg.JWKSMinRefreshInterval < 0 {
		errs = append(errs, errors.New("identity: JWKSMinRefreshInterval must not be negative"))
	}
	names := make(map[string]bool)
	urls := make(map[string]bool)
	out := make([]issuerSettings, 0, len(cfg.Issuers))
	for i, ic := range cfg.Issuers {
		where := fmt.Sprintf("identity: issuer %d", i)
		if ic.Name != "" {
			where = fmt.Sprintf("identity: issuer %q", ic.Name)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(where+": "+format, args...))
		}
		s := issuerSettings{
			name:     ic.Name,
			url:      ic.URL,
			jwksURL:  ic.JWKSURL,
			anyAud:   ic.AllowAnyAudience,
			skew:     ic.ClockSkew,
			required: append([]string(nil), ic.RequiredClaims...),
			algs:     make(map[string]bool),
		}
		switch {
		case ic.Name == "":
			bad("name is required")
		case names[ic.Name]:
			bad("name is used by another issuer")
		}
		names[ic.Name] = true
		if err := checkURL(ic.URL); err != nil {
			bad("url: %v", err)
		} else if urls[ic.URL] {
			bad("url %q is used by another issuer", ic.URL)
		}
		urls[ic.URL] = true
		if ic.JWKSURL != "" {
			if err := checkURL(ic.JWKSURL); err != nil {
				bad("jwks url: %v", err)
			}
		}
		for _, a := range ic.Audiences {
			if a == "" {
				bad("audiences must not contain an empty string")
			}
		}
		s.audiences = append([]string(nil), ic.Audiences...)
		if len(ic.Audiences) == 0 && !ic.AllowAnyAudience {
			bad("audiences are required (or set AllowAnyAudience explicitly)")
		}
		if len(ic.Audiences) > 0 && ic.AllowAnyAudience {
			bad("audiences and AllowAnyAudience are mutually exclusive")
		}
		switch {
		case ic.ClockSkew < 0:
			bad("clock skew must not be negative")
		case ic.ClockSkew == 0:
			s.skew = DefaultClockSkew
		}
		for _, c := range ic.RequiredClaims {
			if c == "" {
				bad("required claims must not contain an empty name")
			}
		}
		algs := ic.Algorithms
		if len(algs) == 0 {
			algs = defaultAlgorithms
		}
		for _, a := range algs {
			switch {
			case strings.EqualFold(a, "none"):
				bad("algorithm %q is not allowed: tokens would be unsigned", a)
			case strings.HasPrefix(strings.ToUpper(a), "HS"):
				bad("algorithm %q is not allowed: symmetric algorithms are not supported", a)
			case !knownAlgs[a]:
				bad("unknown algorithm %q (known: %s)", a, strings.Join(defaultAlgorithms, ", "))
			default:
				s.algs[a] = true
			}
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q must use https (or http)", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", raw)
	}
	return nil
}
