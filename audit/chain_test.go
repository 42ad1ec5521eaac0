package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// zeroReader yields stream ids made of one repeated byte.
type zeroReader byte

func (z zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(z)
	}
	return len(p), nil
}

// testClock advances by a millisecond at each reading.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// writeStream logs n events to path with a checkpoint every 4 events and
// closes the logger if closeIt. With 10 events and closeIt the lines are:
// 1-4 events, 5 checkpoint, 6-9 events, 10 checkpoint, 11-12 events,
// 13 closing checkpoint.
func writeStream(t testing.TB, path string, n int, closeIt bool, id byte) {
	t.Helper()
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{SigningKey: testKey, CheckpointInterval: 4, Now: testClock(), Rand: zeroReader(id)}, fs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := sampleEvent()
		e.RequestID = fmt.Sprintf("req-%d", i)
		if err := l.Log(e); err != nil {
			t.Fatal(err)
		}
	}
	if closeIt {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		fs.Close()
	}
}

func verifyFiles(t *testing.T, pub ed25519.PublicKey, paths ...string) *Report {
	t.Helper()
	v := NewVerifier(VerifyConfig{PublicKey: pub})
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Read(filepath.Base(p), f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return v.Finish()
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	return lines[:len(lines)-1]
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	s := strings.Join(lines, "")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func codes(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s@%s:%d", f.Code, f.File, f.Line))
	}
	return out
}

func TestChainRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	writeStream(t, path, 10, true, 1)
	lines := readLines(t, path)
	if len(lines) != 13 {
		t.Fatalf("%d lines, want 13", len(lines))
	}
	stream := strings.Repeat("01", 16)
	for i, line := range lines {
		e, err := Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Stream != stream || len(e.Prev) != 64 {
			t.Errorf("line %d: seq %d stream %q prev %q", i+1, e.Seq, e.Stream, e.Prev)
		}
		cp := i == 4 || i == 9 || i == 12
		if (e.Kind == KindCheckpoint) != cp || cp && (e.Signature == "" || e.KeyID != KeyID(testKey.Public().(ed25519.PublicKey))) {
			t.Errorf("line %d: %s", i+1, line)
		}
		if cp && e.Reason != map[int]string{4: CheckpointInterval, 9: CheckpointInterval, 12: CheckpointClose}[i] {
			t.Errorf("line %d: reason %q", i+1, e.Reason)
		}
	}
	r := verifyFiles(t, testKey.Public().(ed25519.PublicKey), path)
	if !r.OK() || len(r.Warnings) != 0 || r.Events != 13 {
		t.Fatalf("problems %v warnings %v events %d", r.Problems, r.Warnings, r.Events)
	}
	want := []StreamSummary{{Stream: stream, First: 1, Last: 13, Events: 13, Checkpoints: 3, Signed: 3, Closed: true}}
	if !slices.Equal(r.Streams, want) {
		t.Errorf("streams %+v", r.Streams)
	}
}

func TestChainRotationAndRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	writeStream(t, path, 10, true, 1)
	lines := readLines(t, path)
	// Rotation: the stream goes on in a second file; give the files in
	// reverse order.
	writeLines(t, filepath.Join(dir, "audit.log.1"), lines[:7])
	writeLines(t, path, lines[7:])
	// A restart starts a second stream in the same file.
	writeStream(t, path, 5, true, 2)
	r := verifyFiles(t, testKey.Public().(ed25519.PublicKey), path, filepath.Join(dir, "audit.log.1"))
	if !r.OK() || len(r.Warnings) != 0 || len(r.Streams) != 2 || r.Streams[0].Events != 13 || r.Streams[1].Events != 7 {
		t.Fatalf("problems %v warnings %v streams %+v", r.Problems, r.Warnings, r.Streams)
	}
}

