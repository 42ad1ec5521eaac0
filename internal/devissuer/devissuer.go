// Package devissuer is a minimal OpenID Connect issuer for tests and for the
// zero-setup `iamgate dev` demo.
//
// DEVELOPMENT ONLY. NEVER USE IT IN PRODUCTION. Its keys live in memory
// and are generated at start, it has no user authentication at all, its
// optional token endpoint hands a signed token for any subject and groups to
// whoever asks, and its optional authorization endpoint signs a browser in
// as whoever the person types. Anyone who can reach it can impersonate
// anyone.
package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Options configure an [Issuer].
type Options struct {
	// Alg is the signing algorithm: "RS256" (default, RSA-2048) or "ES256"
	// (P-256).
	Alg string
	// Now is the clock used for iat and exp. Nil means time.Now.
	Now func() time.Time
	// EnableTokenEndpoint serves POST /token, which mints a token for any
	// subject without authentication. Never enable it where untrusted
	// clients can reach the issuer.
	EnableTokenEndpoint bool
	// Audience is the aud of tokens minted by the token endpoint when the
	// request names none, and of access tokens of the authorization code
	// flow. Empty means "iamgate".
	Audience string

	// EnableAuthorizeEndpoint serves the authorization code flow with
	// PKCE for Clients: GET /authorize shows a sign-in page where anyone
	// picks a preset of Users or types any username and groups (no
	// password), POST /authorize redirects back with a one-time code
	// (valid 1 minute), and POST /token takes grant_type
	// authorization_code (returning an ID token with aud = client_id, an
	// access token, and with scope offline_access a refresh token valid
	// 24h) and grant_type refresh_token. Never enable it where untrusted
	// people can reach the issuer.
	EnableAuthorizeEndpoint bool
	// Clients are the clients the authorization endpoint accepts.
	Clients []Client
	// Users are the presets of the sign-in page.
	Users []User
}

// MintOptions override how [Issuer.MintWith] signs, to build tokens that a
// verifier must reject.
type MintOptions struct {
	// Alg is the alg header and signing algorithm. Empty means the issuer's
	// algorithm, or the natural one for Key. "none" produces an unsigned
	// token. HS256/HS384/HS512 sign with HMAC using Secret, or, when Secret
	// is nil, the PEM encoding of the issuer's current public key (the
	// classic algorithm-confusion attack).
	Alg string
	// Kid is the kid header. Empty means the current key's ID; use
	// NoKid to omit the header.
	Kid string
	// Key signs instead of the issuer's current key (e.g. a foreign key).
	Key crypto.Signer
	// Secret is the HMAC key for the HS algorithms.
	Secret []byte
}

// NoKid as MintOptions.Kid omits the kid header.
const NoKid = "-"

type signingKey struct {
	kid    string
	alg    string
	signer crypto.Signer
}

// Issuer is an in-memory OpenID Connect issuer. It is safe for concurrent
// use.
type Issuer struct {
	opts Options

	mu          sync.Mutex
	url         string
	keys        []signingKey // last is current
	down        bool
	jwksFetches int
	codes       map[string]*grant // authorization codes
	refresh     map[string]*grant // refresh tokens
}

// New returns an Issuer with a freshly generated key. Set its URL with
// [Issuer.SetURL] once the listener address is known.
func New(opts Options) (*Issuer, error) {
	if opts.Alg == "" {
		opts.Alg = "RS256"
	}
	if opts.Alg != "RS256" && opts.Alg != "ES256" {
		return nil, fmt.Errorf("devissuer: unsupported algorithm %q (want RS256 or ES256)", opts.Alg)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Audience == "" {
		opts.Audience = "iamgate"
	}
	i := &Issuer{opts: opts, codes: map[string]*grant{}, refresh: map[string]*grant{}}
	if err := i.RotateKey(); err != nil {
		return nil, err
	}
	return i, nil
}

// StartTest starts an Issuer with default options on an httptest server
// that is closed when the test ends.
func StartTest(tb testing.TB) *Issuer {
	tb.Helper()
	return StartTestWith(tb, Options{})
}

// StartTestWith is [StartTest] with options.
func StartTestWith(tb testing.TB, opts Options) *Issuer {
	tb.Helper()
	i, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(i.Handler())
	tb.Cleanup(srv.Close)
	i.SetURL(srv.URL)
	return i
}

// SetURL sets the issuer URL, which becomes the iss claim and the base of
// the discovery document's URLs.
func (i *Issuer) SetURL(u string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.url = u
}

// URL returns the issuer URL.
func (i *Issuer) URL() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.url
}

