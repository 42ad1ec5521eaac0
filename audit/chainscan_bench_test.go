package audit

import (
	"bytes"
	"testing"
)

// BenchmarkParseChainLine is verification's reading of one event line:
// the flat scan and the hash.
func BenchmarkParseChainLine(b *testing.B) {
	var buf bytes.Buffer
	benchLog(b, &buf, 2)
	line := bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0]
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			var l chainLine
			if !scanChainLine(line, &l) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("scan+hash", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			var l chainLine
			parseChainLine(line, &l)
		}
	})
}
