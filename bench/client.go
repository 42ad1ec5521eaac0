package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// request is one HTTP/1.1 request as the load generator sends it. The
// generator writes requests itself, one keep-alive connection per worker
// (like wrk), so that on a two-core machine its own cost per request stays a
// small fraction of the server's: net/http's client spends several times
// more CPU per request on goroutine hand-offs and header maps.
type request struct {
	method string
	path   string // absolute path, already escaped
	query  string // canonical query string: sorted, escaped; "" for none
	header []string
	body   io.Reader // nil for no body
	size   int64     // body length; sent as Content-Length when body is set
}

func (r *request) set(name, value string) {
	r.header = append(r.header, name, value)
}

// conn is one client connection; it redials after an error or a
// "Connection: close".
type conn struct {
	addr, host string
	c          net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	buf        []byte
}

func newConn(addr string) *conn {
	return &conn{addr: addr, host: addr, buf: make([]byte, 256<<10)}
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

var errBadResponse = errors.New("malformed HTTP response")

// do sends req and reads the whole response, discarding the body. It returns
// the status code and the number of response body bytes.
func (c *conn) do(req *request) (status int, n int64, err error) {
	if c.c == nil {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, 0, err
		}
		c.c = nc
		c.br = bufio.NewReaderSize(nc, 64<<10)
		c.bw = bufio.NewWriterSize(nc, 16<<10)
	}
	status, n, keep, err := c.roundTrip(req)
	if err != nil || !keep {
		c.close()
	}
	return status, n, err
}

func (c *conn) roundTrip(req *request) (status int, n int64, keep bool, err error) {
	w := c.bw
	w.WriteString(req.method)
	w.WriteByte(' ')
	w.WriteString(req.path)
	if req.query != "" {
		w.WriteByte('?')
		w.WriteString(req.query)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.host)
	w.WriteString("\r\n")
	for i := 0; i+1 < len(req.header); i += 2 {
		w.WriteString(req.header[i])
		w.WriteString(": ")
		w.WriteString(req.header[i+1])
		w.WriteString("\r\n")
	}
	if req.body != nil {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.size, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if req.body != nil && req.size < 64<<10 {
		if _, err := io.Copy(w, req.body); err != nil {
			return 0, 0, false, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, 0, false, err
	}
	if req.body != nil && req.size >= 64<<10 {
		if _, err := io.CopyBuffer(writerOnly{c.c}, req.body, c.buf); err != nil {
			return 0, 0, false, err
		}
	}
	return c.readResponse(req.method == "HEAD")
}

// writerOnly hides net.Conn's ReadFrom so that io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

func (c *conn) readResponse(head bool) (status int, n int64, keep bool, err error) {
	for {
		line, err := c.line()
		if err != nil {
			return 0, 0, false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return 0, 0, false, fmt.Errorf("%w: status line %q", errBadResponse, line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: status line %q", errBadResponse, line)
		}
		keep = line[7] == '1'
		length, chunked := int64(-1), false
		for {
			h, err := c.line()
			if err != nil {
				return 0, 0, false, err
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				continue
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "content-length"):
				length, err = strconv.ParseInt(string(value), 10, 64)
				if err != nil {
					return 0, 0, false, fmt.Errorf("%w: Content-Length %q", errBadResponse, value)
				}
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = asciiEqualFold(value, "chunked")
			case asciiEqualFold(name, "connection"):
				if asciiEqualFold(value, "close") {
					keep = false
				} else if asciiEqualFold(value, "keep-alive") {
					keep = true
				}
			}
		}
		if status >= 100 && status < 200 {
			continue // 100 Continue and friends: the real response follows
		}
		switch {
		case head || status == 204 || status == 304:
			return status, 0, keep, nil
		case chunked:
			n, err = c.discardChunked()
			return status, n, keep, err
		case length >= 0:
			n, err = c.discard(length)
			return status, n, keep, err
		default:
			n, err = io.CopyBuffer(io.Discard, c.br, c.buf)
			return status, n, false, err
		}
	}
}

func (c *conn) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (c *conn) discard(n int64) (int64, error) {
	var done int64
	for done < n {
		b := c.buf
		if int64(len(b)) > n-done {
			b = b[:n-done]
		}
		m, err := c.br.Read(b)
		done += int64(m)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
	}
	return done, nil
}

func (c *conn) discardChunked() (int64, error) {
	var total int64
	for {
		line, err := c.line()
		if err != nil {
			return total, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return total, fmt.Errorf("%w: chunk size %q", errBadResponse, line)
		}
		if size == 0 {
			for { // trailers, then the final CRLF
				t, err := c.line()
				if err != nil || len(t) == 0 {
					return total, err
				}
			}
		}
		m, err := c.discard(size)
		total += m
		if err != nil {
			return total, err
		}
		if _, err := c.line(); err != nil {
			return total, err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// patternBlock is what PUT bodies are made of: incompressible, built once.
var patternBlock = func() []byte {
	b := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}()

// pattern yields n bytes of patternBlock, repeated, without holding them.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	m := copy(b, patternBlock[p.off%int64(len(patternBlock)):])
	p.off += int64(m)
	return m, nil
}
