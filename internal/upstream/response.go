package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ErrMalformedResponse is wrapped by every error about the bytes the
// store sent: a status line or header that does not parse, framing that
// is ambiguous (Content-Length with Transfer-Encoding, differing lengths,
// a transfer coding other than chunked), a bad chunk, a head or line too
// large. The connection is closed after such an error, never reused.
var ErrMalformedResponse = errors.New("upstream: malformed response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedResponse}, args...)...)
}

// head is a parsed response head.
type head struct {
	status     int
	statusText string // "200 OK"
	major      int
	minor      int
	header     http.Header
}

// readHead reads one response head from br: the status line and header
// fields up to the blank line, at most max bytes in all (every line must
// also fit br's buffer). Lines end in CRLF; a bare LF or CR, obsolete line
// folding, a field name with spaces or invalid characters, or a value
// with control characters are refused. scratch is reused for the bytes
// read; the returned head's strings share one allocation. An error that
// is not ErrMalformedResponse with no byte read means the connection
// ended or failed before a response.
func readHead(br *bufio.Reader, max int, scratch *[]byte) (head, error) {
	s, lines, err := readBlock(br, max, scratch, "response head")
	if err != nil {
		return head{}, err
	}
	return parseHead(s, lines)
}

// readBlock reads lines from br up to and including a blank one, at most
// max bytes, and returns them as one string.
func readBlock(br *bufio.Reader, max int, scratch *[]byte, what string) (string, int, error) {
	buf := (*scratch)[:0]
	lines := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", 0, malformed("%s line longer than %d bytes", what, br.Size())
			}
			if len(buf) == 0 && len(line) == 0 {
				return "", 0, nothingReadError{err} // the caller decides
			}
			if errors.Is(err, io.EOF) {
				return "", 0, malformed("%s cut short", what)
			}
			return "", 0, err
		}
		if len(buf)+len(line) > max {
			return "", 0, malformed("%s larger than %d bytes", what, max)
		}
		buf = append(buf, line...)
		lines++
		if len(line) == 2 && line[0] == '\r' || len(line) == 1 {
			break
		}
	}
	*scratch = buf
	return string(buf), lines, nil
}

// parseHead parses a complete response head (status line, fields, blank
// line), split in lines in s.
func parseHead(s string, lines int) (head, error) {
	var h head
	line, rest, err := nextLine(s)
	if err != nil {
		return h, err
	}
	if err := h.parseStatusLine(line); err != nil {
		return h, err
	}
	h.header = make(http.Header, lines)
	return h, parseFields(rest, h.header, lines)
}

// parseFields parses header field lines up to and including the blank
// line that ends them, which must end s, into hd.
func parseFields(s string, hd http.Header, lines int) error {
	vals := make([]string, lines) // one backing array for the values
	for {
		line, rest, err := nextLine(s)
		if err != nil {
			return err
		}
		s = rest
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return malformed("obsolete line folding in response head")
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			return malformed("response header line without a name: %q", clip(line))
		}
		name, value := line[:i], textproto.TrimString(line[i+1:])
		if !httpguts.ValidHeaderFieldName(name) {
			return malformed("invalid response header name %q", clip(name))
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return malformed("invalid value of response header %s", clip(name))
		}
		key := canonicalKey(name)
		if cur, ok := hd[key]; ok {
			hd[key] = append(cur, value)
			continue
		}
		vals[0] = value
		hd[key] = vals[:1:1]
		vals = vals[1:]
	}
	if s != "" {
		return malformed("bytes after the response head")
	}
	return nil
}

// nextLine splits s at the first CRLF; a bare CR or LF is an error.
func nextLine(s string) (line, rest string, err error) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", malformed("response head line not ended by CRLF")
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", malformed("bare CR in response head")
	}
	return line, s[i+1:], nil
}

// parseStatusLine reads "HTTP/1.x NNN reason".
func (h *head) parseStatusLine(line string) error {
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' || line[12:] != "" && line[12] != ' ' {
		return malformed("bad status line %q", clip(line))
	}
	switch line[7] {
	case '0':
		h.major, h.minor = 1, 0
	case '1':
		h.major, h.minor = 1, 1
	default:
		return malformed("bad status line %q", clip(line))
	}
	code := 0
	for _, c := range []byte(line[9:12]) {
		if c < '0' || c > '9' {
			return malformed("bad status code in %q", clip(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return malformed("bad status code in %q", clip(line))
	}
	for i := 12; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return malformed("control character in status line")
		}
	}
	h.status = code
	h.statusText = line[9:]
	return nil
}

