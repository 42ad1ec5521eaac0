package audit

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The serialized form of an Event follows CloudTrail's S3 data events
// where CloudTrail has a field for the fact (eventName, userIdentity,
// requestParameters, resources, additionalEventData, …) and keeps the rest
// in an "iamgate" object. docs/audit.md documents it; event.schema.json is
// its JSON Schema. The encoder is written by hand: one event is encoded per
// request, in the request's goroutine, into a reused buffer.

// Kinds of events (Event.Kind).
const (
	KindS3           = "s3"
	KindSTS          = "sts"
	KindAuthFailure  = "auth_failure"
	KindConfigReload = "config_reload"
	KindStart        = "start"
	KindStop         = "stop"
	KindRevocation   = "revocation"
	KindLogin        = "login"
	KindLoginFailure = "login_failure"
	KindLogout       = "logout"
	KindShareLink    = "share_link"
	// KindAdmin is a request to the admin endpoint (adding or listing
	// run-time revocations), allowed or refused.
	KindAdmin = "admin"
	// KindEscalation is a step of a role's kill switch (limits): the
	// reason is the step (deny, revoke_session, revoke_identity).
	KindEscalation = "escalation"
	// KindAccessRequest is a step of just-in-time access: a request, its
	// approval or rejection, the revocation or expiry of the grant
	// (Operation names the step; Grant describes the request).
	KindAccessRequest = "access_request"
)

// Operations of KindAccessRequest events.
const (
	OpRequestAccess        = "RequestAccess"
	OpApproveAccessRequest = "ApproveAccessRequest"
	OpRejectAccessRequest  = "RejectAccessRequest"
	OpRevokeAccessGrant    = "RevokeAccessGrant"
	OpExpireAccessGrant    = "ExpireAccessGrant"
)

// Event sources and types as written in eventSource and eventType.
const (
	SourceS3      = "s3.amazonaws.com"
	SourceSTS     = "sts.amazonaws.com"
	SourceIamgate = "iamgate"

	TypeAPICall       = "AwsApiCall"
	TypeConsoleSignIn = "AwsConsoleSignIn"
	TypeConsoleAction = "AwsConsoleAction"
	TypeServiceEvent  = "AwsServiceEvent"
)

// AccountID stands for the account in ARNs: iamgate has no AWS account.
const AccountID = "iamgate"

// eventNames of the events that are not API calls.
var kindNames = map[string]string{
	KindConfigReload:  "ConfigReload",
	KindStart:         "IamgateStart",
	KindStop:          "IamgateStop",
	KindRevocation:    "RevokeSessions",
	KindLogin:         "ConsoleLogin",
	KindLoginFailure:  "ConsoleLogin",
	KindLogout:        "ConsoleLogout",
	KindShareLink:     "CreateShareLink",
	KindAdmin:         "AdminRequest",
	KindCheckpoint:    "AuditCheckpoint",
	KindEscalation:    "LimitEscalation",
	KindAccessRequest: "AccessRequest",
}

// Name returns the eventName of e: the API operation for API calls, a
// fixed name for the others.
func (e *Event) Name() string {
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure:
		if e.Operation != "" {
			return e.Operation
		}
		if e.Kind == KindSTS {
			return "STSRequest"
		}
		return "S3Request"
	case KindLogin, KindLoginFailure, KindLogout, KindShareLink, KindAdmin, KindAccessRequest:
		if e.Operation != "" { // RenewSession, say
			return e.Operation
		}
	}
	if n, ok := kindNames[e.Kind]; ok {
		return n
	}
	return e.Kind
}

func (e *Event) source() string {
	switch e.Kind {
	case KindS3, KindAuthFailure:
		if strings.HasPrefix(e.Operation, "AssumeRole") {
			return SourceSTS
		}
		return SourceS3
	case KindSTS:
		return SourceSTS
	}
	return SourceIamgate
}

