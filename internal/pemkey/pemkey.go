// Package pemkey decodes PEM private keys, for the configuration's checks
// and for the packages that sign with them.
package pemkey

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
)

// Problem says why a PEM text is not a usable private key.
type Problem int

// Problems of [Parse].
const (
	NoPEM      Problem = iota + 1 // no PEM block
	PublicKey                     // a PEM block of a public key
	NotPrivate                    // a PEM block of another kind
	Invalid                       // a private key block that does not decode
)

// Error is the error of [Parse]. It never contains key material.
type Error struct {
	Problem Problem
	Type    string // the PEM block's type; "" for NoPEM
}

func (e *Error) Error() string {
	switch e.Problem {
	case NoPEM:
		return "no PEM block found"
	case PublicKey:
		return "PEM block " + e.Type + " is a public key, not a private key"
	case NotPrivate:
		return "PEM block " + e.Type + " is not a private key"
	}
	return "invalid " + e.Type
}

// Parse decodes the first PEM block of data (surrounding white space
// ignored) as a private key: PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE
// KEY") or PKCS#1 ("RSA PRIVATE KEY"). The key is whatever x509 returns
// for it (*ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey, ...);
// errors are *Error.
func Parse(data []byte) (any, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(string(data))))
	if block == nil {
		return nil, &Error{Problem: NoPEM}
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		if strings.Contains(block.Type, "PUBLIC KEY") {
			return nil, &Error{Problem: PublicKey, Type: block.Type}
		}
		return nil, &Error{Problem: NotPrivate, Type: block.Type}
	}
	if err != nil {
		return nil, &Error{Problem: Invalid, Type: block.Type}
	}
	return k, nil
}
