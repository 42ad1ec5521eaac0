package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/iamgate/iamgate/s3err"
)

var allTrailers = []string{TrailerCRC32, TrailerCRC32C, TrailerCRC64NVME, TrailerSHA1, TrailerSHA256}

func TestChecksumVectors(t *testing.T) {
	for name, want := range map[string]string{
		// aws-sdk-go-v2 service/internal/checksum algorithms_test.go
		TrailerCRC64NVME: "jSnVw/bqjr4=",
		TrailerSHA1:      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
		TrailerSHA256:    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
		TrailerCRC32:     "DUoRhQ==",
		TrailerCRC32C:    "yZRlqg==",
	} {
		h := newChecksum(name)
		h.Write([]byte("hello world"))
		if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s(hello world) = %s, want %s", name, got, want)
		}
		if ChecksumValueLen(name) != len(want) {
			t.Errorf("ChecksumValueLen(%s) = %d", name, ChecksumValueLen(name))
		}
	}
	// CRC-64/NVME check value.
	h := newChecksum(TrailerCRC64NVME).(interface{ Sum64() uint64 })
	h.(io.Writer).Write([]byte("123456789"))
	if got := h.Sum64(); got != 0xae8b14860a799888 {
		t.Errorf("crc64nvme(123456789) = %x", got)
	}
	if got := crc64.Checksum([]byte("123456789"), crc64NVMETable()); got != 0xae8b14860a799888 {
		t.Errorf("table: %x", got)
	}
	if ChecksumValueLen("x-amz-checksum-sha10") != 0 {
		t.Error("unknown checksum has a length")
	}
}

func streamAuth(payload string) *Auth {
	seed := sha256.Sum256([]byte("seed"))
	return &Auth{Type: AuthHeader, AccessKeyID: "AKIDTEST", Date: testWhen, ScopeDate: "20250101", Region: exampleRegion,
		Service: "s3", Signature: hex.EncodeToString(seed[:]), PayloadHash: payload}
}

func newTestSigner(a *Auth) *streamSigner {
	return newStreamSigner(testSecret, a.Date, a.Region, a.Signature)
}

func randomPayload(n int) []byte {
	p := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

type streamKind struct {
	name    string
	payload string // x-amz-content-sha256
	trailer string
}

func streamKinds() []streamKind {
	kinds := []streamKind{{"signed", StreamingSigned, ""}}
	for _, tr := range allTrailers {
		kinds = append(kinds, streamKind{"signed " + tr, StreamingSignedTrailer, tr}, streamKind{"unsigned " + tr, StreamingUnsignedTrail, tr})
	}
	return kinds
}

func (k streamKind) encode(payload []byte, cs int) ([]byte, []int) {
	s := newTestSigner(streamAuth(k.payload))
	s.unsigned = k.payload == StreamingUnsignedTrail
	return s.encodeStream(payload, cs, k.trailer)
}

func (k streamKind) reader(body io.Reader, n int64) *ChunkedReader {
	var trailers []string
	if k.trailer != "" {
		trailers = []string{k.trailer}
	}
	if k.payload == StreamingUnsignedTrail {
		return NewUnsignedTrailerReader(body, trailers, n)
	}
	return NewChunkedReader(body, streamAuth(k.payload), testSecret, trailers, n)
}

func TestChunkedRoundTrip(t *testing.T) {
	for _, k := range streamKinds() {
		for _, size := range []int{0, 1, 8191, 8192, 3*8192 + 17} {
			payload := randomPayload(size)
			body, _ := k.encode(payload, 8192)
			for _, rd := range []string{"whole", "one byte", "7 bytes"} {
				var src io.Reader = bytes.NewReader(body)
				switch rd {
				case "one byte":
					src = iotest.OneByteReader(src)
				case "7 bytes":
					src = &smallReader{src, 7}
				}
				cr := k.reader(src, int64(size))
				if cr.Trailer() != nil {
					t.Fatal("trailer before EOF")
				}
				got, err := io.ReadAll(cr)
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("%s size %d %s: %d bytes, %v", k.name, size, rd, len(got), err)
				}
				if k.trailer != "" {
					h := newChecksum(k.trailer)
					h.Write(payload)
					if v := cr.Trailer()[k.trailer]; v != base64.StdEncoding.EncodeToString(h.Sum(nil)) {
						t.Fatalf("%s: trailer %q", k.name, v)
					}
				}
			}
		}
	}
}

