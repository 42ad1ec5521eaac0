// Package config reads iamgate's YAML configuration file: strict decoding,
// defaults, validation that reports every problem with its file:line:col, and
// secret references.
//
// The package only describes the file. It neither opens listeners nor talks
// to issuers or the upstream; cmd/iamgate maps a File onto the Config of each
// package that does.
package config

import (
	"net/netip"
	"strconv"
	"time"
)

// Defaults applied when a key is absent.
const (
	DefaultListen                = "127.0.0.1:8080"
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultIdleTimeout           = 120 * time.Second
	DefaultMaxHeaderBytes        = 64 << 10
	DefaultShutdownGrace         = 30 * time.Second
	DefaultDrainDelay            = 5 * time.Second
	DefaultDeleteObjectsMaxBytes = 2 << 20
	DefaultRegion                = "us-east-1"
	DefaultDialTimeout           = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerHost   = 256
	DefaultUpstreamClient        = UpstreamClientLean
	DefaultClockSkew             = 60 * time.Second
	MaxClockSkew                 = 10 * time.Minute
	DefaultMaxSession            = time.Hour
	MinMaxSession                = 15 * time.Minute
	MaxMaxSession                = 12 * time.Hour
	DefaultLogLevel              = "info"
	DefaultLogFormat             = "json"

	// MinFingerprintKeyBytes is the shortest accepted audit.fingerprint_key.
	MinFingerprintKeyBytes = 32

	// DefaultCheckpointInterval and DefaultCheckpointEvery are what an
	// absent audit.checkpoint_interval (events) and audit.checkpoint_every
	// mean; the Audit fields stay 0.
	DefaultCheckpointInterval = 1000
	DefaultCheckpointEvery    = time.Minute
	MaxCheckpointInterval     = 1_000_000
	MinCheckpointEvery        = time.Second
	MaxCheckpointEvery        = 24 * time.Hour

	// MinSessionKeyBytes is the shortest accepted sts.session_keys secret.
	// The secret is stretched to a 256-bit key with HKDF-SHA256.
	MinSessionKeyBytes = 32
	// DefaultMaxPolicySize, MinMaxPolicySize and MaxMaxPolicySize bound
	// sts.max_policy_size: bytes of a packed inline session policy.
	DefaultMaxPolicySize = 2048
	MinMaxPolicySize     = 256
	MaxMaxPolicySize     = 65536

	// MinServiceSecretBytes is the shortest accepted
	// service_credentials[].secret_access_key.
	MinServiceSecretBytes = 16
	// SessionAccessKeyPrefix starts the access key ID of every STS session;
	// a service credential's access key ID may not start with it.
	SessionAccessKeyPrefix = "ASIA"
)

// Role kinds.
const (
	KindHuman   = "human"
	KindMachine = "machine"
	KindAgent   = "agent"
)

// File is a loaded, validated configuration file. Relative paths in it have
// been resolved against the directory of the file.
type File struct {
	Listen             string         // address of the S3 listener
	MetricsListen      string         // address of the /metrics listener; "" disables it
	TLS                *TLS           // nil: plain HTTP
	VirtualHostDomains []string       // lower-case hostnames for virtual-hosted-style requests
	TrustedProxies     []netip.Prefix // peers whose X-Forwarded-For is believed; empty: none
	// SigV2 accepts requests signed with AWS Signature Version 2 (header,
	// presigned URL and browser form); default true.
	SigV2              bool
	Server             Server
	Upstream           Upstream
	Issuers            []Issuer            // in file order
	LDAP               []LDAP              // in file order
	Roles              []Role              // in file order
	Policies           []Policy            // sorted by name
	STS                *STS                // nil: the STS endpoint is off
	Revocations        []Revocation        // in file order
	ServiceCredentials []ServiceCredential // in file order
	Console            *Console            // nil: absent (on when an issuer has a client_id)
	Audit              Audit
	Log                Log
	State              State   // where shared state is kept; in memory by default
	Admin              *Admin  // nil: no admin endpoint
	Alerts             *Alerts // nil: escalations are only audited
	// AccessRequests configures the notification of access requests;
	// nil: none.
	AccessRequests *AccessRequests

	Path string // the file as named to Load or Parse
	// Digest is the hex SHA-256 of the file at Path and of the policy
	// files it names (not of secret files): any change to the policies in
	// force changes it. Without policy files it is the SHA-256 of the file.
	Digest string

	// Files lists the other files the configuration read (policy files and
	// file: secrets), so that a reload watcher can watch them too.
	Files []string
}

