package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/iamgate/iamgate/internal/pemkey"
)

var (
	federationKeyID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// roleSessionName is AWS's RoleSessionName syntax.
	roleSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	claimName       = regexp.MustCompile(`^[A-Za-z0-9_:./-]{1,128}$`)
)

// reservedTokenClaims are set by iamgate in every federation token.
var reservedTokenClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti"}

// upstreamAuth checks that the upstream has either a static key or
// federation, not both and not neither.
func (p *parser) upstreamAuth(n *yaml.Node, path string, present map[string]*yaml.Node) {
	if fed := present["federation"]; fed != nil {
		for _, k := range []string{"access_key_id", "secret_access_key"} {
			if at := present[k]; at != nil {
				p.errorf(at, join(path, k), "federation and a static key exclude each other: with federation iamgate holds no long-lived key; remove access_key_id and secret_access_key")
			}
		}
		return
	}
	if slices.Contains(p.typos[deref(n)], "federation") {
		return
	}
	at := n
	if k := p.keyOf[n]; k != nil {
		at = k
	}
	for _, k := range []string{"access_key_id", "secret_access_key"} {
		if present[k] == nil && !slices.Contains(p.typos[deref(n)], k) {
			p.errorf(at, path, "missing required key "+quote(k)+" (or set federation, to use temporary credentials from the store's STS)")
		}
	}
}

func (p *parser) federation(n *yaml.Node, path string) *Federation {
	f := &Federation{
		Subject:       DefaultFederationSubject,
		SessionName:   DefaultFederationSession,
		Duration:      DefaultFederationDuration,
		RefreshBefore: DefaultFederationRefresh,
		Pos:           p.pos(n),
	}
	var refreshNode, audNode *yaml.Node
	present, ok := p.mapping(n, path, []field{
		{"issuer_url", func(path string, v *yaml.Node) { f.IssuerURL = p.federationIssuer(v, path) }},
		{"audience", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if s == "" || len(s) > 256 || !printableNoSpace(s) {
					p.errorf(v, path, "invalid audience "+quote(s)+"; use the client id the store is configured with (1-256 visible characters)")
					return
				}
				f.Audience, audNode = s, v
			}
		}},
		{"subject", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if s == "" || len(s) > 256 || !printableNoSpace(s) {
					p.errorf(v, path, "invalid subject "+quote(s)+"; use 1-256 visible characters")
					return
				}
				f.Subject = s
			}
		}},
		{"claims", func(path string, v *yaml.Node) { f.Claims = p.tokenClaims(v, path) }},
		{"role_arn", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if !strings.HasPrefix(s, "arn:") || len(s) > 2048 || !printableNoSpace(s) {
					p.errorf(v, path, "invalid role ARN "+quote(s)+"; such as arn:aws:iam::123456789012:role/iamgate or MinIO's arn:minio:iam:::role/...")
					return
				}
				f.RoleARN = s
			}
		}},
		{"session_name", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if !roleSessionName.MatchString(s) {
					p.errorf(v, path, "invalid session name "+quote(s)+"; use 2-64 of A-Z a-z 0-9 _ + = , . @ -")
					return
				}
				f.SessionName = s
			}
		}},
		{"sts_endpoint", func(path string, v *yaml.Node) {
			if s := p.endpoint(v, path); s != "" {
				f.STSEndpoint = s
			}
		}},
		{"duration", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, MinFederationDuration, MaxFederationDuration); ok {
				if d%time.Second != 0 {
					p.errorf(v, path, "must be a whole number of seconds")
					return
				}
				f.Duration = d
			}
		}},
		{"refresh_before", func(path string, v *yaml.Node) {
			if pct, ok := strings.CutSuffix(v.Value, "%"); ok && v.Kind == yaml.ScalarNode {
				x, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
				if err != nil || x < 1 || x > 90 {
					p.errorf(v, path, "invalid share "+quote(v.Value)+"; use a percentage from 1% to 90% of the lifetime, or a duration such as 10m")
					return
				}
				f.RefreshFraction, refreshNode = x/100, v
				return
			}
			if d, ok := p.duration(v, path, time.Second, MaxFederationDuration); ok {
				f.RefreshBefore, refreshNode = d, v
			}
		}},
		{"signing_keys", func(path string, v *yaml.Node) { f.SigningKeys = p.federationKeys(v, path) }},
	})
	if !ok {
		return nil
	}
	p.require(n, path, present, "issuer_url", "audience", "signing_keys")
	if refreshNode != nil && f.RefreshFraction == 0 && f.RefreshBefore >= f.Duration {
		p.errorf(refreshNode, path+".refresh_before", fmt.Sprintf("%s is not shorter than duration (%s): credentials would be renewed before they are obtained", fmtDuration(f.RefreshBefore), fmtDuration(f.Duration)))
	}
	if audNode != nil {
		for _, k := range f.SigningKeys {
			if k.ID == f.Audience {
				// MinIO keeps the client secret as an HMAC key under the
				// client id, in the same table as the published keys.
				p.errorf(audNode, path+".audience", "a signing key has the id "+quote(k.ID)+"; key ids must differ from the audience")
			}
		}
	}
	return f
}

