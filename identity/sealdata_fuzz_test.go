package identity

import "testing"

// FuzzOpenData feeds arbitrary cookie values to OpenData: it must never
// panic, and must open nothing but what SealData sealed for the purpose.
func FuzzOpenData(f *testing.F) {
	kr, _ := NewKeyRing([]SessionKey{{ID: "k1", Secret: make([]byte, SessionKeySize)}})
	good := kr.SealData("login-state", []byte(`{"s":"x"}`))
	for _, s := range []string{good, "", ".", "k1.", "k1.AAAA", "zz." + good[3:], good + "A", "v1." + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain, err := kr.OpenData("login-state", s)
		if err == nil && s != good && string(plain) == `{"s":"x"}` {
			// Only a different encoding of the same ciphertext could do
			// this; strict base64 rules that out.
			t.Fatalf("opened a forged value %q", s)
		}
		if _, err := kr.OpenData("other", s); err == nil && s == good {
			t.Fatal("opened for another purpose")
		}
	})
}