// TLS names the certificate and key of the S3 listener. The server re-reads
// both files when they change.
type TLS struct {
	CertFile string
	KeyFile  string
}

// Server holds the limits of the S3 listener.
type Server struct {
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// DrainDelay is how long, on SIGTERM, readiness reports "shutting
	// down" while requests are still served normally, before the listener
	// closes; ShutdownGrace follows it.
	DrainDelay            time.Duration
	ShutdownGrace         time.Duration // how long in-flight requests may finish on SIGTERM
	DeleteObjectsMaxBytes int64         // largest accepted DeleteObjects request body
}

// Upstream is the S3 store iamgate forwards to and the key it signs with:
// either a static key (AccessKeyID and SecretAccessKey) or, with
// Federation, temporary credentials from the store's STS.
type Upstream struct {
	Endpoint              string // http or https URL without path
	Region                string
	AccessKeyID           Secret // zero with Federation
	SecretAccessKey       Secret // zero with Federation
	Federation            *Federation
	CAFile                string // PEM bundle trusted for an https endpoint; "" = system roots
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdleConnsPerHost   int
	// Client is the HTTP client toward the store: UpstreamClientLean or
	// UpstreamClientStd.
	Client string
}

// Values of upstream.client.
const (
	// UpstreamClientLean is iamgate's own HTTP/1.1 client
	// (internal/upstream): requests and response heads handled on the
	// request's goroutine.
	UpstreamClientLean = "lean"
	// UpstreamClientStd is net/http's Transport.
	UpstreamClientStd = "std"
)

// Defaults and bounds of upstream.federation.
const (
	DefaultFederationSubject  = "iamgate"
	DefaultFederationSession  = "iamgate"
	DefaultFederationDuration = time.Hour
	// MinFederationDuration and MaxFederationDuration are what both AWS
	// STS and MinIO accept for DurationSeconds (AWS roles allow at most
	// 12 hours).
	MinFederationDuration      = 15 * time.Minute
	MaxFederationDuration      = 12 * time.Hour
	DefaultFederationRefresh   = 10 * time.Minute
	FederationIssuerPathSuffix = "/_iamgate/oidc"
)

// Federation makes iamgate obtain temporary credentials for the store
// from its STS (AssumeRoleWithWebIdentity) with tokens it signs itself, as
// an OpenID provider the store trusts.
type Federation struct {
	// IssuerURL is the public URL of iamgate's OpenID endpoints as the
	// store reaches them; its path ends in FederationIssuerPathSuffix.
	IssuerURL string
	Audience  string // "aud": the client id the store is configured with
	Subject   string // "sub"; default DefaultFederationSubject
	// Claims are added to each token (e.g. policy for MinIO's claim_name).
	Claims      map[string]string
	RoleARN     string // "": none
	SessionName string // RoleSessionName; default DefaultFederationSession
	// STSEndpoint is where AssumeRoleWithWebIdentity is sent; "": the
	// upstream endpoint (MinIO).
	STSEndpoint string
	Duration    time.Duration // DurationSeconds
	// RefreshBefore is how long before expiry credentials are renewed;
	// when RefreshFraction is above 0 it is used instead (the share of
	// the lifetime left at renewal).
	RefreshBefore   time.Duration
	RefreshFraction float64
	// SigningKeys is never empty: the first signs, all are published.
	SigningKeys []FederationKey
	Pos         Pos
}

// FederationKey is one of iamgate's token signing keys.
type FederationKey struct {
	ID string // unique, 1-64 of A-Z a-z 0-9 . _ -
	// PrivateKey is the PEM private key (PKCS#8, SEC 1 or PKCS#1), ECDSA
	// P-256 or RSA of at least 2048 bits, already checked to parse.
	PrivateKey Secret
	Algorithm  string // "ES256" or "RS256"
	Pos        Pos
}

