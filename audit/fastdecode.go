package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The audit tools (report, query, verify) read hundreds of megabytes of
// events. Decode unmarshals a whole line with encoding/json, which reads
// about 40 MB/s; decodeFast reads the same fields with a hand-written
// scanner that validates the line as it goes, and gives up (so that the
// caller decodes the line with Decode) on anything encoding/json might
// read differently: a null, a duplicate member, a member name that differs
// from a known one only in case or holds an escape, a number that does not
// fit its field. What it returns is what Decode returns, for the fields it
// fills (see FuzzDecodeFast).

// view is an event as the audit tools read it: the fields of an Event they
// use, and the raw JSON of the recorded claims. decodeFast validates the
// other fields, but leaves them empty: EventID, RequestID, UserAgent, ARN,
// IssuerURL, Fingerprint, SessionID, Expiry, Lifetime, Role, Policy, Sid,
// Message, DurationMS, UpstreamMS, UpstreamRequestID, ConfigDigest, Actor,
// DeniedKeys, Parameters, RoleSessionName, DurationSeconds and Claims (see
// claims), and the chain fields but Seq unless asked for (withChain).
type view struct {
	Event
	claims  []byte // userIdentity.sessionContext.webIdFederationData.attributes; nil: none
	rawTime []byte // eventTime as written, quotes included; set by decodeFast only
}

// decodeView reads line into v, without the chain fields: by decodeFast
// when it can (sharing strings through table, which may be nil), by
// Decode otherwise. The error is Decode's.
func decodeView(line []byte, v *view, table strTable) error {
	if decodeFastShared(line, v, 0, table) {
		return nil
	}
	e, err := Decode(line)
	if err != nil {
		return err
	}
	*v = view{Event: *e}
	return nil
}

// Claim returns the recorded claim name of v as text: a string as is,
// another JSON value as JSON; ok is false when the event does not record
// it.
func (v *view) claim(name string) (value any, ok bool) {
	if v.Claims != nil {
		value, ok = v.Claims[name]
		return value, ok
	}
	if len(v.claims) == 0 {
		return nil, false
	}
	var m map[string]any
	if json.Unmarshal(v.claims, &m) != nil {
		return nil, false
	}
	v.Claims = m
	value, ok = m[name]
	return value, ok
}

// fscan is a cursor over one line. ok turns false at the first thing the
// fast path does not take; every method is then a no-op.
type fscan struct {
	b  []byte
	i  int
	ok bool
	// shared holds strings read before (identities, buckets, roles,
	// addresses), so that the lines of a block that repeat them share
	// one copy; nil: every string is allocated.
	shared strTable
}

// strTable maps strings to a copy of themselves.
type strTable map[string]string

// maxShared bounds a strTable.
const maxShared = 4096

func (s *fscan) fail() bool { s.ok = false; return false }

func (s *fscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *fscan) peek() byte {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i] // no white space: the lines iamgate writes
	}
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *fscan) expect(c byte) bool {
	if !s.ok || s.peek() != c {
		return s.fail()
	}
	s.i++
	return true
}

// rawString reads a string token and returns it with its quotes; plain is
// true when it holds no escape and only ASCII.
func (s *fscan) rawString() (tok []byte, plain bool) {
	if !s.ok || s.peek() != '"' {
		s.fail()
		return nil, false
	}
	start := s.i
	s.i++
	plain = true
	b := s.b
	for {
		// Runs of ordinary characters, the bulk of a line, eight at a time.
		for s.i+8 <= len(b) && !swarSpecial(binary.LittleEndian.Uint64(b[s.i:])) {
			s.i += 8
		}
		end := min(s.i+8, len(b))
		for s.i < end && !strSpecial[b[s.i]] {
			s.i++
		}
		if s.i == len(b) {
			break
		}
		if s.i == end {
			continue // eight ordinary characters after all
		}
		switch c := b[s.i]; {
		case c == '"':
			s.i++
			return b[start:s.i], plain
		case c == '\\':
			plain = false
			if s.i+1 >= len(b) {
				s.fail()
				return nil, false
			}
			switch b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(b) {
					s.fail()
					return nil, false
				}
				for _, h := range b[s.i+2 : s.i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						s.fail()
						return nil, false
					}
				}
				s.i += 6
			default:
				s.fail()
				return nil, false
			}
		case c < 0x20:
			s.fail()
			return nil, false
		default: // not ASCII
			plain = false
			s.i++
		}
	}
	s.fail()
	return nil, false
}

