package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// gateSink is a BatchSink that records every call and holds the first one
// until release is closed.
type gateSink struct {
	release chan struct{}
	fail    error // returned by every call

	mu    sync.Mutex
	calls []int // lines per call
	data  bytes.Buffer
	first bool
}

func newGateSink() *gateSink { return &gateSink{release: make(chan struct{})} }

func (s *gateSink) WriteEvent(line []byte) error { return s.WriteEvents(line, 1) }

func (s *gateSink) WriteEvents(lines []byte, n int) error {
	s.mu.Lock()
	first := !s.first
	s.first = true
	s.mu.Unlock()
	if first {
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n != bytes.Count(lines, []byte("\n")) {
		panic("line count " + strconv.Itoa(n) + " does not match the lines")
	}
	s.calls = append(s.calls, n)
	if s.fail != nil {
		return s.fail
	}
	s.data.Write(lines)
	return nil
}

func (s *gateSink) callsSoFar() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.calls...)
}

// queued is the number of lines waiting in l's open batch.
func queued(l *Logger) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		return 0
	}
	return len(l.open.ends)
}

// TestGroupCommitBatches: the events logged while a write is under way are
// written together in the next write, and each Log returns only once its
// own event was written.
func TestGroupCommitBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newGateSink()
		l := NewLogger(sink)
		var returned atomic.Int32
		var wg sync.WaitGroup
		log := func() {
			defer wg.Done()
			if err := l.Log(sampleEvent()); err != nil {
				t.Error(err)
			}
			returned.Add(1)
		}
		wg.Add(1)
		go log() // the leader, held in its write
		synctest.Wait()
		wg.Add(10)
		for range 10 {
			go log()
		}
		synctest.Wait()
		if n := queued(l); n != 10 {
			t.Fatalf("%d events queued behind the write, want 10", n)
		}
		if n := returned.Load(); n != 0 {
			t.Fatalf("%d Log calls returned before their event was written", n)
		}
		close(sink.release)
		wg.Wait()
		if calls := sink.callsSoFar(); len(calls) != 2 || calls[0] != 1 || calls[1] != 10 {
			t.Fatalf("writes of %v lines, want [1 10]", calls)
		}
		// Without contention, each event is its own write again.
		l.Log(sampleEvent())
		if calls := sink.callsSoFar(); len(calls) != 3 || calls[2] != 1 {
			t.Fatalf("writes of %v lines, want [1 10 1]", calls)
		}
	})
}

// TestGroupCommitEventInFileOnReturn: when Log returns, its event is in the
// file, whatever other goroutines are logging.
func TestGroupCommitEventInFileOnReturn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	r, err := OpenRotatingFile(FileConfig{Path: path, Fsync: FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{SigningKey: testKey, CheckpointInterval: 25}, r)
	if err != nil {
		t.Fatal(err)
	}
	const loggers, each = 32, 10
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := sampleEvent()
				e.EventID = "ev-" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if err := l.Log(e); err != nil {
					t.Error(err)
					return
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Contains(data, []byte(`"eventID":"`+e.EventID+`"`)) {
					t.Errorf("event %s not in the file when Log returned", e.EventID)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(VerifyConfig{PublicKey: testKey.Public().(ed25519.PublicKey)})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v.Read("audit.log", f)
	rep := v.Finish()
	// 320 events and a checkpoint after every 25 lines of events, and the
	// closing one.
	if !rep.OK() || len(rep.Warnings) != 0 || rep.Events != loggers*each+loggers*each/25+1 || len(rep.Streams) != 1 || !rep.Streams[0].Closed {
		t.Fatalf("verify: events %d problems %v warnings %v streams %+v", rep.Events, rep.Problems, rep.Warnings, rep.Streams)
	}
}

// TestGroupCommitWriteError: a failed write fails every Log call whose
// event was in it, with the sink's error, as a failed write of one event
// does; the instrumented sink reports it as unavailable.
func TestGroupCommitWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDisk := errors.New("disk full")
		sink := newGateSink()
		sink.fail = errDisk
		ins := Instrument(SinkFile, sink, nil)
		if _, ok := ins.(BatchSink); !ok {
			t.Fatal("an instrumented BatchSink is not a BatchSink")
		}
		l, err := NewChainedLogger(ChainConfig{}, ins)
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 8)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); errs[0] = l.Log(sampleEvent()) }()
		synctest.Wait()
		for i := 1; i < len(errs); i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = l.Log(sampleEvent()) }()
		}
		synctest.Wait()
		close(sink.release)
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, errDisk) {
				t.Errorf("Log %d: %v, want the sink's error", i, err)
			}
		}
		if err := l.Available(); !errors.Is(err, errDisk) {
			t.Errorf("Available after a failed write: %v", err)
		}
		if calls := sink.callsSoFar(); len(calls) != 2 {
			t.Errorf("writes of %v lines, want two", calls)
		}
	})
}

// lineSink is a Sink (not a BatchSink) that fails the lines holding bad.
type lineSink struct {
	bad []byte
	n   atomic.Int32
}

func (s *lineSink) WriteEvent(line []byte) error {
	s.n.Add(1)
	if bytes.Contains(line, s.bad) {
		return errors.New("refused")
	}
	return nil
}

