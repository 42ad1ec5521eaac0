package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLength)
	tests := []struct {
		header string
		want   string // "" means an error is expected
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer abc", "abc"},
		{"BEARER abc", "abc"},
		{"Bearer   abc", "abc"},
		{"Bearer a-b_c~d+e/f==", "a-b_c~d+e/f=="},
		{"Bearer " + long, long},
		{"Bearer " + long + "a", ""},
		{"", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearerabc", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearer\tabc", ""},
		{" Bearer abc", ""},
		{"Bearer abc def", ""},
		{"Bearer abc ", ""},
		{"Bearer =abc", ""},
		{"Bearer ab=c", ""},
		{"Bearer abc\n", ""},
		{"Bearer abc,", ""},
		{"Bearer ab\"c", ""},
		{"Bearer abç", ""},
		{"Beare\u017f abc", ""}, // long s folds to s in Unicode, not in ASCII
	}
	for _, tt := range tests {
		got, err := ParseBearer(tt.header)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseBearer(%.40q) = %.40q, %v; want %.40q", tt.header, got, err, tt.want)
			}
			continue
		}
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Reason != ReasonMalformed {
			t.Errorf("ParseBearer(%.40q) = %.40q, %v; want a malformed error", tt.header, got, err)
			continue
		}
		if tok := strings.TrimSpace(strings.TrimPrefix(tt.header, "Bearer")); len(tok) > 3 && strings.Contains(err.Error(), tok) {
			t.Errorf("error %q reveals the header value", err)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer ", "Basic x", "Bearer a b", "Bearer ===", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := ParseBearer(header)
		if err != nil {
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != ReasonMalformed {
				t.Fatalf("error %v is not a malformed AuthError", err)
			}
			if len(header) > 16 && strings.Contains(err.Error(), header[7:]) {
				t.Fatalf("error %q reveals the header value", err)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenLength || !isB64Token(tok) {
			t.Fatalf("accepted invalid token %q", tok)
		}
		if !strings.HasSuffix(header, " "+tok) || !strings.EqualFold(header[:6], "bearer") {
			t.Fatalf("token %q is not the tail of header %q", tok, header)
		}
	})
}
