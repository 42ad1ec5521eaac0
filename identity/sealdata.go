package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// MaxSealedDataLength bounds what [KeyRing.OpenData] accepts, in bytes.
const MaxSealedDataLength = 4096

// ErrSealedData is returned by [KeyRing.OpenData] for anything that is not
// authentic data sealed for the purpose with a key of the ring.
var ErrSealedData = errors.New("identity: sealed data is malformed, forged or sealed for another purpose")

// SealData encrypts and authenticates data for purpose, a short constant
// such as "login-state", with the ring's sealing key. The purpose is part
// of the authenticated data, so data sealed for one purpose never opens for
// another, and never opens as a session token. The result is
// "<key id>.<base64url(nonce | ciphertext)>".
func (k *KeyRing) SealData(purpose string, data []byte) string {
	rk := k.keys[k.sealID]
	buf := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(data)+chacha20poly1305.Overhead)
	rand.Read(buf)
	buf = rk.aead.Seal(buf, buf, data, dataAD(rk.ad, purpose))
	return k.sealID + "." + base64.RawURLEncoding.EncodeToString(buf)
}

// OpenData reverses [KeyRing.SealData] for the same purpose. Any failure
// is [ErrSealedData].
func (k *KeyRing) OpenData(purpose, sealed string) ([]byte, error) {
	if len(sealed) > MaxSealedDataLength {
		return nil, ErrSealedData
	}
	keyID, body, ok := strings.Cut(sealed, ".")
	if !ok || !validKeyID(keyID) {
		return nil, ErrSealedData
	}
	rk := k.keys[keyID]
	if rk == nil {
		return nil, ErrSealedData
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrSealedData
	}
	nonce, ct := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	plain, err := rk.aead.Open(ct[:0], nonce, ct, dataAD(rk.ad, purpose))
	if err != nil {
		return nil, ErrSealedData
	}
	return plain, nil
}

// dataAD is "v1.<key id>|data|<purpose>": never equal to a session
// token's authenticated data ("v1.<key id>").
func dataAD(ad []byte, purpose string) []byte {
	return []byte(string(ad) + "|data|" + purpose)
}

// CSRFToken is the anti-forgery token of a browser session: an HMAC of the
// session ID keyed with the session's secret, which only the server can
// read. Pages of the console hand it to their scripts, which send it in a
// header with every unsafe request; a cross-site form cannot know it.
func CSRFToken(s *Session) string {
	m := hmac.New(sha256.New, []byte(s.SecretAccessKey))
	m.Write([]byte("iamgate csrf\x00" + s.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRFToken reports whether token is s's CSRF token, in constant time.
func CheckCSRFToken(s *Session, token string) bool {
	want := CSRFToken(s)
	return token != "" && hmac.Equal([]byte(token), []byte(want))
}