func (e *Event) eventType() string {
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure:
		return TypeAPICall
	case KindLogin, KindLoginFailure, KindLogout:
		return TypeConsoleSignIn
	case KindShareLink:
		return TypeConsoleAction
	case KindAccessRequest:
		if e.Operation != OpExpireAccessGrant {
			return TypeConsoleAction
		}
	}
	return TypeServiceEvent
}

// ReadOnly reports whether e's operation only reads: Get…, Head…, List…
// and the STS calls that do not change the store. Events that are not API
// calls are not read-only.
func (e *Event) ReadOnly() bool {
	switch e.Kind {
	case KindS3, KindAuthFailure, KindSTS:
	default:
		return false
	}
	op := e.Operation
	return strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "Head") || strings.HasPrefix(op, "List") ||
		strings.HasPrefix(op, "AssumeRole") || op == "SelectObjectContent"
}

// identityType is userIdentity.type.
func (e *Event) identityType() string {
	switch e.AuthMethod {
	case "bearer", "web_identity", "oidc-code", "refresh-token", "ldap":
		return "WebIdentityUser"
	case "sigv4", "sigv4-presigned", "sigv4-post", "sigv2", "sigv2-presigned", "sigv2-post", "browser-session", "share-link":
		return "AssumedRole"
	case "service-credential":
		return "IAMUser"
	}
	if e.Subject != "" {
		return "WebIdentityUser"
	}
	return "Unknown"
}