// Issuer is an OpenID Connect provider whose tokens iamgate accepts.
type Issuer struct {
	Name             string
	URL              string // exactly the "iss" of its tokens
	Audiences        []string
	AllowAnyAudience bool
	ClockSkew        time.Duration
	RequiredClaims   []string
	Algorithms       []string // empty: whatever the provider advertises, minus none and HS*
	JWKSURL          string   // "" = discovered from URL

	// Browser sign-in (the console): set ClientID to let people sign in
	// with this issuer. ClientSecret is nil for a public client (PKCE
	// only); Scopes empty means DefaultLoginScopes; LoginLabel is the text
	// of the sign-in button ("" = "Sign in with <name>").
	ClientID     string
	ClientSecret *Secret
	Scopes       []string
	LoginLabel   string
	Pos          Pos
}

// DefaultLoginScopes are requested at sign-in when issuers[].scopes is
// absent. Add offline_access to get refresh tokens, so that browser
// sessions are renewed instead of ending with the ID token.
var DefaultLoginScopes = []string{"openid", "profile", "email"}

// DefaultCookieName names the browser session cookie.
const DefaultCookieName = "iamgate_session"

// Defaults of the console section.
const (
	// DefaultSessionRefresh is console.session_refresh.
	DefaultSessionRefresh = 10 * time.Minute
	// DefaultSignedOutMaxEntries is console.signed_out_max_entries.
	DefaultSignedOutMaxEntries = 100_000
)

// Console configures browser sign-in and the web console. It is on when
// an issuer has a client_id, unless Enabled is false.
type Console struct {
	Enabled bool
	// PublicURL is the scheme://host[:port] people reach iamgate at; the
	// redirect URI (PublicURL + "/_iamgate/callback") and share links are
	// built from it. "": from each request's Host (and TLS or a trusted
	// proxy's X-Forwarded-Proto).
	PublicURL  string
	CookieName string
	// SessionRefresh is how long a session cookie is used, from its
	// sign-in or last renewal, before the provider must renew it (with the
	// refresh token); a cookie that cannot be renewed is refused then.
	SessionRefresh time.Duration
	// SignedOutMaxEntries bounds the in-memory record of signed-out
	// sessions (applied at start).
	SignedOutMaxEntries int
	Pos                 Pos
}

// LoginIssuers returns the issuers people may sign in with (those with a
// client_id), or nil when the console is off.
func (f *File) LoginIssuers() []Issuer {
	if f.Console != nil && !f.Console.Enabled {
		return nil
	}
	var out []Issuer
	for _, is := range f.Issuers {
		if is.ClientID != "" {
			out = append(out, is)
		}
	}
	return out
}

// Role maps tokens to policies.
type Role struct {
	Name        string
	Kind        string // KindHuman, KindMachine or KindAgent
	Description string
	Trust       []TrustRule // any matching rule is enough; empty only for a requestable role
	Policies    []string    // names of entries in File.Policies; never empty
	MaxSession  time.Duration

	// SessionMayOutliveToken lets an STS session end after the web-identity
	// token it was made from expires. false (the default): the session ends
	// no later than the token.
	SessionMayOutliveToken bool
	// Protect holds the destructive-action guards (roles[].protect).
	Protect Protect
	// Limits bound the role's sessions (rate, budgets, concurrency); nil:
	// none. A trust rule's limits replace them for the tokens it matches.
	Limits *Limits
	// Escalation is the role's kill switch; nil: none.
	Escalation *Escalation
	// Requestable makes the role available for just-in-time access
	// (roles[].requestable); nil: it is not.
	Requestable *Requestable
	Pos         Pos
}

// TrustRule matches a token from one issuer whose claims all match.
//
// Claims maps a claim name, possibly a dotted path into nested objects, to a
// string, bool, int64 or float64, or a []any of those (any of them matches).
// The matching itself is authz's business.
type TrustRule struct {
	Issuer string
	Claims map[string]any
	Limits *Limits // nil: the role's
	Pos    Pos
}

