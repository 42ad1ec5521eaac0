package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var sessionNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKey(id string, fill byte) SessionKey {
	return SessionKey{ID: id, Secret: bytes.Repeat([]byte{fill}, SessionKeySize)}
}

func testRing(t testing.TB, keys ...SessionKey) *KeyRing {
	t.Helper()
	if len(keys) == 0 {
		keys = []SessionKey{testKey("k1", 1)}
	}
	kr, err := NewKeyRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func testSession() *Session {
	s := NewSession()
	s.Issuer = "corp"
	s.Subject = "alice"
	s.Roles = []string{"analyst"}
	s.RoleSessionName = "alice-laptop"
	s.Claims = map[string]any{
		"sub":                "alice",
		"preferred_username": "alice",
		"groups":             []any{"staff", "data"},
		"org":                map[string]any{"team": "blue"},
		"exp":                float64(1772370000),
		"email_verified":     true,
	}
	s.SessionPolicy = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
	s.IssuedAt = sessionNow
	s.Expiry = sessionNow.Add(time.Hour)
	s.TokenFingerprint = "fp-123"
	return s
}

func seal(t testing.TB, kr *KeyRing, s *Session) string {
	t.Helper()
	tok, err := kr.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantSessionReason(t *testing.T, err error, want SessionReason, token string) {
	t.Helper()
	var se *SessionError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want *SessionError %s", err, err, want)
	}
	if se.Reason != want {
		t.Fatalf("reason = %s (%v), want %s", se.Reason, err, want)
	}
	if token != "" && len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Fatalf("error reveals the token: %v", err)
	}
}

func TestSessionRoundTrip(t *testing.T) {
	kr := testRing(t)
	in := testSession()
	tok := seal(t, kr, in)
	if !strings.HasPrefix(tok, "v1.k1.") {
		t.Fatalf("token %q does not start with v1.k1.", tok[:10])
	}
	if len(tok) > 2048 {
		t.Errorf("token is %d bytes for typical claims, want ≤ 2048", len(tok))
	}
	if strings.Contains(tok, in.SecretAccessKey) || strings.Contains(tok, "alice") {
		t.Fatal("token is not encrypted")
	}
	out, err := kr.Open(tok, sessionNow.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip mismatch:\n in %+v\nout %+v", in, out)
	}
	// Two seals of the same session differ (random nonce).
	if tok2 := seal(t, kr, in); tok2 == tok {
		t.Fatal("sealing twice gave the same token")
	}
}

func TestSessionRoundTripMinimal(t *testing.T) {
	kr := testRing(t)
	in := NewSession()
	in.Issuer, in.Subject, in.Roles = "corp", "bob", []string{"r"}
	in.IssuedAt, in.Expiry = sessionNow, sessionNow.Add(15*time.Minute)
	out, err := kr.Open(seal(t, kr, in), sessionNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip mismatch:\n in %+v\nout %+v", in, out)
	}
}

func TestSessionTimesTruncated(t *testing.T) {
	kr := testRing(t)
	in := testSession()
	in.IssuedAt = sessionNow.Add(700 * time.Millisecond)
	in.Expiry = sessionNow.Add(time.Hour + 900*time.Millisecond)
	out, err := kr.Open(seal(t, kr, in), sessionNow)
	if err != nil {
		t.Fatal(err)
	}
	if !out.IssuedAt.Equal(sessionNow) || !out.Expiry.Equal(sessionNow.Add(time.Hour)) {
		t.Fatalf("times = %v, %v; want truncated to the second", out.IssuedAt, out.Expiry)
	}
}

func TestNewSession(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s := NewSession()
		if !ValidAccessKeyID(s.AccessKeyID) {
			t.Fatalf("access key id %q is malformed", s.AccessKeyID)
		}
		if len(s.SecretAccessKey) != 40 {
			t.Fatalf("secret has %d characters, want 40", len(s.SecretAccessKey))
		}
		if len(s.ID) < 26 {
			t.Fatalf("id %q is too short", s.ID)
		}
		for _, v := range []string{s.ID, s.AccessKeyID, s.SecretAccessKey} {
			if seen[v] {
				t.Fatalf("value %q repeated", v)
			}
			seen[v] = true
		}
	}
}

