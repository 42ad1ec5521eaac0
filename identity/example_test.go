package identity_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/internal/devissuer"
)

func ExampleVerifier_Verify() {
	// A throwaway issuer stands in for the real identity provider.
	idp, err := devissuer.New(devissuer.Options{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(idp.Handler())
	defer srv.Close()
	idp.SetURL(srv.URL)

	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.IssuerConfig{{
			Name:      "corp",
			URL:       srv.URL,
			Audiences: []string{"iamgate"},
		}},
	})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	raw, err := idp.Mint(map[string]any{"sub": "alice", "aud": "iamgate"}, time.Hour)
	if err != nil {
		panic(err)
	}
	header := "Bearer " + raw
	tok, err := identity.ParseBearer(header)
	if err != nil {
		panic(err)
	}
	t, err := v.Verify(context.Background(), tok)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(t.Issuer, t.Subject, t.Audience)

	_, err = v.Verify(context.Background(), "not-a-token")
	fmt.Println(err)
	// Output:
	// corp alice [iamgate]
	// token is not a JWT: it must have three dot-separated parts
}
