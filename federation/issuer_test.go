package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testRSA = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func newIssuer(t *testing.T, keys ...SigningKey) *Issuer {
	t.Helper()
	ks, err := NewKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{URL: "https://gate.example.com/_iamgate/oidc", Audience: "minio-store",
		Subject: "iamgate", Claims: map[string]string{"policy": "iamgate-upstream"}}, ks)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// jwks fetches the published key set through the handler.
func jwks(t *testing.T, iss *Issuer) jose.JSONWebKeySet {
	t.Helper()
	rec := httptest.NewRecorder()
	iss.ServeHTTP(rec, httptest.NewRequest("GET", JWKSPath, nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("jwks: %d %s", rec.Code, rec.Header())
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTokenClaimsAndSignature(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 500, time.UTC)
	for _, tc := range []struct {
		name string
		key  SigningKey
		alg  string
	}{
		{"ecdsa", SigningKey{ID: "k-ec", Key: ecKey(t)}, ES256},
		{"rsa", SigningKey{ID: "k-rsa", Key: testRSA}, RS256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := SigningKey{ID: "other", Key: ecKey(t)}
			iss := newIssuer(t, tc.key, other)
			raw, err := iss.Token(now)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			h := tok.Headers[0]
			if h.KeyID != tc.key.ID || h.Algorithm != tc.alg || h.ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("header kid %q alg %q typ %v", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"])
			}
			// Verifies with the published key of that kid, not the other.
			set := jwks(t, iss)
			pub := set.Key(tc.key.ID)
			if len(pub) != 1 || pub[0].Algorithm != tc.alg || pub[0].Use != "sig" || !pub[0].IsPublic() {
				t.Fatalf("published key %+v", pub)
			}
			var std jwt.Claims
			var extra map[string]any
			if err := tok.Claims(pub[0].Key, &std, &extra); err != nil {
				t.Fatal(err)
			}
			if err := tok.Claims(set.Key("other")[0].Key, &std); err == nil {
				t.Fatal("verified with another key")
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: "https://gate.example.com/_iamgate/oidc",
				Subject: "iamgate", AnyAudience: jwt.Audience{"minio-store"}, Time: now}, 0); err != nil {
				t.Fatal(err)
			}
			sec := now.Truncate(time.Second)
			if !std.IssuedAt.Time().Equal(sec) || !std.NotBefore.Time().Equal(sec) ||
				!std.Expiry.Time().Equal(sec.Add(DefaultTokenLifetime)) || len(std.ID) != 32 {
				t.Fatalf("claims %+v", std)
			}
			if extra["policy"] != "iamgate-upstream" {
				t.Fatalf("policy claim %v", extra["policy"])
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Time: now.Add(DefaultTokenLifetime + time.Second)}, 0); err == nil {
				t.Fatal("token valid after its lifetime")
			}
			raw2, _ := iss.Token(now)
			tok2, _ := jwt.ParseSigned(raw2, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
			var std2 jwt.Claims
			_ = tok2.UnsafeClaimsWithoutVerification(&std2)
			if std2.ID == std.ID {
				t.Fatal("jti repeated")
			}
		})
	}
}

