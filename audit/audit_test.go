package audit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func sampleEvent() *Event {
	return &Event{Kind: "s3", RequestID: "0123456789ABCDEF", SourceIP: "192.0.2.1", UserAgent: "aws-cli/2.9.19",
		AuthMethod: "sigv4", Issuer: "corp", Subject: "u-1", Username: "alice", Roles: []string{"analyst"},
		Fingerprint: "3ee04636498b00da8f67310c", SessionID: "S1", AccessKeyID: "ASIAEXAMPLE0000000",
		Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: "home/alice/a b.txt",
		Decision: "allow", Reason: "allowed", Role: "analyst", Policy: "home", Sid: "OwnHome",
		Status: 200, BytesOut: 4096, DurationMS: 1.2, UpstreamMS: 0.8, UpstreamRequestID: "18EBC15ED0FCBC11"}
}

func TestLoggerWritesOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "audit.log")
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLogger(WriterSink{W: &buf}, fs)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); l.Log(sampleEvent()) }()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	for name, data := range map[string][]byte{"writer": buf.Bytes(), "file": file} {
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != 50 {
			t.Fatalf("%s: %d lines, want 50", name, len(lines))
		}
		for _, line := range lines {
			ev, err := Decode([]byte(line))
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			if !strings.HasPrefix(line, `{"eventVersion":"`+Version+`"`) || ev.Time.IsZero() || ev.EventID == "" || ev.Key != "home/alice/a b.txt" {
				t.Fatalf("%s: %+v", name, ev)
			}
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v", fi.Mode().Perm())
	}
}

type failingSink struct{}

func (failingSink) WriteEvent([]byte) error { return errors.New("disk full") }

func TestLoggerReportsSinkErrors(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(failingSink{}, WriterSink{W: &buf})
	if err := l.Log(sampleEvent()); err == nil {
		t.Fatal("a failing sink was not reported")
	}
	if buf.Len() == 0 {
		t.Fatal("one failing sink stopped the others")
	}
	var nilLogger *Logger
	if err := nilLogger.Log(sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if err := NewLogger().Log(&Event{Time: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLog(b *testing.B) {
	l := NewLogger(WriterSink{W: io.Discard})
	b.ReportAllocs()
	for b.Loop() {
		l.Log(sampleEvent())
	}
}