// readCounting reads r to the end, returning the bytes delivered and the error.
func readCounting(r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}

func TestChunkedTamper(t *testing.T) {
	const cs, size = 8192, 5*8192 + 100
	payload := randomPayload(size)
	for _, k := range streamKinds() {
		if k.payload == StreamingUnsignedTrail {
			continue
		}
		body, offs := k.encode(payload, cs)
		hdrLen := len("2000;chunk-signature=") + 64 + 2
		last := offs[len(offs)-1]
		cases := map[string]int{
			"first chunk data":      offs[0] + hdrLen + 10,
			"middle chunk data":     offs[2] + hdrLen + 4000,
			"last chunk data":       offs[len(offs)-2] + len("64;chunk-signature=") + 64 + 2 + 99,
			"first chunk signature": offs[0] + len("2000;chunk-signature=") + 3,
			"final zero signature":  last + len("0;chunk-signature=") + 10,
		}
		if k.trailer != "" {
			i := bytes.Index(body[last:], []byte("x-amz-trailer-signature:")) + last
			cases["trailer signature"] = i + len("x-amz-trailer-signature:") + 5
			cases["trailer checksum"] = bytes.Index(body[last:], []byte(k.trailer+":")) + last + len(k.trailer) + 2
		}
		for name, off := range cases {
			bad := bytes.Clone(body)
			if bad[off] == '0' {
				bad[off] = '1'
			} else {
				bad[off] = '0'
			}
			for _, rd := range []string{"whole", "one byte"} {
				var src io.Reader = bytes.NewReader(bad)
				if rd == "one byte" {
					src = iotest.OneByteReader(src)
				}
				cr := k.reader(src, size)
				n, err := readCounting(cr)
				if !isCode(err, "SignatureDoesNotMatch") {
					t.Errorf("%s %s %s: err %v", k.name, name, rd, err)
				}
				if n >= size {
					t.Errorf("%s %s %s: all %d bytes delivered before the failure", k.name, name, rd, n)
				}
				if _, err2 := cr.Read(make([]byte, 10)); err2 != err {
					t.Errorf("error not sticky: %v", err2)
				}
			}
		}
	}
}

// A correctly signed trailer carrying the wrong checksum is BadDigest, and
// the last byte is never delivered.
func TestChunkedBadChecksum(t *testing.T) {
	const size = 3*8192 + 5
	payload := randomPayload(size)
	for _, unsigned := range []bool{false, true} {
		for _, tr := range allTrailers {
			a := streamAuth(StreamingSignedTrailer)
			s := newTestSigner(a)
			s.unsigned = unsigned
			var body []byte
			for off := 0; off < size; off += 8192 {
				body = append(body, s.chunk(payload[off:min(off+8192, size)])...)
			}
			body = append(body, s.chunk(nil)[:len(s.chunk0Header())]...)
			h := newChecksum(tr)
			h.Write(payload[1:]) // wrong data
			good := body
			body = append(bytes.Clone(good), s.trailer(tr, base64.StdEncoding.EncodeToString(h.Sum(nil)))...)
			var cr *ChunkedReader
			if unsigned {
				cr = NewUnsignedTrailerReader(bytes.NewReader(body), []string{tr}, size)
			} else {
				cr = NewChunkedReader(bytes.NewReader(body), a, testSecret, []string{tr}, size)
			}
			n, err := readCounting(cr)
			var e *s3err.Error
			if !errors.As(err, &e) || e.Code != "BadDigest" || e.Status != 400 || n >= size {
				t.Errorf("unsigned=%v %s: n=%d err=%v", unsigned, tr, n, err)
			}
			// Bad base64 or a wrong length is InvalidRequest.
			for _, v := range []string{"!!!!", "AAAA", strings.Repeat("A", 60) + "=="} {
				s := newTestSigner(a)
				s.unsigned = unsigned
				var body []byte
				for off := 0; off < size; off += 8192 {
					body = append(body, s.chunk(payload[off:min(off+8192, size)])...)
				}
				body = append(body, s.chunk(nil)[:len(s.chunk0Header())]...)
				body = append(body, s.trailer(tr, v)...)
				if unsigned {
					cr = NewUnsignedTrailerReader(bytes.NewReader(body), []string{tr}, size)
				} else {
					cr = NewChunkedReader(bytes.NewReader(body), a, testSecret, []string{tr}, size)
				}
				if n, err := readCounting(cr); !isCode(err, "InvalidRequest") || n >= size {
					t.Errorf("value %q: n=%d err=%v", v, n, err)
				}
			}
		}
	}
}

