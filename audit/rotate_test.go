package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func countFileLines(t *testing.T, paths ...string) int {
	t.Helper()
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(data, []byte("\n"))
	}
	return n
}

func verifyPaths(t *testing.T, paths ...string) *Report {
	t.Helper()
	v := NewVerifier(VerifyConfig{})
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		v.Read(filepath.Base(p), f)
		f.Close()
	}
	return v.Finish()
}

func TestRotateBySize(t *testing.T) {
	for _, retain := range []int{0, 3} {
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.log")
		clock := &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		r, err := OpenRotatingFile(FileConfig{Path: path, MaxSize: 4000, Retain: retain, Fsync: FsyncNever, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := NewChainedLogger(ChainConfig{Now: clock.Now}, r)
		for range 40 {
			clock.Add(time.Millisecond)
			if err := l.Log(sampleEvent()); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rotated, err := Rotated(path)
		if err != nil {
			t.Fatal(err)
		}
		files := append(rotated, path)
		for _, f := range files {
			if fi, _ := os.Stat(f); fi.Size() > 4000 || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %d bytes, mode %v", f, fi.Size(), fi.Mode().Perm())
			}
			if base := filepath.Base(f); base != "audit.log" && !strings.HasPrefix(base, "audit.log.2026-11-27T12-00-00.") {
				t.Errorf("rotated file named %s", base)
			}
		}
		if retain == 0 {
			// Every event is kept, and the stream verifies across the files.
			if n := countFileLines(t, files...); n != 41 {
				t.Errorf("%d lines in %d files, want 41", n, len(files))
			}
			if rep := verifyPaths(t, files...); !rep.OK() || len(rep.Streams) != 1 {
				t.Errorf("verify: %+v", rep)
			}
			if len(rotated) < 5 {
				t.Errorf("%d rotated files", len(rotated))
			}
		} else if len(rotated) != retain {
			t.Errorf("retain %d: %d rotated files kept", retain, len(rotated))
		}
	}
}

func TestRotateByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	clock := &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	r, err := OpenRotatingFile(FileConfig{Path: path, MaxAge: time.Hour, Retain: 2, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewChainedLogger(ChainConfig{Now: clock.Now}, r)
	l.Log(sampleEvent())
	clock.Add(59 * time.Minute)
	l.Log(sampleEvent())
	if rotated, _ := Rotated(path); len(rotated) != 0 {
		t.Fatalf("rotated before max_age: %v", rotated)
	}
	for range 4 {
		clock.Add(time.Hour)
		l.Log(sampleEvent())
	}
	rotated, _ := Rotated(path)
	want := []string{path + ".2026-11-27T15-59-00.000", path + ".2026-11-27T16-59-00.000"}
	if strings.Join(rotated, ",") != strings.Join(want, ",") {
		t.Errorf("rotated %q, want %q", rotated, want)
	}
	l.Close()

	// Opened again, the file's age comes from its first event, not from
	// the file's modification time (set to now here, so that counting from
	// it would not rotate).
	clock.Add(90 * time.Minute) // 1h30m after the current file's first event
	if err := os.Chtimes(path, clock.Now(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	r, err = OpenRotatingFile(FileConfig{Path: path, MaxAge: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteEvent([]byte(`{"kind":"s3"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if rotated, _ := Rotated(path); len(rotated) != 3 {
		t.Errorf("reopened file not rotated by age: %q", rotated)
	}
}

// TestFirstEventTime reads the eventTime of a file's first line, written by
// this package or not, and falls back when there is none.
func TestFirstEventTime(t *testing.T) {
	first := time.Date(2026, 11, 27, 12, 0, 0, 123e6, time.UTC)
	fallback := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := sampleEvent()
	ev.Time = first
	var chained bytes.Buffer
	l, _ := NewChainedLogger(ChainConfig{Now: func() time.Time { return first }}, WriterSink{W: &chained})
	l.Log(ev)
	for _, tc := range []struct {
		name, content string
		want          time.Time
	}{
		{"unchained", string(ev.AppendJSON(nil)) + "\n" + string(ev.AppendJSON(nil)) + "\n", first},
		{"chained", chained.String(), first},
		{"other order", `{"iamgate":{"kind":"s3"},"eventTime":"2026-11-27T12:00:00.123Z"}` + "\n", first},
		{"another field named time", `{"time":"2026-11-27T12:00:00.123Z"}` + "\n", fallback},
		{"not JSON", "garbage\n", fallback},
		{"no newline", `{"eventTime":"2026-11-27T12:00:00.123Z"}`, fallback},
		{"empty", "", fallback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := firstEventTime(path, fallback); !got.Equal(tc.want) {
				t.Errorf("firstEventTime = %v, want %v", got, tc.want)
			}
		})
	}
	if got := firstEventTime(filepath.Join(t.TempDir(), "missing"), fallback); !got.Equal(fallback) {
		t.Errorf("missing file: %v", got)
	}
}

func TestFileFsyncPolicies(t *testing.T) {
	for _, policy := range []Fsync{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			r, err := OpenRotatingFile(FileConfig{Path: path, Fsync: policy, SyncInterval: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.WriteEvent([]byte("{}\n")); err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			dirty := r.dirty
			r.mu.Unlock()
			if dirty != (policy != FsyncAlways) {
				t.Errorf("after a write: unsynced %v", dirty)
			}
			if policy == FsyncInterval {
				waitFor(t, 2*time.Second, "the background sync", func() bool {
					r.mu.Lock()
					defer r.mu.Unlock()
					return !r.dirty
				})
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if n := countFileLines(t, path); n != 1 {
				t.Errorf("%d lines", n)
			}
		})
	}
	if _, err := OpenRotatingFile(FileConfig{Path: filepath.Join(t.TempDir(), "a"), Fsync: "sometimes"}); err == nil {
		t.Error("unknown fsync policy accepted")
	}
}

// TestFileWriteError returns a failed write, reports it in Available until
// a write succeeds, and never panics.
func TestFileWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	m := newCountingMetrics()
	r, err := OpenRotatingFile(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s := Instrument(SinkFile, r, m)
	l := NewLogger(s)
	defer l.Close()
	r.mu.Lock()
	r.f.Close() // the next write fails
	r.mu.Unlock()
	if err := l.Log(sampleEvent()); err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	if err := l.Available(); err == nil {
		t.Fatal("Available after a failed write")
	}
	r.mu.Lock()
	r.f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0) // the disk is back
	r.mu.Unlock()
	if err := l.Log(sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if err := l.Available(); err != nil {
		t.Fatalf("Available after a successful write: %v", err)
	}
	if m.get(m.emitted, SinkFile) != 2 || m.get(m.delivered, SinkFile) != 1 || m.get(m.dropped, SinkFile) != 1 || m.get(m.errors, SinkFile) != 1 {
		t.Errorf("metrics %+v", m)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteEvent([]byte("{}\n")); !errors.Is(err, ErrSinkClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

func TestRotateMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	r, err := OpenRotatingFile(FileConfig{Path: path, MaxSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.WriteEvent([]byte("0123456789\n"))
	os.Remove(path)
	os.Remove(filepath.Dir(path))
	// The rename fails: the error is returned, and reported by Available.
	if err := r.WriteEvent([]byte("0123456789\n")); err == nil {
		t.Fatal("rotation into a removed directory succeeded")
	}
	if r.Available() == nil {
		t.Fatal("Available after a failed rotation")
	}
}
