package audit

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Verification reads few fields of a line (its chain, its kind and the
// time of a checkpoint) but must know the line is JSON. scanChainLine does
// both in one flat pass: the members it reads are matched by name at the
// two levels where encoding/json would fill lineFields, and everything
// else is validated without being kept. Like decodeFast it gives up on
// what encoding/json might read differently (a duplicate or case-folded
// member name, an escape in a value it keeps, a null, nesting deeper than
// 64), and the caller then unmarshals the line.

// chainTopNames and chainIamgateNames are the member names json.Unmarshal would match to a field
// of lineFields, at the top, in "iamgate" and in "chain".
var (
	chainTopNames     = fieldSet("eventTime iamgate chain")
	chainIamgateNames = fieldSet("kind reason")
)

// scanChainLine reads into l what verification reads of line and reports
// whether it could; on false, l is undefined.
func scanChainLine(b []byte, l *chainLine) bool {
	var seen uint8
	i, ok := scanObject(b, wsAt(b, 0), func(k []byte, i int) (int, bool) {
		switch string(k) {
		case "eventTime":
			return onceThen(&seen, 1, func() (int, bool) {
				end, ok := skipJSON(b, i)
				if ok {
					l.rawTime = b[i:end]
				}
				return end, ok
			})
		case "iamgate":
			return onceThen(&seen, 2, func() (int, bool) { return scanChainIamgate(b, i, l) })
		case "chain":
			return onceThen(&seen, 4, func() (int, bool) { return scanChainFields(b, i, l) })
		}
		if foldsTo(k, chainTopNames) {
			return 0, false
		}
		return skipJSON(b, i)
	})
	return ok && wsAt(b, i) == len(b)
}

// scanChainIamgate reads the iamgate object at b[i:] (after white space).
func scanChainIamgate(b []byte, i int, l *chainLine) (int, bool) {
	var seen uint8
	return scanObject(b, i, func(k []byte, i int) (int, bool) {
		switch string(k) {
		case "kind":
			return onceThen(&seen, 1, func() (int, bool) { return plainString(b, i, &l.kind) })
		case "reason":
			return onceThen(&seen, 2, func() (int, bool) { return plainString(b, i, &l.reason) })
		}
		if foldsTo(k, chainIamgateNames) {
			return 0, false
		}
		return skipJSON(b, i)
	})
}

// scanChainFields reads the chain object at b[i:] (after white space).
func scanChainFields(b []byte, i int, l *chainLine) (int, bool) {
	var seen uint8
	return scanObject(b, i, func(k []byte, i int) (int, bool) {
		var dst *[]byte
		var bit uint8
		switch string(k) {
		case "seq":
			return onceThen(&seen, 1, func() (int, bool) { return plainUint(b, i, &l.seq) })
		case "stream":
			dst, bit = &l.stream, 2
		case "prev":
			dst, bit = &l.prev, 4
		case "keyId":
			dst, bit = &l.keyID, 8
		case "signature":
			dst, bit = &l.signature, 16
		default:
			if foldsTo(k, chainFieldSet) {
				return 0, false
			}
			return skipJSON(b, i)
		}
		return onceThen(&seen, bit, func() (int, bool) { return plainBytes(b, i, dst) })
	})
}

// scanObject reads the object at b[i:] (after white space), calling member
// with each member's name and the index of its value (after white
// space); member returns the index after the value. It returns the index
// after the object. A null fails.
func scanObject(b []byte, i int, member func(k []byte, i int) (int, bool)) (int, bool) {
	i, empty, ok := enterObject(b, i)
	if empty {
		return i, ok
	}
	for ok {
		var k []byte
		if k, i, ok = memberName(b, i); !ok {
			break
		}
		if i, ok = member(k, i); !ok {
			break
		}
		var end bool
		if i, end, ok = afterMember(b, i); end {
			return i, true
		}
	}
	return 0, false
}

// onceThen runs read unless bit is in *seen (a member given twice, which
// encoding/json would merge or overwrite, fails), and adds it.
func onceThen(seen *uint8, bit uint8, read func() (int, bool)) (int, bool) {
	if *seen&bit != 0 {
		return 0, false
	}
	*seen |= bit
	return read()
}

// enterObject reads the opening brace of an object at b[i:] and the white
// space after it; empty reports an object without members, i then after
// its closing brace. A null fails.
func enterObject(b []byte, i int) (j int, empty, ok bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false, false
	}
	j = wsAt(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, true, true
	}
	return j, false, true
}

// afterMember reads what follows a member's value: a comma (j is the next
// name) or the closing brace (end; j after it).
func afterMember(b []byte, i int) (j int, end, ok bool) {
	i = wsAt(b, i)
	if i >= len(b) {
		return 0, false, false
	}
	switch b[i] {
	case ',':
		return wsAt(b, i+1), false, true
	case '}':
		return i + 1, true, true
	}
	return 0, false, false
}