func TestChunkedErrors(t *testing.T) {
	const size = 2*8192 + 3
	payload := randomPayload(size)
	k := streamKind{"signed crc32", StreamingSignedTrailer, TrailerCRC32}
	body, offs := k.encode(payload, 8192)
	uk := streamKind{"unsigned crc32", StreamingUnsignedTrail, TrailerCRC32}
	ubody, _ := uk.encode(payload, 8192)
	sig := strings.Repeat("a", 64)
	tests := []struct {
		name   string
		kind   streamKind
		body   []byte
		length int64
		code   string
	}{
		{"decoded length +1", k, body, size + 1, "IncompleteBody"},
		{"decoded length -1", k, body, size - 1, "IncompleteBody"},
		{"decoded length 0", k, body, 0, "IncompleteBody"},
		{"unsigned decoded length +1", uk, ubody, size + 1, "IncompleteBody"},
		{"unsigned decoded length -1", uk, ubody, size - 1, "IncompleteBody"},
		{"missing length", k, body, -1, "MissingContentLength"},
		{"truncated in data", k, body[:offs[1]-100], size, "IncompleteBody"},
		{"truncated in trailer", k, body[:len(body)-5], size, "IncompleteBody"},
		{"truncated unsigned", uk, ubody[:len(ubody)-3], size, "IncompleteBody"},
		{"no final CRLF", k, body[:len(body)-2], size, "IncompleteBody"},
		{"data after the end", k, append(bytes.Clone(body), 'x'), size, "InvalidArgument"},
		{"20 MiB chunk", k, []byte("1400000;chunk-signature=" + sig + "\r\n"), 30 << 20, "InvalidArgument"},
		{"absurd size", k, []byte("ffffffffffffffff;chunk-signature=" + sig + "\r\n"), 30 << 20, "InvalidArgument"},
		{"signed size", k, []byte("+10;chunk-signature=" + sig + "\r\n"), 30, "InvalidArgument"},
		{"space in size", k, []byte("10 ;chunk-signature=" + sig + "\r\n"), 30, "InvalidArgument"},
		{"empty size", k, []byte(";chunk-signature=" + sig + "\r\n"), 30, "InvalidArgument"},
		{"no signature", k, []byte("10\r\n"), 30, "InvalidArgument"},
		{"short signature", k, []byte("10;chunk-signature=abc\r\n"), 30, "InvalidArgument"},
		{"bare LF", k, []byte("10;chunk-signature=" + sig + "\n"), 30, "InvalidArgument"},
		{"long line", k, []byte("1" + strings.Repeat("0", 5000) + "\r\n"), 30, "InvalidArgument"},
		{"unsigned with signature", uk, []byte("10;chunk-signature=" + sig + "\r\n"), 30, "InvalidArgument"},
		{"missing CRLF after data", uk, []byte("3\r\nabcXY0\r\n\r\n"), 3, "InvalidArgument"},
		{"empty body", k, nil, size, "IncompleteBody"},
		{"unknown trailer", uk, []byte("0\r\nx-amz-foo:bar\r\n\r\n"), 0, "InvalidArgument"},
		{"missing trailer", uk, []byte("0\r\n\r\n"), 0, "InvalidArgument"},
		{"trailer twice", uk, []byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), 0, "InvalidArgument"},
		{"trailer signature on unsigned", uk, []byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n"), 0, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := tt.kind.reader(bytes.NewReader(tt.body), tt.length)
			n, err := readCounting(cr)
			if !isCode(err, tt.code) {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
			if tt.length > 0 && n >= tt.length {
				t.Fatalf("delivered %d of %d", n, tt.length)
			}
		})
	}
	t.Run("trailer declaration", func(t *testing.T) {
		for _, tc := range []struct {
			payload  string
			trailers []string
			code     string
		}{
			{StreamingSignedTrailer, nil, "InvalidRequest"},
			{StreamingSignedTrailer, []string{"x-amz-checksum-sha10"}, "InvalidRequest"},
			{StreamingSignedTrailer, []string{TrailerCRC32, TrailerSHA1}, "InvalidRequest"},
			{StreamingSigned, []string{TrailerCRC32}, "InvalidRequest"},
			{UnsignedPayload, nil, "InvalidRequest"},
		} {
			_, err := readCounting(NewChunkedReader(bytes.NewReader(body), streamAuth(tc.payload), testSecret, tc.trailers, size))
			if !isCode(err, tc.code) {
				t.Errorf("%s %v: %v", tc.payload, tc.trailers, err)
			}
		}
		if _, err := readCounting(NewUnsignedTrailerReader(bytes.NewReader(ubody), []string{"X-Amz-Checksum-CRC32 "}, size)); err != nil {
			t.Errorf("trailer name is case-insensitive: %v", err)
		}
	})
}

