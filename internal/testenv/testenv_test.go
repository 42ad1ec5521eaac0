package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/minio/minio-go/v7"
)

func TestToolPathMissing(t *testing.T) {
	t.Setenv("IAMGATE_TOOLS", t.TempDir())
	_, err := ToolPath("iamgate-no-such-tool")
	if !errors.Is(err, ErrToolNotFound) {
		t.Fatalf("ToolPath error = %v, want ErrToolNotFound", err)
	}
}

func TestMinIO(t *testing.T) {
	start := time.Now()
	m := StartMinIO(t)
	t.Logf("StartMinIO took %s", time.Since(start))

	if !strings.HasPrefix(m.Endpoint, "http://127.0.0.1:") || m.Region != "us-east-1" {
		t.Fatalf("unexpected MinIO %+v", m)
	}
	m.MakeBucket(t, "data")
	if m.ObjectExists(t, "data", "a/b.txt") {
		t.Fatal("object exists before put")
	}
	m.PutObject(t, "data", "a/b.txt", []byte("hello"))
	if !m.ObjectExists(t, "data", "a/b.txt") {
		t.Fatal("object missing after put")
	}
	if got := string(m.GetObject(t, "data", "a/b.txt")); got != "hello" {
		t.Fatalf("GetObject = %q, want hello", got)
	}
	if m.ObjectExists(t, "nobucket", "x") {
		t.Fatal("object exists in a missing bucket")
	}

	m.Stop()
	m.Stop() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Client(t).StatObject(ctx, "data", "a/b.txt", minio.StatObjectOptions{}); err == nil {
		t.Fatal("StatObject succeeded after Stop")
	}
	if resp, err := http.Get(m.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatal("health endpoint answered after Stop")
	}
}

// jwtClaims decodes the payload of a JWT without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	claims, err := decodeJWTClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return out
}

func TestHydra(t *testing.T) {
	start := time.Now()
	h := StartHydra(t)
	t.Logf("StartHydra took %s; IssuerURL=%q AdminURL=%q", time.Since(start), h.IssuerURL, h.AdminURL)

	disc := getJSON(t, h.IssuerURL+".well-known/openid-configuration")
	if disc["issuer"] != h.IssuerURL {
		t.Errorf("discovery issuer = %q, want %q", disc["issuer"], h.IssuerURL)
	}
	jwksURI, _ := disc["jwks_uri"].(string)
	t.Logf("discovery: issuer=%q jwks_uri=%q token_endpoint=%q", disc["issuer"], jwksURI, disc["token_endpoint"])
	jwks := getJSON(t, h.IssuerURL+".well-known/jwks.json")
	if keys, _ := jwks["keys"].([]any); len(keys) == 0 {
		t.Errorf("JWKS has no keys: %v", jwks)
	}

	claims := map[string]any{
		"groups":             []any{"data-analysts", "ops"},
		"preferred_username": "alice",
		"org":                map[string]any{"team": "blue"},
	}
	c := h.Client(t, claims, "iamgate", "other")

	t.Run("Token", func(t *testing.T) {
		tok := jwtClaims(t, h.Token(t, c, "iamgate"))
		t.Logf("access token claims: %v", tok)
		for name, want := range claims {
			if !reflect.DeepEqual(tok[name], want) {
				t.Errorf("claim %s = %#v, want %#v", name, tok[name], want)
			}
		}
		if !reflect.DeepEqual(tok["aud"], []any{"iamgate"}) {
			t.Errorf("aud = %#v, want [iamgate]", tok["aud"])
		}
		if tok["iss"] != h.IssuerURL {
			t.Errorf("iss = %q, want %q", tok["iss"], h.IssuerURL)
		}
		if tok["sub"] != c.ID || tok["client_id"] != c.ID {
			t.Errorf("sub = %v, client_id = %v, want %q", tok["sub"], tok["client_id"], c.ID)
		}
		if _, ok := tok["ext"]; ok {
			t.Errorf("claims are mirrored under ext: %v", tok["ext"])
		}
		for _, name := range []string{"exp", "iat", "nbf", "jti"} {
			if _, ok := tok[name]; !ok {
				t.Errorf("claim %s missing", name)
			}
		}
	})

	t.Run("TwoAudiences", func(t *testing.T) {
		tok := jwtClaims(t, h.Token(t, c, "iamgate", "other"))
		if !reflect.DeepEqual(tok["aud"], []any{"iamgate", "other"}) {
			t.Errorf("aud = %#v, want [iamgate other]", tok["aud"])
		}
	})

	t.Run("TokenWithTTL", func(t *testing.T) {
		tok := jwtClaims(t, h.TokenWithTTL(t, c, 2*time.Second, "iamgate"))
		exp, _ := tok["exp"].(float64)
		iat, _ := tok["iat"].(float64)
		if d := exp - iat; d < 1 || d > 3 {
			t.Errorf("exp-iat = %vs, want about 2s", d)
		}
		// The lifespan is reset afterwards.
		tok = jwtClaims(t, h.Token(t, c, "iamgate"))
		exp, _ = tok["exp"].(float64)
		iat, _ = tok["iat"].(float64)
		if d := exp - iat; d < 60 {
			t.Errorf("after TokenWithTTL, exp-iat = %vs, want the default lifespan", d)
		}
	})

	t.Run("NoClaims", func(t *testing.T) {
		plain := h.Client(t, nil, "iamgate")
		tok := jwtClaims(t, h.Token(t, plain, "iamgate"))
		if _, ok := tok["groups"]; ok {
			t.Errorf("unexpected groups claim: %v", tok)
		}
	})

	t.Run("ClaimAddedByReload", func(t *testing.T) {
		start := time.Now()
		cc := h.Client(t, map[string]any{"cost_center": "cc-42", "groups": []any{"x"}}, "iamgate")
		t.Logf("Client with a new claim name took %s", time.Since(start))
		tok := jwtClaims(t, h.Token(t, cc, "iamgate"))
		if tok["cost_center"] != "cc-42" || !reflect.DeepEqual(tok["groups"], []any{"x"}) {
			t.Errorf("claims = %v", tok)
		}
	})

	t.Run("VerifiesWithGoOIDC", func(t *testing.T) {
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, h.IssuerURL)
		if err != nil {
			t.Fatalf("oidc.NewProvider(%q): %v", h.IssuerURL, err)
		}
		v := provider.Verifier(&oidc.Config{ClientID: "iamgate", SupportedSigningAlgs: []string{"RS256"}})
		tok, err := v.Verify(ctx, h.Token(t, c, "iamgate"))
		if err != nil {
			t.Fatalf("verify access token: %v", err)
		}
		var got struct {
			Groups []string `json:"groups"`
		}
		if err := tok.Claims(&got); err != nil || !reflect.DeepEqual(got.Groups, []string{"data-analysts", "ops"}) {
			t.Errorf("groups = %v (%v)", got.Groups, err)
		}
	})
}
