package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkFast compares decodeFast with Decode on line. It reports whether
// the fast path took the line.
func checkFast(t *testing.T, line []byte) bool {
	t.Helper()
	var v, o view
	took := decodeFast(line, &v, withChain)
	if tookO := decodeFast(line, &o, reportFields); tookO != took {
		// The options choose what is kept, never what is taken.
		t.Fatalf("with the chain the fast path took the line: %v, report fields: %v:\n%s", took, tookO, line)
	}
	if !took {
		return false
	}
	want, err := Decode(line)
	if err != nil {
		t.Fatalf("fast path took a line Decode refuses (%v):\n%s", err, line)
	}
	// The fields the fast path leaves out.
	w := *want
	w.Actor, w.Grant, w.DeniedKeys, w.RoleSessionName, w.DurationSeconds, w.Parameters, w.Claims = nil, nil, nil, "", 0, nil, nil
	w.EventID, w.RequestID, w.UserAgent, w.ARN, w.IssuerURL, w.Fingerprint, w.SessionID = "", "", "", "", "", "", ""
	w.Expiry, w.Lifetime, w.Role, w.Policy, w.Sid, w.Message = time.Time{}, 0, "", "", "", ""
	w.DurationMS, w.UpstreamMS, w.UpstreamRequestID = 0, 0, ""
	got := v.Event
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("%s:\n fast %+v\n json %+v", line, got, w)
	}
	w.Bucket, w.Key, w.Prefix, w.Keys, w.SourceIP = "", "", "", nil, ""
	w.Stream, w.Prev, w.KeyID, w.Signature = "", "", "", ""
	if !reflect.DeepEqual(o.Event, w) {
		t.Fatalf("%s: report fields:\n fast %+v\n json %+v", line, o.Event, w)
	}
	var claims map[string]any
	if len(v.claims) > 0 {
		if err := json.Unmarshal(v.claims, &claims); err != nil {
			t.Fatalf("claims %s: %v", v.claims, err)
		}
	}
	if len(claims) != len(want.Claims) || len(claims) > 0 && !reflect.DeepEqual(claims, want.Claims) {
		t.Fatalf("%s:\n fast claims %v\n json claims %v", line, claims, want.Claims)
	}
	return true
}

// compact returns the golden events of testdata/events as lines.
func goldenLines(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events: %v", err)
	}
	var lines [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
	}
	return lines
}

// Every kind of event this package writes takes the fast path, and reads
// as Decode reads it.
func TestDecodeFastGolden(t *testing.T) {
	for _, line := range goldenLines(t) {
		if !checkFast(t, line) {
			t.Errorf("fast path refused a line this package writes:\n%s", line)
		}
		// Indented, as a person might have reformatted it: still the same.
		var buf bytes.Buffer
		json.Indent(&buf, line, "", "  ")
		checkFast(t, buf.Bytes())
	}
	var buf bytes.Buffer
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 2, SigningKey: testKey}, WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e := sampleEvent()
		e.Claims = map[string]any{"agent_run": "r-1", "groups": []any{"a", "b"}, "n": 1.5}
		l.Log(e)
	}
	l.Close()
	for line := range bytes.SplitSeq(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if !checkFast(t, line) {
			t.Errorf("fast path refused a chained line:\n%s", line)
		}
	}
}

// What encoding/json reads differently must not take the fast path, or
// must read the same.
func TestDecodeFastRefuses(t *testing.T) {
	for _, line := range []string{
		`{"eventVersion":"2.0","iamgate":{"kind":"s3"},"eventTime":null}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","Decision":"deny","decision":"allow"}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3"},"iamgate":{"decision":"allow"}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","\u0064ecision":"deny"}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","ſtatus":1}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","status":1.5}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3"},"additionalEventData":{"bytesTransferredIn":1e3}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","timings":{"totalMs":1e400}}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3"}} x`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3"}}` + "\x00",
		`{"eventVersion":"3.0","iamgate":{"kind":"s3"}}`,
		`{"eventVersion":"2.0","iamgate":{"kind":"s3","roles":["a",null]}}`,
	} {
		var v view
		if decodeFast([]byte(line), &v, withChain) {
			t.Errorf("fast path took %s", line)
		}
	}
}

