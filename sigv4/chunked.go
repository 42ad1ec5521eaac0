package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/iamgate/iamgate/s3err"
)

const (
	// MaxChunkSize is the largest aws-chunked chunk accepted (MinIO's limit).
	MaxChunkSize = 16 << 20
	// maxLineLength bounds a chunk header or trailer line.
	maxLineLength = 4096
	// unsignedBufSize is the read buffer for unsigned chunks, which are
	// streamed instead of held whole.
	unsignedBufSize = 32 << 10
	// maxTrailerLines bounds the trailer section.
	maxTrailerLines = 4
)

const trailerSignatureName = "x-amz-trailer-signature"

// ErrChunkedFraming is the cause of errors about malformed aws-chunked framing.
var ErrChunkedFraming = errors.New("sigv4: malformed aws-chunked body")

func errFraming(msg string) *s3err.Error {
	e := s3err.New(http.StatusBadRequest, "InvalidArgument", "The aws-chunked body is malformed: "+msg)
	e.Cause = ErrChunkedFraming
	return e
}

func errIncomplete(cause error) *s3err.Error {
	e := s3err.New(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header.")
	e.Cause = cause
	return e
}

func errTrailerUnsupported() *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
}

// ChunkedReader decodes an aws-chunked body and verifies it while it
// streams. Read returns decoded payload bytes. Signed chunks are released
// only after their signature verified, and the last payload byte is held
// back until the terminating chunk, the trailer, its signature and the
// checksum all verified, so a tampered stream never delivers its complete
// payload: a store that receives the bytes with a fixed length sees a short
// body and commits nothing.
//
// Every failure is a non-EOF error that is an *s3err.Error:
// SignatureDoesNotMatch (chunk or trailer signature), BadDigest (checksum),
// InvalidRequest (bad checksum value), IncompleteBody (body shorter or
// longer than x-amz-decoded-content-length), InvalidArgument (framing).
// After the first error every Read returns it again.
//
// Memory is bounded by one chunk (at most MaxChunkSize) for signed
// streams and by a 32 KiB buffer for unsigned ones.
type ChunkedReader struct {
	br     *bufio.Reader
	closer io.Closer
	signed bool

	// Signature chain (signed mode).
	key     []byte
	date    string
	scope   string
	prevSig string

	trailerName string    // "" if no trailer is expected
	sum         hash.Hash // checksum over the decoded payload, nil if no trailer
	trailers    map[string]string

	decodedLength int64
	seen          int64 // decoded bytes read from the wire
	delivered     int64 // decoded bytes returned by Read

	buf       []byte
	pending   []byte // decoded, verified bytes not yet returned
	remaining int64  // unsigned mode: bytes of the current chunk still on the wire
	final     bool   // everything verified; pending may be released in full
	err       error
}

var _ io.ReadCloser = (*ChunkedReader)(nil)