// swarSpecial reports whether one of the eight bytes of x may be special
// (see strSpecial); it may say so of ordinary ones too.
func swarSpecial(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	// A byte with its high bit set is special; below that, a byte less
	// than 0x20, or equal to '"' or '\\' (xor zero), sets the high bit of
	// its subtraction. A borrow starts only at such a byte.
	q, bs := x^(lo*'"'), x^(lo*'\\')
	return (x|(x-lo*0x20)|(q-lo)|(bs-lo))&hi != 0
}

// strSpecial marks the bytes that end a run of ordinary string characters:
// the quote, the backslash, control characters and non-ASCII bytes.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// skipStr reads a string value the caller does not keep.
func (s *fscan) skipStr() { s.rawString() }

// interned is str for values of a small vocabulary (kinds, decisions,
// operations, …): those are not allocated again for every line.
func (s *fscan) interned() string {
	tok, plain := s.rawString()
	if s.ok && plain {
		if v, ok := internTable[string(tok[1:len(tok)-1])]; ok {
			return v
		}
	}
	if !s.ok {
		return ""
	}
	s.i -= len(tok)
	return s.str()
}

// internTable holds the values interned reads without allocating.
var internTable = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{KindS3, KindSTS, KindAuthFailure, KindConfigReload, KindStart, KindStop, KindRevocation,
		KindLogin, KindLoginFailure, KindLogout, KindShareLink, KindAdmin, KindEscalation, KindCheckpoint,
		"allow", "deny", "error", "allowed", "no_allow", "explicit_deny", "session_policy", "no_role", "interval", "timer", "close",
		"human", "machine", "agent", "SigV4", "SigV2",
		"bearer", "sigv4", "sigv4-presigned", "sigv4-post", "sigv2", "sigv2-presigned", "sigv2-post", "service-credential",
		"browser-session", "share-link", "web_identity", "oidc-code", "refresh-token", "ldap", "admin-token", "none",
		"AccessDenied", "NoSuchKey", "NoSuchBucket", "S3Request", "STSRequest"} {
		m[v] = v
	}
	for _, op := range []string{"GetObject", "HeadObject", "PutObject", "DeleteObject", "DeleteObjects", "CopyObject",
		"ListObjects", "ListObjectsV2", "ListObjectVersions", "ListBuckets", "HeadBucket", "GetBucketLocation",
		"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListMultipartUploads", "ListParts",
		"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "AssumeRoleWithWebIdentity", "AssumeRole"} {
		m[op] = op
		m["s3:"+op] = "s3:" + op
	}
	m["s3:ListBucket"] = "s3:ListBucket"
	m["sts:AssumeRoleWithWebIdentity"] = "sts:AssumeRoleWithWebIdentity"
	return m
}()

// sharedStr is str for values that repeat from line to line.
func (s *fscan) sharedStr() string {
	if s.shared == nil {
		return s.str()
	}
	tok, plain := s.rawString()
	if !s.ok {
		return ""
	}
	if !plain {
		s.i -= len(tok)
		return s.str()
	}
	raw := tok[1 : len(tok)-1]
	if v, ok := s.shared[string(raw)]; ok {
		return v
	}
	v := string(raw)
	if len(s.shared) < maxShared {
		s.shared[v] = v
	}
	return v
}

// str reads a string value as encoding/json would.
func (s *fscan) str() string {
	tok, plain := s.rawString()
	if !s.ok {
		return ""
	}
	if plain || utf8.Valid(tok) && bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	var v string
	if json.Unmarshal(tok, &v) != nil {
		s.fail()
	}
	return v
}

