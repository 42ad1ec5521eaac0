package identity

// MaxTokenLength is the longest token, in bytes, that [ParseBearer] and
// [Verifier.Verify] accept.
const MaxTokenLength = 16 << 10

// ParseBearer extracts the token from an Authorization header value of the
// form "Bearer <token>" (RFC 6750, section 2.1). The scheme is matched
// case-insensitively and must be followed by one or more spaces and exactly
// one token made of b64token characters, at most [MaxTokenLength] bytes
// long. The error is an [*AuthError] with [ReasonMalformed]; it never
// contains the header value.
func ParseBearer(header string) (string, error) {
	const scheme = "bearer"
	if header == "" {
		return "", authErr(ReasonMalformed, "", "missing bearer token")
	}
	if len(header) <= len(scheme) || !equalFoldASCII(header[:len(scheme)], scheme) || header[len(scheme)] != ' ' {
		return "", authErr(ReasonMalformed, "", "authorization scheme is not Bearer")
	}
	tok := header[len(scheme):]
	for len(tok) > 0 && tok[0] == ' ' {
		tok = tok[1:]
	}
	if tok == "" {
		return "", authErr(ReasonMalformed, "", "missing bearer token")
	}
	if len(tok) > MaxTokenLength {
		return "", authErr(ReasonMalformed, "", "bearer token is longer than %d bytes", MaxTokenLength)
	}
	if !isB64Token(tok) {
		return "", authErr(ReasonMalformed, "", "bearer token contains characters not allowed by RFC 6750")
	}
	return tok, nil
}

// isB64Token reports whether s matches
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && isB64TokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isB64TokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		return true
	}
	return false
}

// equalFoldASCII compares s with the lower-case ASCII string lower,
// ignoring ASCII case only (unlike strings.EqualFold, which folds Unicode).
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