func TestSessionKeyRotation(t *testing.T) {
	old := testRing(t, testKey("2025-01", 1))
	tokOld := seal(t, old, testSession())

	rotated := testRing(t, testKey("2026-02", 2), testKey("2025-01", 1))
	if rotated.SealingKeyID() != "2026-02" {
		t.Fatalf("sealing key = %q", rotated.SealingKeyID())
	}
	if _, err := rotated.Open(tokOld, sessionNow); err != nil {
		t.Fatalf("old key no longer opens: %v", err)
	}
	tokNew := seal(t, rotated, testSession())
	if !strings.HasPrefix(tokNew, "v1.2026-02.") {
		t.Fatalf("new token not sealed with the newest key: %q", tokNew[:12])
	}
	// A server that has not yet learned the new key.
	_, err := old.Open(tokNew, sessionNow)
	wantSessionReason(t, err, SessionUnknownKey, tokNew)

	// After the old key is removed.
	retired := testRing(t, testKey("2026-02", 2))
	_, err = retired.Open(tokOld, sessionNow)
	wantSessionReason(t, err, SessionUnknownKey, tokOld)
}

func TestSessionSameIDOtherSecret(t *testing.T) {
	a := testRing(t, testKey("k1", 1))
	b := testRing(t, testKey("k1", 9))
	tok := seal(t, a, testSession())
	_, err := b.Open(tok, sessionNow)
	wantSessionReason(t, err, SessionTampered, tok)
}

func TestSessionTampering(t *testing.T) {
	kr := testRing(t, testKey("k1", 1), testKey("k2", 2))
	tok := seal(t, kr, testSession())
	refused := func(name, mutated string) {
		t.Helper()
		if mutated == tok {
			return
		}
		s, err := kr.Open(mutated, sessionNow)
		if err == nil {
			t.Fatalf("%s: mutated token opened: %+v", name, s)
		}
		var se *SessionError
		if !errors.As(err, &se) || se.Reason == SessionExpired {
			t.Fatalf("%s: error = %v", name, err)
		}
	}
	// Every character, replaced by two different characters.
	for i := range len(tok) {
		for _, c := range []byte{'A', '_'} {
			if tok[i] == c {
				c = 'B'
			}
			refused("replace", tok[:i]+string(c)+tok[i+1:])
		}
		refused("delete", tok[:i]+tok[i+1:])
	}
	refused("append", tok+"A")
	refused("prefix", "x"+tok)

	// Each part, explicitly.
	parts := strings.SplitN(tok, ".", 3)
	_, err := kr.Open("v2."+parts[1]+"."+parts[2], sessionNow)
	wantSessionReason(t, err, SessionMalformed, tok)
	// The key ID is bound: re-labelling a token with the other valid key.
	_, err = kr.Open(parts[0]+".k2."+parts[2], sessionNow)
	wantSessionReason(t, err, SessionTampered, tok)
	_, err = kr.Open(parts[0]+".K1."+parts[2], sessionNow)
	wantSessionReason(t, err, SessionMalformed, tok)
	// Nonce and ciphertext.
	body := []byte(parts[2])
	for _, i := range []int{0, 20, 40, len(body) / 2, len(body) - 2} {
		b := bytes.Clone(body)
		b[i] ^= 0x01
		_, err = kr.Open(parts[0]+"."+parts[1]+"."+string(b), sessionNow)
		if err == nil {
			t.Fatalf("flipped byte %d opened", i)
		}
	}
	// Truncated body: shorter than nonce+tag, and just missing the tag end.
	_, err = kr.Open(parts[0]+"."+parts[1]+"."+parts[2][:20], sessionNow)
	wantSessionReason(t, err, SessionMalformed, tok)
	raw, _ := base64.RawURLEncoding.DecodeString(parts[2])
	_, err = kr.Open(parts[0]+"."+parts[1]+"."+base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), sessionNow)
	wantSessionReason(t, err, SessionTampered, tok)
}

func TestSessionMalformed(t *testing.T) {
	kr := testRing(t)
	for _, tok := range []string{
		"", ".", "..", "v1", "v1.k1", "v1.k1.", "v1..AAAA", "v1.k1.!!!!",
		"v1.k1." + strings.Repeat("A", 100) + "=",
		"v1.k1." + strings.Repeat("A", MaxSessionTokenLength),
		"v1.waytoolongkeyid-0123456789." + strings.Repeat("A", 100),
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
	} {
		_, err := kr.Open(tok, sessionNow)
		wantSessionReason(t, err, SessionMalformed, "")
	}
	_, err := kr.Open("v1.nokey."+strings.Repeat("A", 100), sessionNow)
	wantSessionReason(t, err, SessionUnknownKey, "")
}