// NewChunkedReader decodes the aws-chunked body of a
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD or …-PAYLOAD-TRAILER request (§1.9,
// §1.10) whose header signature a verified with secret. Each chunk
// signature chains from a.SeedSignature() and uses the seed's date and
// scope. trailers is the parsed x-amz-trailer header: none for the plain
// variant, exactly one supported checksum name for the -TRAILER variant,
// whose value and x-amz-trailer-signature are both verified.
// decodedLength is x-amz-decoded-content-length; a negative value fails
// with MissingContentLength.
func NewChunkedReader(body io.Reader, a *Auth, secret string, trailers []string, decodedLength int64) *ChunkedReader {
	c := newChunkedReader(body, decodedLength)
	c.signed = true
	c.key = signingKey(secret, a.ScopeDate, a.Region)
	c.date = a.amzDate()
	c.scope = a.scope()
	c.prevSig = a.SeedSignature()
	switch {
	case a.PayloadHash == StreamingSigned && len(trailers) != 0:
		c.err = s3err.New(http.StatusBadRequest, "InvalidRequest", "x-amz-trailer is only allowed with a -TRAILER payload type.")
	case a.PayloadHash == StreamingSignedTrailer:
		c.setTrailer(trailers)
	case a.PayloadHash != StreamingSigned:
		c.err = s3err.New(http.StatusBadRequest, "InvalidRequest", "The payload is not a signed aws-chunked stream.")
	}
	return c
}

// NewUnsignedTrailerReader decodes the aws-chunked body of a
// STREAMING-UNSIGNED-PAYLOAD-TRAILER request: chunks carry no signatures
// and the trailer no signature, so the trailing checksum (exactly one
// supported name in trailers) is the only integrity check and is always
// verified before the last byte is released.
func NewUnsignedTrailerReader(body io.Reader, trailers []string, decodedLength int64) *ChunkedReader {
	c := newChunkedReader(body, decodedLength)
	c.setTrailer(trailers)
	return c
}

func newChunkedReader(body io.Reader, decodedLength int64) *ChunkedReader {
	c := &ChunkedReader{br: bufio.NewReaderSize(body, maxLineLength), decodedLength: decodedLength}
	if cl, ok := body.(io.Closer); ok {
		c.closer = cl
	}
	if decodedLength < 0 {
		c.err = s3err.New(http.StatusLengthRequired, "MissingContentLength", "You must provide the x-amz-decoded-content-length HTTP header.")
	}
	return c
}

func (c *ChunkedReader) setTrailer(trailers []string) {
	if len(trailers) != 1 {
		c.err = errTrailerUnsupported()
		return
	}
	name := strings.ToLower(strings.TrimSpace(trailers[0]))
	if c.sum = newChecksum(name); c.sum == nil {
		c.err = errTrailerUnsupported()
		return
	}
	c.trailerName = name
}

// Trailer returns the verified trailer values, e.g. "x-amz-checksum-crc32"
// → its base64 value, once Read has returned io.EOF; nil before that.
func (c *ChunkedReader) Trailer() map[string]string {
	if !c.final || c.err != nil {
		return nil
	}
	out := make(map[string]string, len(c.trailers))
	for k, v := range c.trailers {
		out[k] = v
	}
	return out
}

// Close closes the underlying body if it is an io.Closer.
func (c *ChunkedReader) Close() error {
	if c.err == nil {
		c.err = errors.New("sigv4: read from a closed aws-chunked reader")
	}
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// Read implements io.Reader.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if n := c.releasable(); n > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			n = copy(p, c.pending[:n])
			c.pending = c.pending[n:]
			c.delivered += int64(n)
			return n, nil
		}
		if c.final {
			return 0, io.EOF
		}
		if err := c.step(); err != nil {
			c.err = err
			c.pending = nil
		}
	}
}

// releasable is how many pending bytes may be returned now: all once the
// stream verified, otherwise all but the last payload byte.
func (c *ChunkedReader) releasable() int {
	n := int64(len(c.pending))
	if !c.final {
		n = min(n, c.decodedLength-1-c.delivered)
	}
	return int(max(n, 0))
}

// step reads the next piece of the stream: a chunk header, unsigned chunk
// data, a signed chunk, or the final chunk with its trailer.
func (c *ChunkedReader) step() *s3err.Error {
	if c.remaining > 0 {
		return c.readUnsignedData()
	}
	size, sig, err := c.readChunkHeader()
	if err != nil {
		return err
	}
	if size == 0 {
		return c.finish(sig)
	}
	if size > c.decodedLength-c.seen {
		return errIncomplete(errors.New("sigv4: chunks exceed x-amz-decoded-content-length"))
	}
	// A data chunk only follows once everything before it was released
	// (the held-back last byte exists only when seen == decodedLength, and
	// then this chunk was rejected above), so reusing c.buf is safe.
	if !c.signed {
		c.remaining = size
		return c.readUnsignedData()
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	data := c.buf[:size]
	if _, err := io.ReadFull(c.br, data); err != nil {
		return readErr(err)
	}
	if err := c.readCRLF(); err != nil {
		return err
	}
	if err := c.verifyChunk(sig, data); err != nil {
		return err
	}
	c.seen += size
	if c.sum != nil {
		c.sum.Write(data)
	}
	c.pending = data
	return nil
}

func (c *ChunkedReader) readUnsignedData() *s3err.Error {
	if c.buf == nil {
		c.buf = make([]byte, unsignedBufSize)
	}
	n, err := c.br.Read(c.buf[:min(int64(len(c.buf)), c.remaining)])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return readErr(err)
	}
	c.remaining -= int64(n)
	c.seen += int64(n)
	c.sum.Write(c.buf[:n])
	c.pending = c.buf[:n]
	if c.remaining == 0 {
		return c.readCRLF()
	}
	return nil
}

// readErr maps a body read error: a body that ends early is IncompleteBody.
func readErr(err error) *s3err.Error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return errIncomplete(err)
}

// readLine returns the next line without its "\r\n" (a bare "\n" is
// accepted only where lenient is set: trailer lines).
func (c *ChunkedReader) readLine(lenient bool) ([]byte, *s3err.Error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errFraming("line too long")
	case err != nil:
		return nil, readErr(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1], nil
	}
	if !lenient {
		return nil, errFraming("line does not end with CRLF")
	}
	return line, nil
}

func (c *ChunkedReader) readCRLF() *s3err.Error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return readErr(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return errFraming("chunk data is not followed by CRLF")
	}
	return nil
}

