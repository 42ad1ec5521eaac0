package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
)

const testAudience = "iamgate-test"

// newVerifier returns a Verifier trusting iss as "corp", with cfg
// modifications applied, closed at test end.
func newVerifier(t testing.TB, iss *devissuer.Issuer, mods ...func(*Config)) *Verifier {
	t.Helper()
	cfg := testConfig(iss)
	for _, m := range mods {
		m(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func testConfig(iss *devissuer.Issuer) Config {
	return Config{
		Issuers: []IssuerConfig{{
			Name:      "corp",
			URL:       iss.URL(),
			Audiences: []string{testAudience, "other"},
		}},
	}
}

func mint(t testing.TB, iss *devissuer.Issuer, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	tok, err := iss.Mint(claims, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mintWith(t testing.TB, iss *devissuer.Issuer, claims map[string]any, opts devissuer.MintOptions) string {
	t.Helper()
	tok, err := iss.MintWith(claims, time.Hour, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func baseClaims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "alice", "aud": testAudience}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// wantReason asserts that err is an *AuthError with reason want and that
// neither its message nor its cause reveals the token.
func wantReason(t *testing.T, err error, want Reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T (%v) is not an *AuthError", err, err)
	}
	if ae.Reason != want {
		t.Fatalf("reason = %s (%v), want %s", ae.Reason, err, want)
	}
	assertNoToken(t, err, token)
}

func assertNoToken(t testing.TB, err error, token string) {
	t.Helper()
	if len(token) < 16 {
		return
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), token) {
			t.Fatalf("error reveals the token: %v", e)
		}
	}
	// Nor any of its parts (the signature is what makes a token usable).
	if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		if strings.Contains(err.Error(), parts[2]) {
			t.Fatalf("error reveals the token signature: %v", err)
		}
	}
}

func TestVerifyValid(t *testing.T) {
	iss := devissuer.StartTest(t)
	v := newVerifier(t, iss)
	now := time.Now()
	raw := mint(t, iss, baseClaims(map[string]any{
		"aud":    []string{"x", "other"},
		"nbf":    now.Unix(),
		"groups": []string{"dev", "ops"},
	}), time.Hour)

	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Issuer != "corp" || tok.IssuerURL != iss.URL() || tok.Subject != "alice" {
		t.Errorf("issuer/subject = %q %q %q", tok.Issuer, tok.IssuerURL, tok.Subject)
	}
	if len(tok.Audience) != 2 || tok.Audience[0] != "x" || tok.Audience[1] != "other" {
		t.Errorf("audience = %q", tok.Audience)
	}
	if d := tok.Expiry.Sub(now.Add(time.Hour)); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("expiry = %v, want about %v", tok.Expiry, now.Add(time.Hour))
	}
	if tok.IssuedAt.IsZero() || tok.NotBefore.Unix() != now.Unix() {
		t.Errorf("iat = %v nbf = %v", tok.IssuedAt, tok.NotBefore)
	}
	if g, ok := tok.Claims["groups"].([]any); !ok || len(g) != 2 || g[0] != "dev" {
		t.Errorf("groups claim = %#v", tok.Claims["groups"])
	}
	if tok.Hash == ([32]byte{}) {
		t.Error("hash not set")
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready after a successful verification: %v", err)
	}
}

func TestVerifyES256(t *testing.T) {
	iss := devissuer.StartTestWith(t, devissuer.Options{Alg: "ES256"})
	v := newVerifier(t, iss)
	if _, err := v.Verify(context.Background(), mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejects(t *testing.T) {
	iss := devissuer.StartTest(t)
	other := devissuer.StartTest(t)
	foreignRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	foreignEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	now := time.Now()

	tests := []struct {
		name  string
		token func(t *testing.T) string
		mods  []func(*Config)
		want  Reason
	}{
		{"empty", func(*testing.T) string { return "" }, nil, ReasonMalformed},
		{"one part", func(*testing.T) string { return "abcdefghijklmnopqrstuvwxyz" }, nil, ReasonMalformed},
		{"two parts", func(*testing.T) string { return "abcdefghijklm.nopqrstuvwxyz" }, nil, ReasonMalformed},
		{"four parts", func(t *testing.T) string { return mint(t, iss, baseClaims(nil), time.Hour) + ".x" }, nil, ReasonMalformed},
		{"JWE", func(*testing.T) string {
			return b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + ".a.b.c.d"
		}, nil, ReasonMalformed},
		{"header not base64", func(t *testing.T) string {
			parts := strings.Split(mint(t, iss, baseClaims(nil), time.Hour), ".")
			return "!!!" + parts[0] + "." + parts[1] + "." + parts[2]
		}, nil, ReasonMalformed},
		{"header not JSON", func(t *testing.T) string {
			parts := strings.Split(mint(t, iss, baseClaims(nil), time.Hour), ".")
			return b64([]byte("not json")) + "." + parts[1] + "." + parts[2]
		}, nil, ReasonMalformed},
		{"claims not JSON", func(t *testing.T) string {
			parts := strings.Split(mint(t, iss, baseClaims(nil), time.Hour), ".")
			return parts[0] + "." + b64([]byte("not json")) + "." + parts[2]
		}, nil, ReasonMalformed},
		{"claims an array", func(t *testing.T) string {
			parts := strings.Split(mint(t, iss, baseClaims(nil), time.Hour), ".")
			return parts[0] + "." + b64([]byte(`["iss"]`)) + "." + parts[2]
		}, nil, ReasonMalformed},
		{"too long", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"pad": strings.Repeat("x", MaxTokenLength)}), time.Hour)
		}, nil, ReasonMalformed},
		{"iss not a string", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"iss": 42}), time.Hour)
		}, nil, ReasonMalformed},
		{"exp not a number", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"exp": "tomorrow"}), time.Hour)
		}, nil, ReasonMalformed},
		{"aud not strings", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"aud": []any{1, 2}}), time.Hour)
		}, nil, ReasonMalformed},
		{"unknown issuer", func(t *testing.T) string { return mint(t, other, baseClaims(nil), time.Hour) }, nil, ReasonUnknownIssuer},
		{"issuer differs by trailing slash", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"iss": iss.URL() + "/"}), time.Hour)
		}, nil, ReasonUnknownIssuer},
		{"missing iss", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"iss": nil}), time.Hour)
		}, nil, ReasonMissingClaim},
		{"foreign RSA key, issuer's kid", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreignRSA})
		}, nil, ReasonBadSignature},
		{"foreign RSA key, unknown kid", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreignRSA, Kid: "attacker"})
		}, nil, ReasonBadSignature},
		{"foreign RSA key, no kid", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreignRSA, Kid: devissuer.NoKid})
		}, nil, ReasonBadSignature},
		{"foreign EC key, issuer's kid", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreignEC})
		}, nil, ReasonBadSignature},
		{"tampered claims", func(t *testing.T) string {
			good := strings.Split(mint(t, iss, baseClaims(nil), time.Hour), ".")
			evil := strings.Split(mint(t, iss, baseClaims(map[string]any{"sub": "root"}), time.Hour), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, nil, ReasonBadSignature},
		{"signature stripped", func(t *testing.T) string {
			tok := mint(t, iss, baseClaims(nil), time.Hour)
			return tok[:strings.LastIndexByte(tok, '.')+1]
		}, nil, ReasonBadSignature},
		{"alg none", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Alg: "none"})
		}, nil, ReasonBadAlgorithm},
		{"HS256 with the public key as secret", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Alg: "HS256"})
		}, nil, ReasonBadAlgorithm},
		{"alg not in the issuer's list", func(t *testing.T) string {
			return mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Alg: "PS256"})
		}, []func(*Config){func(c *Config) { c.Issuers[0].Algorithms = []string{"RS256"} }}, ReasonBadAlgorithm},
		{"unknown alg", func(t *testing.T) string {
			return b64([]byte(`{"alg":"XX999"}`)) + "." + b64([]byte(`{"iss":"x"}`)) + ".c2ln"
		}, nil, ReasonBadAlgorithm},
		{"wrong audience", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"aud": "someone-else"}), time.Hour)
		}, nil, ReasonWrongAudience},
		{"no audience", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"aud": nil}), time.Hour)
		}, nil, ReasonWrongAudience},
		{"expired beyond skew", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), time.Hour)
		}, nil, ReasonExpired},
		{"expired beyond custom skew", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}), time.Hour)
		}, []func(*Config){func(c *Config) { c.Issuers[0].ClockSkew = 5 * time.Second }}, ReasonExpired},
		{"nbf in the future", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}), time.Hour)
		}, nil, ReasonNotYetValid},
		{"iat in the future", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"iat": now.Add(2 * time.Minute).Unix()}), time.Hour)
		}, nil, ReasonNotYetValid},
		{"missing sub", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"sub": nil}), time.Hour)
		}, nil, ReasonMissingClaim},
		{"empty sub", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"sub": ""}), time.Hour)
		}, nil, ReasonMissingClaim},
		{"missing exp", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"exp": nil}), time.Hour)
		}, nil, ReasonMissingClaim},
		{"missing required claim", func(t *testing.T) string {
			return mint(t, iss, baseClaims(nil), time.Hour)
		}, []func(*Config){func(c *Config) { c.Issuers[0].RequiredClaims = []string{"email"} }}, ReasonMissingClaim},
		{"null required claim", func(t *testing.T) string {
			return mint(t, iss, baseClaims(map[string]any{"email": nil}), time.Hour)
		}, []func(*Config){func(c *Config) { c.Issuers[0].RequiredClaims = []string{"email"} }}, ReasonMissingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, iss, tt.mods...)
			raw := tt.token(t)
			tok, err := v.Verify(context.Background(), raw)
			if tok != nil {
				t.Errorf("got a token for subject %q", tok.Subject)
			}
			wantReason(t, err, tt.want, raw)
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	iss := devissuer.StartTest(t)
	now := time.Now()
	tests := []struct {
		name   string
		claims map[string]any
		mods   []func(*Config)
	}{
		{"expired within skew", baseClaims(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}), nil},
		{"nbf within skew", baseClaims(map[string]any{"nbf": now.Add(30 * time.Second).Unix()}), nil},
		{"iat within skew", baseClaims(map[string]any{"iat": now.Add(30 * time.Second).Unix()}), nil},
		{"expired within custom skew", baseClaims(map[string]any{"exp": now.Add(-4 * time.Minute).Unix()}),
			[]func(*Config){func(c *Config) { c.Issuers[0].ClockSkew = 5 * time.Minute }}},
		{"audience array", baseClaims(map[string]any{"aud": []string{"a", testAudience}}), nil},
		{"any audience", baseClaims(map[string]any{"aud": "whatever"}),
			[]func(*Config){func(c *Config) { c.Issuers[0].Audiences, c.Issuers[0].AllowAnyAudience = nil, true }}},
		{"required claim present", baseClaims(map[string]any{"email": "a@example.com"}),
			[]func(*Config){func(c *Config) { c.Issuers[0].RequiredClaims = []string{"email"} }}},
		{"fractional times", baseClaims(map[string]any{"iat": float64(now.Unix()) + 0.5, "exp": float64(now.Unix()) + 60.25}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, iss, tt.mods...)
			if _, err := v.Verify(context.Background(), mint(t, iss, tt.claims, time.Hour)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifySeveralIssuers(t *testing.T) {
	a, b := devissuer.StartTest(t), devissuer.StartTestWith(t, devissuer.Options{Alg: "ES256"})
	v := newVerifier(t, a, func(c *Config) {
		c.Issuers = append(c.Issuers, IssuerConfig{Name: "partner", URL: b.URL(), Audiences: []string{testAudience}})
	})
	for _, tc := range []struct {
		iss  *devissuer.Issuer
		name string
	}{{a, "corp"}, {b, "partner"}} {
		tok, err := v.Verify(context.Background(), mint(t, tc.iss, baseClaims(nil), time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if tok.Issuer != tc.name {
			t.Errorf("issuer = %q, want %q", tok.Issuer, tc.name)
		}
	}
	// A token of b re-labelled as a's must not verify with a's keys.
	raw := mint(t, b, baseClaims(map[string]any{"iss": a.URL()}), time.Hour)
	_, err := v.Verify(context.Background(), raw)
	wantReason(t, err, ReasonBadSignature, raw)
}

func TestKeyRotation(t *testing.T) {
	iss := devissuer.StartTest(t)
	v := newVerifier(t, iss, func(c *Config) { c.JWKSMinRefreshInterval = time.Nanosecond })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
	oldTok := mint(t, iss, baseClaims(map[string]any{"n": 1}), time.Hour)
	if err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	before := iss.JWKSFetches()
	if _, err := v.Verify(ctx, mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := iss.JWKSFetches(); got != before+1 {
		t.Errorf("JWKS fetches = %d, want %d", got, before+1)
	}
	// The old key is still published, so its tokens still verify.
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("token signed with the previous key: %v", err)
	}
}

func TestRefreshRateLimit(t *testing.T) {
	iss := devissuer.StartTest(t)
	v := newVerifier(t, iss, func(c *Config) { c.JWKSMinRefreshInterval = time.Hour })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := iss.JWKSFetches(); got != 1 {
		t.Fatalf("JWKS fetches after first load = %d, want 1", got)
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		raw := mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreign, Kid: "kid-" + string(rune('a'+i))})
		go func() {
			defer wg.Done()
			_, err := v.Verify(ctx, raw)
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != ReasonBadSignature {
				t.Errorf("unknown kid: %v", err)
			}
		}()
	}
	wg.Wait()
	// Within the window even a genuinely new key is not fetched.
	if err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	_, err = v.Verify(ctx, raw)
	wantReason(t, err, ReasonBadSignature, raw)
	if got := iss.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1 (refreshes must be rate limited)", got)
	}
}

func TestConcurrentFirstLoad(t *testing.T) {
	iss := devissuer.StartTest(t)
	v := newVerifier(t, iss, func(c *Config) { c.JWKSMinRefreshInterval = time.Hour })
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), raw); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := iss.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1 (concurrent callers share one fetch)", got)
	}
}