func TestSessionExpiry(t *testing.T) {
	kr := testRing(t)
	s := testSession()
	tok := seal(t, kr, s)
	if _, err := kr.Open(tok, s.Expiry.Add(-time.Second)); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	for _, at := range []time.Time{s.Expiry, s.Expiry.Add(time.Nanosecond), s.Expiry.Add(48 * time.Hour)} {
		_, err := kr.Open(tok, at)
		wantSessionReason(t, err, SessionExpired, tok)
		var se *SessionError
		errors.As(err, &se)
		if !se.Expiry.Equal(s.Expiry) {
			t.Fatalf("expiry in error = %v", se.Expiry)
		}
		if want := "session expired at 2026-03-01T13:00:00Z"; err.Error() != want {
			t.Fatalf("message = %q, want %q", err, want)
		}
	}
}

func TestSessionSealValidation(t *testing.T) {
	kr := testRing(t)
	tests := []struct {
		name string
		mod  func(*Session)
	}{
		{"no id", func(s *Session) { s.ID = "" }},
		{"bad akid", func(s *Session) { s.AccessKeyID = "AKIAABCDEFGHIJKLMNOP" }},
		{"lower akid", func(s *Session) { s.AccessKeyID = "ASIAabcdefghijklmnop" }},
		{"short secret", func(s *Session) { s.SecretAccessKey = "x" }},
		{"no issuer", func(s *Session) { s.Issuer = "" }},
		{"no subject", func(s *Session) { s.Subject = "" }},
		{"no roles", func(s *Session) { s.Roles = nil }},
		{"empty role", func(s *Session) { s.Roles = []string{""} }},
		{"no expiry", func(s *Session) { s.Expiry = time.Time{} }},
		{"expiry before issue", func(s *Session) { s.Expiry = s.IssuedAt.Add(-time.Second) }},
		{"policy not json", func(s *Session) { s.SessionPolicy = []byte("{") }},
		{"claim not encodable", func(s *Session) { s.Claims = map[string]any{"x": make(chan int)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSession()
			tt.mod(s)
			if _, err := kr.Seal(s); err == nil {
				t.Fatal("sealed an invalid session")
			} else if strings.Contains(err.Error(), s.SecretAccessKey) && len(s.SecretAccessKey) > 4 {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestSessionTooLarge(t *testing.T) {
	kr := testRing(t)
	s := testSession()
	var groups []any
	for i := range 400 {
		groups = append(groups, strings.Repeat("g", 20)+string(rune('a'+i%26)))
	}
	s.Claims["groups"] = groups
	_, err := kr.Seal(s)
	if !errors.Is(err, ErrSessionTooLarge) {
		t.Fatalf("error = %v, want ErrSessionTooLarge", err)
	}
	// Just under the limit works, and opens.
	s.Claims["groups"] = groups[:200]
	tok, err := kr.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > MaxSessionTokenLength {
		t.Fatalf("token is %d bytes", len(tok))
	}
	if _, err := kr.Open(tok, sessionNow); err != nil {
		t.Fatal(err)
	}
}

func TestNewKeyRingErrors(t *testing.T) {
	tests := []struct {
		name string
		keys []SessionKey
		want []string
	}{
		{"none", nil, []string{"at least one key"}},
		{"empty id", []SessionKey{testKey("", 1)}, []string{"session key 0: id must be"}},
		{"upper id", []SessionKey{testKey("Key1", 1)}, []string{`"Key1": id must be`}},
		{"long id", []SessionKey{testKey("abcdefghijklmnopq", 1)}, []string{"id must be 1 to 16"}},
		{"dot id", []SessionKey{testKey("a.b", 1)}, []string{"id must be"}},
		{"duplicate", []SessionKey{testKey("a", 1), testKey("a", 2)}, []string{"used by another key"}},
		{"short secret", []SessionKey{{ID: "a", Secret: []byte("short")}}, []string{"secret must be 32 bytes, got 5"}},
		{"all at once", []SessionKey{{ID: "A"}, {ID: "b", Secret: make([]byte, 64)}}, []string{`"A": id must be`, `"A": secret must be`, `"b": secret must be 32 bytes, got 64`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyRing(tt.keys)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "short\"") {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

func TestRevoked(t *testing.T) {
	s := testSession() // alice, analyst, issued sessionNow
	t0 := sessionNow
	tests := []struct {
		name  string
		rules []Revocation
		want  int // index of the matching rule, -1 for none
	}{
		{"no rules", nil, -1},
		{"empty rule matches nothing", []Revocation{{}}, -1},
		{"subject", []Revocation{{Subject: "alice"}}, 0},
		{"other subject", []Revocation{{Subject: "bob"}}, -1},
		{"subject at its issuer", []Revocation{{Subject: "alice", Issuer: testSession().Issuer}}, 0},
		{"same subject at another issuer", []Revocation{{Subject: "alice", Issuer: "elsewhere"}}, -1},
		{"role", []Revocation{{Role: "analyst"}}, 0},
		{"other role", []Revocation{{Role: "admin"}}, -1},
		{"session id", []Revocation{{SessionID: s.ID}}, 0},
		{"other session", []Revocation{{SessionID: "x"}}, -1},
		{"issued before later time", []Revocation{{IssuedBefore: t0.Add(time.Second)}}, 0},
		{"issued at the cut-off is kept", []Revocation{{IssuedBefore: t0}}, -1},
		{"issued after the cut-off is kept", []Revocation{{IssuedBefore: t0.Add(-time.Hour)}}, -1},
		{"subject and time both match", []Revocation{{Subject: "alice", IssuedBefore: t0.Add(time.Minute)}}, 0},
		{"subject matches, time does not", []Revocation{{Subject: "alice", IssuedBefore: t0.Add(-time.Minute)}}, -1},
		{"role matches, subject does not", []Revocation{{Subject: "bob", Role: "analyst"}}, -1},
		{"all fields", []Revocation{{Subject: "alice", Role: "analyst", SessionID: s.ID, IssuedBefore: t0.Add(time.Minute)}}, 0},
		{"second rule", []Revocation{{Subject: "bob"}, {Role: "analyst"}}, 1},
		{"first of two", []Revocation{{Subject: "alice"}, {Role: "analyst"}}, 0},
		{"string claim", []Revocation{{Claim: "agent_run", ClaimValue: "r-42"}}, 0},
		{"other claim value", []Revocation{{Claim: "agent_run", ClaimValue: "r-43"}}, -1},
		{"absent claim", []Revocation{{Claim: "team", ClaimValue: "x"}}, -1},
		{"number claim", []Revocation{{Claim: "step", ClaimValue: "7"}}, 0},
		{"boolean claim", []Revocation{{Claim: "automated", ClaimValue: "true"}}, 0},
		{"list claim never matches", []Revocation{{Claim: "groups", ClaimValue: "staff"}}, -1},
		{"claim and time", []Revocation{{Claim: "agent_run", ClaimValue: "r-42", IssuedBefore: t0.Add(-time.Minute)}}, -1},
	}
	s.Claims = map[string]any{"agent_run": "r-42", "step": float64(7), "automated": true, "groups": []any{"staff"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rule := Revoked(s, tt.rules)
			if tt.want < 0 {
				if got || rule != nil {
					t.Fatalf("revoked by %+v, want not revoked", rule)
				}
				return
			}
			if !got || rule != &tt.rules[tt.want] {
				t.Fatalf("got %v %+v, want rule %d", got, rule, tt.want)
			}
		})
	}
}

type revocationSource struct {
	rules []Revocation
	err   error
}

func (r revocationSource) Revocations() ([]Revocation, error) { return r.rules, r.err }

func TestCheckRevoked(t *testing.T) {
	s := testSession()
	errUnknown := errors.New("unknown")
	for _, tt := range []struct {
		name        string
		rules       []Revocation
		src         RevocationSource
		revoked, id string
		err         error
	}{
		{name: "none", src: nil},
		{name: "configured", rules: []Revocation{{Subject: "alice"}}, src: revocationSource{err: errUnknown}, revoked: "yes"},
		{name: "run time", src: revocationSource{rules: []Revocation{{ID: "rv-1", Role: "analyst"}}}, revoked: "yes", id: "rv-1"},
		{name: "run time, other", src: revocationSource{rules: []Revocation{{ID: "rv-1", Role: "admin"}}}},
		{name: "unknown", src: revocationSource{err: errUnknown}, err: errUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, rule, err := CheckRevoked(s, tt.rules, tt.src)
			if got != (tt.revoked != "") || !errors.Is(err, tt.err) || (tt.id != "" && (rule == nil || rule.ID != tt.id)) {
				t.Fatalf("got %v %+v %v", got, rule, err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	kr := testRing(f, testKey("k1", 1), testKey("k2", 2))
	good := seal(f, kr, testSession())
	f.Add(good, 0, byte(0))
	f.Add(good, 10, byte(1))
	f.Add(good, len(good)-1, byte(0x20))
	f.Add("v1.k1.AAAA", 3, byte(0))
	f.Add("", 0, byte(0))
	f.Add("v1.k2."+strings.Repeat("A", 80), 0, byte(0))
	f.Fuzz(func(t *testing.T, tok string, pos int, flip byte) {
		// Arbitrary strings never panic, and only genuine tokens open (the
		// seed token may come from another fuzzing process, sealed with the
		// same key but another nonce).
		if s, err := kr.Open(tok, sessionNow); err == nil {
			if s.Subject != "alice" || s.TokenFingerprint != "fp-123" || !strings.HasPrefix(tok, "v1.k1.") {
				t.Fatalf("arbitrary token opened: %+v", s)
			}
		} else {
			var se *SessionError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SessionError", err)
			}
		}
		// A sealed token with one byte changed never opens.
		if flip == 0 || len(good) == 0 {
			return
		}
		if pos < 0 {
			pos = -pos
		}
		pos %= len(good)
		b := []byte(good)
		b[pos] ^= flip
		if s, err := kr.Open(string(b), sessionNow); err == nil {
			t.Fatalf("mutated token opened (pos %d flip %#x): %+v", pos, flip, s)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	kr := testRing(b)
	tok := seal(b, kr, testSession())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Open(tok, sessionNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	kr := testRing(b)
	s := testSession()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Seal(s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSessionKindsAndBrowserFieldsRoundTrip(t *testing.T) {
	kr, err := NewKeyRing([]SessionKey{{ID: "k1", Secret: make([]byte, SessionKeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	for _, kind := range []string{"", KindSTS, KindBrowser, KindShare} {
		s := NewSession()
		s.Issuer, s.Subject, s.Roles = "corp", "alice", []string{"r"}
		s.IssuedAt, s.Expiry = now, now.Add(time.Hour)
		s.Kind, s.RefreshToken, s.IDToken = kind, "rt-"+kind, "idt-"+kind
		if kind == KindBrowser {
			s.RenewedAt = now.Add(10 * time.Minute)
		}
		tok, err := kr.Seal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kr.Open(tok, now)
		if err != nil {
			t.Fatal(err)
		}
		wantKind := kind
		if kind == KindSTS {
			wantKind = ""
		}
		if got.Kind != wantKind || got.RefreshToken != s.RefreshToken || got.IDToken != s.IDToken || !got.RenewedAt.Equal(s.RenewedAt) {
			t.Errorf("kind %q: got %q %q %q %v", kind, got.Kind, got.RefreshToken, got.IDToken, got.RenewedAt)
		}
		k := kind
		if k == "" {
			k = KindSTS
		}
		if !got.IsKind(k) {
			t.Errorf("IsKind(%q) false for %q", k, got.Kind)
		}
	}
	s := NewSession()
	s.Issuer, s.Subject, s.Roles, s.IssuedAt, s.Expiry, s.Kind = "corp", "a", []string{"r"}, now, now.Add(time.Hour), "bogus"
	if _, err := kr.Seal(s); err == nil {
		t.Error("unknown kind sealed")
	}
}

func TestSealDataPurposeAndTamper(t *testing.T) {
	kr, _ := NewKeyRing([]SessionKey{{ID: "k1", Secret: make([]byte, SessionKeySize)}})
	sealed := kr.SealData("login-state", []byte("hello"))
	if got, err := kr.OpenData("login-state", sealed); err != nil || string(got) != "hello" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := kr.OpenData("other", sealed); err == nil {
		t.Error("opened for another purpose")
	}
	b := []byte(sealed)
	b[len(b)-3] ^= 1
	if _, err := kr.OpenData("login-state", string(b)); err == nil {
		t.Error("tampered data opened")
	}
	if _, err := kr.Open("v1."+sealed, time.Now()); err == nil {
		t.Error("sealed data opened as a session token")
	}
	s := NewSession()
	if !CheckCSRFToken(s, CSRFToken(s)) || CheckCSRFToken(s, "") || CheckCSRFToken(NewSession(), CSRFToken(s)) {
		t.Error("csrf token check")
	}
}
