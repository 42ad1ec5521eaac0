package identity

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Session is what a set of temporary credentials stands for: who the holder
// is, which roles it acts as, and until when. It travels inside the session
// token, sealed with a [KeyRing], so the proxy keeps no session state.
type Session struct {
	// ID identifies the session in audit records. Random, 26 characters.
	ID string
	// AccessKeyID is "ASIA" followed by 16 random upper-case base32
	// characters, as AWS temporary access keys look.
	AccessKeyID string
	// SecretAccessKey is the 40-character signing secret. It is never
	// logged; it is readable only by whoever holds the session token and
	// the KeyRing.
	SecretAccessKey string
	// Issuer is the configured name of the issuer of the web identity
	// token (Token.Issuer).
	Issuer  string
	Subject string
	// Roles are the names of the roles the session acts as (normally one).
	Roles           []string
	RoleSessionName string
	// Claims are the claims of the web identity token that policies may
	// read. They count towards the token size limit.
	Claims map[string]any
	// SessionPolicy is the inline session policy (JSON), or nil.
	SessionPolicy []byte
	// IssuedAt and Expiry are kept to the second.
	IssuedAt, Expiry time.Time
	// RenewedAt is when a browser session was last confirmed by its
	// identity provider: its sign-in, then each renewal with the refresh
	// token. Zero for other kinds, and in browser sessions sealed before
	// it existed, which count from IssuedAt. Kept to the second.
	RenewedAt time.Time
	// TokenFingerprint is a keyed fingerprint of the web identity token the
	// session was issued for, to correlate audit records.
	TokenFingerprint string
	// Kind says what the session was issued for: [KindSTS] (also the
	// empty string, in tokens sealed before kinds existed), [KindBrowser]
	// or [KindShare]. A token is accepted only where its kind belongs.
	Kind string
	// RefreshToken is the identity provider's refresh token of a browser
	// session, used to renew it before it expires; empty otherwise. Like
	// the secret, it is readable only with the KeyRing.
	RefreshToken string
	// IDToken is the raw ID token a browser session was made from, sent
	// back to the identity provider as id_token_hint on logout; empty
	// otherwise.
	IDToken string
	// Actor, when set, makes the session delegated: Actor acts for the
	// person named by Issuer and Subject, and a request is allowed only
	// if the person's Roles and the actor's both allow it.
	Actor *SessionActor
	// GrantID, when set, names the just-in-time access grant that
	// allowed the session's role: the session is honoured only while
	// that grant is in force (its role need not trust the identity).
	GrantID string
}

// SessionActor is the party acting for the person of a delegated
// session: an agent, with its own roles.
type SessionActor struct {
	// Issuer is the configured name of the actor's issuer.
	Issuer  string
	Subject string
	// Roles are the names of the actor's roles (normally one).
	Roles []string
	// Claims are the actor's claims that policies and trust rules read:
	// the actor token's, or the members of the "act" claim (with any
	// nested "act", the earlier actors of the chain).
	Claims map[string]any
}

// sealedActor is the plaintext of a SessionActor.
type sealedActor struct {
	Iss    string         `json:"is"`
	Sub    string         `json:"s"`
	Roles  []string       `json:"r"`
	Claims map[string]any `json:"c,omitempty"`
}

// Session kinds.
const (
	// KindSTS: credentials issued by the STS endpoint (the default).
	KindSTS = "sts"
	// KindBrowser: a browser session, carried in a cookie.
	KindBrowser = "browser"
	// KindShare: the session behind a share link (a presigned URL).
	KindShare = "share"
)

// IsKind reports whether s is of kind; an empty Kind is KindSTS.
func (s *Session) IsKind(kind string) bool {
	k := s.Kind
	if k == "" {
		k = KindSTS
	}
	return k == kind
}