func TestDiscoveryDocument(t *testing.T) {
	iss := newIssuer(t, SigningKey{ID: "a", Key: ecKey(t)}, SigningKey{ID: "b", Key: testRSA})
	rec := httptest.NewRecorder()
	iss.ServeHTTP(rec, httptest.NewRequest("GET", DiscoveryPath, nil))
	var d map[string]any
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if d["issuer"] != "https://gate.example.com/_iamgate/oidc" || d["jwks_uri"] != "https://gate.example.com/_iamgate/oidc/jwks.json" {
		t.Fatalf("issuer or jwks_uri: %v", d)
	}
	algs, _ := json.Marshal(d["id_token_signing_alg_values_supported"])
	if string(algs) != `["ES256","RS256"]` {
		t.Fatalf("algorithms %s", algs)
	}
	claims, _ := json.Marshal(d["claims_supported"])
	if !strings.Contains(string(claims), `"policy"`) || !strings.Contains(string(claims), `"sub"`) {
		t.Fatalf("claims %s", claims)
	}
	// Both keys published, public parts only.
	set := jwks(t, iss)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != "a" || set.Keys[1].KeyID != "b" {
		t.Fatalf("keys %+v", set.Keys)
	}
	raw := httptest.NewRecorder()
	iss.ServeHTTP(raw, httptest.NewRequest("GET", JWKSPath, nil))
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`} {
		if strings.Contains(raw.Body.String(), private+":") {
			t.Fatalf("private part %s published: %s", private, raw.Body)
		}
	}
	// Other paths and methods.
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"HEAD", DiscoveryPath, 200},
		{"POST", JWKSPath, 405},
		{"GET", PathPrefix + "token", 404},
		{"GET", PathPrefix, 404},
	} {
		rec := httptest.NewRecorder()
		iss.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
		}
		if c.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("HEAD has a body")
		}
	}
}

func TestSetKeysRotates(t *testing.T) {
	a, b := SigningKey{ID: "a", Key: ecKey(t)}, SigningKey{ID: "b", Key: ecKey(t)}
	iss := newIssuer(t, a)
	for _, step := range []struct {
		keys []SigningKey
		kid  string
		pub  int
	}{
		{[]SigningKey{a, b}, "a", 2}, // add
		{[]SigningKey{b, a}, "b", 2}, // switch
		{[]SigningKey{b}, "b", 1},    // remove
	} {
		ks, err := NewKeySet(step.keys)
		if err != nil {
			t.Fatal(err)
		}
		iss.SetKeys(ks)
		raw, _ := iss.Token(time.Now())
		tok, _ := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if tok.Headers[0].KeyID != step.kid || len(jwks(t, iss).Keys) != step.pub {
			t.Fatalf("kid %s, %d published; want %s, %d", tok.Headers[0].KeyID, len(jwks(t, iss).Keys), step.kid, step.pub)
		}
	}
}

func TestKeyChecks(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, keys := range map[string][]SigningKey{
		"none":       nil,
		"p384":       {{ID: "a", Key: p384}},
		"rsa1024":    {{ID: "a", Key: small}},
		"empty id":   {{ID: "", Key: ecKey(t)}},
		"repeated":   {{ID: "a", Key: ecKey(t)}, {ID: "a", Key: ecKey(t)}},
		"no key set": {},
	} {
		if _, err := NewKeySet(keys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewKeySet([]SigningKey{{ID: "a", Key: p384}}); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("P-384: %v", err)
	}
	ks, _ := NewKeySet([]SigningKey{{ID: "a", Key: ecKey(t)}})
	for name, cfg := range map[string]IssuerConfig{
		"path":     {URL: "https://gate.example.com/oidc", Audience: "x", Subject: "y"},
		"scheme":   {URL: "ftp://gate.example.com/_iamgate/oidc", Audience: "x", Subject: "y"},
		"audience": {URL: "https://gate.example.com/_iamgate/oidc", Subject: "y"},
		"reserved": {URL: "https://gate.example.com/_iamgate/oidc", Audience: "x", Subject: "y", Claims: map[string]string{"exp": "1"}},
	} {
		if _, err := NewIssuer(cfg, ks); err == nil {
			t.Errorf("issuer %s: accepted", name)
		}
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	ec := ecKey(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs1 := x509.MarshalPKCS1PrivateKey(testRSA)
	pub, _ := x509.MarshalPKIXPublicKey(ec.Public())
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	for _, c := range []struct {
		name string
		pem  []byte
		alg  string
	}{
		{"pkcs8 ec", enc("PRIVATE KEY", pkcs8), ES256},
		{"sec1", enc("EC PRIVATE KEY", sec1), ES256},
		{"pkcs1", enc("RSA PRIVATE KEY", pkcs1), RS256},
		{"public", enc("PUBLIC KEY", pub), ""},
		{"garbage", []byte("not pem"), ""},
		{"corrupt", enc("PRIVATE KEY", []byte{1, 2, 3}), ""},
	} {
		k, err := ParsePrivateKeyPEM(c.pem)
		if c.alg == "" {
			if err == nil {
				t.Errorf("%s: accepted", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if alg, _ := Algorithm(k); alg != c.alg {
			t.Errorf("%s: %s", c.name, alg)
		}
	}
}

var _ http.Handler = (*Issuer)(nil)