// KeyID returns the ID of the current signing key.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1].kid
}

// RotateKey generates a new current key with a new key ID. Previous keys
// stay published until [Issuer.RemoveOldKeys].
func (i *Issuer) RotateKey() error {
	var signer crypto.Signer
	var err error
	switch i.opts.Alg {
	case "ES256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return fmt.Errorf("devissuer: generating key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: signer.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("devissuer: key thumbprint: %w", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, signingKey{kid: base64.RawURLEncoding.EncodeToString(tp), alg: i.opts.Alg, signer: signer})
	return nil
}

// RemoveOldKeys stops publishing every key but the current one.
func (i *Issuer) RemoveOldKeys() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = i.keys[len(i.keys)-1:]
}

// SetDown makes discovery and JWKS requests fail with 503 while down is
// true, to simulate an unreachable issuer.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// JWKSFetches returns how many times the key set was served (requests
// answered 503 while down are not counted).
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// Mint returns a signed token with claims. It sets iss, iat and exp
// (now+ttl) unless claims has them; claims given win, so tests can mint
// expired or not-yet-valid tokens. A claim whose value is nil is left out
// (use it to drop iss, iat or exp).
func (i *Issuer) Mint(claims map[string]any, ttl time.Duration) (string, error) {
	return i.MintWith(claims, ttl, MintOptions{})
}

