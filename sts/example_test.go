package sts_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log"
	"net/http"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/sts"
)

// Serving STS beside S3 on one listener: STS calls are recognised by
// IsSTSRequest and everything else goes to the S3 handler.
func Example() {
	verifier, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.IssuerConfig{{Name: "corp", URL: "https://login.example.com", Audiences: []string{"iamgate"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	engine, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{Name: "read", JSON: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}},
		Roles: []authz.RoleConfig{{Name: "ci", Kind: authz.KindMachine, Policies: []string{"read"},
			Trust: []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"sub": "repo:acme/*"}}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret) // in production, load it: every replica needs the same keys
	keys, err := identity.NewKeyRing([]identity.SessionKey{{ID: "k1", Secret: secret}})
	if err != nil {
		log.Fatal(err)
	}
	fpKey := make([]byte, 32)
	rand.Read(fpKey)
	svc, err := sts.New(sts.Config{
		Engine:   engine,
		Verifier: verifier,
		Keys:     keys,
		Roles:    map[string]sts.RoleSettings{"ci": {MaxSession: 2 * time.Hour}},
		Fingerprint: func(h [32]byte) string {
			m := hmac.New(sha256.New, fpKey)
			m.Write(h[:])
			return hex.EncodeToString(m.Sum(nil)[:12])
		},
		OnEvent: func(ev sts.Event) {
			log.Printf("sts %s role=%s subject=%s session=%s error=%s", ev.Action, ev.Role, ev.Subject, ev.SessionID, ev.ErrorCode)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	var s3Handler http.Handler = http.NotFoundHandler()
	srv := &http.Server{Addr: ":8443", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sts.IsSTSRequest(r) {
			svc.ServeHTTP(w, r)
			return
		}
		s3Handler.ServeHTTP(w, r)
	})}
	_ = srv // srv.ListenAndServeTLS(cert, key)
}