// The fast path must agree with Decode for every line it takes, and take
// every line this package writes, whatever the event holds.
func FuzzDecodeFast(f *testing.F) {
	for _, line := range goldenLines(f) {
		f.Add("k", "ua", "alice", line)
	}
	f.Add(`x","chain":{"stream":"f","seq":9}}`, "\n\"}}", "ünï", []byte(`{"eventVersion":"2.0","eventTime":"2026-01-01T00:00:00Z","iamgate":{"kind":"s3"},"requestParameters":{"bucketName":"b","bucketName":1}}`))
	f.Add("<&>", "\xff", "\u2028", []byte(`{"eventVersion":"2.0","iamgate":{"kind":"s3","decision":"allow","Decision":"deny"}}`))
	f.Fuzz(func(t *testing.T, key, ua, user string, raw []byte) {
		checkFast(t, raw)

		e := sampleEvent()
		e.Time = time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)
		e.EventID = "id"
		e.Key, e.UserAgent, e.Username, e.Subject = key, ua, user, user
		e.Keys = []string{key, ua}
		e.Claims = map[string]any{"agent_run": user, "n": len(key)}
		e.Actor = &Actor{Subject: user, Act: &Actor{ClientID: key}}
		e.DeniedKeys = []DeniedKey{{Key: key, Reason: "no_allow"}}
		line := e.AppendJSON(nil)
		if !checkFast(t, line) {
			t.Fatalf("fast path refused a line this package writes:\n%s", line)
		}
	})
}

// The lowest byte the masks flag is the first special byte of the word,
// exactly; none is flagged when there is none.
func TestSwarMasks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var b [8]byte
	ends := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for i := range 2_000_000 {
		for k := range b {
			switch rnd.IntN(4) {
			case 0:
				b[k] = byte(rnd.IntN(256))
			default:
				b[k] = byte(0x20 + rnd.IntN(0x60)) // mostly ordinary
			}
		}
		if i%3 == 0 {
			b[rnd.IntN(8)] = []byte{'"', '\\', 0x1f, 0x00, 0x80, 0xff, 0x20, 0x7f, 0x21, 0x5d, 0x5b, 0xa2, 0xdc}[rnd.IntN(13)]
		}
		for _, m := range []struct {
			name    string
			mask    func(uint64) uint64
			special func(byte) bool
		}{{"special", swarSpecialMask, func(c byte) bool { return strSpecial[c] }}, {"end", swarEndMask, ends}} {
			first := 8
			for k, c := range b {
				if m.special(c) {
					first = k
					break
				}
			}
			got := m.mask(binary.LittleEndian.Uint64(b[:]))
			if got == 0 && first != 8 || got != 0 && bits.TrailingZeros64(got)>>3 != first {
				t.Fatalf("%s mask of %q: %#x, first special byte %d", m.name, b, got, first)
			}
		}
	}
}

// Verification reads the chain fields of a line by the fast decoder when
// it can: what it reads must be what encoding/json reads into lineFields,
// and a line encoding/json refuses must be malformed.
func FuzzParseChainLine(f *testing.F) {
	var buf bytes.Buffer
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 2, SigningKey: testKey}, WriterSink{W: &buf})
	if err != nil {
		f.Fatal(err)
	}
	for range 3 {
		l.Log(sampleEvent())
	}
	l.Close()
	for line := range bytes.SplitSeq(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"eventTime":"x","iamgate":{"kind":"checkpoint"},"chain":{"stream":"s","seq":1,"prev":"p","signature":"c2ln"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var got chainLine
		parseChainLine(line, &got)
		var want lineFields
		if err := json.Unmarshal(line, &want); err != nil {
			if got.err == nil {
				t.Fatalf("parsed a line encoding/json refuses (%v): %s", err, line)
			}
			return
		}
		if got.err != nil {
			t.Fatalf("refused a line encoding/json reads: %v: %s", got.err, line)
		}
		fast := lineFields{Iamgate: struct {
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
		}{got.kind, got.reason}, Chain: chainFields{Stream: string(got.stream), Seq: got.seq, Prev: string(got.prev),
			KeyID: string(got.keyID), Signature: string(got.signature)}}
		if fast.Iamgate != want.Iamgate || fast.Chain != want.Chain {
			t.Fatalf("%s:\n fast %+v\n json %+v", line, fast, want)
		}
		if p, err := hex.DecodeString(want.Chain.Prev); got.prevOK != (err == nil && len(p) == sha256.Size) || got.prevOK && !bytes.Equal(p, got.prevHash[:]) {
			t.Fatalf("prev %q: ok %v", want.Chain.Prev, got.prevOK)
		}
		if got.hash != sha256.Sum256(line) {
			t.Fatal("hash")
		}
		if want.Iamgate.Kind == KindCheckpoint && want.Chain.Signature != "" {
			var tm string
			if json.Unmarshal(want.Time, &tm) == nil && got.time != tm {
				t.Fatalf("time %q, want %q", got.time, tm)
			}
		}
	})
}

