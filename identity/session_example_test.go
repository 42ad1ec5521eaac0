package identity_test

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/iamgate/iamgate/identity"
)

func ExampleKeyRing() {
	// The first key seals; older keys only open, until their sessions end.
	ring, err := identity.NewKeyRing([]identity.SessionKey{
		{ID: "2026-03", Secret: bytes.Repeat([]byte{2}, 32)}, // use crypto/rand in production
		{ID: "2026-02", Secret: bytes.Repeat([]byte{1}, 32)},
	})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := identity.NewSession()
	s.Issuer, s.Subject, s.Roles = "corp", "alice", []string{"analyst"}
	s.IssuedAt, s.Expiry = now, now.Add(time.Hour)
	token, err := ring.Seal(s)
	if err != nil {
		panic(err)
	}

	got, err := ring.Open(token, now.Add(time.Minute))
	fmt.Println(got.Subject, got.Roles, got.AccessKeyID == s.AccessKeyID, err)

	_, err = ring.Open(token, now.Add(2*time.Hour))
	var se *identity.SessionError
	if errors.As(err, &se) {
		fmt.Println(se.Reason, "-", err)
	}
	// Output:
	// alice [analyst] true <nil>
	// expired - session expired at 2026-03-01T13:00:00Z
}
