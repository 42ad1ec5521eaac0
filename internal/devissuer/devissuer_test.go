package devissuer

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func fetchJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func verify(t *testing.T, i *Issuer, raw string) map[string]any {
	t.Helper()
	var set jose.JSONWebKeySet
	if code := fetchJSON(t, i.URL()+"/jwks.json", &set); code != http.StatusOK {
		t.Fatalf("jwks status %d", code)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("%d keys for kid %q", len(keys), jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestDiscoveryAndMint(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			i := StartTestWith(t, Options{Alg: alg, Now: func() time.Time { return now }})
			var doc map[string]any
			if code := fetchJSON(t, i.URL()+"/.well-known/openid-configuration", &doc); code != http.StatusOK {
				t.Fatalf("discovery status %d", code)
			}
			if doc["issuer"] != i.URL() || doc["jwks_uri"] != i.URL()+"/jwks.json" {
				t.Errorf("discovery = %v", doc)
			}
			raw, err := i.Mint(map[string]any{"sub": "alice", "iat": nil}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			claims := verify(t, i, raw)
			if claims["iss"] != i.URL() || claims["sub"] != "alice" || claims["exp"] != float64(now.Unix()+60) {
				t.Errorf("claims = %v", claims)
			}
			if _, ok := claims["iat"]; ok {
				t.Error("nil claim was not dropped")
			}
		})
	}
}

func TestRotateAndDown(t *testing.T) {
	i := StartTest(t)
	old := i.KeyID()
	if err := i.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if i.KeyID() == old {
		t.Fatal("rotation kept the key ID")
	}
	var set jose.JSONWebKeySet
	fetchJSON(t, i.URL()+"/jwks.json", &set)
	if len(set.Keys) != 2 {
		t.Errorf("published %d keys, want 2", len(set.Keys))
	}
	i.RemoveOldKeys()
	set = jose.JSONWebKeySet{}
	fetchJSON(t, i.URL()+"/jwks.json", &set)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != i.KeyID() {
		t.Errorf("after RemoveOldKeys: %v", set.Keys)
	}
	i.SetDown(true)
	for _, p := range []string{"/jwks.json", "/.well-known/openid-configuration"} {
		if code := fetchJSON(t, i.URL()+p, nil); code != http.StatusServiceUnavailable {
			t.Errorf("%s while down: status %d", p, code)
		}
	}
	if n := i.JWKSFetches(); n != 2 {
		t.Errorf("JWKSFetches = %d, want 2", n)
	}
}

func TestMintWithNegativeOptions(t *testing.T) {
	i := StartTest(t)
	none, err := i.MintWith(map[string]any{"sub": "x"}, time.Minute, MintOptions{Alg: "none", Kid: NoKid})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(none, ".") || strings.Count(none, ".") != 2 {
		t.Errorf("alg none token %q should have an empty signature", none)
	}
	hs, err := i.MintWith(map[string]any{"sub": "x"}, time.Minute, MintOptions{Alg: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(hs, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	if jws.Signatures[0].Header.KeyID != i.KeyID() {
		t.Error("HS256 token does not carry the issuer's kid")
	}
}

func TestTokenEndpoint(t *testing.T) {
	i := StartTestWith(t, Options{EnableTokenEndpoint: true})
	resp, err := http.PostForm(i.URL()+"/token", url.Values{
		"sub": {"bob"}, "preferred_username": {"Bob"}, "groups": {"dev", "ops"}, "ttl": {"5m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	claims := verify(t, i, out.AccessToken)
	if claims["sub"] != "bob" || claims["preferred_username"] != "Bob" || claims["aud"] != "iamgate" || out.ExpiresIn != 300 {
		t.Errorf("claims = %v, expires_in = %d", claims, out.ExpiresIn)
	}
	if g, _ := claims["groups"].([]any); len(g) != 2 {
		t.Errorf("groups = %v", claims["groups"])
	}
	for _, form := range []url.Values{{}, {"sub": {"x"}, "ttl": {"48h"}}} {
		resp, err := http.PostForm(i.URL()+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("form %v: status %d, want 400", form, resp.StatusCode)
		}
	}

	off := StartTest(t)
	resp, err = http.PostForm(off.URL()+"/token", url.Values{"sub": {"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("disabled token endpoint: status %d, want 404", resp.StatusCode)
	}
}

func TestNewRejectsUnknownAlg(t *testing.T) {
	if _, err := New(Options{Alg: "HS256"}); err == nil {
		t.Error("New accepted HS256")
	}
}