// Every line iamgate writes takes verification's flat scanner, and reads as
// encoding/json reads it; what json might read differently does not.
func TestScanChainLine(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 2, SigningKey: testKey}, WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range goldenLines(t) {
		e, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		l.Log(e)
	}
	l.Close()
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) < 10 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, line := range lines {
		var got chainLine
		if !scanChainLine(line, &got) {
			t.Errorf("refused a line this package writes:\n%s", line)
			continue
		}
		var want lineFields
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatal(err)
		}
		if got.kind != want.Iamgate.Kind || got.reason != want.Iamgate.Reason || string(got.stream) != want.Chain.Stream ||
			got.seq != want.Chain.Seq || string(got.prev) != want.Chain.Prev || string(got.keyID) != want.Chain.KeyID ||
			string(got.signature) != want.Chain.Signature || !bytes.Equal(got.rawTime, want.Time) {
			t.Errorf("%s: read %+v", line, got)
		}
	}
	for _, line := range []string{
		`{"chain":{"seq":1},"Chain":{"seq":2}}`,
		`{"chain":{"seq":1},"chain":{"stream":"s"}}`,
		`{"chain":{"seq":1,"SEQ":2}}`,
		`{"chain":{"seq":1.0}}`,
		`{"chain":{"seq":18446744073709551616}}`,
		`{"chain":{"seq":-1}}`,
		`{"chain":{"stream":"\u0073"}}`,
		`{"chain":{"stream":null}}`,
		`{"iamgate":{"kind":"checkpoint","Kind":"s3"}}`,
		`{"iamgate":{"kind":"s3"},"IAMGATE":{"kind":"x"}}`,
		`{"\u0063hain":{"seq":1}}`,
		`{"ſhain":{"seq":1}}`,
		`{"chain":{"seq":1}} x`,
		`{"chain":{"seq":1},}`,
		`{"a":[1,]}`,
		`{"a":{"b":1,}}`,
		`{"a":"x` + "\x01" + `"}`,
		`{"a":"\x"}`,
		`{"a":01}`,
		`{"a":tru}`,
		`{"a":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`,
		`null`,
		`[]`,
		``,
	} {
		if scanChainLine([]byte(line), &chainLine{}) {
			t.Errorf("took %s", line)
		}
	}
	for _, line := range []string{
		`{}`,
		` { "a" : [ 1 , -2.5e+3 , true , false , null , { } , [ ] , "é\n" ] , "chain" : { "seq" : 7 } } `,
		`{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
	} {
		var got chainLine
		if !scanChainLine([]byte(line), &got) {
			t.Errorf("refused %s", line)
		}
	}
}

// The flat validator accepts only what encoding/json accepts, and all of
// it but values nested deeper than 64 levels.
func FuzzSkipJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e+3,true,false,null,{},[],"é\n\u00e9"]}`, `"x"`, `[1,]`, `{"a" 1}`, `01`, `1.`, `-`, `"\ud800"`,
		"\"\x01\"", `{"a":{"b":{"c":[[[]]]}}}`, ` 1 `, `tru`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		start := wsAt(b, 0)
		end, ok := skipJSON(b, start)
		valid := json.Valid(b)
		if ok && wsAt(b, end) == len(b) && !valid {
			t.Fatalf("took what encoding/json refuses: %q", b)
		}
		if valid && (!ok || wsAt(b, end) != len(b)) && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) <= 64 {
			t.Fatalf("refused what encoding/json takes: %q", b)
		}
	})
}