// federationIssuer decodes issuer_url: http(s), no query or fragment, a
// path ending in /_iamgate/oidc.
func (p *parser) federationIssuer(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.errorf(n, path, "invalid URL "+quote(s)+"; use https://iamgate.example.com"+FederationIssuerPathSuffix)
	case u.Scheme != "https" && u.Scheme != "http":
		p.errorf(n, path, "scheme must be https (or http), got "+quote(u.Scheme))
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		p.errorf(n, path, "must not have credentials, a query or a fragment")
	case !strings.HasSuffix(u.Path, FederationIssuerPathSuffix) || u.RawPath != "":
		p.errorf(n, path, "the path must end in "+FederationIssuerPathSuffix+", where iamgate serves its OpenID documents (such as https://iamgate.example.com"+FederationIssuerPathSuffix+")")
	default:
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			p.warnf(n, path, "http: AWS accepts only https issuers, and the store fetches the keys in clear text")
		}
		return s
	}
	return ""
}

func (p *parser) tokenClaims(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping of claim names to strings, got "+describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		kp := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode || !claimName.MatchString(k.Value):
			p.errorf(k, path, "invalid claim name "+quote(k.Value)+"; use 1-128 of A-Z a-z 0-9 _ : . / -")
			continue
		case slices.Contains(reservedTokenClaims, k.Value):
			p.errorf(k, kp, "is set by iamgate; remove it")
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, path, "duplicate claim "+quote(k.Value))
			continue
		}
		s, ok := p.str(v, kp)
		if !ok {
			continue
		}
		if s == "" || len(s) > 1024 {
			p.errorf(v, kp, "must be 1-1024 characters")
			continue
		}
		out[k.Value] = s
	}
	return out
}

func (p *parser) federationKeys(n *yaml.Node, path string) []FederationKey {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list of keys, got "+describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "must hold at least one key; the first one signs")
		return nil
	}
	var out []FederationKey
	ids := map[string]*yaml.Node{}
	for i, c := range n.Content {
		c = deref(c)
		ip := fmt.Sprintf("%s[%d]", path, i)
		k := FederationKey{Pos: p.pos(c)}
		var idNode *yaml.Node
		present, ok := p.mapping(c, ip, []field{
			{"id", func(path string, v *yaml.Node) {
				if s, ok := p.str(v, path); ok {
					if !federationKeyID.MatchString(s) {
						p.errorf(v, path, "invalid key id "+quote(s)+"; use 1-64 of A-Z a-z 0-9 . _ -")
						return
					}
					k.ID, idNode = s, v
				}
			}},
			{"private_key", func(path string, v *yaml.Node) {
				s, ok := p.secret(v, path)
				if !ok {
					return
				}
				if !s.Resolved() {
					k.PrivateKey = s
					return
				}
				alg, problem := signingKeyAlgorithm(s.Reveal())
				if problem != "" {
					p.errorf(v, path, problem)
					return
				}
				k.PrivateKey, k.Algorithm = s, alg
			}},
		})
		if !ok {
			continue
		}
		p.require(c, ip, present, "id", "private_key")
		if k.ID != "" {
			if first := ids[k.ID]; first != nil {
				p.errorf(idNode, ip+".id", fmt.Sprintf("duplicate key id %q (first at line %d)", k.ID, first.Line))
			} else {
				ids[k.ID] = idNode
			}
		}
		out = append(out, k)
	}
	return out
}

// signingKeyAlgorithm checks a PEM private key for federation tokens and
// names its algorithm. The problem never contains the key.
func signingKeyAlgorithm(s string) (alg, problem string) {
	const how = "use an ECDSA P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256) or RSA of at least 2048 bits, in PEM"
	k, err := pemkey.Parse([]byte(s))
	var perr *pemkey.Error
	if errors.As(err, &perr) {
		switch perr.Problem {
		case pemkey.NoPEM:
			return "", "not a PEM private key; " + how
		case pemkey.PublicKey:
			return "", "PEM holds a public key; private_key needs the private key (iamgate publishes the public one)"
		case pemkey.NotPrivate:
			return "", "PEM holds a " + quote(perr.Type) + " block, not a private key; " + how
		}
		return "", "invalid " + perr.Type + "; " + how
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return "ES256", ""
		}
		return "", "ECDSA key on " + k.Curve.Params().Name + "; iamgate signs ES256, on P-256; " + how
	case *rsa.PrivateKey:
		if k.N.BitLen() >= 2048 {
			return "RS256", ""
		}
		return "", fmt.Sprintf("RSA key of %d bits; %s", k.N.BitLen(), how)
	}
	if _, ok := k.(ed25519.PrivateKey); ok {
		return "", "an Ed25519 key: MinIO verifies RS* and ES* signatures only, not EdDSA; " + how
	}
	return "", fmt.Sprintf("a %T: %s", k, how)
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
