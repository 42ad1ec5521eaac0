package pemkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	sec1, _ := x509.MarshalECPrivateKey(k)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	for _, good := range [][]byte{enc("PRIVATE KEY", pkcs8), enc("EC PRIVATE KEY", sec1), append([]byte("\n  "), enc("PRIVATE KEY", pkcs8)...)} {
		got, err := Parse(good)
		if err != nil || !got.(*ecdsa.PrivateKey).Equal(k) {
			t.Errorf("Parse(%.20q): %v", good, err)
		}
	}
	for _, tt := range []struct {
		data []byte
		want Problem
	}{
		{[]byte("not pem"), NoPEM},
		{nil, NoPEM},
		{enc("PUBLIC KEY", pub), PublicKey},
		{enc("CERTIFICATE", []byte("x")), NotPrivate},
		{enc("RSA PRIVATE KEY", []byte("garbage")), Invalid},
		{enc("EC PRIVATE KEY", pkcs8[:10]), Invalid},
	} {
		_, err := Parse(tt.data)
		var e *Error
		if !errors.As(err, &e) || e.Problem != tt.want {
			t.Errorf("Parse(%.30q) = %v, want problem %d", tt.data, err, tt.want)
			continue
		}
		// Errors never carry key material.
		if strings.Contains(err.Error(), "garbage") || strings.Contains(err.Error(), string(pkcs8[:10])) {
			t.Errorf("error %q carries the input", err)
		}
	}
}