func TestIssuerDownAfterKeysLoaded(t *testing.T) {
	iss := devissuer.StartTest(t)
	var refreshErrs atomic.Int64
	v := newVerifier(t, iss, func(c *Config) {
		c.JWKSMinRefreshInterval = time.Nanosecond
		c.OnJWKSRefresh = func(name string, err error) {
			if name != "corp" {
				t.Errorf("hook got issuer %q", name)
			}
			if err != nil {
				refreshErrs.Add(1)
			}
		}
	})
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
	iss.SetDown(true)
	// An unknown kid forces a refresh, which fails; the old keys stay.
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	raw := mintWith(t, iss, baseClaims(nil), devissuer.MintOptions{Key: foreign, Kid: "new-kid"})
	_, err = v.Verify(ctx, raw)
	wantReason(t, err, ReasonIssuerUnavailable, raw)
	if refreshErrs.Load() == 0 {
		t.Error("OnJWKSRefresh was not told about the failed refresh")
	}
	if _, err := v.Verify(ctx, mint(t, iss, baseClaims(map[string]any{"n": 2}), time.Hour)); err != nil {
		t.Fatalf("verification with cached keys while the issuer is down: %v", err)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready with cached keys: %v", err)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	iss := devissuer.StartTest(t)
	iss.SetDown(true)
	v := newVerifier(t, iss, func(c *Config) { c.JWKSMinRefreshInterval = time.Nanosecond })
	ctx := context.Background()
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	_, err := v.Verify(ctx, raw)
	wantReason(t, err, ReasonIssuerUnavailable, raw)
	if err := v.Ready(); err == nil || !strings.Contains(err.Error(), `"corp"`) {
		t.Errorf("Ready = %v, want an error naming issuer corp", err)
	}

	iss.SetDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = v.Verify(ctx, raw)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("issuer came back but verification still fails: %v", err)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
}

func TestNewDoesNotTouchTheNetwork(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)

	cfg := Config{Issuers: []IssuerConfig{
		{Name: "down", URL: srv.URL, AllowAnyAudience: true},
		{Name: "hangs", URL: slow.URL, AllowAnyAudience: true},
		{Name: "unreachable", URL: "http://127.0.0.1:1", AllowAnyAudience: true},
	}}
	start := time.Now()
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if time.Since(start) > 5*time.Second {
		t.Error("New blocked on the network")
	}
	if err := v.Ready(); err == nil {
		t.Error("Ready = nil with no issuer reachable")
	}
	// A bounded context bounds a verification that waits for keys.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	iss, err := devissuer.New(devissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss.SetURL(slow.URL)
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	_, err = v.Verify(ctx, raw)
	wantReason(t, err, ReasonIssuerUnavailable, raw)
}

