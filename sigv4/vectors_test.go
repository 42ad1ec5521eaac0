package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/iamgate/iamgate/s3err"
)

// The examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// and sigv4-query-string-auth.html, as raw requests.
var awsHeaderVectors = []struct {
	name string
	raw  string
	body string
}{
	{"GET object with Range", `
GET /test.txt HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41
Range: bytes=0-9
x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-amz-date: 20130524T000000Z

`, ""},
	{"PUT object", `
PUT /test%24file.text HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Date: Fri, 24 May 2013 00:00:00 GMT
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
Content-Length: 21

`, "Welcome to Amazon S3."},
	{"GET bucket lifecycle", `
GET /?lifecycle HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543
x-amz-date: 20130524T000000Z
x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

`, ""},
	{"ListObjects", `
GET /?max-keys=2&prefix=J HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7
x-amz-date: 20130524T000000Z
x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

`, ""},
	{"presigned GET", `
GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1
Host: examplebucket.s3.amazonaws.com

`, ""},
}

func TestAWSDocumentedVectors(t *testing.T) {
	for _, v := range awsHeaderVectors {
		t.Run(v.name, func(t *testing.T) {
			r := readRequest(t, v.raw, []byte(v.body))
			if _, err := parseAndVerify(r, exampleSecret, exampleTime); err != nil {
				t.Fatalf("documented request rejected: %v", err)
			}
			// One byte changed anywhere in the request line or a signed
			// header (or the signature itself) must fail.
			head := strings.TrimLeft(v.raw, "\n")
			ms := mutations(head)
			if len(ms) < 4 {
				t.Fatalf("only %d mutations", len(ms))
			}
			for _, m := range ms {
				r := readRequest(t, m, []byte(v.body))
				if _, err := parseAndVerify(r, exampleSecret, exampleTime); err == nil {
					t.Errorf("mutated request verified:\n%s", m)
				}
			}
			if _, err := parseAndVerify(readRequest(t, v.raw, []byte(v.body)), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz", exampleTime); !isCode(err, "SignatureDoesNotMatch") {
				t.Errorf("wrong secret: %v", err)
			}
		})
	}
}

// mutations returns copies of a raw request with one byte changed in each
// security-relevant place: the method, the path, the query, each signed
// header value and the signature.
func mutations(raw string) []string {
	var out []string
	lines := strings.Split(raw, "\n")
	flip := func(i, j int) {
		l := []byte(lines[i])
		switch {
		case l[j] == 'a':
			l[j] = 'b'
		case l[j] >= '0' && l[j] <= '8':
			l[j]++
		default:
			l[j] = 'a'
		}
		c := append([]string(nil), lines...)
		c[i] = string(l)
		out = append(out, strings.Join(c, "\n"))
	}
	flip(0, 1) // method
	if j := strings.Index(lines[0], " /") + 3; j < len(lines[0]) && lines[0][j] != ' ' && lines[0][j] != '?' {
		flip(0, j) // path
	}
	if j := strings.LastIndex(lines[0], "X-Amz-Signature=") + len("X-Amz-Signature="); j > len("X-Amz-Signature=") {
		flip(0, j+5) // presigned signature
		flip(0, strings.Index(lines[0], "X-Amz-Expires=")+len("X-Amz-Expires=")+1)
	} else if j := strings.IndexByte(lines[0], '?'); j > 0 {
		flip(0, j+2) // query
	}
	for i := 1; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || len(v) < 3 {
			continue
		}
		switch strings.ToLower(k) {
		case "authorization":
			flip(i, len(lines[i])-3) // signature
		case "content-length", "x-amz-date":
			// Content-Length is unsigned here; x-amz-date changes also
			// move the date out of the credential scope (covered below).
		default:
			flip(i, len(lines[i])-2)
		}
	}
	return out
}

func isCode(err error, code string) bool {
	var e *s3err.Error
	return errors.As(err, &e) && e.Code == code
}

var chunkedDocData = bytes.Repeat([]byte{'a'}, 66560)

const chunkedDocHead = `
PUT /examplebucket/chunkObject.txt HTTP/1.1
Host: s3.amazonaws.com
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9
x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD
Content-Encoding: aws-chunked
x-amz-decoded-content-length: 66560
Content-Length: 66824

`