func TestChainTampering(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	tests := []struct {
		name     string
		open     bool // the stream was not closed
		tamper   func([]string) []string
		problems []string
		warnings []string
	}{
		{name: "modified", tamper: func(l []string) []string {
			l[2] = strings.Replace(l[2], `"alice"`, `"mallory"`, 1)
			return l
		}, problems: []string{"modified@a.log:3"}},
		{name: "removed", tamper: func(l []string) []string {
			return slices.Delete(l, 5, 6)
		}, problems: []string{"missing@a.log:6"}},
		{name: "removed first", tamper: func(l []string) []string {
			return l[1:]
		}, problems: []string{"missing@a.log:1"}},
		{name: "swapped", tamper: func(l []string) []string {
			l[1], l[2] = l[2], l[1]
			return l
		}, problems: []string{"reordered@a.log:3"}},
		{name: "inserted copy", tamper: func(l []string) []string {
			return slices.Insert(l, 3, strings.Replace(l[2], `"allow"`, `"deny"`, 1))
		}, problems: []string{"inserted@a.log:4"}},
		{name: "inserted chained", tamper: func(l []string) []string {
			// Claims seq 4 with the right prev; only its successor betrays it.
			return slices.Insert(l, 3, strings.Replace(l[3], `"alice"`, `"mallory"`, 1))
		}, problems: []string{"inserted@a.log:4"}},
		{name: "inserted unchained", tamper: func(l []string) []string {
			return slices.Insert(l, 3, `{"kind":"s3","decision":"allow"}`+"\n")
		}, problems: []string{"malformed@a.log:4"}},
		{name: "duplicated", tamper: func(l []string) []string {
			return slices.Insert(l, 3, l[2])
		}, problems: []string{"duplicate@a.log:4"}},
		{name: "truncated", tamper: func(l []string) []string {
			return l[:11]
		}, warnings: []string{"uncovered@a.log:11", "not_closed@a.log:11"}},
		{name: "modified uncovered tail", open: true, tamper: func(l []string) []string {
			l[11] = strings.Replace(l[11], `"alice"`, `"mallory"`, 1)
			return l
		}, warnings: []string{"uncovered@a.log:11", "not_closed@a.log:12"}},
		{name: "forged signature", tamper: func(l []string) []string {
			i := strings.Index(l[4], `"signature":"`) + len(`"signature":"`)
			c := "A"
			if l[4][i] == 'A' {
				c = "B"
			}
			l[4] = l[4][:i] + c + l[4][i+1:]
			return l
		}, problems: []string{"bad_signature@a.log:5", "modified@a.log:5"}},
		{name: "signature stripped", tamper: func(l []string) []string {
			i := strings.Index(l[4], `,"keyId":`)
			l[4] = l[4][:i] + "}}\n"
			return l
		}, problems: []string{"unsigned@a.log:5", "modified@a.log:5"}},
		{name: "duplicated close", tamper: func(l []string) []string {
			return append(l, l[12])
		}, problems: []string{"duplicate@a.log:14"}},
		{name: "after close", tamper: func(l []string) []string {
			// A forged event chained to the closing checkpoint.
			e, _ := Decode([]byte(l[11]))
			sum := sha256.Sum256([]byte(strings.TrimSuffix(l[12], "\n")))
			old := fmt.Sprintf(`"seq":12,"prev":"%s"`, e.Prev)
			return append(l, strings.Replace(l[11], old, fmt.Sprintf(`"seq":14,"prev":"%x"`, sum), 1))
		}, problems: []string{"after_close@a.log:14"}, warnings: []string{"uncovered@a.log:14"}},
		{name: "inserted, seq jumped ahead", tamper: func(l []string) []string {
			// A forged line claiming a seq past the end of the stream.
			return slices.Insert(l, 3, strings.Replace(l[2], `"seq":3,`, `"seq":99,`, 1))
		}, problems: []string{"inserted@a.log:4"}},
		{name: "inserted, seq of a later line", tamper: func(l []string) []string {
			return slices.Insert(l, 2, strings.Replace(l[10], `"alice"`, `"mallory"`, 1))
		}, problems: []string{"inserted@a.log:3"}},
		{name: "moved earlier", tamper: func(l []string) []string {
			moved := l[9]
			return slices.Insert(slices.Delete(l, 9, 10), 2, moved)
		}, problems: []string{"reordered@a.log:3"}},
		{name: "moved later", tamper: func(l []string) []string {
			moved := l[2]
			return slices.Insert(slices.Delete(l, 2, 3), 9, moved)
		}, problems: []string{"reordered@a.log:10"}},
		{name: "garbage", tamper: func(l []string) []string {
			return slices.Insert(l, 0, "not json\n")
		}, problems: []string{"malformed@a.log:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.log")
			writeStream(t, path, 10, !tt.open, 1)
			writeLines(t, path, tt.tamper(readLines(t, path)))
			r := verifyFiles(t, pub, path)
			if got := codes(r.Problems); !slices.Equal(got, tt.problems) {
				t.Errorf("problems %q, want %q\n%v", got, tt.problems, r.Problems)
			}
			if got := codes(r.Warnings); !slices.Equal(got, tt.warnings) {
				t.Errorf("warnings %q, want %q\n%v", got, tt.warnings, r.Warnings)
			}
			if r.OK() != (len(tt.problems) == 0) {
				t.Errorf("OK() = %v", r.OK())
			}
		})
	}
}

func TestChainWithoutKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 4}, fs)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		l.Log(sampleEvent())
	}
	l.Close()
	r := verifyFiles(t, nil, path)
	if !r.OK() || !slices.Equal(codes(r.Warnings), []string{"unchecked@:0", "unsigned@:0", "uncovered@audit.log:1"}) {
		t.Fatalf("problems %v warnings %v", r.Problems, r.Warnings)
	}
	// With a key, unsigned checkpoints are problems.
	r = verifyFiles(t, testKey.Public().(ed25519.PublicKey), path)
	if !slices.Equal(codes(r.Problems), []string{"unsigned@audit.log:5", "unsigned@audit.log:7"}) {
		t.Fatalf("problems %v", r.Problems)
	}
	if err := l.Log(sampleEvent()); !errors.Is(err, ErrClosed) {
		t.Errorf("Log after Close: %v", err)
	}
}

func TestChainConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l, err := NewChainedLogger(ChainConfig{SigningKey: testKey, CheckpointInterval: 50}, fs, WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := l.Log(sampleEvent()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stdout.log"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, filepath.Join(dir, "stdout.log")} {
		r := verifyFiles(t, testKey.Public().(ed25519.PublicKey), p)
		// 800 events, 16 interval checkpoints, 1 closing one.
		if !r.OK() || len(r.Warnings) != 0 || r.Events != 817 {
			t.Fatalf("%s: problems %v warnings %v events %d", p, r.Problems, r.Warnings, r.Events)
		}
	}
}

// lockedBuffer is a bytes.Buffer that timer goroutines may write to while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestChainTimerCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		l, err := NewChainedLogger(ChainConfig{SigningKey: testKey, CheckpointEvery: time.Minute}, WriterSink{W: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Log(sampleEvent())
		time.Sleep(30 * time.Second)
		l.Log(sampleEvent())
		synctest.Wait()
		if n := strings.Count(buf.String(), `"kind":"checkpoint"`); n != 0 {
			t.Fatalf("%d checkpoints before the minute is up", n)
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if n := strings.Count(buf.String(), `"reason":"timer"`); n != 1 {
			t.Fatalf("%d timer checkpoints, want 1:\n%s", n, buf.String())
		}
		// Nothing written since: no further checkpoint.
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		l.Log(sampleEvent())
		l.Close()
		if n := strings.Count(buf.String(), `"kind":"checkpoint"`); n != 2 {
			t.Fatalf("%d checkpoints, want 2:\n%s", n, buf.String())
		}
		v := NewVerifier(VerifyConfig{PublicKey: testKey.Public().(ed25519.PublicKey)})
		v.Read("stdout", strings.NewReader(buf.String()))
		if r := v.Finish(); !r.OK() || len(r.Warnings) != 0 || r.Events != 5 {
			t.Fatalf("problems %v warnings %v", r.Problems, r.Warnings)
		}
	})
}

func TestUnchainedLoggerUnchanged(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(WriterSink{W: &buf})
	l.Log(sampleEvent())
	l.Close()
	if s := buf.String(); strings.Contains(s, `"seq"`) || strings.Contains(s, `"stream"`) || strings.Count(s, "\n") != 1 {
		t.Fatalf("unchained line: %s", s)
	}
	if l.Stream() != "" {
		t.Error("unchained logger has a stream")
	}
}

func BenchmarkLogChained(b *testing.B) {
	l, err := NewChainedLogger(ChainConfig{SigningKey: testKey}, WriterSink{W: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Log(sampleEvent())
	}
}

// A stream longer than the window, rotated over files that are given
// newest first, verifies once OrderLogs has put them in order; a line
// swapped far beyond the window is one problem.
func TestChainWindow(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	path := filepath.Join(dir, "all.log")
	writeStream(t, path, 2*VerifyWindow+500, true, 3)
	lines := readLines(t, path)
	cut := VerifyWindow + 100
	older, newer := filepath.Join(dir, "audit.log.2027-01-01T00-00-00.000"), filepath.Join(dir, "audit.log")
	writeLines(t, older, lines[:cut])
	writeLines(t, newer, lines[cut:])
	r := verifyFiles(t, pub, OrderLogs([]string{newer, older})...)
	if !r.OK() || len(r.Warnings) != 0 || len(r.Streams) != 1 || r.Streams[0].Events != len(lines) {
		t.Fatalf("ordered files: problems %v, warnings %v, streams %+v", r.Problems, r.Warnings, r.Streams)
	}
	if got := filepath.Base(r.Files[0]); got != filepath.Base(older) {
		t.Errorf("read %s first", got)
	}

	// A line moved further than the window: one problem.
	moved := slices.Clone(lines)
	m := moved[10]
	moved = slices.Insert(slices.Delete(moved, 10, 11), len(moved)-5, m)
	writeLines(t, path, moved)
	r = verifyFiles(t, pub, path)
	if got := codes(r.Problems); len(got) != 2 || got[0] != "missing@all.log:11" || !strings.HasPrefix(got[1], "reordered@") {
		t.Errorf("moved beyond the window: %q", got)
	}
}

// The window gives entries back lowest seq first, then in arrival order,
// whether they arrive in order (a queue) or not (a heap).
func TestEntryWindow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var w entryWindow
	var ref []entry
	ord := uint64(0)
	seq := uint64(100)
	for step := range 50_000 {
		if rnd.IntN(2) > 0 || len(ref) == 0 {
			ord++
			seq++
			e := entry{seq: seq, ord: ord}
			if step%50 == 0 {
				e.seq = seq - uint64(rnd.IntN(20)) // out of order, or a repeated seq
			}
			w.push(e)
			ref = append(ref, e)
			continue
		}
		best := 0
		for i := range ref {
			if entryLess(&ref[i], &ref[best]) {
				best = i
			}
		}
		if w.len() != len(ref) || *w.min() != ref[best] {
			t.Fatalf("step %d: len %d, want %d; min %+v, want %+v", step, w.len(), len(ref), *w.min(), ref[best])
		}
		if got := w.pop(); got != ref[best] {
			t.Fatalf("step %d: popped %+v, want %+v", step, got, ref[best])
		}
		ref = append(ref[:best], ref[best+1:]...)
	}
}