func TestJWKSURLSkipsDiscovery(t *testing.T) {
	iss, err := devissuer.New(devissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /keys", http.StripPrefix("/keys", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/jwks.json"
		iss.Handler().ServeHTTP(w, r)
	})))
	srv := httptest.NewServer(mux) // no discovery document
	defer srv.Close()
	iss.SetURL(srv.URL + "/realm")
	v := newVerifier(t, iss, func(c *Config) { c.Issuers[0].JWKSURL = srv.URL + "/keys" })
	if _, err := v.Verify(context.Background(), mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	iss := devissuer.StartTest(t)
	real := iss.URL()
	iss.SetURL(real + "/elsewhere") // discovery now names another issuer
	v := newVerifier(t, iss, func(c *Config) { c.Issuers[0].URL = real })
	raw := mint(t, iss, baseClaims(map[string]any{"iss": real}), time.Hour)
	_, err := v.Verify(context.Background(), raw)
	wantReason(t, err, ReasonIssuerUnavailable, raw)
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestCache(t *testing.T) {
	iss := devissuer.StartTest(t)
	var clk clock
	clk.Set(time.Now())
	v := newVerifier(t, iss, func(c *Config) { c.Now = clk.Now })
	ctx := context.Background()
	raw := mint(t, iss, baseClaims(map[string]any{"exp": clk.Now().Add(10 * time.Second).Unix()}), 0)

	first, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := v.Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if tok != first {
			t.Error("cache hit returned a different token")
		}
	}
	if n := v.signatureChecks.Load(); n != 1 {
		t.Errorf("signature checks = %d, want 1 (cache hits must not re-verify)", n)
	}

	// Past exp+skew the entry must not be served.
	clk.Advance(10*time.Second + DefaultClockSkew + time.Second)
	_, err = v.Verify(ctx, raw)
	wantReason(t, err, ReasonExpired, raw)
	if n := v.signatureChecks.Load(); n != 2 {
		t.Errorf("signature checks = %d, want 2", n)
	}

	// Failures are not cached.
	bad := mint(t, iss, baseClaims(map[string]any{"aud": "nope"}), time.Hour)
	for range 2 {
		if _, err := v.Verify(ctx, bad); err == nil {
			t.Fatal("wrong audience accepted")
		}
	}
	if n := v.signatureChecks.Load(); n != 4 {
		t.Errorf("signature checks = %d, want 4 (failures must not be cached)", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	iss := devissuer.StartTest(t)
	v := newVerifier(t, iss, func(c *Config) { c.CacheSize = -1 })
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	for range 2 {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.signatureChecks.Load(); n != 2 {
		t.Errorf("signature checks = %d, want 2", n)
	}
}

func TestReloadKeepsKeys(t *testing.T) {
	iss := devissuer.StartTest(t)
	moved := devissuer.StartTest(t)
	ctx := context.Background()
	cfg := testConfig(iss)
	v1, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Verify(ctx, mint(t, iss, baseClaims(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
	iss.SetDown(true)

	cfg.Issuers[0].RequiredClaims = []string{"email"} // a change that keeps URL and JWKSURL
	cfg.Issuers = append(cfg.Issuers, IssuerConfig{Name: "moved", URL: moved.URL(), AllowAnyAudience: true})
	v2, err := v1.Reload(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	v1.Close()

	if _, err := v2.Verify(ctx, mint(t, iss, baseClaims(map[string]any{"email": "a@x"}), time.Hour)); err != nil {
		t.Fatalf("verification after reload while the issuer is down: %v", err)
	}
	raw := mint(t, iss, baseClaims(nil), time.Hour)
	_, err = v2.Verify(ctx, raw)
	wantReason(t, err, ReasonMissingClaim, raw) // the new settings apply
	if _, err := v2.Verify(ctx, mint(t, moved, baseClaims(nil), time.Hour)); err != nil {
		t.Fatalf("issuer added by reload: %v", err)
	}
	if n := v2.signatureChecks.Load(); n != 3 {
		t.Errorf("signature checks = %d, want 3 (the cache starts empty)", n)
	}

	// A changed JWKSURL gets a fresh key set, which cannot load while down.
	cfg.Issuers[0].JWKSURL = iss.URL() + "/jwks.json"
	v3, err := v2.Reload(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v3.Close()
	raw = mint(t, iss, baseClaims(map[string]any{"email": "a@x"}), time.Hour)
	_, err = v3.Verify(ctx, raw)
	wantReason(t, err, ReasonIssuerUnavailable, raw)

	// An invalid config leaves the running verifier alone.
	if _, err := v2.Reload(ctx, Config{JWKSMinRefreshInterval: -1}); err == nil {
		t.Error("Reload accepted an invalid config")
	}
}

func TestNewValidation(t *testing.T) {
	good := IssuerConfig{Name: "corp", URL: "https://idp.example.com", Audiences: []string{"a"}}
	with := func(f func(*IssuerConfig)) []IssuerConfig {
		ic := good
		f(&ic)
		return []IssuerConfig{ic}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error
	}{
		{"no name", Config{Issuers: with(func(c *IssuerConfig) { c.Name = "" })}, "name is required"},
		{"duplicate name", Config{Issuers: []IssuerConfig{good, {Name: "corp", URL: "https://b.example.com", Audiences: []string{"a"}}}}, "name is used"},
		{"duplicate url", Config{Issuers: []IssuerConfig{good, {Name: "b", URL: good.URL, Audiences: []string{"a"}}}}, "is used by another"},
		{"no url", Config{Issuers: with(func(c *IssuerConfig) { c.URL = "" })}, "url: is required"},
		{"bad scheme", Config{Issuers: with(func(c *IssuerConfig) { c.URL = "ftp://x" })}, "https"},
		{"bad jwks url", Config{Issuers: with(func(c *IssuerConfig) { c.JWKSURL = "/keys" })}, "jwks url"},
		{"no audience", Config{Issuers: with(func(c *IssuerConfig) { c.Audiences = nil })}, "audiences are required"},
		{"audience and any", Config{Issuers: with(func(c *IssuerConfig) { c.AllowAnyAudience = true })}, "mutually exclusive"},
		{"alg none", Config{Issuers: with(func(c *IssuerConfig) { c.Algorithms = []string{"none"} })}, `"none" is not allowed`},
		{"alg HS256", Config{Issuers: with(func(c *IssuerConfig) { c.Algorithms = []string{"RS256", "HS256"} })}, `"HS256" is not allowed`},
		{"unknown alg", Config{Issuers: with(func(c *IssuerConfig) { c.Algorithms = []string{"RS1"} })}, "unknown algorithm"},
		{"negative skew", Config{Issuers: with(func(c *IssuerConfig) { c.ClockSkew = -time.Second })}, "clock skew"},
		{"negative interval", Config{Issuers: []IssuerConfig{good}, JWKSMinRefreshInterval: -1}, "JWKSMinRefreshInterval"},
		{"empty required claim", Config{Issuers: with(func(c *IssuerConfig) { c.RequiredClaims = []string{""} })}, "required claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(context.Background(), tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("New accepted an invalid config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	// All problems are reported at once.
	_, err := New(context.Background(), Config{Issuers: []IssuerConfig{{Name: "x"}}, JWKSMinRefreshInterval: -1})
	if err == nil || !strings.Contains(err.Error(), "url") || !strings.Contains(err.Error(), "audiences") || !strings.Contains(err.Error(), "JWKSMinRefreshInterval") {
		t.Errorf("want every problem reported, got %v", err)
	}
}

func TestAuthErrorMessages(t *testing.T) {
	// The issuer and the verifier share a fixed clock, an hour after exp.
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return exp.Add(time.Hour) }
	iss := devissuer.StartTestWith(t, devissuer.Options{Now: now})
	v := newVerifier(t, iss, func(c *Config) {
		c.Issuers[0].RequiredClaims = []string{"email"}
		c.Now = now
	})
	tests := []struct {
		claims map[string]any
		want   string
	}{
		{baseClaims(map[string]any{"exp": exp.Unix()}), `token expired at 2026-01-02T03:04:05Z (issuer "corp")`},
		{baseClaims(map[string]any{"aud": "x"}), `token audience ["x"] is not accepted (issuer "corp")`},
		{baseClaims(nil), `missing required claim "email" (issuer "corp")`},
	}
	for _, tt := range tests {
		_, err := v.Verify(context.Background(), mint(t, iss, tt.claims, time.Hour))
		if err == nil || err.Error() != tt.want {
			t.Errorf("error = %v, want %s", err, tt.want)
		}
	}
}

// A verifier without issuers (a configuration with directories only)
// refuses every token as of an unknown issuer.
func TestNoIssuers(t *testing.T) {
	v, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	iss := devissuer.StartTest(t)
	tok, err := iss.Mint(map[string]any{"sub": "alice", "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Reason != ReasonUnknownIssuer {
		t.Fatalf("Verify = %v, want unknown issuer", err)
	}
}