// NewSession returns a Session with a fresh random ID, AccessKeyID and
// SecretAccessKey. The caller fills in the rest before sealing it.
func NewSession() *Session {
	var id [16]byte
	var ak [10]byte
	var sk [30]byte
	rand.Read(id[:])
	rand.Read(ak[:])
	rand.Read(sk[:])
	return &Session{
		ID:              strings.ToLower(b32.EncodeToString(id[:])),
		AccessKeyID:     AccessKeyPrefix + b32.EncodeToString(ak[:]),
		SecretAccessKey: base64.RawURLEncoding.EncodeToString(sk[:]),
	}
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// AccessKeyPrefix starts every session access key ID, as "ASIA" starts
// AWS temporary access keys.
const AccessKeyPrefix = "ASIA"

// MaxSessionTokenLength is the largest session token [KeyRing.Seal]
// produces and [KeyRing.Open] accepts, in bytes. Clients send the token in
// a header (X-Amz-Security-Token), and servers commonly refuse headers much
// larger than this. A session with typical OIDC claims seals to less than
// 2 KiB.
const MaxSessionTokenLength = 8192

// SessionKeySize is the length of a [SessionKey] secret in bytes.
const SessionKeySize = 32

// maxSessionKeyIDLength bounds SessionKey.ID.
const maxSessionKeyIDLength = 16

// sessionVersion prefixes every token this package seals. It is part of the
// authenticated data, as is the key ID.
const sessionVersion = "v1"

// SessionKey is one key of a [KeyRing].
type SessionKey struct {
	// ID names the key inside tokens: 1 to 16 characters of [a-z0-9-].
	// It is not secret.
	ID string
	// Secret is 32 random bytes. The sealing key is derived from it with
	// HKDF-SHA256, so the same bytes are not used for anything else.
	Secret []byte
}

// KeyRing seals sessions into tokens and opens them. The first key seals;
// every key opens, so keys can be rotated: add the new key first, keep the
// old one until the sessions it sealed have expired, then remove it. A
// KeyRing is immutable and safe for concurrent use.
//
// Tokens are encrypted and authenticated with XChaCha20-Poly1305 under a
// random 192-bit nonce; the version and key ID are authenticated data.
type KeyRing struct {
	sealID string
	keys   map[string]*ringKey
}

type ringKey struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	ad []byte // "v1.<id>"
}

