package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFederationParses(t *testing.T) {
	dir, _ := filepath.Abs("testdata")
	data := `
upstream:
  endpoint: https://s3.eu-west-1.amazonaws.com
  region: eu-west-1
  federation:
    issuer_url: https://gate.example.com/_iamgate/oidc
    audience: sts.amazonaws.com
    claims: {policy: iamgate-upstream}
    role_arn: arn:aws:iam::123456789012:role/iamgate
    session_name: gate-1
    sts_endpoint: https://sts.eu-west-1.amazonaws.com
    duration: 2h
    refresh_before: 25%
    signing_keys:
      - {id: "2027-03", private_key: file:secrets/federation-rsa.pem}
      - {id: "2027-01", private_key: file:secrets/federation-p256.pem}
`
	f, warns, err := parse("fed.yaml", []byte(data), dir, lookup, testNow)
	if err != nil || len(warns) != 0 {
		t.Fatalf("%v %v", err, warns)
	}
	u := f.Upstream
	if !u.AccessKeyID.IsZero() || !u.SecretAccessKey.IsZero() || u.Federation == nil {
		t.Fatalf("upstream %+v", u)
	}
	fed := *u.Federation
	if fed.IssuerURL != "https://gate.example.com/_iamgate/oidc" || fed.Audience != "sts.amazonaws.com" ||
		fed.Subject != DefaultFederationSubject || fed.Claims["policy"] != "iamgate-upstream" ||
		fed.RoleARN != "arn:aws:iam::123456789012:role/iamgate" || fed.SessionName != "gate-1" ||
		fed.STSEndpoint != "https://sts.eu-west-1.amazonaws.com" || fed.Duration != 2*time.Hour ||
		fed.RefreshFraction != 0.25 || fed.Pos.Line != 6 {
		t.Fatalf("federation %+v", fed)
	}
	if len(fed.SigningKeys) != 2 || fed.SigningKeys[0].ID != "2027-03" || fed.SigningKeys[0].Algorithm != "RS256" ||
		fed.SigningKeys[1].Algorithm != "ES256" || !strings.Contains(fed.SigningKeys[1].PrivateKey.Reveal(), "PRIVATE KEY") {
		t.Fatalf("keys %+v", fed.SigningKeys)
	}
	if s := fed.SigningKeys[0].PrivateKey.String(); s != redacted {
		t.Fatalf("key printed as %q", s)
	}

	// Defaults.
	f, _, err = parse("fed.yaml", []byte(`
upstream:
  endpoint: http://127.0.0.1:9000
  federation:
    issuer_url: http://127.0.0.1:8080/_iamgate/oidc
    audience: minio
    signing_keys: [{id: k1, private_key: file:secrets/federation-p256.pem}]
`), dir, lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	fed = *f.Upstream.Federation
	if fed.Duration != DefaultFederationDuration || fed.RefreshBefore != DefaultFederationRefresh || fed.RefreshFraction != 0 ||
		fed.SessionName != DefaultFederationSession || fed.STSEndpoint != "" || fed.RoleARN != "" || len(fed.Claims) != 0 {
		t.Fatalf("defaults %+v", fed)
	}
}