// TestGroupCommitLineSinkErrors: a sink that takes lines one by one gets
// each line of a batch, and its error reaches only the Log call whose line
// failed; a BatchSink beside it gets the batch in one call.
func TestGroupCommitLineSinkErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := newGateSink()
		lines := &lineSink{bad: []byte(`"eventID":"bad"`)}
		l := NewLogger(gate, lines)
		errs := make([]error, 6)
		var wg sync.WaitGroup
		logID := func(i int, id string) {
			defer wg.Done()
			e := sampleEvent()
			e.EventID = id
			errs[i] = l.Log(e)
		}
		wg.Add(1)
		go logID(0, "first")
		synctest.Wait()
		for i := 1; i < len(errs); i++ {
			wg.Add(1)
			id := "ok-" + strconv.Itoa(i)
			if i == 3 {
				id = "bad"
			}
			go logID(i, id)
		}
		synctest.Wait()
		close(gate.release)
		wg.Wait()
		for i, err := range errs {
			if (err != nil) != (i == 3) {
				t.Errorf("Log %d: %v", i, err)
			}
		}
		if n := lines.n.Load(); n != 6 {
			t.Errorf("the line sink got %d lines, want 6", n)
		}
		if calls := gate.callsSoFar(); len(calls) != 2 || calls[1] != 5 {
			t.Errorf("batch sink writes of %v lines, want [1 5]", calls)
		}
	})
}

// tickClock returns a clock that advances a millisecond at every call, so
// that concurrent rotations get distinct file names.
func tickClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// TestGroupCommitRotationConcurrent: with many loggers and a small
// MaxSize, no file exceeds it, every event is kept once, and the stream
// verifies across the rotated files.
func TestGroupCommitRotationConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	now := tickClock()
	r, err := OpenRotatingFile(FileConfig{Path: path, MaxSize: 6000, Fsync: FsyncNever, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 50, Now: now}, r)
	if err != nil {
		t.Fatal(err)
	}
	const loggers, each = 16, 25
	var wg sync.WaitGroup
	for range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := l.Log(sampleEvent()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	files := append(rotated, path)
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Size() > 6000 {
			t.Errorf("%s: %d bytes, over MaxSize", f, fi.Size())
		}
	}
	want := loggers*each + loggers*each/50 + 1
	if n := countFileLines(t, files...); n != want {
		t.Errorf("%d lines in %d files, want %d", n, len(files), want)
	}
	if rep := verifyPaths(t, files...); !rep.OK() || len(rep.Streams) != 1 || rep.Events != want {
		t.Errorf("verify: events %d problems %v streams %+v", rep.Events, rep.Problems, rep.Streams)
	}
}

// TestRotatingFileBatchSplitsAtMaxSize: a batch that would cross MaxSize is
// split between files at a line boundary, as if its lines were written one
// by one; a line larger than MaxSize gets a file of its own.
func TestRotatingFileBatchSplitsAtMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	r, err := OpenRotatingFile(FileConfig{Path: path, MaxSize: 250, Fsync: FsyncNever, Now: tickClock()})
	if err != nil {
		t.Fatal(err)
	}
	line := func(c byte, n int) []byte { return append(bytes.Repeat([]byte{c}, n-1), '\n') }
	var lines []byte
	for _, c := range []byte("abcde") {
		lines = append(lines, line(c, 100)...)
	}
	lines = append(lines, line('f', 400)...)
	lines = append(lines, line('g', 100)...)
	if err := r.WriteEvents(lines, 7); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, _ := Rotated(path)
	var got []string
	for _, f := range append(rotated, path) {
		data, _ := os.ReadFile(f)
		var s string
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if len(l) > 0 {
				s += string(l[0])
			}
		}
		got = append(got, s)
	}
	if want := []string{"ab", "cd", "e", "f", "g"}; !slices.Equal(got, want) {
		t.Fatalf("files hold %q, want %q", got, want)
	}
}

// TestGroupCommitWebhook: the events queued behind a write reach the
// webhook spool in one append, and the collector gets every event once, in
// chain order; a batch the spool cannot take whole is appended line by
// line, up to the event that finds it full.
func TestGroupCommitWebhook(t *testing.T) {
	c := newCollector(t)
	m := newCountingMetrics()
	w, err := NewWebhook(WebhookConfig{URL: c.url(), SpoolDir: t.TempDir(), BatchSize: 100, FlushInterval: 10 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	gate := newGateSink()
	l, err := NewChainedLogger(ChainConfig{}, gate, w)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Log(sampleEvent()) }()
	waitFor(t, 5*time.Second, "the first write", func() bool {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return gate.first
	})
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Log(sampleEvent()); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, 5*time.Second, "10 queued events", func() bool { return queued(l) == 10 })
	close(gate.release)
	wg.Wait()
	if calls := gate.callsSoFar(); len(calls) != 2 || calls[1] != 10 {
		t.Fatalf("writes of %v lines, want [1 10]", calls)
	}
	waitFor(t, 5*time.Second, "11 events", func() bool { return c.count() == 11 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c.lines, 12)
	if m.get(m.emitted, SinkWebhook) != 12 || m.get(m.spooled, SinkWebhook) != 12 || m.get(m.dropped, SinkWebhook) != 0 {
		t.Errorf("metrics: emitted %v spooled %v dropped %v", m.emitted, m.spooled, m.dropped)
	}

	// A spool with room for about two events: a batch of five is taken
	// line by line until it is full, and the call fails.
	c2 := newCollector(t)
	c2.status.Store(http.StatusServiceUnavailable)
	m2 := newCountingMetrics()
	w2, err := NewWebhook(WebhookConfig{URL: c2.url(), SpoolDir: t.TempDir(), SpoolMaxBytes: 2500, Metrics: m2})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	line := append(bytes.Repeat([]byte("x"), 999), '\n')
	if err := w2.WriteEvents(bytes.Repeat(line, 5), 5); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("WriteEvents into a small spool: %v, want ErrSpoolFull", err)
	}
	if sp, dr := m2.get(m2.spooled, SinkWebhook), m2.get(m2.dropped, SinkWebhook); sp != 2 || dr != 3 {
		t.Errorf("spooled %d, dropped %d; want 2 and 3", sp, dr)
	}
}