// readChunkHeader parses "hex-size;chunk-signature=<64 hex>" (signed) or
// "hex-size" (unsigned).
func (c *ChunkedReader) readChunkHeader() (int64, string, *s3err.Error) {
	line, err := c.readLine(false)
	if err != nil {
		return 0, "", err
	}
	sizeField, sig := line, []byte(nil)
	if c.signed {
		var ok bool
		sizeField, sig, ok = bytes.Cut(line, []byte(";chunk-signature="))
		if !ok || !isHex64(string(sig)) {
			return 0, "", errFraming("chunk header without a valid chunk-signature")
		}
	}
	if len(sizeField) == 0 || len(sizeField) > 8 {
		return 0, "", errFraming("invalid chunk size")
	}
	var size int64
	for _, ch := range sizeField {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, "", errFraming("invalid chunk size")
		}
		size = size<<4 | int64(d)
	}
	if size > MaxChunkSize {
		return 0, "", errFraming("chunk larger than 16 MiB")
	}
	return size, string(sig), nil
}

// verifyChunk checks a chunk signature against the string to sign
// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n<sha256("")>\n<sha256(data)>" (§1.9).
func (c *ChunkedReader) verifyChunk(sig string, data []byte) *s3err.Error {
	sum := sha256.Sum256(data)
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.date + "\n" + c.scope + "\n" + c.prevSig + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:])
	if !c.verify(sig, sts) {
		return errSignature()
	}
	c.prevSig = sig
	return nil
}

func (c *ChunkedReader) verify(sig, sts string) bool {
	want := signHex(c.key, sts)
	return subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1
}

// finish handles the zero-length chunk: its signature, the trailer, the
// decoded length and the end of the body.
func (c *ChunkedReader) finish(sig string) *s3err.Error {
	if c.signed {
		if err := c.verifyChunk(sig, nil); err != nil {
			return err
		}
	}
	if err := c.readTrailer(); err != nil {
		return err
	}
	if c.seen != c.decodedLength {
		return errIncomplete(errors.New("sigv4: fewer bytes than x-amz-decoded-content-length"))
	}
	// Nothing may follow the terminating empty line.
	if _, err := c.br.ReadByte(); err != io.EOF {
		if err == nil {
			return errFraming("data after the end of the aws-chunked body")
		}
		return readErr(err)
	}
	c.final = true
	return nil
}

// readTrailer reads the trailer section and the terminating empty line,
// then checks the trailer signature (signed mode) and the checksum.
func (c *ChunkedReader) readTrailer() *s3err.Error {
	var signed strings.Builder // canonical trailer text: "name:value\n" per trailer
	var trailerSig string
	values := map[string]string{}
	for i := 0; ; i++ {
		line, err := c.readLine(true)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if i >= maxTrailerLines {
			return errFraming("too many trailer lines")
		}
		k, v, ok := strings.Cut(string(line), ":")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch {
		case !ok:
			return errFraming("trailer line without ':'")
		case k == trailerSignatureName && c.signed && trailerSig == "":
			trailerSig = v
		case k == c.trailerName && k != "" && trailerSig == "":
			if _, dup := values[k]; dup {
				return errFraming("trailer " + k + " repeated")
			}
			values[k] = v
			signed.WriteString(k + ":" + v + "\n")
		default:
			return errFraming("unexpected trailer " + k)
		}
	}
	if c.trailerName == "" {
		if c.signed && trailerSig != "" {
			return errFraming("trailer signature without a trailer")
		}
		return nil
	}
	value, ok := values[c.trailerName]
	if !ok {
		return errFraming("trailer " + c.trailerName + " is missing")
	}
	if c.signed {
		if !isHex64(trailerSig) {
			return errFraming("missing or invalid x-amz-trailer-signature")
		}
		sum := sha256.Sum256([]byte(signed.String()))
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.date + "\n" + c.scope + "\n" + c.prevSig + "\n" + hex.EncodeToString(sum[:])
		if !c.verify(trailerSig, sts) {
			return errSignature()
		}
	}
	got, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(got) != c.sum.Size() {
		return s3err.New(http.StatusBadRequest, "InvalidRequest", "Value for "+c.trailerName+" trailing header is invalid.")
	}
	if subtle.ConstantTimeCompare(got, c.sum.Sum(nil)) != 1 {
		return s3err.New(http.StatusBadRequest, "BadDigest",
			"The "+strings.ToUpper(strings.TrimPrefix(c.trailerName, "x-amz-checksum-"))+" you specified did not match the calculated checksum.")
	}
	c.trailers = values
	return nil
}