// ARN returns the ARN of a bucket or object.
func ARN(bucket, key string) string {
	if key == "" {
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

// RoleARN returns the ARN iamgate gives a role.
func RoleARN(role string) string { return "arn:aws:iam::" + AccountID + ":role/" + role }

// AppendJSON appends the serialized form of e, one JSON object without a
// trailing newline, to b. A chained Logger appends the "chain" member.
func (e *Event) AppendJSON(b []byte) []byte {
	w := jw{b: b}
	w.open()
	w.str("eventVersion", Version)
	w.time("eventTime", e.Time)
	w.str("eventSource", e.source())
	w.str("eventName", e.Name())
	w.str("eventType", e.eventType())
	if e.Kind == KindS3 || e.Kind == KindAuthFailure && e.source() == SourceS3 {
		w.str("eventCategory", "Data")
	} else {
		w.str("eventCategory", "Management")
	}
	w.str("eventID", e.EventID)
	w.strOmit("requestID", e.RequestID)
	w.boolean("readOnly", e.ReadOnly())
	w.strOmit("sourceIPAddress", e.SourceIP)
	w.strOmit("userAgent", e.UserAgent)
	e.appendIdentity(&w)
	e.appendRequestParameters(&w)
	e.appendResponseElements(&w)
	e.appendResources(&w)
	w.strOmit("errorCode", e.ErrorCode)
	if e.ErrorCode != "" || e.Decision != "allow" {
		w.strOmit("errorMessage", e.Message)
	}
	e.appendAdditional(&w)
	e.appendIamgate(&w)
	w.close()
	return w.b
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

func (e *Event) hasIdentity() bool {
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure, KindLogin, KindLoginFailure, KindLogout, KindShareLink:
		return true
	}
	return e.Subject != "" || e.Issuer != ""
}

func (e *Event) appendIdentity(w *jw) {
	if !e.hasIdentity() {
		return
	}
	w.key("userIdentity")
	w.open()
	w.str("type", e.identityType())
	w.strOmit("principalId", e.Subject)
	w.strOmit("arn", e.ARN)
	w.strOmit("accessKeyId", e.AccessKeyID)
	w.strOmit("userName", e.Username)
	w.strOmit("identityProvider", e.Issuer)
	if len(e.Roles) > 0 || e.IssuerURL != "" || len(e.Claims) > 0 {
		w.key("sessionContext")
		w.open()
		if len(e.Roles) > 0 {
			w.key("sessionIssuer")
			w.open()
			w.str("type", "Role")
			name := strings.Join(e.Roles, "+")
			w.str("userName", name)
			w.key("arn")
			w.b = append(w.b, `"arn:aws:iam::`+AccountID+`:role/`...)
			w.b = appendStringBody(w.b, name)
			w.b = append(w.b, '"')
			w.close()
		}
		if e.IssuerURL != "" || len(e.Claims) > 0 {
			w.key("webIdFederationData")
			w.open()
			w.strOmit("federatedProvider", e.IssuerURL)
			if len(e.Claims) > 0 {
				w.key("attributes")
				w.anyMap(e.Claims)
			}
			w.close()
		}
		w.close()
	}
	w.close()
}

func (e *Event) appendRequestParameters(w *jw) {
	if e.Bucket == "" && e.Key == "" && e.Prefix == "" && e.RoleSessionName == "" && e.DurationSeconds == 0 && len(e.Parameters) == 0 &&
		!(e.Kind == KindSTS && len(e.Roles) > 0) {
		return
	}
	w.key("requestParameters")
	w.open()
	w.strOmit("bucketName", e.Bucket)
	w.strOmit("key", e.Key)
	w.strOmit("prefix", e.Prefix)
	if e.Kind == KindSTS && len(e.Roles) > 0 {
		w.str("roleArn", RoleARN(strings.Join(e.Roles, "+")))
	}
	w.strOmit("roleSessionName", e.RoleSessionName)
	if e.DurationSeconds > 0 {
		w.int("durationSeconds", e.DurationSeconds)
	}
	if len(e.Parameters) > 0 {
		keys := make([]string, 0, len(e.Parameters))
		for k := range e.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.str(k, e.Parameters[k])
		}
	}
	w.close()
}

// appendResponseElements writes what an STS issuance gave out: the access
// key ID and expiry, never the secret or session token.
func (e *Event) appendResponseElements(w *jw) {
	if e.Kind != KindSTS || e.Decision != "allow" || e.AccessKeyID == "" {
		return
	}
	w.key("responseElements")
	w.open()
	w.key("credentials")
	w.open()
	w.str("accessKeyId", e.AccessKeyID)
	if !e.Expiry.IsZero() {
		w.time("expiration", e.Expiry)
	}
	w.close()
	w.strOmit("subjectFromWebIdentityToken", e.Subject)
	w.strOmit("provider", e.IssuerURL)
	w.close()
}

func (e *Event) appendResources(w *jw) {
	if e.Bucket == "" {
		return
	}
	w.key("resources")
	w.b = append(w.b, '[')
	w.first = true
	// The ARNs are written without building them as strings: one event
	// per request.
	res := func(typ string, key string, isObject bool) {
		w.sep()
		w.b = append(w.b, `{"type":"`...)
		w.b = append(w.b, typ...)
		w.b = append(w.b, `","ARN":"arn:aws:s3:::`...)
		w.b = appendStringBody(w.b, e.Bucket)
		if isObject {
			w.b = append(w.b, '/')
			w.b = appendStringBody(w.b, key)
		}
		w.b = append(w.b, '"', '}')
	}
	if e.Key != "" {
		res("AWS::S3::Object", e.Key, true)
	}
	for _, k := range e.Keys {
		res("AWS::S3::Object", k, true)
	}
	res("AWS::S3::Bucket", "", false)
	w.b = append(w.b, ']')
	w.first = false
}

func (e *Event) appendAdditional(w *jw) {
	api := false
	switch e.Kind {
	case KindS3, KindAuthFailure, KindSTS:
		api = true
	default:
		if e.AuthMethod == "" {
			return
		}
	}
	w.key("additionalEventData")
	w.open()
	if api {
		w.int("bytesTransferredIn", e.BytesIn)
		w.int("bytesTransferredOut", e.BytesOut)
	}
	sv := e.SignatureVersion
	if sv == "" {
		sv = impliedSignatureVersion(e.AuthMethod)
	}
	w.strOmit("SignatureVersion", sv)
	w.strOmit("AuthenticationMethod", e.AuthMethod)
	w.close()
}

func (e *Event) appendIamgate(w *jw) {
	w.key("iamgate")
	w.open()
	w.str("kind", e.Kind)
	w.str("decision", e.Decision)
	w.strOmit("reason", e.Reason)
	w.strOmit("action", e.Action)
	if len(e.Roles) > 0 {
		w.key("roles")
		w.strings(e.Roles)
	}
	w.strOmit("roleKind", e.RoleKind)
	w.strOmit("matchedRole", e.Role)
	w.strOmit("matchedPolicy", e.Policy)
	w.strOmit("matchedSid", e.Sid)
	w.strOmit("tokenFingerprint", e.Fingerprint)
	w.strOmit("sessionId", e.SessionID)
	if !e.Expiry.IsZero() && e.Kind != KindSTS {
		w.time("sessionExpiry", e.Expiry)
	}
	if s := int64(e.Lifetime / time.Second); s > 0 {
		w.int("lifetimeSeconds", s)
	}
	if e.Actor != nil {
		w.key("actor")
		e.Actor.append(w)
	}
	if e.Grant != nil {
		w.key("grant")
		e.Grant.append(w)
	}
	if e.Status != 0 {
		w.int("status", int64(e.Status))
	}
	if e.Kind == KindS3 || e.Kind == KindAuthFailure || e.Kind == KindSTS {
		w.key("timings")
		w.open()
		w.float("totalMs", e.DurationMS)
		if e.UpstreamMS > 0 {
			w.float("upstreamMs", e.UpstreamMS)
		}
		w.close()
	}
	w.strOmit("upstreamRequestId", e.UpstreamRequestID)
	if len(e.DeniedKeys) > 0 {
		w.key("deniedKeys")
		w.b = append(w.b, '[')
		w.first = true
		for i := range e.DeniedKeys {
			d := &e.DeniedKeys[i]
			w.sep()
			w.open()
			w.str("key", d.Key)
			w.strOmit("versionId", d.VersionID)
			w.strOmit("action", d.Action)
			w.strOmit("reason", d.Reason)
			w.strOmit("matchedRole", d.Role)
			w.strOmit("matchedPolicy", d.Policy)
			w.strOmit("matchedSid", d.Sid)
			w.close()
		}
		w.b = append(w.b, ']')
		w.first = false
	}
	w.strOmit("configDigest", e.ConfigDigest)
	if e.ErrorCode == "" && e.Decision == "allow" {
		w.strOmit("message", e.Message)
	}
	w.close()
}

// RecordedClaims returns the claims named in allow (audit.claims) that
// claims has, or nil: what an event records of a token.
func RecordedClaims(claims map[string]any, allow []string) map[string]any {
	var out map[string]any
	for _, name := range allow {
		if v, ok := claims[name]; ok {
			if out == nil {
				out = make(map[string]any, len(allow))
			}
			out[name] = v
		}
	}
	return out
}

// Actor is the party acting on behalf of the subject, from an RFC 8693
// "act" claim: an agent or service acting for a person. Act is the actor
// before it, when the chain of delegation is longer.
type Actor struct {
	Subject  string `json:"sub,omitempty"`
	Issuer   string `json:"iss,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// Role is the actor's role in a delegated session (whose permissions
	// are the intersection of the subject's role and this one); empty when
	// the actor was only recorded from a token.
	Role string `json:"role,omitempty"`
	Act  *Actor `json:"act,omitempty"`
}

// DelegatedActor is the Actor of a delegated session: the actor's
// subject, issuer URL and role, with the client_id and the chain of
// earlier actors read from its claims (an "act" claim's members, or the
// actor token's claims).
func DelegatedActor(issuerURL, subject, role string, claims map[string]any) *Actor {
	a := &Actor{Subject: subject, Issuer: issuerURL, Role: role}
	a.ClientID, _ = claims["client_id"].(string)
	a.Act = actorFrom(claims["act"], 1)
	return a
}

// maxActorDepth bounds the delegation chain recorded from a token.
const maxActorDepth = 5

// ActorFromClaim reads an RFC 8693 "act" claim (a JSON object with "sub",
// optionally "iss", "client_id" and a nested "act"). It returns nil when v
// is not such an object. Only those string members are kept; the chain is
// cut after maxActorDepth actors.
func ActorFromClaim(v any) *Actor {
	return actorFrom(v, 0)
}

func actorFrom(v any, depth int) *Actor {
	m, ok := v.(map[string]any)
	if !ok || depth >= maxActorDepth {
		return nil
	}
	a := &Actor{}
	a.Subject, _ = m["sub"].(string)
	a.Issuer, _ = m["iss"].(string)
	a.ClientID, _ = m["client_id"].(string)
	a.Act = actorFrom(m["act"], depth+1)
	if a.Subject == "" && a.ClientID == "" && a.Act == nil {
		return nil
	}
	return a
}

func (a *Actor) append(w *jw) {
	w.open()
	w.strOmit("sub", a.Subject)
	w.strOmit("iss", a.Issuer)
	w.strOmit("client_id", a.ClientID)
	w.strOmit("role", a.Role)
	if a.Act != nil {
		w.key("act")
		a.Act.append(w)
	}
	w.close()
}

// jw appends JSON. first is true right after an opening bracket.
type jw struct {
	b     []byte
	first bool
}

func (w *jw) open()  { w.b = append(w.b, '{'); w.first = true }
func (w *jw) close() { w.b = append(w.b, '}'); w.first = false }

func (w *jw) sep() {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
}

func (w *jw) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...) // keys are constants or checked claim names
	w.b = append(w.b, '"', ':')
}

func (w *jw) str(k, v string) {
	w.key(k)
	w.b = appendString(w.b, v)
}

func (w *jw) strOmit(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *jw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jw) float(k string, v float64) {
	w.key(k)
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jw) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

func (w *jw) strings(vs []string) {
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, v)
	}
	w.b = append(w.b, ']')
	w.first = false
}

// anyMap writes claim values; their names are written escaped, as they
// come from tokens.
func (w *jw) anyMap(m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, k)
		w.b = append(w.b, ':')
		v, err := json.Marshal(m[k])
		if err != nil {
			v = []byte("null")
		}
		w.b = append(w.b, v...)
	}
	w.b = append(w.b, '}')
	w.first = false
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Control characters, quotes,
// backslashes, <, >, & and U+2028/U+2029 are escaped; invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

// appendStringBody is appendString without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// impliedSignatureVersion is the signature version an authentication
// method implies, "" for methods without one.
func impliedSignatureVersion(method string) string {
	switch method {
	case "sigv4", "sigv4-presigned", "sigv4-post", "service-credential", "share-link":
		return "SigV4"
	case "sigv2", "sigv2-presigned", "sigv2-post":
		return "SigV2"
	}
	return ""
}

// Grant is the just-in-time access grant an event is about: an access
// request and its decision (KindAccessRequest events), or the grant that
// added the role a request was allowed through (then Role is the
// request's matched role).
type Grant struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	// RequesterIssuer and RequesterSubject name the person the grant is
	// for (an event's identity is who acted: the requester or an approver).
	RequesterIssuer  string    `json:"requesterIssuer,omitempty"`
	RequesterSubject string    `json:"requesterSubject,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	DurationSeconds  int64     `json:"durationSeconds,omitempty"`
	Start            time.Time `json:"start,omitzero"`
	End              time.Time `json:"end,omitzero"`
	// Status is where the request stands after the event: pending,
	// approved, rejected, revoked or expired.
	Status string `json:"status,omitempty"`
}

func (g *Grant) append(w *jw) {
	w.open()
	w.str("id", g.ID)
	w.str("role", g.Role)
	w.strOmit("requesterIssuer", g.RequesterIssuer)
	w.strOmit("requesterSubject", g.RequesterSubject)
	w.strOmit("reason", g.Reason)
	if g.DurationSeconds > 0 {
		w.int("durationSeconds", g.DurationSeconds)
	}
	if !g.Start.IsZero() {
		w.time("start", g.Start)
	}
	if !g.End.IsZero() {
		w.time("end", g.End)
	}
	w.strOmit("status", g.Status)
	w.close()
}
