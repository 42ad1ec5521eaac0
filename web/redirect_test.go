package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeReturnPath(t *testing.T) {
	for _, tc := range []struct {
		rd string
		ok bool
	}{
		{"/", true},
		{"/_iamgate/ui/", true},
		{"/reports/2026/q3.pdf", true},
		{"/bkt/a%20b.txt?x-id=GetObject&versionId=1", true},
		{"/bkt/%E4%B8%AD%E6%96%87", true},
		{"", false},
		{"reports/q3.pdf", false},
		{"//evil.example", false},
		{"//evil.example/path", false},
		{"/\\evil.example", false},
		{"/\\/evil.example", false},
		{"\\\\evil.example", false},
		{"https://evil.example/", false},
		{"http:/evil.example", false},
		{"javascript:alert(1)", false},
		{"/%2F%2Fevil.example", false},
		{"/.//evil.example", false},
		{"/a/../..//evil.example", false},
		{"/%2e%2e//evil.example", false},
		{"/%5Cevil.example", false},
		{"/ok\r\nLocation: https://evil", false},
		{"/\t/evil.example", false},
		{"/ /evil.example", false},
		{"/a#frag", false},
		{"/a\x00b", false},
		{"/ü", false},
		{"/" + strings.Repeat("a", maxReturnPath), false},
	} {
		got, ok := SafeReturnPath(tc.rd)
		if ok != tc.ok || ok && got != tc.rd {
			t.Errorf("SafeReturnPath(%q) = %q, %v; want ok=%v", tc.rd, got, ok, tc.ok)
		}
	}
}

// FuzzSafeReturnPath checks that whatever SafeReturnPath accepts, a
// browser resolves against the iamgate origin to the same origin.
func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/\\evil", "/a?b=c", "https://x", "/%2F%2Fx", "/.//x", "/a/../../b"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://iamgate.example:8443/_iamgate/login")
	f.Fuzz(func(t *testing.T, rd string) {
		got, ok := SafeReturnPath(rd)
		if !ok {
			return
		}
		if got != rd {
			t.Fatalf("changed %q to %q", rd, got)
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", got, err)
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("accepted %q, which resolves to %s", got, u)
		}
		if strings.HasPrefix(u.Path, "//") || strings.ContainsAny(got, "\\\r\n\t ") {
			t.Fatalf("accepted %q", got)
		}
	})
}
