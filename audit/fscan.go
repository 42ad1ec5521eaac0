package audit

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// fscan is the scanner of decodeFast: a cursor over one line that reads
// JSON tokens, validating them as encoding/json would. ok turns false at
// the first thing the fast path does not take; every method is then a
// no-op.
type fscan struct {
	b  []byte
	i  int
	ok bool
	// shared holds strings read before (identities, buckets, roles,
	// addresses), so that the lines of a block that repeat them share
	// one copy; nil: every string is allocated.
	shared *strTable
}

// strTable holds strings read before, in slots chosen by their hash: a
// string found in its slot is shared, another is allocated and takes the
// slot. No map to grow, no cost for a string that does not repeat.
type strTable struct {
	slots [2048]string
	roles [64][]string // one-role arrays
}

// strTables keeps the tables of finished blocks for the next ones: the
// strings a table holds stay useful, and a table is not zeroed again.
var strTables = sync.Pool{New: func() any { return new(strTable) }}

func getStrTable() *strTable { return strTables.Get().(*strTable) }

var strSeed = maphash.MakeSeed()

func (s *fscan) fail() bool { s.ok = false; return false }

func (s *fscan) ws() { s.i = wsAt(s.b, s.i) }

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
	end, plain := stringEnd(s.b, s.i)
	if end < 0 {
		s.fail()
		return nil, false
	}
	s.i = end
	return s.b[start:end], plain
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
func (s *fscan) skipStr() {
	if !s.ok || s.peek() != '"' {
		s.fail()
		return
	}
	if s.i = skipString(s.b, s.i); s.i < 0 {
		s.i = len(s.b)
		s.fail()
	}
}

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
		"AccessDenied", "NoSuchKey", "NoSuchBucket", "S3Request", "STSRequest",
		Version, "AWS::S3::Object", "AWS::S3::Bucket"} {
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
	slot := &s.shared.slots[maphash.Bytes(strSeed, raw)%uint64(len(s.shared.slots))]
	if *slot == string(raw) {
		return *slot
	}
	*slot = string(raw)
	return *slot
}

// rawStr is str as bytes: those of the line when the value holds no
// escape and is valid UTF-8 (nothing to change), a copy otherwise.
func (s *fscan) rawStr() []byte {
	tok, plain := s.rawString()
	if !s.ok {
		return nil
	}
	if plain || utf8.Valid(tok) && bytes.IndexByte(tok, '\\') < 0 {
		return tok[1 : len(tok)-1]
	}
	s.i -= len(tok)
	return []byte(s.str())
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
	if foldsTo(k, fields) {
		s.fail()
		return
	}
	s.skip()
}

// fieldSet splits the member names of a struct.
func fieldSet(names string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(names) {
		out = append(out, []byte(f))
	}
	return out
}

// firstKey reads the opening brace of an object and its first member's
// name; nil when the object is empty or on failure (then s.ok is false).
// The caller reads the member's value, and nextKey the next name:
//
//	for k := s.firstKey(); k != nil; k = s.nextKey() { … }
//
// A null object fails.
func (s *fscan) firstKey() []byte {
	if !s.expect('{') {
		return nil
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	return s.key()
}

// nextKey reads what follows a member's value: the next member's name,
// or nil at the end of the object or on failure.
func (s *fscan) nextKey() []byte {
	if !s.ok {
		return nil
	}
	switch s.peek() {
	case ',':
		s.i++
		return s.key()
	case '}':
		s.i++
		return nil
	}
	s.fail()
	return nil
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
	end := numberEnd(s.b, s.i)
	if end < 0 {
		s.fail()
		return nil
	}
	s.i = end
	return s.b[start:end]
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

// skipFloat64 validates a number that must fit a float64, not kept.
func (s *fscan) skipFloat64() {
	n := s.number()
	if !s.ok {
		return
	}
	if len(n) < 300 && !bytes.ContainsAny(n, "eE") {
		return // fewer than 309 digits and no exponent: it fits
	}
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
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

// skip reads and validates any JSON value. The value may nest 64 levels
// (skipJSON's bound; its callers are a few levels down); a deeper one
// fails, and the line goes to encoding/json, which refuses more than
// 10000.
func (s *fscan) skip() {
	if !s.ok {
		return
	}
	s.peek()
	end, ok := skipJSON(s.b, s.i)
	if !ok {
		s.fail()
		return
	}
	s.i = end
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
