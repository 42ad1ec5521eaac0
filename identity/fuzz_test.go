package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
)

func FuzzVerify(f *testing.F) {
	iss := devissuer.StartTest(f)
	v := newVerifier(f, iss, func(c *Config) { c.JWKSMinRefreshInterval = time.Hour })
	good := mint(f, iss, baseClaims(nil), time.Hour)
	if _, err := v.Verify(context.Background(), good); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(mint(f, iss, baseClaims(map[string]any{"aud": []any{1, "x"}, "exp": 1e300}), time.Hour))
	f.Add(mintWith(f, iss, baseClaims(nil), devissuer.MintOptions{Alg: "none"}))
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw)
		if err == nil {
			if tok == nil || tok.Subject == "" {
				t.Fatalf("accepted token with no subject")
			}
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("error %T %v is not an *AuthError", err, err)
		}
		assertNoToken(t, err, raw)
	})
}
