package main

import (
	"testing"
	"time"

	"github.com/iamgate/iamgate/config"
)

func TestSameFederation(t *testing.T) {
	base := func() *config.Federation {
		return &config.Federation{IssuerURL: "https://gate.example.com/_iamgate/oidc", Audience: "minio",
			Claims: map[string]string{"policy": "p"}, Duration: time.Hour,
			SigningKeys: []config.FederationKey{{ID: "a"}}, Pos: config.Pos{Line: 3}}
	}
	keys := base()
	keys.SigningKeys = []config.FederationKey{{ID: "b"}, {ID: "a"}}
	keys.Pos.Line = 9
	claims := base()
	claims.Claims = map[string]string{"policy": "q"}
	dur := base()
	dur.Duration = 2 * time.Hour
	for _, c := range []struct {
		name string
		a, b *config.Federation
		same bool
	}{
		{"both static", nil, nil, true},
		{"static to federation", nil, base(), false},
		{"keys only (a reload applies them)", base(), keys, true},
		{"claims", base(), claims, false},
		{"duration", base(), dur, false},
	} {
		if got := sameFederation(c.a, c.b); got != c.same {
			t.Errorf("%s: %v", c.name, got)
		}
		if c.a != nil && c.b != nil && restartOnly(&config.File{Upstream: config.Upstream{Federation: c.a}},
			&config.File{Upstream: config.Upstream{Federation: c.b}}) == c.same {
			t.Errorf("%s: restartOnly disagrees", c.name)
		}
	}
	if !sameHost("https://sts.example.com", "https://sts.example.com/") || sameHost("http://minio:9000", "https://minio:9000") {
		t.Error("sameHost")
	}
}
