package audit

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"strings"
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
func decodeView(line []byte, v *view, table *strTable) error {
	return decodeViewOpts(line, v, 0, table)
}

// decodeViewOpts is decodeView keeping what opts asks for.
func decodeViewOpts(line []byte, v *view, opts decodeOpts, table *strTable) error {
	if decodeFastShared(line, v, opts, table) {
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
	grantFields          = fieldSet("id role requesterIssuer requesterSubject reason durationSeconds start end status")
)

const (
	topFields      = "eventVersion eventTime eventName eventID requestID sourceIPAddress userAgent userIdentity requestParameters responseElements resources errorCode errorMessage additionalEventData iamgate chain"
	identityFields = "principalId arn accessKeyId userName identityProvider sessionContext"
	iamgateFields  = "kind decision reason action roles roleKind matchedRole matchedPolicy matchedSid tokenFingerprint sessionId sessionExpiry lifetimeSeconds actor grant status timings upstreamRequestId deniedKeys configDigest message"
)

// decodeOpts choose what decodeFast keeps.
type decodeOpts uint8

const (
	// withChain keeps the chain fields (Stream, Seq, Prev, KeyID,
	// Signature), which only verification reads; without it only Seq is
	// kept.
	withChain decodeOpts = 1 << iota
	// reportFields leaves empty what the report does not read: Bucket,
	// Key, Prefix, Keys and SourceIP (validated as the other fields, not
	// kept).
	reportFields
)

// decodeFast reads line into v and reports whether it could; on false, v
// is undefined and the caller decodes the line with Decode.
func decodeFast(line []byte, v *view, opts decodeOpts) bool {
	return decodeFastShared(line, v, opts, nil)
}

// decodeFastShared is decodeFast sharing the strings of table between
// lines (see fscan.shared).
func decodeFastShared(line []byte, v *view, opts decodeOpts, table *strTable) bool {
	*v = view{}
	s := &fscan{b: line, ok: true, shared: table}
	chain := opts&withChain != 0
	reportOnly := opts&reportFields != 0
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
		resBuf     [4][]byte
		resources  = resBuf[:0] // object ARNs, as bytes of the line
		hasCreds   bool
		credKey    string
		sigVersion string
	)
	for k := s.firstKey(); k != nil; k = s.nextKey() {
		switch string(k) {
		case "eventVersion":
			s.once(&seen, 0)
			version = s.interned()
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
			if reportOnly {
				s.skipStr()
			} else {
				e.SourceIP = s.sharedStr()
			}
		case "userAgent":
			s.once(&seen, 6)
			s.skipStr()
		case "userIdentity":
			s.once(&seen, 7)
			s.identity(v)
		case "requestParameters":
			s.once(&seen, 8)
			for k := s.firstKey(); k != nil; k = s.nextKey() {
				var dst *string
				switch string(k) {
				case "bucketName":
					dst = &params.bucket
				case "key":
					dst = &params.key
				case "prefix":
					dst = &params.prefix
				}
				if dst == nil || reportOnly && s.peek() == '"' {
					s.skip()
					continue
				}
				// Last one wins, as in a map; a value of another type
				// leaves the field empty, as Decode does.
				if s.peek() == '"' && dst == &params.bucket {
					*dst = s.sharedStr()
				} else if s.peek() == '"' {
					*dst = s.str()
				} else {
					*dst = ""
					s.skip()
				}
			}
		case "responseElements":
			s.once(&seen, 9)
			var re uint64
			for k := s.firstKey(); k != nil; k = s.nextKey() {
				switch string(k) {
				case "credentials":
					s.once(&re, 0)
					hasCreds = true
					var c uint64
					for k := s.firstKey(); k != nil; k = s.nextKey() {
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
					}
				case "provider":
					s.once(&re, 1)
					s.skipStr()
				default:
					s.unknown(k, responseFields)
				}
			}
		case "resources":
			s.once(&seen, 10)
			s.array(func() {
				var typ string
				var arn []byte
				var r uint64
				for k := s.firstKey(); k != nil; k = s.nextKey() {
					switch string(k) {
					case "type":
						s.once(&r, 0)
						typ = s.interned()
					case "ARN":
						s.once(&r, 1)
						if reportOnly {
							s.skipStr()
						} else {
							arn = s.rawStr()
						}
					default:
						s.unknown(k, resourceFields)
					}
				}
				if typ == "AWS::S3::Object" && !reportOnly {
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
			for k := s.firstKey(); k != nil; k = s.nextKey() {
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
			}
		case "iamgate":
			s.once(&seen, 14)
			s.iamgate(e)
		case "chain":
			s.once(&seen, 15)
			var c uint64
			for k := s.firstKey(); k != nil; k = s.nextKey() {
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
			}
		default:
			s.unknown(k, topFieldsSet)
		}
	}
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
	e.Operation = operationOf(e.Kind, name)
	if hasCreds {
		e.AccessKeyID = credKey
	}
	if sigVersion != impliedSignatureVersion(e.AuthMethod) {
		e.SignatureVersion = sigVersion
	}
	e.Bucket, e.Key, e.Prefix = params.bucket, params.key, params.prefix
	if e.Bucket != "" && len(resources) > 0 {
		for _, r := range resources {
			// ARN(e.Bucket, k), without building it
			r, ok := bytes.CutPrefix(r, []byte("arn:aws:s3:::"))
			if ok {
				r, ok = bytes.CutPrefix(r, []byte(e.Bucket))
			}
			if ok {
				r, ok = bytes.CutPrefix(r, []byte("/"))
			}
			if ok && string(r) != e.Key {
				e.Keys = append(e.Keys, string(r))
			}
		}
	}
	return true
}

func (s *fscan) identity(v *view) {
	e := &v.Event
	var seen uint64
	for k := s.firstKey(); k != nil; k = s.nextKey() {
		switch string(k) {
		case "type":
			s.skip() // not a field of Decode's
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
			for k := s.firstKey(); k != nil; k = s.nextKey() {
				switch string(k) {
				case "webIdFederationData":
					s.once(&sc, 0)
					var w uint64
					for k := s.firstKey(); k != nil; k = s.nextKey() {
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
								continue
							}
							s.skip()
							if s.i-start > 2 {
								v.claims = s.b[start:s.i:s.i]
							}
						default:
							s.unknown(k, federationFields)
						}
					}
				default:
					s.unknown(k, sessionContextFields)
				}
			}
		default:
			s.unknown(k, identityFieldsSet)
		}
	}
}

// roles reads the roles array. With a table, an array of one role shares
// its slice with the lines before that had it (nothing changes Roles).
func (s *fscan) roles() []string {
	roles := []string{}
	if s.shared != nil && s.peek() == '[' {
		start := s.i
		s.i++
		if s.peek() == '"' {
			role := s.sharedStr()
			if s.ok && s.peek() == ']' {
				s.i++
				slot := &s.shared.roles[maphash.String(strSeed, role)%uint64(len(s.shared.roles))]
				if len(*slot) != 1 || (*slot)[0] != role {
					*slot = []string{role}
				}
				return *slot
			}
		}
		s.i = start // more than one: read them all
	}
	s.array(func() { roles = append(roles, s.sharedStr()) })
	return roles
}

// iamgate reads the iamgate member into e.
func (s *fscan) iamgate(e *Event) {
	var seen uint64
	for k := s.firstKey(); k != nil; k = s.nextKey() {
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
			e.Roles = s.roles()
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
		case "grant":
			s.once(&seen, 20)
			s.grant()
		case "status":
			s.once(&seen, 14)
			e.Status = int(s.int64())
		case "timings":
			s.once(&seen, 15)
			var t uint64
			for k := s.firstKey(); k != nil; k = s.nextKey() {
				switch string(k) {
				case "totalMs":
					s.once(&t, 0)
					s.skipFloat64()
				case "upstreamMs":
					s.once(&t, 1)
					s.skipFloat64()
				default:
					s.unknown(k, timingsFields)
				}
			}
		case "upstreamRequestId":
			s.once(&seen, 16)
			s.skipStr()
		case "deniedKeys":
			s.once(&seen, 17)
			s.array(func() {
				var d uint64
				for k := s.firstKey(); k != nil; k = s.nextKey() {
					switch string(k) {
					case "key", "versionId", "action", "reason", "matchedRole", "matchedPolicy", "matchedSid":
						bit := uint(strings.Index("key versionId action reason matchedRole matchedPolicy matchedSid", string(k)))
						s.once(&d, bit)
						s.str()
					default:
						s.unknown(k, deniedKeyFields)
					}
				}
			})
		case "configDigest":
			s.once(&seen, 18)
			e.ConfigDigest = s.sharedStr()
		case "message":
			s.once(&seen, 19)
			s.skipStr()
		default:
			s.unknown(k, iamgateFieldsSet)
		}
	}
}

// grant validates a grant: Decode reads it into a Grant, so its members
// must have the types of Grant's fields. The fast path does not keep it.
func (s *fscan) grant() {
	var seen uint64
	for k := s.firstKey(); k != nil; k = s.nextKey() {
		switch string(k) {
		case "id", "role", "requesterIssuer", "requesterSubject", "reason", "status":
			s.once(&seen, uint(strings.Index("id role requesterIssuer requesterSubject reason status", string(k))))
			s.str()
		case "durationSeconds":
			s.once(&seen, 60)
			s.int64()
		case "start":
			s.once(&seen, 61)
			s.time()
		case "end":
			s.once(&seen, 62)
			s.time()
		default:
			s.unknown(k, grantFields)
		}
	}
}

// actor validates an actor: Decode reads it into an Actor, so its members
// must have the types of Actor's fields. The fast path does not keep it.
func (s *fscan) actor(depth int) {
	if depth > maxActorDepth+1 {
		s.fail()
		return
	}
	var seen uint64
	for k := s.firstKey(); k != nil; k = s.nextKey() {
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
	}
}
