package identity

import (
	"strings"
	"testing"
	"time"
)

// FuzzOpenData feeds arbitrary cookie values to OpenData: it must never
// panic, and sealed data must not open for another purpose or as a
// session token.
func FuzzOpenData(f *testing.F) {
	kr, _ := NewKeyRing([]SessionKey{{ID: "k1", Secret: make([]byte, SessionKeySize)}})
	good := kr.SealData("login-state", []byte(`{"s":"x"}`))
	for _, s := range []string{good, "", ".", "k1.", "k1.AAAA", "zz." + good[3:], good + "A", "v1." + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := kr.OpenData("login-state", s)
		if err == nil && !strings.HasPrefix(s, "k1.") {
			t.Fatalf("opened %q", s)
		}
		if _, err := kr.OpenData("other", s); err == nil {
			t.Fatalf("opened %q for a purpose nothing was sealed for", s)
		}
		if _, err := kr.Open(s, time.Unix(0, 0)); err == nil {
			t.Fatalf("opened %q as a session token", s)
		}
	})
}
