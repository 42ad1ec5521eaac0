package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

func BenchmarkVerifyHeader(b *testing.B) {
	r := signed(b, "GET", "https://s3.example.test/bkt/some/key.txt?versionId=3", http.Header{
		"Range": {"bytes=0-1023"}, "X-Amz-Meta-A": {"x"},
	}, emptySHA256, testWhen, "session-token")
	a, e := ParseRequest(r, exampleRegion, testWhen)
	if e != nil || len(a.SignedHeaders) != 6 {
		b.Fatalf("%v %v", a, e)
	}
	b.ReportAllocs()
	for b.Loop() {
		a, e := ParseRequest(r, exampleRegion, testWhen)
		if e != nil {
			b.Fatal(e)
		}
		if e := VerifySignature(r, a, testSecret); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkChunkedReader(b *testing.B) {
	const size = 1 << 20
	k := streamKind{"signed crc32c", StreamingSignedTrailer, TrailerCRC32C}
	body, _ := k.encode(randomPayload(size), 64<<10)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n, err := io.CopyBuffer(io.Discard, k.reader(bytes.NewReader(body), size), buf)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
