package config

import "testing"

// sigv2 is on unless the file says false; anything but a boolean is an
// error (testdata/sigv2_not_bool.yaml).
func TestSigV2Key(t *testing.T) {
	for _, c := range []struct {
		line string
		want bool
	}{{"", true}, {"sigv2: true\n", true}, {"sigv2: false\n", false}} {
		f, _, err := Parse("s.yaml", []byte(c.line+minimal), "", lookup)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		if f.SigV2 != c.want {
			t.Errorf("%q: SigV2 = %v", c.line, f.SigV2)
		}
	}
}