// NewKeyRing returns a KeyRing; keys[0] seals. It reports every invalid
// key at once. Key secrets never appear in errors.
func NewKeyRing(keys []SessionKey) (*KeyRing, error) {
	var errs []error
	if len(keys) == 0 {
		errs = append(errs, errors.New("identity: session keys: at least one key is required"))
	}
	kr := &KeyRing{keys: make(map[string]*ringKey, len(keys))}
	for i, k := range keys {
		where := fmt.Sprintf("identity: session key %d", i)
		if k.ID != "" {
			where = fmt.Sprintf("identity: session key %q", clip(k.ID))
		}
		ok := true
		if !validKeyID(k.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1 to %d characters of a-z, 0-9 and '-'", where, maxSessionKeyIDLength))
			ok = false
		} else if kr.keys[k.ID] != nil {
			errs = append(errs, fmt.Errorf("%s: id is used by another key", where))
			ok = false
		}
		if len(k.Secret) != SessionKeySize {
			errs = append(errs, fmt.Errorf("%s: secret must be %d bytes, got %d", where, SessionKeySize, len(k.Secret)))
			ok = false
		}
		if !ok {
			continue
		}
		derived, err := hkdf.Key(sha256.New, k.Secret, nil, "iamgate session token "+sessionVersion, chacha20poly1305.KeySize)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: deriving key: %w", where, err))
			continue
		}
		aead, err := chacha20poly1305.NewX(derived)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		kr.keys[k.ID] = &ringKey{aead: aead, ad: []byte(sessionVersion + "." + k.ID)}
		if i == 0 {
			kr.sealID = k.ID
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return kr, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxSessionKeyIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SealingKeyID returns the ID of the key that seals.
func (k *KeyRing) SealingKeyID() string { return k.sealID }

// sealed is the plaintext of a token. Field names are short because the
// token travels in a header on every request.
type sealed struct {
	ID     string          `json:"i"`
	AK     string          `json:"a"`
	SK     string          `json:"k"`
	Iss    string          `json:"is"`
	Sub    string          `json:"s"`
	Roles  []string        `json:"r"`
	Name   string          `json:"n,omitempty"`
	Claims map[string]any  `json:"c,omitempty"`
	Policy json.RawMessage `json:"p,omitempty"`
	Iat    int64           `json:"t"`
	Exp    int64           `json:"e"`
	FP     string          `json:"f,omitempty"`
	Kind   string          `json:"kd,omitempty"`
	RT     string          `json:"rt,omitempty"`
	IDT    string          `json:"it,omitempty"`
	Rn     int64           `json:"rn,omitempty"`
	Act    *sealedActor    `json:"ac,omitempty"`
	Grant  string          `json:"g,omitempty"`
}

// ErrSessionTooLarge is returned (wrapped) by [KeyRing.Seal] when the token
// would exceed [MaxSessionTokenLength]: the claims or session policy are
// too large.
var ErrSessionTooLarge = errors.New("session token too large")

// Seal returns the session token for s:
// "v1.<key id>.<base64url(nonce | ciphertext)>". s must have an ID, a valid
// AccessKeyID and SecretAccessKey, Issuer, Subject, at least one role and an
// Expiry after IssuedAt; SessionPolicy, if set, must be JSON. Times are
// truncated to the second. Seal returns an error wrapping
// [ErrSessionTooLarge] if the token would be longer than
// [MaxSessionTokenLength].
func (k *KeyRing) Seal(s *Session) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	p := sealed{
		ID: s.ID, AK: s.AccessKeyID, SK: s.SecretAccessKey,
		Iss: s.Issuer, Sub: s.Subject, Roles: s.Roles, Name: s.RoleSessionName,
		Claims: s.Claims, Iat: s.IssuedAt.Unix(), Exp: s.Expiry.Unix(), FP: s.TokenFingerprint,
		Kind: s.Kind, RT: s.RefreshToken, IDT: s.IDToken, Grant: s.GrantID,
	}
	if !s.RenewedAt.IsZero() {
		p.Rn = s.RenewedAt.Unix()
	}
	if a := s.Actor; a != nil {
		p.Act = &sealedActor{Iss: a.Issuer, Sub: a.Subject, Roles: a.Roles, Claims: a.Claims}
	}
	if s.Kind == KindSTS {
		p.Kind = "" // the default; keeps STS tokens as they were
	}
	if s.SessionPolicy != nil {
		if !json.Valid(s.SessionPolicy) {
			return "", errors.New("identity: session policy is not valid JSON")
		}
		p.Policy = s.SessionPolicy
	}
	plain, err := json.Marshal(&p)
	if err != nil {
		return "", fmt.Errorf("identity: encoding session: %w", err)
	}
	rk := k.keys[k.sealID]
	prefixLen := len(rk.ad) + 1
	size := prefixLen + base64.RawURLEncoding.EncodedLen(chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	if size > MaxSessionTokenLength {
		return "", fmt.Errorf("identity: sealing session: %w: %d bytes, the limit is %d", ErrSessionTooLarge, size, MaxSessionTokenLength)
	}
	buf := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	rand.Read(buf)
	buf = rk.aead.Seal(buf, buf, plain, rk.ad)
	out := make([]byte, size)
	copy(out, rk.ad)
	out[len(rk.ad)] = '.'
	base64.RawURLEncoding.Encode(out[prefixLen:], buf)
	return string(out), nil
}

func (s *Session) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.ID == "" {
		bad("id is empty")
	}
	if !ValidAccessKeyID(s.AccessKeyID) {
		bad("access key id is malformed")
	}
	if len(s.SecretAccessKey) < 16 {
		bad("secret access key is too short")
	}
	if s.Issuer == "" {
		bad("issuer is empty")
	}
	if s.Subject == "" {
		bad("subject is empty")
	}
	if len(s.Roles) == 0 || slices.Contains(s.Roles, "") {
		bad("roles must be non-empty names")
	}
	if s.Expiry.IsZero() || !s.Expiry.After(s.IssuedAt) {
		bad("expiry must be after the issue time")
	}
	switch s.Kind {
	case "", KindSTS, KindBrowser, KindShare:
	default:
		bad("unknown kind %q", s.Kind)
	}
	if a := s.Actor; a != nil {
		if a.Issuer == "" || a.Subject == "" {
			bad("actor issuer and subject must be set")
		}
		if len(a.Roles) == 0 || slices.Contains(a.Roles, "") {
			bad("actor roles must be non-empty names")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("identity: invalid session: %w", errors.Join(errs...))
	}
	return nil
}

// ValidAccessKeyID reports whether id has the form of a session access key
// ID: "ASIA" and 16 characters of A-Z and 2-7.
func ValidAccessKeyID(id string) bool {
	if len(id) != len(AccessKeyPrefix)+16 || !strings.HasPrefix(id, AccessKeyPrefix) {
		return false
	}
	for i := len(AccessKeyPrefix); i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SessionReason says why a session token was refused. The set is closed and
// small, so it is safe as a metric label.
type SessionReason string

// Reasons a session token is refused.
const (
	// SessionMalformed: not a token this package seals (wrong shape,
	// version, encoding or length).
	SessionMalformed SessionReason = "malformed"
	// SessionUnknownKey: sealed with a key the KeyRing does not hold
	// (removed after rotation, or another deployment's key).
	SessionUnknownKey SessionReason = "unknown_key"
	// SessionTampered: authentication failed; the token was altered or
	// forged.
	SessionTampered SessionReason = "tampered"
	// SessionExpired: the token is authentic but its session has expired.
	SessionExpired SessionReason = "expired"

	// The reasons below are not [KeyRing.Open]'s: they refuse an authentic
	// browser session that has not expired.

	// SessionSignedOut: the browser session was signed out.
	SessionSignedOut SessionReason = "signed_out"
	// SessionNotRenewed: the browser session had to be confirmed again by
	// its identity provider (its renewal window had passed), and was not:
	// it has no refresh token, or the provider refused it.
	SessionNotRenewed SessionReason = "not_renewed"
	// SessionStateUnavailable: whether the browser session was signed out
	// could not be told (the store of signed-out sessions failed), so it
	// is refused.
	SessionStateUnavailable SessionReason = "state_unavailable"
)

// SessionError is the error returned by [KeyRing.Open], and by whatever
// refuses an authentic session for one of the other [SessionReason]s.
// Error returns a short sentence safe to show to the client; it never
// contains the token.
type SessionError struct {
	Reason SessionReason
	// Expiry is the session's expiry when Reason is SessionExpired.
	Expiry time.Time
	// SessionID, Issuer, Subject and Username name the refused session
	// when it was authentic (signed out, not renewed, state unavailable),
	// for the audit record; empty otherwise. Username is as the audit log
	// names the person.
	SessionID, Issuer, Subject, Username string
}

func (e *SessionError) Error() string {
	switch e.Reason {
	case SessionUnknownKey:
		return "session token was sealed with a key this server does not hold"
	case SessionTampered:
		return "session token failed authentication"
	case SessionExpired:
		return "session expired at " + e.Expiry.UTC().Format(time.RFC3339)
	case SessionSignedOut:
		return "session was signed out"
	case SessionNotRenewed:
		return "session had to be renewed with the identity provider, and was not"
	case SessionStateUnavailable:
		return "session cannot be checked against the signed-out sessions right now"
	default:
		return "session token is malformed"
	}
}

// Open authenticates, decrypts and checks token at time now. Any error is
// a [*SessionError]. A session expires at Expiry exactly; no clock skew is
// allowed, since the same server both issues and checks it.
func (k *KeyRing) Open(token string, now time.Time) (*Session, error) {
	if len(token) > MaxSessionTokenLength {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	version, rest, ok := strings.Cut(token, ".")
	if !ok || version != sessionVersion {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	keyID, body, ok := strings.Cut(rest, ".")
	if !ok || !validKeyID(keyID) {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	minBody := base64.RawURLEncoding.EncodedLen(chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead)
	if len(body) < minBody {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(body)))
	n, err := base64.RawURLEncoding.Strict().Decode(raw, []byte(body))
	if err != nil {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	raw = raw[:n]
	rk := k.keys[keyID]
	if rk == nil {
		return nil, &SessionError{Reason: SessionUnknownKey}
	}
	nonce, ct := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	plain, err := rk.aead.Open(ct[:0], nonce, ct, rk.ad)
	if err != nil {
		return nil, &SessionError{Reason: SessionTampered}
	}
	var p sealed
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	s := &Session{
		ID: p.ID, AccessKeyID: p.AK, SecretAccessKey: p.SK,
		Issuer: p.Iss, Subject: p.Sub, Roles: p.Roles, RoleSessionName: p.Name,
		Claims: p.Claims, IssuedAt: time.Unix(p.Iat, 0).UTC(), Expiry: time.Unix(p.Exp, 0).UTC(),
		TokenFingerprint: p.FP, Kind: p.Kind, RefreshToken: p.RT, IDToken: p.IDT, GrantID: p.Grant,
	}
	if len(p.Policy) > 0 {
		s.SessionPolicy = []byte(p.Policy)
	}
	if p.Rn != 0 {
		s.RenewedAt = time.Unix(p.Rn, 0).UTC()
	}
	if a := p.Act; a != nil {
		s.Actor = &SessionActor{Issuer: a.Iss, Subject: a.Sub, Roles: a.Roles, Claims: a.Claims}
	}
	if s.check() != nil {
		return nil, &SessionError{Reason: SessionMalformed}
	}
	if !now.Before(s.Expiry) {
		return nil, &SessionError{Reason: SessionExpired, Expiry: s.Expiry}
	}
	return s, nil
}

// Revocation voids sessions issued before a point in time. The fields that
// are set must all match a session for the rule to apply to it:
//
//   - Subject equals Session.Subject;
//   - Issuer equals Session.Issuer (the issuer's configured name);
//   - Role is one of Session.Roles;
//   - SessionID equals Session.ID;
//   - Claim and ClaimValue: the claim Claim of Session.Claims is the
//     string ClaimValue (or a number or boolean written so);
//   - IssuedBefore: the session was issued before it (sessions issued at or
//     after it are not affected). Zero means every session matching the
//     other fields, whenever issued, including future ones.
//
// In a delegated session, the identity fields (Subject, Issuer, Role,
// Claim) match when they all match the person, or all match the actor.
//
// A rule with no field set matches nothing, so a zero value cannot void
// every session by accident; to void all sessions issued before T, set
// only IssuedBefore.
type Revocation struct {
	Subject      string
	Issuer       string
	Role         string
	SessionID    string
	Claim        string
	ClaimValue   string
	IssuedBefore time.Time
	// ID names a rule added at run time; "" for the configuration's.
	ID string
}

func (r *Revocation) matches(s *Session) bool {
	if r.Subject == "" && r.Issuer == "" && r.Role == "" && r.SessionID == "" && r.Claim == "" && r.IssuedBefore.IsZero() {
		return false
	}
	if r.SessionID != "" && r.SessionID != s.ID {
		return false
	}
	if !r.IssuedBefore.IsZero() && !s.IssuedAt.Before(r.IssuedBefore) {
		return false
	}
	if r.matchesParty(s.Issuer, s.Subject, s.Roles, s.Claims) {
		return true
	}
	// A delegated session is void when its actor is: revoking an agent
	// revokes what it holds for anyone.
	a := s.Actor
	return a != nil && r.matchesParty(a.Issuer, a.Subject, a.Roles, a.Claims)
}

// matchesParty reports whether the rule's identity fields (subject,
// issuer, role, claim) all match one party of a session.
func (r *Revocation) matchesParty(issuer, subject string, roles []string, claims map[string]any) bool {
	if r.Claim != "" && !claimIs(claims[r.Claim], r.ClaimValue) {
		return false
	}
	if r.Subject != "" && r.Subject != subject {
		return false
	}
	if r.Issuer != "" && r.Issuer != issuer {
		return false
	}
	if r.Role != "" && !slices.Contains(roles, r.Role) {
		return false
	}
	return true
}

// claimIs reports whether a claim value is the string want: a string
// equal to it, or a number or boolean that formats as it.
func claimIs(v any, want string) bool {
	s, ok := ClaimString(v)
	return ok && s == want
}

// ClaimString formats a scalar claim value as revocation rules compare it:
// a string as is, a number or boolean in its shortest form; ok is false
// for anything else (lists, objects).
func ClaimString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	}
	return "", false
}

// RevocationSource supplies the revocation rules added at run time, kept
// current by a watcher of the shared state.
type RevocationSource interface {
	// Revocations returns the rules in force, or an error when they
	// cannot be known to be current: callers then refuse every session
	// (fail closed).
	Revocations() ([]Revocation, error)
}

// CheckRevoked reports whether a rule of the configuration (rules) or of
// src voids s, and returns the first such rule; nil src is no source. An
// error means src could not answer: the caller refuses s.
func CheckRevoked(s *Session, rules []Revocation, src RevocationSource) (bool, *Revocation, error) {
	if ok, r := Revoked(s, rules); ok {
		return true, r, nil
	}
	if src == nil {
		return false, nil, nil
	}
	dyn, err := src.Revocations()
	if err != nil {
		return false, nil, err
	}
	ok, r := Revoked(s, dyn)
	return ok, r, nil
}

// Revoked reports whether a rule voids s, and returns the first such rule.
func Revoked(s *Session, rules []Revocation) (bool, *Revocation) {
	for i := range rules {
		if rules[i].matches(s) {
			return true, &rules[i]
		}
	}
	return false, nil
}