// Policy is an IAM policy document. Its JSON is syntactically valid; the
// policy language is checked by authz, which prefixes its messages with Pos.
type Policy struct {
	Name   string
	JSON   []byte // the document exactly as written
	Source string // the policy file, "" for an inline policy
	Pos    Pos    // the value of the entry in the configuration file

	// Block is where the document starts in the configuration file when it
	// is inline as a literal block (|), whose lines are the document's
	// lines; zero otherwise.
	Block Pos
}

// Locate returns the place in the configuration (or the policy file) of a
// line and column of the document, counted from 1. It reports false for
// an inline policy that is not a literal block: its lines are not the
// file's.
func (p *Policy) Locate(line, col int) (Pos, bool) {
	switch {
	case line < 1 || col < 1:
		return Pos{}, false
	case p.Source != "":
		return Pos{File: p.Source, Line: line, Col: col}, true
	case p.Block.Line > 0:
		return Pos{File: p.Block.File, Line: p.Block.Line + line - 1, Col: p.Block.Col + col - 1}, true
	}
	return Pos{}, false
}

// STS configures the AWS-compatible STS endpoint, which exchanges
// web-identity tokens for temporary credentials sealed in session tokens.
type STS struct {
	// SessionKeys is never empty. The first key seals new session tokens;
	// every key opens them, so that a key can be rotated in before it is
	// used and out after the last session it sealed has expired.
	SessionKeys []SessionKey

	// MaxPolicySize is the largest packed inline session policy, in bytes;
	// a larger one fails with PackedPolicyTooLarge.
	MaxPolicySize int
	Pos           Pos
}

// SessionKey is one key that seals or opens session tokens.
type SessionKey struct {
	ID     string // unique, 1-16 of a-z 0-9 -; recorded in each session token
	Secret Secret // at least MinSessionKeyBytes; stretched with HKDF-SHA256
	Pos    Pos
}

// Revocation voids the STS sessions issued before IssuedBefore that match
// every non-empty field among Subject, Issuer, Role and SessionID; at least
// one of them is set. Issuer and Role name entries of File.Issuers and
// File.Roles.
type Revocation struct {
	Subject      string
	Issuer       string
	Role         string
	SessionID    string
	IssuedBefore time.Time // UTC
	Reason       string    // free text for the audit log
	Pos          Pos
}

// ServiceCredential is a static access key for a client that cannot use web
// identity. It always expires.
type ServiceCredential struct {
	Name            string    // unique, 1-64 of a-z 0-9 _ -
	AccessKeyID     string    // unique, 16-128 of A-Z 0-9, never starting with SessionAccessKeyPrefix
	SecretAccessKey Secret    // at least MinServiceSecretBytes
	Role            string    // names an entry of File.Roles
	Expires         time.Time // UTC; requests signed with the key at or after it are refused
	Description     string
	Pos             Pos
}

// Audit says where audit events go.
type Audit struct {
	Stdout bool
	File   string // appended to; "" = no file

	// FingerprintKey is the HMAC key for token fingerprints. nil: a random
	// key per process, so fingerprints do not correlate across restarts or
	// replicas.
	FingerprintKey *Secret

	// SigningKey signs the audit stream's checkpoint events. It holds the
	// 32-byte Ed25519 seed, already decoded from base64 or PEM: use
	// ed25519.NewKeyFromSeed([]byte(SigningKey.Reveal())). nil: checkpoints
	// are unsigned.
	SigningKey *Secret

	// CheckpointInterval is the number of events after which a checkpoint
	// is written; 0 (absent): DefaultCheckpointInterval.
	CheckpointInterval int

	// CheckpointEvery is the longest an event waits for a checkpoint;
	// 0 (absent): DefaultCheckpointEvery.
	CheckpointEvery time.Duration

	// Rotate rotates File; the zero value (absent): never.
	Rotate Rotate

	// Fsync is when File and the webhook spool are synced to disk:
	// FsyncAlways, FsyncInterval or FsyncNever; "" (absent): FsyncInterval.
	Fsync string

	// Webhook delivers events to an HTTP collector; nil: none.
	Webhook *Webhook

	// Delivery is DeliveryBestEffort or DeliveryRequired; "" (absent):
	// DeliveryBestEffort.
	Delivery string

	// Claims names the token claims that audit events record (under
	// userIdentity.sessionContext.webIdFederationData.attributes). Empty:
	// none; the subject, issuer and username are always recorded.
	Claims []string
}