func chunkedDocBody() []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
	b.Write(chunkedDocData[:65536])
	b.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
	b.Write(chunkedDocData[65536:])
	b.WriteString("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
	return b.Bytes()
}

// The example of https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html.
func TestAWSChunkedVector(t *testing.T) {
	body := chunkedDocBody()
	if len(body) != 66824 {
		t.Fatalf("body is %d bytes, the documented Content-Length is 66824", len(body))
	}
	r := readRequest(t, chunkedDocHead, body)
	a, err := parseAndVerify(r, exampleSecret, exampleTime)
	if err != nil {
		t.Fatalf("seed request rejected: %v", err)
	}
	for _, name := range []string{"whole", "one byte", "7 bytes"} {
		var src io.Reader = bytes.NewReader(body)
		switch name {
		case "one byte":
			src = iotest.OneByteReader(src)
		case "7 bytes":
			src = &smallReader{src, 7}
		}
		got, err := io.ReadAll(NewChunkedReader(src, a, exampleSecret, nil, 66560))
		if err != nil || !bytes.Equal(got, chunkedDocData) {
			t.Fatalf("%s: decoded %d bytes, err %v", name, len(got), err)
		}
	}
	// Flip one byte in the data of chunk 2, then in each signature.
	for _, off := range []int{65536 + 88 + 2 + 87 + 100, 30, 65536 + 88 + 2 + 30, len(body) - 10} {
		bad := bytes.Clone(body)
		bad[off] ^= 1
		n, err := io.Copy(io.Discard, NewChunkedReader(bytes.NewReader(bad), a, exampleSecret, nil, 66560))
		if err == nil || n >= 66560 {
			t.Errorf("tampered byte %d: delivered %d bytes, err %v", off, n, err)
		}
	}
}

// The example of https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html.
func TestAWSChunkedTrailerVector(t *testing.T) {
	head := `
PUT /examplebucket/chunkObject.txt HTTP/1.1
Host: s3.amazonaws.com
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e
x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
Content-Encoding: aws-chunked
x-amz-decoded-content-length: 66560
x-amz-trailer: x-amz-checksum-crc32c
Transfer-Encoding: chunked

`
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n")
	b.Write(chunkedDocData[:65536])
	b.WriteString("\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n")
	b.Write(chunkedDocData[65536:])
	b.WriteString("\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n")
	b.WriteString("x-amz-checksum-crc32c:sOO8/Q==\r\n")
	b.WriteString("x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
	body := b.Bytes()

	// aws-chunked inside HTTP chunked transfer coding (trinodb/aws-proxy#132).
	var te bytes.Buffer
	for off := 0; off < len(body); off += 5000 {
		chunk := body[off:min(off+5000, len(body))]
		te.WriteString(strings.ToUpper(strconv.FormatInt(int64(len(chunk)), 16)) + "\r\n")
		te.Write(chunk)
		te.WriteString("\r\n")
	}
	te.WriteString("0\r\n\r\n")
	r := readRequest(t, head, te.Bytes())
	a, err := parseAndVerify(r, exampleSecret, exampleTime)
	if err != nil {
		t.Fatalf("seed request rejected: %v", err)
	}
	cr := NewChunkedReader(r.Body, a, exampleSecret, r.Header.Values("X-Amz-Trailer"), 66560)
	got, err := io.ReadAll(cr)
	if err != nil || !bytes.Equal(got, chunkedDocData) {
		t.Fatalf("decoded %d bytes, err %v", len(got), err)
	}
	if v := cr.Trailer()[TrailerCRC32C]; v != "sOO8/Q==" {
		t.Errorf("trailer = %q", v)
	}
	for _, tamper := range []string{"sOO8/Q==", "d81f82fc"} {
		i := bytes.Index(body, []byte(tamper))
		bad := bytes.Clone(body)
		bad[i+2] ^= 1
		n, err := io.Copy(io.Discard, NewChunkedReader(bytes.NewReader(bad), a, exampleSecret, []string{TrailerCRC32C}, 66560))
		if !isCode(err, "SignatureDoesNotMatch") || n >= 66560 {
			t.Errorf("tampered %s: delivered %d, err %v", tamper, n, err)
		}
	}
}

// smallReader returns at most n bytes per Read.
type smallReader struct {
	r io.Reader
	n int
}

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > s.n {
		p = p[:s.n]
	}
	return s.r.Read(p)
}