// MintWith is [Issuer.Mint] with signing overrides for negative tests.
func (i *Issuer) MintWith(claims map[string]any, ttl time.Duration, opts MintOptions) (string, error) {
	i.mu.Lock()
	cur := i.keys[len(i.keys)-1]
	iss := i.url
	i.mu.Unlock()

	now := i.opts.Now()
	all := map[string]any{
		"iss": iss,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = v
		}
	}

	signer, alg := cur.signer, cur.alg
	if opts.Key != nil {
		signer = opts.Key
		if alg = algFor(opts.Key); alg == "" {
			return "", fmt.Errorf("devissuer: unsupported key type %T", opts.Key)
		}
	}
	if opts.Alg != "" {
		alg = opts.Alg
	}
	kid := cur.kid
	switch opts.Kid {
	case "":
	case NoKid:
		kid = ""
	default:
		kid = opts.Kid
	}

	header := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		header["kid"] = kid
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	pb, err := json.Marshal(all)
	if err != nil {
		return "", fmt.Errorf("devissuer: encoding claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)

	secret := opts.Secret
	if secret == nil {
		der, err := x509.MarshalPKIXPublicKey(signer.Public())
		if err != nil {
			return "", err
		}
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	sig, err := sign(alg, signer, secret, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func algFor(k crypto.Signer) string {
	switch k := k.Public().(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// sign produces a JWS signature (RFC 7518 section 3) over input.
func sign(alg string, signer crypto.Signer, secret, input []byte) ([]byte, error) {
	hashes := map[byte]crypto.Hash{'2': crypto.SHA256, '3': crypto.SHA384, '5': crypto.SHA512}
	if alg == "none" {
		return nil, nil
	}
	if alg == "EdDSA" {
		return signer.Sign(rand.Reader, input, crypto.Hash(0))
	}
	if len(alg) != 5 {
		return nil, fmt.Errorf("devissuer: unsupported algorithm %q", alg)
	}
	h, ok := hashes[alg[2]]
	if !ok {
		return nil, fmt.Errorf("devissuer: unsupported algorithm %q", alg)
	}
	if alg[:2] == "HS" {
		newHash := map[crypto.Hash]func() hash.Hash{crypto.SHA256: sha256.New, crypto.SHA384: sha512.New384, crypto.SHA512: sha512.New}[h]
		m := hmac.New(newHash, secret)
		m.Write(input)
		return m.Sum(nil), nil
	}
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch alg[:2] {
	case "RS":
		return signer.Sign(rand.Reader, digest, h)
	case "PS":
		return signer.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
	case "ES":
		der, err := signer.Sign(rand.Reader, digest, h)
		if err != nil {
			return nil, err
		}
		pub, ok := signer.Public().(*ecdsa.PublicKey)
		if !ok {
			return nil, errors.New("devissuer: ES algorithms need an ECDSA key")
		}
		return derToRaw(der, (pub.Curve.Params().BitSize+7)/8)
	}
	return nil, fmt.Errorf("devissuer: unsupported algorithm %q", alg)
}

// derToRaw converts an ASN.1 ECDSA signature to the fixed-size r||s form
// JWS uses.
func derToRaw(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		return nil, err
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

// Handler serves /.well-known/openid-configuration, /jwks.json and, when
// enabled, POST /token and GET and POST /authorize.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /jwks.json", i.serveJWKS)
	if i.opts.EnableTokenEndpoint || i.opts.EnableAuthorizeEndpoint {
		mux.HandleFunc("POST /token", i.serveToken)
	}
	if i.opts.EnableAuthorizeEndpoint {
		mux.HandleFunc("GET /authorize", i.serveAuthorize)
		mux.HandleFunc("POST /authorize", i.serveAuthorize)
	}
	return mux
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	down, u := i.down, i.url
	i.mu.Unlock()
	if down {
		http.Error(w, "issuer is down", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]any{
		"issuer":                                u,
		"jwks_uri":                              u + "/jwks.json",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{i.opts.Alg},
	}
	if i.opts.EnableTokenEndpoint || i.opts.EnableAuthorizeEndpoint {
		doc["token_endpoint"] = u + "/token"
	}
	if i.opts.EnableAuthorizeEndpoint {
		doc["authorization_endpoint"] = u + "/authorize"
		doc["code_challenge_methods_supported"] = []string{"S256"}
		doc["grant_types_supported"] = []string{"authorization_code", "refresh_token"}
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post", "none"}
		doc["scopes_supported"] = []string{"openid", "profile", "email", "offline_access"}
		doc["claims_supported"] = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "preferred_username", "email", "groups"}
	}
	writeJSON(w, doc)
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	if i.down {
		i.mu.Unlock()
		http.Error(w, "issuer is down", http.StatusServiceUnavailable)
		return
	}
	i.jwksFetches++
	set := jose.JSONWebKeySet{}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

// serveToken serves the grants of the authorization endpoint, when
// enabled, and otherwise (with EnableTokenEndpoint) mints a token from
// form fields sub (required), preferred_username, groups (repeatable), aud
// and ttl (a Go duration, default 1h, at most 24h).
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case i.opts.EnableAuthorizeEndpoint && (gt == "authorization_code" || gt == "refresh_token"):
		i.serveCodeGrant(w, r)
		return
	case !i.opts.EnableTokenEndpoint:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	sub := r.PostForm.Get("sub")
	if sub == "" {
		http.Error(w, "sub is required", http.StatusBadRequest)
		return
	}
	ttl := time.Hour
	if s := r.PostForm.Get("ttl"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 24*time.Hour {
			http.Error(w, "ttl must be a duration between 0 and 24h", http.StatusBadRequest)
			return
		}
		ttl = d
	}
	claims := map[string]any{"sub": sub, "aud": i.opts.Audience}
	if aud := r.PostForm.Get("aud"); aud != "" {
		claims["aud"] = aud
	}
	if u := r.PostForm.Get("preferred_username"); u != "" {
		claims["preferred_username"] = u
	}
	if g := r.PostForm["groups"]; len(g) > 0 {
		claims["groups"] = g
	}
	tok, err := i.Mint(claims, ttl)
	if err != nil {
		http.Error(w, "minting failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(ttl.Seconds()),
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
