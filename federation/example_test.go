package federation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/iamgate/iamgate/federation"
)

// An Issuer publishes its documents and signs tokens about iamgate; an
// STSClient trades one for credentials, and a Refresher keeps them fresh.
func ExampleIssuer() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, _ := federation.NewKeySet([]federation.SigningKey{{ID: "2027-03", Key: key}})
	iss, _ := federation.NewIssuer(federation.IssuerConfig{
		URL:      "https://s3.example.com/_iamgate/oidc",
		Audience: "iamgate-upstream",
		Subject:  "iamgate",
		Claims:   map[string]string{"policy": "iamgate-upstream"},
	}, keys)

	rec := httptest.NewRecorder()
	iss.ServeHTTP(rec, httptest.NewRequest("GET", federation.JWKSPath, nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), keys.SigningKeyID(), keys.Algorithms())

	sts := &federation.STSClient{Endpoint: "https://minio.internal:9000"}
	r := federation.NewRefresher(func(ctx context.Context) (federation.Credentials, error) {
		tok, err := iss.Token(time.Now())
		if err != nil {
			return federation.Credentials{}, err
		}
		return sts.AssumeRoleWithWebIdentity(ctx, tok, federation.AssumeRoleRequest{Duration: time.Hour})
	}, federation.RefresherConfig{RefreshBefore: 10 * time.Minute})
	_ = r // go r.Run(ctx); r.Ready() for readiness
	// Output: 200 application/json 2027-03 [ES256]
}
