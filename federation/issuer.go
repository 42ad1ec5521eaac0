package federation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// Paths of iamgate's OpenID provider documents on the main listener. The
// issuer URL is the public URL of PathPrefix without its final slash, so
// the discovery document is at issuer + "/.well-known/openid-configuration"
// as OpenID Connect Discovery and AWS IAM expect.
const (
	PathPrefix    = "/_iamgate/oidc/"
	DiscoveryPath = PathPrefix + ".well-known/openid-configuration"
	JWKSPath      = PathPrefix + "jwks.json"
	// IssuerPath is what the path of an issuer URL ends with.
	IssuerPath = "/_iamgate/oidc"
)

// DefaultTokenLifetime is how long a token iamgate mints for itself is
// valid: long enough for one STS call, short enough to be useless later.
const DefaultTokenLifetime = 5 * time.Minute

// reservedClaims are set by Mint and cannot be given in IssuerConfig.Claims.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti"}

// IssuerConfig describes the tokens the Issuer mints about iamgate.
type IssuerConfig struct {
	// URL is the issuer ("iss"): the public URL of the OpenID endpoints as
	// the store reaches them, ending in IssuerPath.
	URL string
	// Audience ("aud") is the client id the store is configured with.
	Audience string
	// Subject ("sub") names iamgate to the store.
	Subject string
	// Claims are added to each token, such as {"policy": "..."} for
	// MinIO's claim_name mode. Names in reservedClaims are refused.
	Claims map[string]string
	// Lifetime is how long a token is valid; 0 means DefaultTokenLifetime.
	Lifetime time.Duration
}

// Issuer is iamgate's own OpenID provider: it serves the discovery
// document and the key set (ServeHTTP) and mints tokens (Token) signed
// with the first key. Keys can be swapped while it serves (SetKeys).
type Issuer struct {
	cfg  IssuerConfig
	keys atomic.Pointer[KeySet]
}

// NewIssuer returns an Issuer for cfg signing with keys.
func NewIssuer(cfg IssuerConfig, keys *KeySet) (*Issuer, error) {
	switch {
	case !strings.HasPrefix(cfg.URL, "https://") && !strings.HasPrefix(cfg.URL, "http://"),
		!strings.HasSuffix(cfg.URL, IssuerPath):
		return nil, errors.New("federation: issuer URL must be http(s)://host[:port][/prefix]" + IssuerPath)
	case cfg.Audience == "" || cfg.Subject == "":
		return nil, errors.New("federation: audience and subject are required")
	case keys == nil:
		return nil, errors.New("federation: no key set")
	}
	for name := range cfg.Claims {
		if slices.Contains(reservedClaims, name) {
			return nil, errors.New("federation: claim " + name + " is set by iamgate")
		}
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultTokenLifetime
	}
	i := &Issuer{cfg: cfg}
	i.keys.Store(keys)
	return i, nil
}

// SetKeys replaces the key set for tokens minted and documents served
// after it returns.
func (i *Issuer) SetKeys(ks *KeySet) { i.keys.Store(ks) }

// Keys returns the key set in use.
func (i *Issuer) Keys() *KeySet { return i.keys.Load() }

// Token mints a token about iamgate valid from now for the configured
// lifetime: iss, sub, aud, iat, nbf, exp, a random jti and the configured
// claims, signed with the first key and naming it in "kid".
func (i *Issuer) Token(now time.Time) (string, error) {
	ks := i.keys.Load()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now = now.Truncate(time.Second)
	std := jwt.Claims{
		Issuer:    i.cfg.URL,
		Subject:   i.cfg.Subject,
		Audience:  jwt.Audience{i.cfg.Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(i.cfg.Lifetime)),
		ID:        hex.EncodeToString(jti[:]),
	}
	b := jwt.Signed(ks.keys[0].signer).Claims(std)
	if len(i.cfg.Claims) > 0 {
		extra := make(map[string]any, len(i.cfg.Claims))
		for k, v := range i.cfg.Claims {
			extra[k] = v
		}
		b = b.Claims(extra)
	}
	return b.Serialize()
}

// discovery is the OpenID provider metadata iamgate publishes. Only the
// parts a relying party that verifies tokens needs: iamgate has no
// authorization or token endpoint, it mints tokens for itself.
type discovery struct {
	Issuer          string   `json:"issuer"`
	JWKSURI         string   `json:"jwks_uri"`
	ResponseTypes   []string `json:"response_types_supported"`
	SubjectTypes    []string `json:"subject_types_supported"`
	SigningAlgs     []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported []string `json:"claims_supported"`
	ScopesSupported []string `json:"scopes_supported"`
}

// Discovery returns the discovery document.
func (i *Issuer) Discovery() []byte {
	claims := slices.Clone(reservedClaims)
	for k := range i.cfg.Claims {
		claims = append(claims, k)
	}
	slices.Sort(claims)
	d := discovery{
		Issuer:          i.cfg.URL,
		JWKSURI:         i.cfg.URL + "/jwks.json",
		ResponseTypes:   []string{"id_token"},
		SubjectTypes:    []string{"public"},
		SigningAlgs:     i.keys.Load().Algorithms(),
		ClaimsSupported: claims,
		ScopesSupported: []string{"openid"},
	}
	b, _ := json.Marshal(d)
	return b
}

var _ http.Handler = (*Issuer)(nil)

// ServeHTTP answers GET and HEAD of DiscoveryPath and JWKSPath; anything
// else under PathPrefix is 404 (405 for another method).
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch r.URL.Path {
	case DiscoveryPath:
		body = i.Discovery()
	case JWKSPath:
		body = i.keys.Load().JWKS()
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Short: a verifier sees a key added for rotation within a minute.
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}
