package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchEvent is an event of the size production events have (about 1.4 KB
// serialized): a federated identity with recorded claims, a user agent, an
// object key, and the chain fields the logger adds.
func benchEvent(i int, t time.Time) *Event {
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	u := users[i%len(users)]
	e := &Event{
		Time: t, Kind: KindS3, RequestID: fmt.Sprintf("1800%012X", i), SourceIP: fmt.Sprintf("10.%d.%d.%d", i%7, i%251, i%241),
		UserAgent:  "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0",
		AuthMethod: "sigv4", Issuer: "corp",
		Subject: fmt.Sprintf("u-%05d", i%5000), Username: u,
		Roles: []string{"analyst"}, RoleKind: "human",
		Fingerprint: "3ee04636498b00da8f67310c", AccessKeyID: fmt.Sprintf("ASIA%016d", i%9000),
		Claims:    map[string]any{"groups": []any{"engineering", "data-platform"}, "agent_run": "run-" + strconv.Itoa(i%40)},
		Operation: "GetObject", Action: "s3:GetObject", Bucket: "analytics-prod",
		Key:      fmt.Sprintf("warehouse/events/day=%02d/part-%05d.snappy.parquet", i%28+1, i%10000),
		Decision: "allow", Reason: "allowed",
		Status: 200, BytesOut: int64(1000 + i%100000), DurationMS: 12.5,
	}
	switch i % 20 {
	case 3:
		e.Decision, e.Reason, e.Status, e.ErrorCode, e.Message = "deny", "no_allow", 403, "AccessDenied", "no policy allows s3:PutObject"
		e.Operation, e.Action = "PutObject", "s3:PutObject"
	case 7:
		e.Kind, e.Operation, e.Action, e.AuthMethod = KindSTS, "AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity", "web_identity"
	}
	return e
}

// benchLog writes n chained, signed events to w.
func benchLog(tb testing.TB, w io.Writer, n int) {
	tb.Helper()
	t := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := NewChainedLogger(ChainConfig{SigningKey: testKey, Now: func() time.Time { return t }}, WriterSink{W: w})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		t = t.Add(time.Second)
		if err := l.Log(benchEvent(i, t)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestWriteBenchLog writes a log for measuring the audit commands on a
// large file: IAMGATE_AUDIT_BENCH_LOG=path IAMGATE_AUDIT_BENCH_EVENTS=314000.
// Skipped without the variable.
func TestWriteBenchLog(t *testing.T) {
	path := os.Getenv("IAMGATE_AUDIT_BENCH_LOG")
	if path == "" {
		t.Skip("set IAMGATE_AUDIT_BENCH_LOG to write a log for measurements")
	}
	n, _ := strconv.Atoi(os.Getenv("IAMGATE_AUDIT_BENCH_EVENTS"))
	if n <= 0 {
		n = 314000
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &countWriter{w: f}
	benchLog(t, w, n)
	t.Logf("%s: %d events, %d bytes, %.0f bytes/event", path, n, w.n, float64(w.n)/float64(n))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

const benchEvents = 20000

func benchData(b *testing.B) []byte {
	var buf bytes.Buffer
	benchLog(b, &buf, benchEvents)
	return buf.Bytes()
}

// cpuTime is the CPU time (user and system) of the process so far: on a
// shared machine it says more of the work done than the elapsed time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report reports the throughput in events per second of elapsed time, and
// the CPU time per event (of every core together).
func report(b *testing.B, data []byte, cpu0 time.Duration) {
	b.SetBytes(int64(len(data)))
	events := float64(benchEvents) * float64(b.N)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/events, "cpu-ns/event")
}

func BenchmarkReviewRead(b *testing.B) {
	data := benchData(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		rv := NewReviewer(ReviewConfig{AsOf: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)})
		if err := rv.Read("bench", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		rv.Finish()
	}
	report(b, data, cpu0)
}

func BenchmarkVerifyRead(b *testing.B) {
	data := benchData(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		v := NewVerifier(VerifyConfig{PublicKey: testKey.Public().(ed25519.PublicKey)})
		if err := v.Read("bench", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if r := v.Finish(); !r.OK() {
			b.Fatal(r.Problems)
		}
	}
	report(b, data, cpu0)
}

func BenchmarkQuery(b *testing.B) {
	data := benchData(b)
	f := &Filter{Subjects: []string{"u-00042"}, Decisions: []string{"allow"}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		n := 0
		err := Query("bench", bytes.NewReader(data), f, func(*Match) error { n++; return nil }, func(BadLine) error { return nil })
		if err != nil || n == 0 {
			b.Fatal(err, n)
		}
	}
	report(b, data, cpu0)
}

// BenchmarkDecode compares the fast decoder with Decode on one event.
func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	benchLog(b, &buf, 2)
	line := bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0]
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		var v view
		cpu0 := cpuTime()
		for b.Loop() {
			if !decodeFast(line, &v, withChain) {
				b.Fatal("refused")
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			if _, err := Decode(line); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkFile measures verify, report and query on a log file, as the
// commands read it: IAMGATE_AUDIT_BENCH_LOG=path (see TestWriteBenchLog;
// the file should be in the page cache). Skipped without the variable.
func BenchmarkFile(b *testing.B) {
	path := os.Getenv("IAMGATE_AUDIT_BENCH_LOG")
	if path == "" {
		b.Skip("set IAMGATE_AUDIT_BENCH_LOG to a log written by TestWriteBenchLog")
	}
	read := func(b *testing.B, fn func(io.Reader) error) {
		b.ReportAllocs()
		lines, bytesRead := 0, int64(0)
		cpu0 := cpuTime()
		for b.Loop() {
			r, err := OpenLog(path)
			if err != nil {
				b.Fatal(err)
			}
			cr := &countReader{r: r}
			if err := fn(cr); err != nil {
				b.Fatal(err)
			}
			r.Close()
			lines, bytesRead = cr.lines, cr.n
		}
		b.SetBytes(bytesRead)
		events := float64(lines) * float64(b.N)
		b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/events, "cpu-ns/event")
	}
	b.Run("verify", func(b *testing.B) {
		read(b, func(r io.Reader) error {
			v := NewVerifier(VerifyConfig{PublicKey: testKey.Public().(ed25519.PublicKey)})
			if err := v.Read(path, r); err != nil {
				return err
			}
			if rep := v.Finish(); !rep.OK() {
				return fmt.Errorf("%d problems", len(rep.Problems))
			}
			return nil
		})
	})
	b.Run("report", func(b *testing.B) {
		read(b, func(r io.Reader) error {
			rv := NewReviewer(ReviewConfig{AsOf: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)})
			if err := rv.Read(path, r); err != nil {
				return err
			}
			rv.Finish()
			return nil
		})
	})
	b.Run("query", func(b *testing.B) {
		f := &Filter{Subjects: []string{"u-00042"}, Decisions: []string{"allow"}}
		read(b, func(r io.Reader) error {
			return Query(path, r, f, func(*Match) error { return nil }, func(BadLine) error { return nil })
		})
	})
}

// countReader counts the bytes and lines read through it.
type countReader struct {
	r     io.Reader
	n     int64
	lines int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}
