package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, v := range awsHeaderVectors {
		for _, l := range strings.Split(v.raw, "\n") {
			if k, val, ok := strings.Cut(l, ": "); ok && k == "Authorization" {
				f.Add(val)
			}
		}
	}
	f.Add("AWS4-HMAC-SHA256 Credential=a/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("A", 64))
	f.Add("AWS AKID:sig")
	f.Add("AWS4-HMAC-SHA256 ,,")
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, authz string) {
		r, _ := http.NewRequest("GET", "https://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		a, e := ParseRequest(r, exampleRegion, exampleTime)
		if a == nil {
			return
		}
		if e != nil {
			t.Fatal("both an Auth and an error")
		}
		if a.Type != AuthHeader || len(a.Signature) != 64 || a.Region != exampleRegion || a.Service != "s3" ||
			a.ScopeDate != "20130524" || a.AccessKeyID == "" {
			t.Fatalf("accepted %+v", a)
		}
		hostSigned := false
		for _, h := range a.SignedHeaders {
			hostSigned = hostSigned || h == "host"
		}
		if !hostSigned {
			t.Fatal("host not signed")
		}
		_ = VerifySignature(r, a, exampleSecret)
	})
}

func FuzzParsePresigned(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1.5")
	f.Add("X-Amz-Credential=a;b")
	f.Add("AWSAccessKeyId=a&Signature=b")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r, _ := http.NewRequest("GET", "https://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.URL.RawQuery = rawQuery
		a, e := ParseRequest(r, exampleRegion, exampleTime)
		if a == nil {
			return
		}
		if e != nil {
			t.Fatal("both an Auth and an error")
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("accepted an unparsable query %q", rawQuery)
		}
		if a.Type != AuthPresigned || a.Expires <= 0 || a.Expires > MaxPresignExpires || len(a.Signature) != 64 ||
			a.Region != exampleRegion || len(q["X-Amz-Signature"]) != 1 {
			t.Fatalf("accepted %+v", a)
		}
		if exampleTime.After(a.Date.Add(a.Expires)) {
			t.Fatal("accepted an expired URL")
		}
		_ = VerifySignature(r, a, exampleSecret)
	})
}

func FuzzChunkedReader(f *testing.F) {
	f.Add(chunkedDocBody(), uint8(0), int64(66560))
	for _, k := range streamKinds()[:3] {
		body, _ := k.encode([]byte("hello, world"), 5)
		f.Add(body, uint8(1), int64(12))
		f.Add(body, uint8(2), int64(12))
	}
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint8(2), int64(0))
	f.Add([]byte("fffffff;chunk-signature="), uint8(0), int64(1<<30))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, length int64) {
		var cr *ChunkedReader
		switch mode % 3 {
		case 0:
			a := &Auth{Type: AuthHeader, Date: exampleTime, ScopeDate: "20130524", Region: exampleRegion, Service: "s3",
				Signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", PayloadHash: StreamingSigned}
			cr = NewChunkedReader(bytes.NewReader(body), a, exampleSecret, nil, length)
		case 1:
			cr = NewChunkedReader(bytes.NewReader(body), streamAuth(StreamingSignedTrailer), testSecret, []string{TrailerCRC32C}, length)
		default:
			cr = NewUnsignedTrailerReader(bytes.NewReader(body), []string{TrailerCRC32}, length)
		}
		buf := make([]byte, 1+int(mode)%13)
		var total int64
		for i := 0; ; i++ {
			if i > 4*len(body)+100 {
				t.Fatal("reader does not terminate")
			}
			n, err := cr.Read(buf)
			total += int64(n)
			if err == io.EOF {
				if total != length {
					t.Fatalf("EOF after %d bytes, declared %d", total, length)
				}
				return
			}
			if err != nil {
				if total >= length && length > 0 {
					t.Fatalf("failed only after delivering all %d bytes", total)
				}
				return
			}
		}
	})
}