// Chunks below AWS's 8 KiB minimum are accepted, as MinIO does.
func TestChunkedSmallChunksAccepted(t *testing.T) {
	payload := randomPayload(1000)
	for _, k := range streamKinds() {
		body, _ := k.encode(payload, 100)
		got, err := io.ReadAll(k.reader(bytes.NewReader(body), 1000))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: %v", k.name, err)
		}
	}
}

// Trailer lines may have spaces around ':' and end in a bare LF.
func TestChunkedTrailerLeniency(t *testing.T) {
	h := newChecksum(TrailerCRC32)
	h.Write([]byte("abc"))
	v := base64.StdEncoding.EncodeToString(h.Sum(nil))
	body := "3\r\nabc\r\n0\r\nx-amz-checksum-crc32 : " + v + " \n\r\n"
	got, err := io.ReadAll(NewUnsignedTrailerReader(strings.NewReader(body), []string{TrailerCRC32}, 3))
	if err != nil || string(got) != "abc" {
		t.Fatal(err)
	}
}

// streamGenerator produces a signed aws-chunked stream of n bytes without
// holding it in memory.
type streamGenerator struct {
	s       *streamSigner
	n, done int
	chunk   []byte
	out     []byte
	final   bool
}

func (g *streamGenerator) Read(p []byte) (int, error) {
	if len(g.out) == 0 {
		switch {
		case g.done < g.n:
			c := g.chunk[:min(len(g.chunk), g.n-g.done)]
			binary.LittleEndian.PutUint64(c, uint64(g.done)) // vary the data
			g.done += len(c)
			g.out = g.s.chunk(c)
		case !g.final:
			g.final = true
			g.out = append(g.s.chunk(nil)[:len(g.s.chunk0Header())], "\r\n"...)
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

func TestChunked100MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB stream")
	}
	const n = 100 << 20
	a := streamAuth(StreamingSigned)
	gen := &streamGenerator{s: newTestSigner(a), n: n, chunk: make([]byte, 64<<10)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cr := NewChunkedReader(gen, a, testSecret, nil, n)
	got, err := io.CopyBuffer(io.Discard, cr, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || got != n {
		t.Fatalf("%d bytes, %v", got, err)
	}
	// The generator allocates each framed chunk (~64 KiB × 1600 = 100 MiB),
	// so compare against that: the decoder itself must add only a chunk
	// buffer, not the stream.
	gen2 := &streamGenerator{s: newTestSigner(a), n: n, chunk: make([]byte, 64<<10)}
	var b2, a2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&b2)
	io.CopyBuffer(io.Discard, gen2, make([]byte, 32<<10))
	runtime.ReadMemStats(&a2)
	decoder := int64(after.TotalAlloc-before.TotalAlloc) - int64(a2.TotalAlloc-b2.TotalAlloc)
	t.Logf("decoder allocated %d bytes for a %d-byte stream", decoder, n)
	if decoder > 4<<20 {
		t.Fatalf("decoder allocated %d bytes: it buffers the stream", decoder)
	}
}

func TestEncodeUnsignedTrailer(t *testing.T) {
	for _, tr := range append([]string{""}, allTrailers...) {
		for _, cs := range []int{0, 1000, 64 << 10} {
			for _, size := range []int{0, 1, 999, 1000, 1001, 64<<10 - 1, 64 << 10, 200_000} {
				payload := randomPayload(size)
				var sum string
				if tr != "" {
					h := newChecksum(tr)
					h.Write(payload)
					sum = base64.StdEncoding.EncodeToString(h.Sum(nil))
				}
				enc := EncodeUnsignedTrailer(iotest.HalfReader(bytes.NewReader(payload)), int64(size), cs, tr, func() (string, error) { return sum, nil })
				body, err := io.ReadAll(enc)
				if err != nil {
					t.Fatal(err)
				}
				if want := EncodedLength(int64(size), cs, tr, ChecksumValueLen(tr)); int64(len(body)) != want {
					t.Fatalf("%s cs %d size %d: %d bytes, EncodedLength %d", tr, cs, size, len(body), want)
				}
				if tr == "" {
					if !bytes.HasSuffix(body, []byte("\r\n0\r\n\r\n")) && size > 0 || size == 0 && string(body) != "0\r\n\r\n" {
						t.Fatalf("no-trailer ending %q", body[max(0, len(body)-10):])
					}
					continue
				}
				got, err := io.ReadAll(NewUnsignedTrailerReader(iotest.OneByteReader(bytes.NewReader(body)), []string{tr}, int64(size)))
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("%s cs %d size %d: re-decoding: %v", tr, cs, size, err)
				}
			}
		}
	}
	t.Run("errors", func(t *testing.T) {
		val := func() (string, error) { return "AAAAAA==", nil }
		for name, enc := range map[string]io.Reader{
			"short payload":   EncodeUnsignedTrailer(strings.NewReader("abc"), 4, 0, TrailerCRC32, val),
			"long payload":    EncodeUnsignedTrailer(strings.NewReader("abcde"), 4, 0, TrailerCRC32, val),
			"bad value len":   EncodeUnsignedTrailer(strings.NewReader("abcd"), 4, 0, TrailerCRC32, func() (string, error) { return "AAAA", nil }),
			"value error":     EncodeUnsignedTrailer(strings.NewReader("abcd"), 4, 0, TrailerCRC32, func() (string, error) { return "", io.ErrClosedPipe }),
			"unknown trailer": EncodeUnsignedTrailer(strings.NewReader("abcd"), 4, 0, "x-amz-foo", val),
		} {
			body, err := io.ReadAll(enc)
			if err == nil || bytes.Contains(body, []byte("0\r\n")) {
				t.Errorf("%s: %q, %v", name, body, err)
			}
		}
	})
}

// The proxy pipeline: a signed-trailer stream is verified by ChunkedReader
// and re-framed for the store. A tampered stream must never produce a
// complete re-framed body.
func TestReencodePipeline(t *testing.T) {
	const size = 5*8192 + 123
	payload := randomPayload(size)
	k := streamKind{"signed crc64nvme", StreamingSignedTrailer, TrailerCRC64NVME}
	body, offs := k.encode(payload, 8192)
	run := func(body []byte) ([]byte, error) {
		cr := k.reader(iotest.OneByteReader(bytes.NewReader(body)), size)
		enc := EncodeUnsignedTrailer(cr, size, 4096, k.trailer, func() (string, error) { return cr.Trailer()[k.trailer], nil })
		defer enc.Close()
		return io.ReadAll(enc)
	}
	out, err := run(body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != EncodedLength(size, 4096, k.trailer, ChecksumValueLen(k.trailer)) {
		t.Fatalf("length %d", len(out))
	}
	got, err := io.ReadAll(NewUnsignedTrailerReader(bytes.NewReader(out), []string{k.trailer}, size))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("store side: %v", err)
	}
	for _, off := range []int{offs[0] + 200, offs[len(offs)-2] + 100, offs[len(offs)-1] + 30, len(body) - 20} {
		bad := bytes.Clone(body)
		bad[off] ^= 0x01
		out, err := run(bad)
		var e *s3err.Error
		if !errors.As(err, &e) {
			t.Fatalf("offset %d: err %v", off, err)
		}
		if bytes.Contains(out, []byte("\r\n0\r\n")) || int64(len(out)) >= EncodedLength(size, 4096, k.trailer, 12)-20 {
			t.Fatalf("offset %d: re-framed body reached %d bytes", off, len(out))
		}
	}
}
