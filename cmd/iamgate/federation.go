package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/federation"
	"github.com/iamgate/iamgate/sigv4"
)

// upstreamFederation is iamgate's identity toward the store when it holds
// no static key: its OpenID provider (discovery and key set on the main
// listener) and the refresher of its temporary credentials.
type upstreamFederation struct {
	issuer    *federation.Issuer
	refresher *federation.Refresher
}

// newUpstreamFederation builds the issuer and the refresher of c, which
// hands each new set of credentials to signer. Nothing is fetched until
// run.
// maxBackoff bounds the wait between failed attempts (0: the default).
func newUpstreamFederation(f *config.File, signer *sigv4.Transport, reg prometheus.Registerer, log *slog.Logger, maxBackoff time.Duration) (*upstreamFederation, error) {
	c := f.Upstream.Federation
	ks, err := federationKeySet(c)
	if err != nil {
		return nil, err
	}
	iss, err := federation.NewIssuer(federation.IssuerConfig{URL: c.IssuerURL, Audience: c.Audience,
		Subject: c.Subject, Claims: c.Claims}, ks)
	if err != nil {
		return nil, err
	}
	endpoint, base := f.Upstream.Endpoint, signer.Base
	if c.STSEndpoint != "" && !sameHost(c.STSEndpoint, f.Upstream.Endpoint) {
		// Another service (AWS STS): the system's roots, not the store's
		// ca_file.
		endpoint, base = c.STSEndpoint, http.DefaultTransport.(*http.Transport).Clone()
	}
	sts := &federation.STSClient{Endpoint: endpoint, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: base,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	req := federation.AssumeRoleRequest{RoleARN: c.RoleARN, SessionName: c.SessionName, Duration: c.Duration}
	fetch := func(ctx context.Context) (federation.Credentials, error) {
		tok, err := iss.Token(time.Now())
		if err != nil {
			return federation.Credentials{}, err
		}
		return sts.AssumeRoleWithWebIdentity(ctx, tok, req)
	}
	r := federation.NewRefresher(fetch, federation.RefresherConfig{
		RefreshBefore:   c.RefreshBefore,
		RefreshFraction: c.RefreshFraction,
		MaxBackoff:      maxBackoff,
		OnCredentials: func(fc federation.Credentials) {
			signer.SetCredentials(sigv4.Credentials{AccessKeyID: fc.AccessKeyID, SecretAccessKey: fc.SecretAccessKey,
				SessionToken: fc.SessionToken, Expires: fc.Expiration})
		},
		Logger:  log,
		Metrics: federation.NewMetrics(reg),
	})
	return &upstreamFederation{issuer: iss, refresher: r}, nil
}

// federationKeySet parses the configured signing keys.
func federationKeySet(c *config.Federation) (*federation.KeySet, error) {
	var keys []federation.SigningKey
	for _, k := range c.SigningKeys {
		s, err := federation.ParsePrivateKeyPEM([]byte(k.PrivateKey.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("%s: upstream.federation.signing_keys %s: %w", k.Pos, k.ID, err)
		}
		keys = append(keys, federation.SigningKey{ID: k.ID, Key: s})
	}
	return federation.NewKeySet(keys)
}

// sameFederation reports whether a and b agree on everything but the
// signing keys, which a reload swaps.
func sameFederation(a, b *config.Federation) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.SigningKeys, y.SigningKeys, x.Pos, y.Pos = nil, nil, config.Pos{}, config.Pos{}
	return reflect.DeepEqual(x, y)
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host
}