// Audit fsync policies and delivery modes (audit.fsync, audit.delivery).
const (
	FsyncAlways        = "always"
	FsyncInterval      = "interval"
	FsyncNever         = "never"
	DeliveryBestEffort = "best_effort"
	DeliveryRequired   = "required"
)

// Bounds and defaults of audit.rotate and audit.webhook.
const (
	MinRotateSize  = 64 << 10
	MaxRotateSize  = 1 << 40
	MinRotateAge   = time.Minute
	MaxRotateAge   = maxDuration
	MaxRotateCount = 100_000

	DefaultWebhookBatchSize     = 500
	MaxWebhookBatchSize         = 100_000
	DefaultWebhookFlushInterval = time.Second
	MinWebhookFlushInterval     = 10 * time.Millisecond
	MaxWebhookFlushInterval     = time.Minute
	DefaultSpoolMaxBytes        = 1 << 30
	MinSpoolMaxBytes            = 1 << 20
	MaxSpoolMaxBytes            = 1 << 40
	// MinWebhookHMACBytes is the shortest accepted audit.webhook.hmac_secret.
	MinWebhookHMACBytes = 32
)

// Rotate says when the audit file is rotated. MaxSize and MaxAge zero
// mean no limit; at least one is set when the section is present.
type Rotate struct {
	MaxSize int64         // bytes
	MaxAge  time.Duration // since the file's first event
	Retain  int           // rotated files kept; 0: all
}

// Webhook is an HTTP collector that receives audit events in batches,
// spooled on disk while it cannot be reached.
type Webhook struct {
	URL           string  // https, or http on a loopback host
	BearerToken   *Secret // nil: no Authorization header
	HMACSecret    *Secret // nil: bodies are not signed
	BatchSize     int
	FlushInterval time.Duration
	SpoolDir      string
	SpoolMaxBytes int64
}

// SameDelivery reports whether a and b send events to the same places in
// the same way: sinks, rotation, fsync, webhook (credentials included) and
// delivery mode. A reload cannot change these.
func (a *Audit) SameDelivery(b *Audit) bool {
	if a.Stdout != b.Stdout || a.File != b.File || a.Rotate != b.Rotate || a.Fsync != b.Fsync ||
		a.Delivery != b.Delivery || (a.Webhook == nil) != (b.Webhook == nil) {
		return false
	}
	if a.Webhook == nil {
		return true
	}
	w, v := *a.Webhook, *b.Webhook
	return sameSecret(w.BearerToken, v.BearerToken) && sameSecret(w.HMACSecret, v.HMACSecret) &&
		w.URL == v.URL && w.BatchSize == v.BatchSize && w.FlushInterval == v.FlushInterval &&
		w.SpoolDir == v.SpoolDir && w.SpoolMaxBytes == v.SpoolMaxBytes
}

func sameSecret(a, b *Secret) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Reveal() == b.Reveal()
}

// Log configures iamgate's own (non-audit) log.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // json or text
}

// Pos is a position in a file. Line and Col are 1-based; 0 means unknown.
type Pos struct {
	File      string
	Line, Col int
}

// String returns "file:line:col", leaving out unknown parts.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Col > 0 {
			s += ":" + strconv.Itoa(p.Col)
		}
	}
	return s
}

// Warning is something allowed but probably unintended.
type Warning struct {
	Pos     Pos
	Message string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Message }

// Error is one problem in a configuration. Load and Parse return all of them
// joined with errors.Join; use errors.As or the Unwrap() []error method to
// get at each.
type Error struct {
	Pos     Pos
	Message string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Message }