// plainUint reads a JSON number that is a uint64 with no fraction or
// exponent; anything else fails, for encoding/json to decide.
func plainUint(b []byte, i int, dst *uint64) (int, bool) {
	j := numberEnd(b, i)
	if j < 0 || b[i] < '0' || b[i] > '9' || j-i > 1 && b[i] == '0' {
		return 0, false
	}
	var n uint64
	for _, c := range b[i:j] {
		if c < '0' || c > '9' || n > (1<<64-1-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	*dst = n
	return j, true
}

// plainString reads a string value with no escape and only ASCII into
// dst, interned when it is one of internTable's.
func plainString(b []byte, i int, dst *string) (int, bool) {
	var raw []byte
	j, ok := plainBytes(b, i, &raw)
	if ok {
		if v, in := internTable[string(raw)]; in {
			*dst = v
		} else {
			*dst = string(raw)
		}
	}
	return j, ok
}

// plainBytes reads a string value with no escape and only ASCII: dst is
// its bytes in b.
func plainBytes(b []byte, i int, dst *[]byte) (int, bool) {
	end, plain := stringEnd(b, i)
	if end < 0 || !plain {
		return 0, false
	}
	*dst = b[i+1 : end-1]
	return end, true
}

// memberName reads a member name at b[i:] and its colon; j is the index
// of the value, after white space. A name with an escape or a byte that is
// not ASCII fails: encoding/json would unescape it and match it to a field
// by Unicode case folding.
func memberName(b []byte, i int) (k []byte, j int, ok bool) {
	end, plain := stringEnd(b, i)
	if end < 0 || !plain {
		return nil, 0, false
	}
	k = b[i+1 : end-1]
	j = wsAt(b, end)
	if j >= len(b) || b[j] != ':' {
		return nil, 0, false
	}
	return k, wsAt(b, j+1), true
}

// foldsTo reports whether k equals one of names but for case (then
// encoding/json would fill that field).
func foldsTo(k []byte, names [][]byte) bool {
	for _, f := range names {
		if len(f) == len(k) && bytes.EqualFold(f, k) {
			return true
		}
	}
	return false
}

func wsAt(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i // no white space: the lines iamgate writes
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index after the string token at b[i:], or -1 if
// there is none; plain is true when it holds no escape and only ASCII.
func stringEnd(b []byte, i int) (end int, plain bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	i++
	plain = true
	for {
		if i+8 <= len(b) {
			m := swarSpecialMask(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && !strSpecial[b[i]] {
				i++
			}
			if i == len(b) {
				return -1, false
			}
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			if i = escapeEnd(b, i); i < 0 {
				return -1, false
			}
		case c < 0x20:
			return -1, false
		default: // not ASCII
			plain = false
			i++
		}
	}
}

// skipString returns the index after the string token at b[i:], or -1 if
// there is none: stringEnd for a string that is not kept. It is a loop of
// its own, not stringEnd with another mask: this is the hottest loop of
// the audit tools, and a mask passed as a function would not be inlined.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	i++
	for {
		if i+8 <= len(b) {
			m := swarEndMask(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
				i++
			}
			if i == len(b) {
				return -1
			}
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i = escapeEnd(b, i); i < 0 {
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// escapeEnd returns the index after the escape at b[i:], or -1.
func escapeEnd(b []byte, i int) int {
	if i+1 >= len(b) {
		return -1
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		if i+6 > len(b) {
			return -1
		}
		for _, h := range b[i+2 : i+6] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return -1
			}
		}
		return i + 6
	}
	return -1
}

const swarLo, swarHi = 0x0101010101010101, 0x8080808080808080

// swarSpecialMask has the high bit set of each byte of x that is special
// (strSpecial), and maybe of some above the lowest: the lowest is exact.
func swarSpecialMask(x uint64) uint64 {
	q, bs := x^(swarLo*'"'), x^(swarLo*'\\')
	return (x | (x - swarLo*0x20) | (q - swarLo) | (bs - swarLo)) & swarHi
}

// swarEndMask is swarSpecialMask for bytes that end or escape a string or
// are not allowed in one (a quote, a backslash, a control character): not
// ASCII is ordinary. The lowest set bit is exact.
func swarEndMask(x uint64) uint64 {
	q, bs := x^(swarLo*'"'), x^(swarLo*'\\')
	return ((x-swarLo*0x20)&^x | (q-swarLo)&^q | (bs-swarLo)&^bs) & swarHi
}

// skipJSON validates the JSON value at b[i:] (after white space) and
// returns the index after it. It is flat: nesting is kept in a bit stack
// of 64 levels (1 for an object), and deeper values fail.
func skipJSON(b []byte, i int) (int, bool) {
	var stack uint64
	depth := 0
	for {
		// A value.
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '"':
			if i = skipString(b, i); i < 0 {
				return 0, false
			}
		case c == '{' || c == '[':
			if depth == 64 {
				return 0, false
			}
			stack <<= 1
			depth++
			i = wsAt(b, i+1)
			if c == '{' {
				stack |= 1
				if i < len(b) && b[i] == '}' {
					i++
					stack >>= 1
					depth--
					break
				}
				end := skipString(b, i)
				if end < 0 {
					return 0, false
				}
				if i = wsAt(b, end); i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = wsAt(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				i++
				stack >>= 1
				depth--
				break
			}
			continue
		case c == 't':
			if !bytes.HasPrefix(b[i:], []byte("true")) {
				return 0, false
			}
			i += 4
		case c == 'f':
			if !bytes.HasPrefix(b[i:], []byte("false")) {
				return 0, false
			}
			i += 5
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return 0, false
			}
			i += 4
		default:
			if i = numberEnd(b, i); i < 0 {
				return 0, false
			}
		}
		// After a value: close what it ends, or go on to the next.
		for {
			if depth == 0 {
				return i, true
			}
			i = wsAt(b, i)
			if i >= len(b) {
				return 0, false
			}
			c := b[i]
			obj := stack&1 != 0
			closer := byte(']')
			if obj {
				closer = '}'
			}
			if c == closer {
				i++
				stack >>= 1
				depth--
				continue
			}
			if c != ',' {
				return 0, false
			}
			i = wsAt(b, i+1)
			if obj {
				end := skipString(b, i)
				if end < 0 {
					return 0, false
				}
				if i = wsAt(b, end); i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = wsAt(b, i+1)
			}
			break
		}
	}
}

// numberEnd returns the index after the JSON number at b[i:], or -1.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1
		}
	}
	return i
}