// key reads a member name and its colon. A name that is not plain ASCII
// fails: encoding/json would unescape it and match it to a field ignoring
// case, even by Unicode folding.
func (s *fscan) key() []byte {
	tok, plain := s.rawString()
	if !s.ok || !plain || !s.expect(':') {
		s.fail()
		return nil
	}
	return tok[1 : len(tok)-1]
}

// unknown checks a member name that matched no field of a struct: a name
// equal to one of them but for case fails (encoding/json would fill the
// field); any other is skipped with its value.
func (s *fscan) unknown(k []byte, fields [][]byte) {
	for _, f := range fields {
		if len(f) == len(k) && bytes.EqualFold(f, k) {
			s.fail()
			return
		}
	}
	s.skip(0)
}

// fieldSet splits the member names of a struct.
func fieldSet(names string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(names) {
		out = append(out, []byte(f))
	}
	return out
}

var (
	credentialsFields    = fieldSet("accessKeyId expiration")
	responseFields       = fieldSet("credentials provider")
	resourceFields       = fieldSet("type ARN")
	additionalFields     = fieldSet("bytesTransferredIn bytesTransferredOut AuthenticationMethod SignatureVersion")
	chainFieldSet        = fieldSet("stream seq prev keyId signature")
	topFieldsSet         = fieldSet(topFields)
	federationFields     = fieldSet("federatedProvider attributes")
	sessionContextFields = fieldSet("webIdFederationData")
	identityFieldsSet    = fieldSet(identityFields)
	timingsFields        = fieldSet("totalMs upstreamMs")
	deniedKeyFields      = fieldSet("key versionId action reason matchedRole matchedPolicy matchedSid")
	iamgateFieldsSet     = fieldSet(iamgateFields)
	actorFields          = fieldSet("sub iss client_id role act")
)

