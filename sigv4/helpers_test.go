package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example credentials and time of the AWS S3 SigV4 documentation.
const (
	exampleAKID   = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleRegion = "us-east-1"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// readRequest parses a raw HTTP/1.1 request ('\n' line ends become CRLF)
// the way Go's server does.
func readRequest(t testing.TB, raw string, body []byte) *http.Request {
	t.Helper()
	head := strings.ReplaceAll(strings.TrimLeft(raw, "\n"), "\n", "\r\n")
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append([]byte(head), body...))))
	if err != nil {
		t.Fatalf("read request: %v", err)
	}
	return r
}

// overWire writes a client request as it goes on the wire and reads it back
// as a server would.
func overWire(t testing.TB, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if r.GetBody != nil {
		b, err := r.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		r.Body = b
	}
	if err := r.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	out, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("read request: %v\n%s", err, buf.String())
	}
	return out
}

// parseAndVerify runs ParseRequest and VerifySignature.
func parseAndVerify(r *http.Request, secret string, now time.Time) (*Auth, error) {
	a, e := ParseRequest(r, exampleRegion, now)
	if e != nil {
		return nil, e
	}
	if a == nil {
		return nil, fmt.Errorf("no SigV4 found")
	}
	if e := VerifySignature(r, a, secret); e != nil {
		return a, e
	}
	return a, nil
}

// streamSigner produces aws-chunked bodies the way SDK clients do: an
// independent implementation of §1.9/§1.10 for tests.
type streamSigner struct {
	key      []byte
	date     string
	scope    string
	prev     string
	unsigned bool
}

func newStreamSigner(secret string, date time.Time, region, seed string) *streamSigner {
	key := []byte("AWS4" + secret)
	for _, s := range []string{date.Format("20060102"), region, "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	return &streamSigner{key: key, date: date.Format("20060102T150405Z"),
		scope: date.Format("20060102") + "/" + region + "/s3/aws4_request", prev: seed}
}

func (s *streamSigner) chunk(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(strconv.FormatInt(int64(len(data)), 16))
	if !s.unsigned {
		sum := sha256.Sum256(data)
		sig := signHex(s.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+s.date+"\n"+s.scope+"\n"+s.prev+"\n"+
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"+hex.EncodeToString(sum[:]))
		s.prev = sig
		b.WriteString(";chunk-signature=" + sig)
	}
	b.WriteString("\r\n")
	b.Write(data)
	b.WriteString("\r\n")
	return b.Bytes()
}

// trailer returns the final chunk's trailer section for name:value.
func (s *streamSigner) trailer(name, value string) []byte {
	line := name + ":" + value
	if s.unsigned {
		return []byte(line + "\r\n\r\n")
	}
	sum := sha256.Sum256([]byte(line + "\n"))
	sig := signHex(s.key, "AWS4-HMAC-SHA256-TRAILER\n"+s.date+"\n"+s.scope+"\n"+s.prev+"\n"+hex.EncodeToString(sum[:]))
	return []byte(line + "\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n")
}

// encodeStream frames payload in chunks of size cs, with a trailer checksum
// when name is not empty. It returns the body and the offsets of each chunk
// header (for tampering).
func (s *streamSigner) encodeStream(payload []byte, cs int, name string) (body []byte, offsets []int) {
	for off := 0; off < len(payload); off += cs {
		offsets = append(offsets, len(body))
		body = append(body, s.chunk(payload[off:min(off+cs, len(payload))])...)
	}
	offsets = append(offsets, len(body))
	body = append(body, s.chunk(nil)[:len(s.chunk0Header())]...)
	if name == "" {
		return append(body, "\r\n"...), offsets
	}
	h := newChecksum(name)
	h.Write(payload)
	return append(body, s.trailer(name, base64.StdEncoding.EncodeToString(h.Sum(nil)))...), offsets
}

// chunk0Header is only used for its length: the zero chunk is "header\r\n"
// with no data and, unlike data chunks, only one CRLF before the trailer.
func (s *streamSigner) chunk0Header() string {
	if s.unsigned {
		return "0\r\n"
	}
	return "0;chunk-signature=" + strings.Repeat("0", 64) + "\r\n"
}