// framing is how the body of a response is delimited.
type framing struct {
	length  int64 // -1: chunked or until close
	chunked bool
	noBody  bool // HEAD, 1xx, 204, 304
	close   bool // the connection cannot carry another request afterwards
	trailer http.Header
}

// responseFraming decides the body framing of a response to method,
// strictly: Content-Length and Transfer-Encoding together, differing or
// malformed Content-Length values, or a transfer coding other than a
// single chunked are errors (RFC 9112 §6.3 lets a recipient treat them
// so, and a proxy that guessed could be made to read two responses as
// one). It removes Transfer-Encoding and Trailer from the header.
func responseFraming(h *head, method string) (framing, error) {
	f := framing{length: -1}
	hd := h.header
	cls, hasCL := hd["Content-Length"]
	tes, hasTE := hd["Transfer-Encoding"]
	if hasCL && hasTE {
		return f, malformed("response has both Content-Length and Transfer-Encoding")
	}
	var cl int64 = -1
	if hasCL {
		for i, v := range cls {
			n, ok := parseLength(v)
			if !ok {
				return f, malformed("bad Content-Length %q", clip(v))
			}
			if i > 0 && n != cl {
				return f, malformed("response has differing Content-Length values")
			}
			cl = n
		}
		if len(cls) > 1 {
			hd["Content-Length"] = cls[:1]
		}
	}
	if hasTE {
		if h.minor == 0 {
			// RFC 9112 §6.1: the framing of such a message is faulty.
			return f, malformed("HTTP/1.0 response with Transfer-Encoding")
		}
		if len(tes) != 1 || !strings.EqualFold(textproto.TrimString(tes[0]), "chunked") {
			return f, malformed("unsupported Transfer-Encoding %q", clip(strings.Join(tes, ", ")))
		}
		delete(hd, "Transfer-Encoding")
	}
	if h.minor == 0 {
		f.close = !hasToken(hd["Connection"], "keep-alive")
	} else {
		f.close = hasToken(hd["Connection"], "close")
	}
	if tr, ok := hd["Trailer"]; ok && hasTE {
		t, err := announcedTrailer(tr)
		if err != nil {
			return f, err
		}
		f.trailer = t
		delete(hd, "Trailer")
	}
	switch {
	case method == http.MethodHead || h.status/100 == 1 || h.status == 204 || h.status == 304:
		f.noBody = true
		f.length = 0
		return f, nil
	case hasTE:
		f.chunked = true
	case hasCL:
		f.length = cl
	default:
		f.close = true // delimited by the end of the connection
	}
	return f, nil
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(v string) (int64, bool) {
	v = textproto.TrimString(v)
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// announcedTrailer is the Trailer header's names as a header of nil
// values (as net/http presents them until the body is read).
func announcedTrailer(vv []string) (http.Header, error) {
	t := http.Header{}
	for _, v := range vv {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.TrimString(k)
			if k == "" {
				continue
			}
			if !httpguts.ValidHeaderFieldName(k) {
				return nil, malformed("bad trailer name %q", clip(k))
			}
			k = http.CanonicalHeaderKey(k)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, malformed("bad trailer name %q", k)
			}
			t[k] = nil
		}
	}
	return t, nil
}

func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), token) {
				return true
			}
		}
	}
	return false
}

// commonKeys are the header names S3 stores send, in canonical form, so
// that canonicalizing them allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept-Ranges", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Range", "Content-Security-Policy",
		"Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified", "Location", "Server",
		"Strict-Transport-Security", "Trailer", "Transfer-Encoding", "Vary", "X-Amz-Id-2", "X-Amz-Request-Id",
		"X-Content-Type-Options", "X-Xss-Protection", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
		"X-Amz-Version-Id", "X-Amz-Delete-Marker", "X-Amz-Bucket-Region", "X-Amz-Checksum-Crc32",
		"X-Amz-Checksum-Crc32c", "X-Amz-Checksum-Sha1", "X-Amz-Checksum-Sha256", "X-Amz-Checksum-Crc64nvme",
		"X-Amz-Checksum-Type", "X-Amz-Storage-Class", "X-Amz-Server-Side-Encryption",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

// canonicalKey is textproto.CanonicalMIMEHeaderKey without an allocation
// for common names.
func canonicalKey(name string) string {
	if k, ok := commonKeys[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// nothingReadError is a read error before the first byte of a response:
// on a reused connection, the store may have closed it while idle.
type nothingReadError struct{ err error }

func (e nothingReadError) Error() string { return e.err.Error() }
func (e nothingReadError) Unwrap() error { return e.err }
