package federation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/iamgate/iamgate/internal/pemkey"
)

// Signature algorithms of iamgate's tokens. MinIO's OpenID verification
// accepts RS*, ES* (and HS*), not EdDSA; AWS IAM accepts RS256 and ES256.
const (
	ES256 = "ES256" // ECDSA on P-256 with SHA-256
	RS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256
)

// MinRSABits is the smallest RSA key accepted for signing.
const MinRSABits = 2048

// ErrUnsupportedKey is returned for a private key that is neither ECDSA on
// P-256 nor RSA of at least MinRSABits bits.
var ErrUnsupportedKey = errors.New("federation: unsupported signing key; use ECDSA P-256 (ES256) or RSA of at least 2048 bits (RS256)")

// SigningKey is one of iamgate's token signing keys.
type SigningKey struct {
	// ID is the key id ("kid") tokens name and the key set publishes.
	ID string
	// Key is an *ecdsa.PrivateKey on P-256 or an *rsa.PrivateKey.
	Key crypto.Signer
}

// ParsePrivateKeyPEM decodes a PEM private key: PKCS#8 ("PRIVATE KEY"),
// SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"), and checks that
// it is a key Algorithm accepts. The error never contains key material.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	k, err := pemkey.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, ErrUnsupportedKey
	}
	if _, err := Algorithm(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Algorithm returns the signature algorithm iamgate uses with k: ES256
// for ECDSA on P-256, RS256 for RSA of at least MinRSABits bits.
func Algorithm(k crypto.Signer) (string, error) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() >= MinRSABits {
			return RS256, nil
		}
	}
	return "", ErrUnsupportedKey
}

// KeySet holds the signing keys: the first signs, all are published, so a
// key is rotated by adding it second, waiting until every verifier has
// fetched the key set, moving it first, and removing the old one once the
// tokens it signed have expired.
type KeySet struct {
	keys []keyEntry
	jwks []byte // the published JSON Web Key Set
	algs []string
}

type keyEntry struct {
	id     string
	alg    string
	signer jose.Signer
}

// NewKeySet checks keys (at least one, unique non-empty ids, supported
// algorithms) and prepares their signers and the published key set.
func NewKeySet(keys []SigningKey) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("federation: no signing key")
	}
	ks := &KeySet{}
	var pub jose.JSONWebKeySet
	seen := map[string]bool{}
	for _, k := range keys {
		if k.ID == "" || seen[k.ID] {
			return nil, fmt.Errorf("federation: key id %q is empty or repeated", k.ID)
		}
		seen[k.ID] = true
		alg, err := Algorithm(k.Key)
		if err != nil {
			return nil, fmt.Errorf("federation: key %q: %w", k.ID, err)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg),
			Key: jose.JSONWebKey{Key: k.Key, KeyID: k.ID, Algorithm: alg}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return nil, fmt.Errorf("federation: key %q: %w", k.ID, err)
		}
		ks.keys = append(ks.keys, keyEntry{id: k.ID, alg: alg, signer: s})
		pub.Keys = append(pub.Keys, jose.JSONWebKey{Key: k.Key.Public(), KeyID: k.ID, Algorithm: alg, Use: "sig"})
		if !slices.Contains(ks.algs, alg) {
			ks.algs = append(ks.algs, alg)
		}
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("federation: key set: %w", err)
	}
	ks.jwks = b
	return ks, nil
}

// SigningKeyID is the id of the key that signs new tokens.
func (ks *KeySet) SigningKeyID() string { return ks.keys[0].id }

// JWKS returns the published JSON Web Key Set (public keys only).
func (ks *KeySet) JWKS() []byte { return ks.jwks }

// Algorithms lists the signature algorithms of the keys, in key order.
func (ks *KeySet) Algorithms() []string { return append([]string(nil), ks.algs...) }
