package web

import (
	"net/url"
	"strings"
)

// DefaultReturnPath is where a sign-in returns when no usable rd is given.
const DefaultReturnPath = "/_iamgate/ui/"

// maxReturnPath bounds the length of an rd parameter.
const maxReturnPath = 4096

// SafeReturnPath returns rd if it is a same-origin relative path that is
// safe to redirect to after sign-in, and false otherwise. It accepts only
// a path that starts with a single "/" (not "//" or "/\", which browsers
// read as another host), has no scheme, host, user info or fragment, and
// holds only printable ASCII (percent-encoded bytes are fine, raw control
// characters, spaces and backslashes are not, since browsers treat some
// of them as separators or strip them).
func SafeReturnPath(rd string) (string, bool) {
	if rd == "" || len(rd) > maxReturnPath || rd[0] != '/' {
		return "", false
	}
	if len(rd) > 1 && (rd[1] == '/' || rd[1] == '\\') {
		return "", false
	}
	for i := 0; i < len(rd); i++ {
		c := rd[i]
		if c <= 0x20 || c >= 0x7f || c == '\\' || c == '#' {
			return "", false
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	// The decoded path must not turn into a network-path reference either
	// ("/%2F%2Fevil" is harmless as a path, but a server or proxy that
	// decodes before redirecting would not be).
	if p := u.Path; len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "", false
	}
	// Dot segments would be resolved by the browser ("/.//evil" becomes
	// "//evil" as a path); nothing iamgate links to has them.
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	return rd, true
}