// object reads the members of an object, calling member for each; member
// reads the value. A null object fails.
func (s *fscan) object(member func(k []byte)) {
	if !s.expect('{') {
		return
	}
	if s.peek() == '}' {
		s.i++
		return
	}
	for s.ok {
		k := s.key()
		if !s.ok {
			return
		}
		member(k)
		if !s.ok {
			return
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// array reads the elements of an array, calling elem for each.
func (s *fscan) array(elem func()) {
	if !s.expect('[') {
		return
	}
	if s.peek() == ']' {
		s.i++
		return
	}
	for s.ok {
		elem()
		if !s.ok {
			return
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// number reads a JSON number token.
func (s *fscan) number() []byte {
	if !s.ok {
		return nil
	}
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		s.fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	return s.b[start:s.i]
}

func (s *fscan) int64() int64 {
	n, err := strconv.ParseInt(string(s.number()), 10, 64)
	if s.ok && err != nil {
		s.fail()
	}
	return n
}

func (s *fscan) uint64() uint64 {
	n, err := strconv.ParseUint(string(s.number()), 10, 64)
	if s.ok && err != nil {
		s.fail()
	}
	return n
}

func (s *fscan) float64() float64 {
	f, err := strconv.ParseFloat(string(s.number()), 64)
	if s.ok && err != nil {
		s.fail()
	}
	return f
}

func (s *fscan) bool() {
	switch {
	case !s.ok:
	case s.peek() == 't' && bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
	case s.peek() == 'f' && bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
	default:
		s.fail()
	}
}

func (s *fscan) time() time.Time {
	tok, plain := s.rawString()
	var t time.Time
	if s.ok && (!plain || t.UnmarshalJSON(tok) != nil) {
		s.fail()
	}
	return t
}

// maxSkipDepth bounds the nesting of values skipped: encoding/json refuses
// more than 10000 levels; the fast path gives deep values to it.
const maxSkipDepth = 64

// skip reads and validates any JSON value.
func (s *fscan) skip(depth int) {
	if !s.ok {
		return
	}
	if depth > maxSkipDepth {
		s.fail()
		return
	}
	switch c := s.peek(); {
	case c == '"':
		s.rawString()
	case c == '{':
		s.object(func([]byte) { s.skip(depth + 1) })
	case c == '[':
		s.array(func() { s.skip(depth + 1) })
	case c == 't' || c == 'f':
		s.bool()
	case c == 'n':
		if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
			s.i += 4
		} else {
			s.fail()
		}
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	default:
		s.fail()
	}
}

// once reports whether bit is not yet in *seen, and adds it: a member
// given twice fails (encoding/json would merge or overwrite).
func (s *fscan) once(seen *uint64, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		return s.fail()
	}
	*seen |= 1 << bit
	return true
}

const (
	topFields      = "eventVersion eventTime eventName eventID requestID sourceIPAddress userAgent userIdentity requestParameters responseElements resources errorCode errorMessage additionalEventData iamgate chain"
	identityFields = "principalId arn accessKeyId userName identityProvider sessionContext"
	iamgateFields  = "kind decision reason action roles roleKind matchedRole matchedPolicy matchedSid tokenFingerprint sessionId sessionExpiry lifetimeSeconds actor status timings upstreamRequestId deniedKeys configDigest message"
)

// decodeOpts choose what decodeFast keeps.
type decodeOpts uint8

// withChain keeps the chain fields (Stream, Seq, Prev, KeyID, Signature),
// which only verification reads; without it only Seq is kept.
const withChain decodeOpts = 1

// decodeFast reads line into v and reports whether it could; on false, v
// is undefined and the caller decodes the line with Decode.
func decodeFast(line []byte, v *view, opts decodeOpts) bool {
	return decodeFastShared(line, v, opts, nil)
}

// decodeFastShared is decodeFast sharing the strings of table between
// lines (see fscan.shared).
func decodeFastShared(line []byte, v *view, opts decodeOpts, table strTable) bool {
	*v = view{}
	s := &fscan{b: line, ok: true, shared: table}
	chain := opts&withChain != 0
	chainStr := func(dst *string) {
		if chain {
			*dst = s.str()
		} else {
			s.skipStr()
		}
	}
	e := &v.Event
	var (
		version    string
		name       string
		seen       uint64
		params     struct{ bucket, key, prefix string }
		resources  []string // object ARNs
		hasCreds   bool
		credKey    string
		sigVersion string
	)
	s.object(func(k []byte) {
		switch string(k) {
		case "eventVersion":
			s.once(&seen, 0)
			version = s.str()
		case "eventTime":
			s.once(&seen, 1)
			start := s.i
			e.Time = s.time()
			v.rawTime = bytes.TrimLeft(s.b[start:s.i], " \t\r\n")
		case "eventName":
			s.once(&seen, 2)
			name = s.interned()
		case "eventID":
			s.once(&seen, 3)
			s.skipStr()
		case "requestID":
			s.once(&seen, 4)
			s.skipStr()
		case "sourceIPAddress":
			s.once(&seen, 5)
			e.SourceIP = s.sharedStr()
		case "userAgent":
			s.once(&seen, 6)
			s.skipStr()
		case "userIdentity":
			s.once(&seen, 7)
			s.identity(v)
		case "requestParameters":
			s.once(&seen, 8)
			s.object(func(k []byte) {
				var dst *string
				switch string(k) {
				case "bucketName":
					dst = &params.bucket
				case "key":
					dst = &params.key
				case "prefix":
					dst = &params.prefix
				}
				if dst == nil {
					s.skip(1)
					return
				}
				// Last one wins, as in a map; a value of another type
				// leaves the field empty, as Decode does.
				if s.peek() == '"' && dst == &params.bucket {
					*dst = s.sharedStr()
				} else if s.peek() == '"' {
					*dst = s.str()
				} else {
					*dst = ""
					s.skip(1)
				}
			})
		case "responseElements":
			s.once(&seen, 9)
			var re uint64
			s.object(func(k []byte) {
				switch string(k) {
				case "credentials":
					s.once(&re, 0)
					hasCreds = true
					var c uint64
					s.object(func(k []byte) {
						switch string(k) {
						case "accessKeyId":
							s.once(&c, 0)
							credKey = s.str()
						case "expiration":
							s.once(&c, 1)
							s.time()
						default:
							s.unknown(k, credentialsFields)
						}
					})
				case "provider":
					s.once(&re, 1)
					s.skipStr()
				default:
					s.unknown(k, responseFields)
				}
			})
		case "resources":
			s.once(&seen, 10)
			s.array(func() {
				var typ, arn string
				var r uint64
				s.object(func(k []byte) {
					switch string(k) {
					case "type":
						s.once(&r, 0)
						typ = s.str()
					case "ARN":
						s.once(&r, 1)
						arn = s.str()
					default:
						s.unknown(k, resourceFields)
					}
				})
				if typ == "AWS::S3::Object" {
					resources = append(resources, arn)
				}
			})
		case "errorCode":
			s.once(&seen, 11)
			e.ErrorCode = s.interned()
		case "errorMessage":
			s.once(&seen, 12)
			s.skipStr()
		case "additionalEventData":
			s.once(&seen, 13)
			var a uint64
			s.object(func(k []byte) {
				switch string(k) {
				case "bytesTransferredIn":
					s.once(&a, 0)
					e.BytesIn = s.int64()
				case "bytesTransferredOut":
					s.once(&a, 1)
					e.BytesOut = s.int64()
				case "AuthenticationMethod":
					s.once(&a, 2)
					e.AuthMethod = s.interned()
				case "SignatureVersion":
					s.once(&a, 3)
					sigVersion = s.interned()
				default:
					s.unknown(k, additionalFields)
				}
			})
		case "iamgate":
			s.once(&seen, 14)
			s.iamgate(e)
		case "chain":
			s.once(&seen, 15)
			var c uint64
			s.object(func(k []byte) {
				switch string(k) {
				case "stream":
					s.once(&c, 0)
					chainStr(&e.Stream)
				case "seq":
					s.once(&c, 1)
					e.Seq = s.uint64()
				case "prev":
					s.once(&c, 2)
					chainStr(&e.Prev)
				case "keyId":
					s.once(&c, 3)
					chainStr(&e.KeyID)
				case "signature":
					s.once(&c, 4)
					chainStr(&e.Signature)
				default:
					s.unknown(k, chainFieldSet)
				}
			})
		default:
			s.unknown(k, topFieldsSet)
		}
	})
	if s.ws(); !s.ok || s.i != len(s.b) {
		return false
	}
	// What Decode does with the fields, for those filled here.
	if version == "" || e.Kind == "" {
		return false // Decode's error
	}
	if major, _, _ := strings.Cut(version, "."); major != "2" {
		return false
	}
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure:
		e.Operation = name
		if e.Operation == "S3Request" || e.Operation == "STSRequest" {
			e.Operation = ""
		}
	case KindLogin, KindLoginFailure, KindLogout, KindShareLink:
		e.Operation = name
	}
	if hasCreds {
		e.AccessKeyID = credKey
	}
	if sigVersion != impliedSignatureVersion(e.AuthMethod) {
		e.SignatureVersion = sigVersion
	}
	e.Bucket, e.Key, e.Prefix = params.bucket, params.key, params.prefix
	if e.Bucket != "" && len(resources) > 0 {
		prefix := ARN(e.Bucket, "") + "/"
		for _, r := range resources {
			if k, ok := strings.CutPrefix(r, prefix); ok && k != e.Key {
				e.Keys = append(e.Keys, k)
			}
		}
	}
	return true
}

func (s *fscan) identity(v *view) {
	e := &v.Event
	var seen uint64
	s.object(func(k []byte) {
		switch string(k) {
		case "type":
			s.skip(1) // not a field of Decode's
		case "principalId":
			s.once(&seen, 0)
			e.Subject = s.sharedStr()
		case "arn":
			s.once(&seen, 1)
			s.skipStr()
		case "accessKeyId":
			s.once(&seen, 2)
			e.AccessKeyID = s.sharedStr()
		case "userName":
			s.once(&seen, 3)
			e.Username = s.sharedStr()
		case "identityProvider":
			s.once(&seen, 4)
			e.Issuer = s.sharedStr()
		case "sessionContext":
			s.once(&seen, 5)
			var sc uint64
			s.object(func(k []byte) {
				switch string(k) {
				case "webIdFederationData":
					s.once(&sc, 0)
					var w uint64
					s.object(func(k []byte) {
						switch string(k) {
						case "federatedProvider":
							s.once(&w, 0)
							s.skipStr()
						case "attributes":
							s.once(&w, 1)
							s.ws()
							start := s.i
							if s.peek() != '{' {
								s.fail()
								return
							}
							s.skip(1)
							if s.i-start > 2 {
								v.claims = s.b[start:s.i:s.i]
							}
						default:
							s.unknown(k, federationFields)
						}
					})
				default:
					s.unknown(k, sessionContextFields)
				}
			})
		default:
			s.unknown(k, identityFieldsSet)
		}
	})
}

// iamgate reads the iamgate member into e.
func (s *fscan) iamgate(e *Event) {
	var seen uint64
	s.object(func(k []byte) {
		switch string(k) {
		case "kind":
			s.once(&seen, 0)
			e.Kind = s.interned()
		case "decision":
			s.once(&seen, 1)
			e.Decision = s.interned()
		case "reason":
			s.once(&seen, 2)
			e.Reason = s.interned()
		case "action":
			s.once(&seen, 3)
			e.Action = s.interned()
		case "roles":
			s.once(&seen, 4)
			e.Roles = []string{}
			s.array(func() { e.Roles = append(e.Roles, s.sharedStr()) })
		case "roleKind":
			s.once(&seen, 5)
			e.RoleKind = s.interned()
		case "matchedRole":
			s.once(&seen, 6)
			s.skipStr()
		case "matchedPolicy":
			s.once(&seen, 7)
			s.skipStr()
		case "matchedSid":
			s.once(&seen, 8)
			s.skipStr()
		case "tokenFingerprint":
			s.once(&seen, 9)
			s.skipStr()
		case "sessionId":
			s.once(&seen, 10)
			s.skipStr()
		case "sessionExpiry":
			s.once(&seen, 11)
			s.time()
		case "lifetimeSeconds":
			s.once(&seen, 12)
			s.int64()
		case "actor":
			s.once(&seen, 13)
			s.actor(0)
		case "status":
			s.once(&seen, 14)
			e.Status = int(s.int64())
		case "timings":
			s.once(&seen, 15)
			var t uint64
			s.object(func(k []byte) {
				switch string(k) {
				case "totalMs":
					s.once(&t, 0)
					s.float64()
				case "upstreamMs":
					s.once(&t, 1)
					s.float64()
				default:
					s.unknown(k, timingsFields)
				}
			})
		case "upstreamRequestId":
			s.once(&seen, 16)
			s.skipStr()
		case "deniedKeys":
			s.once(&seen, 17)
			s.array(func() {
				var d uint64
				s.object(func(k []byte) {
					switch string(k) {
					case "key", "versionId", "action", "reason", "matchedRole", "matchedPolicy", "matchedSid":
						bit := uint(strings.Index("key versionId action reason matchedRole matchedPolicy matchedSid", string(k)))
						s.once(&d, bit)
						s.str()
					default:
						s.unknown(k, deniedKeyFields)
					}
				})
			})
		case "configDigest":
			s.once(&seen, 18)
			s.skipStr()
		case "message":
			s.once(&seen, 19)
			s.skipStr()
		default:
			s.unknown(k, iamgateFieldsSet)
		}
	})
}

// actor validates an actor: Decode reads it into an Actor, so its members
// must have the types of Actor's fields. The fast path does not keep it.
func (s *fscan) actor(depth int) {
	if depth > maxActorDepth+1 {
		s.fail()
		return
	}
	var seen uint64
	s.object(func(k []byte) {
		switch string(k) {
		case "sub", "iss", "client_id", "role":
			s.once(&seen, uint(strings.Index("sub iss client_id role", string(k))))
			s.str()
		case "act":
			s.once(&seen, 30)
			s.actor(depth + 1)
		default:
			s.unknown(k, actorFields)
		}
	})
}
