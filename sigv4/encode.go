package sigv4

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultChunkSize is the chunk size EncodeUnsignedTrailer uses when given
// a chunk size <= 0.
const DefaultChunkSize = 64 << 10

// ErrEncodedTrailer is the cause of EncodeUnsignedTrailer failures that
// are not errors of the payload reader.
var ErrEncodedTrailer = errors.New("sigv4: cannot encode aws-chunked body")

// EncodedLength is the Content-Length of the body EncodeUnsignedTrailer
// produces for a payload of decodedLength bytes: chunks of chunkSize bytes
// (the last one shorter), each "hex(size)\r\n<data>\r\n", then "0\r\n",
// the trailer line "name:value\r\n" when trailerName is not empty, and a
// final "\r\n". trailerValueLen is the length of the trailer value, which
// for a checksum is ChecksumValueLen(trailerName).
func EncodedLength(decodedLength int64, chunkSize int, trailerName string, trailerValueLen int) int64 {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	cs := int64(chunkSize)
	full, rest := decodedLength/cs, decodedLength%cs
	n := full * (int64(len(strconv.FormatInt(cs, 16))) + 2 + cs + 2)
	if rest > 0 {
		n += int64(len(strconv.FormatInt(rest, 16))) + 2 + rest + 2
	}
	n += 3 // "0\r\n"
	if trailerName != "" {
		n += int64(len(trailerName)+1+trailerValueLen) + 2
	}
	return n + 2
}

// EncodeUnsignedTrailer frames payload as a STREAMING-UNSIGNED-PAYLOAD-
// TRAILER aws-chunked body so the store decodes it and re-verifies the
// trailing checksum itself. It streams: chunk data is copied straight from
// payload into the caller's buffer and nothing is buffered beyond a chunk
// header.
//
// payload must deliver exactly decodedLength bytes and then io.EOF. Only
// after that EOF is trailerValue called (the value is known only once the
// payload was read, e.g. from ChunkedReader.Trailer) and the terminating
// chunk and trailer emitted. A payload error, a short or long payload, or a
// trailer value whose length differs from ChecksumValueLen(trailerName)
// (the length EncodedLength assumed) ends the body with a non-EOF error, so
// the store never sees a complete body. Payload errors are returned as
// they are (a *s3err.Error from a ChunkedReader stays one).
//
// With trailerName "" the body ends with "0\r\n\r\n" and trailerValue is
// not called. The proxy's outbound request for a verified signed stream:
//
//	cr := sigv4.NewChunkedReader(r.Body, auth, secret, []string{name}, n)
//	body := sigv4.EncodeUnsignedTrailer(cr, n, 0, name, func() (string, error) {
//		return cr.Trailer()[name], nil
//	})
//	out.ContentLength = sigv4.EncodedLength(n, 0, name, sigv4.ChecksumValueLen(name))
//	// headers: X-Amz-Content-Sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
//	// Content-Encoding: aws-chunked, X-Amz-Decoded-Content-Length: n,
//	// X-Amz-Trailer: name
//
// Close closes payload if it is an io.Closer.
func EncodeUnsignedTrailer(payload io.Reader, decodedLength int64, chunkSize int, trailerName string, trailerValue func() (string, error)) io.ReadCloser {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	e := &trailerEncoder{payload: payload, total: decodedLength, chunkSize: int64(chunkSize), name: trailerName, value: trailerValue}
	if trailerName != "" {
		if e.valueLen = ChecksumValueLen(trailerName); e.valueLen == 0 {
			e.err = fmt.Errorf("%w: unsupported trailer %q", ErrEncodedTrailer, trailerName)
		}
	}
	if decodedLength < 0 {
		e.err = fmt.Errorf("%w: negative decoded length", ErrEncodedTrailer)
	}
	return e
}

type trailerEncoder struct {
	payload   io.Reader
	total     int64
	chunkSize int64
	name      string
	valueLen  int
	value     func() (string, error)

	framing   []byte // framing bytes not yet returned
	chunkLeft int64  // data bytes of the current chunk still to copy
	planned   int64  // payload bytes covered by the chunks started so far
	done      bool
	err       error
}

func (e *trailerEncoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, e.err
	}
	for spins := 0; ; spins++ {
		if e.err != nil {
			return 0, e.err
		}
		if len(e.framing) > 0 {
			n := copy(p, e.framing)
			e.framing = e.framing[n:]
			return n, nil
		}
		if e.chunkLeft > 0 {
			n, err := e.payload.Read(p[:min(int64(len(p)), e.chunkLeft)])
			e.chunkLeft -= int64(n)
			if e.chunkLeft == 0 {
				e.framing = append(e.framing[:0], '\r', '\n')
			}
			if err != nil && (err != io.EOF || e.chunkLeft > 0) {
				if err == io.EOF {
					err = fmt.Errorf("%w: payload shorter than its declared length: %w", ErrEncodedTrailer, io.ErrUnexpectedEOF)
				}
				e.err = err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if e.done {
			return 0, io.EOF
		}
		if e.planned < e.total {
			size := min(e.chunkSize, e.total-e.planned)
			e.planned += size
			e.chunkLeft = size
			e.framing = append(strconv.AppendInt(e.framing[:0], size, 16), '\r', '\n')
			continue
		}
		if spins > 100 {
			e.err = io.ErrNoProgress
			continue
		}
		e.finish()
	}
}

// finish waits for the payload's EOF, then frames the last chunk and the
// trailer.
func (e *trailerEncoder) finish() {
	var probe [1]byte
	n, err := e.payload.Read(probe[:])
	switch {
	case n > 0:
		e.err = fmt.Errorf("%w: payload longer than its declared length", ErrEncodedTrailer)
		return
	case err == nil:
		return // no progress; Read tries again
	case err != io.EOF:
		e.err = err
		return
	}
	e.framing = append(e.framing[:0], "0\r\n"...)
	if e.name != "" {
		v, err := e.value()
		if err != nil {
			e.err = err
			return
		}
		if len(v) != e.valueLen {
			e.err = fmt.Errorf("%w: trailer value of %d bytes, want %d", ErrEncodedTrailer, len(v), e.valueLen)
			return
		}
		e.framing = append(e.framing, e.name+":"+v+"\r\n"...)
	}
	e.framing = append(e.framing, '\r', '\n')
	e.done = true
}

func (e *trailerEncoder) Close() error {
	if c, ok := e.payload.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
