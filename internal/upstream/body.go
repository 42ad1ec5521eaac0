package upstream

import (
	"bufio"
	"errors"
	"io"
	"net/http"
)

// maxChunkLine bounds a chunk-size line, extensions included (net/http
// allows 4096 bytes too).
const maxChunkLine = 4096

// maxTrailer bounds the trailer section of a chunked response.
const maxTrailer = 64 << 10

// errBodyClosed is returned by Read after Close.
var errBodyClosed = errors.New("upstream: read on closed response body")

// chunkState is where a chunked body is between reads.
type chunkState uint8

const (
	chunkSize chunkState = iota // a chunk-size line comes next
	chunkData                   // inside a chunk's data
	chunkCRLF                   // the CRLF after a chunk's data comes next
)

// chunkReader reads the chunked transfer coding (RFC 9112 §7.1) strictly:
// hexadecimal sizes without sign or leading space, CRLF line ends, CRLF
// after each chunk's data, a trailer section of valid header fields.
// Chunk extensions are allowed and ignored.
type chunkReader struct {
	br      *bufio.Reader
	state   chunkState
	left    int64 // bytes of the current chunk still to read
	trailer http.Header
	scratch []byte
	done    bool
}

// Read reads chunk data into p. It returns io.EOF once the last chunk and
// the trailer have been read, after which trailer holds the trailer
// fields.
func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	for {
		switch c.state {
		case chunkCRLF:
			if err := c.crlf(); err != nil {
				return 0, err
			}
			c.state = chunkSize
		case chunkSize:
			n, err := c.sizeLine()
			if err != nil {
				return 0, err
			}
			if n == 0 {
				if err := c.readTrailer(); err != nil {
					return 0, err
				}
				c.done = true
				return 0, io.EOF
			}
			c.left, c.state = n, chunkData
		case chunkData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.br.Read(p)
			c.left -= int64(n)
			if c.left == 0 {
				c.state = chunkCRLF
			}
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			if n > 0 {
				return n, nil
			}
		}
	}
}

func (c *chunkReader) crlf() error {
	b, err := c.br.Peek(2)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if b[0] != '\r' || b[1] != '\n' {
		return malformed("chunk data not followed by CRLF")
	}
	_, _ = c.br.Discard(2)
	return nil
}

// sizeLine reads "HEX[ext]\r\n" and returns the size.
func (c *chunkReader) sizeLine() (int64, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return 0, malformed("chunk-size line too long")
		case err == io.EOF:
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	if len(line) > maxChunkLine {
		return 0, malformed("chunk-size line too long")
	}
	return parseChunkSize(line)
}

// parseChunkSize parses a chunk-size line including its CRLF.
func parseChunkSize(line []byte) (int64, error) {
	if len(line) < 3 || line[len(line)-2] != '\r' || line[len(line)-1] != '\n' {
		return 0, malformed("chunk-size line not ended by CRLF")
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i >= 15 {
			return 0, malformed("chunk size too large")
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, malformed("bad chunk size %q", clip(string(line)))
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ';' {
			return 0, malformed("bad chunk size %q", clip(string(line)))
		}
		for _, b := range rest {
			if b < ' ' && b != '\t' || b == 0x7f {
				return 0, malformed("control character in chunk extension")
			}
		}
	}
	return n, nil
}

func unhex(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

func (c *chunkReader) readTrailer() error {
	// The common case: no trailer fields, just the final CRLF.
	if b, err := c.br.Peek(2); err == nil && b[0] == '\r' && b[1] == '\n' {
		_, _ = c.br.Discard(2)
		return nil
	}
	s, lines, err := readBlock(c.br, maxTrailer, &c.scratch, "trailer")
	if err != nil {
		var nr nothingReadError
		if errors.As(err, &nr) && errors.Is(nr.err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if c.trailer == nil {
		c.trailer = make(http.Header, lines)
	}
	return parseFields(s, c.trailer, lines)
}
