package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RotatedTimeFormat is the suffix of a rotated file: audit.log becomes
// audit.log.2026-11-27T12-00-00.000 (UTC, when it was rotated).
const RotatedTimeFormat = "2006-01-02T15-04-05.000"

// FileConfig configures a RotatingFile. The zero value of every field but
// Path means: never rotate, keep every file, FsyncInterval.
type FileConfig struct {
	// Path is the file appended to; created mode 0600 if missing.
	Path string

	// MaxSize rotates the file before a write would make it larger than
	// MaxSize bytes (a single larger event is written to a file of its
	// own). 0: no limit.
	MaxSize int64

	// MaxAge rotates the file when an event is written and the file's
	// first event is older than MaxAge. 0: no limit. An idle file is not
	// rotated until the next event.
	MaxAge time.Duration

	// Retain is the number of rotated files kept; older ones are deleted
	// after a rotation. 0: all are kept.
	Retain int

	// Fsync is the sync policy; "" means FsyncInterval.
	Fsync Fsync

	// SyncInterval is how often FsyncInterval syncs; 0 means
	// DefaultSyncInterval.
	SyncInterval time.Duration

	// OnError receives errors no caller can be given: background syncs
	// and deleting old files. nil: they are dropped, but a failed sync is
	// still reported by Available until a write succeeds.
	OnError func(error)

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RotatingFile is a Sink appending to a file that it rotates by size and
// age, keeping a bounded number of rotated files. A chained Logger's
// stream continues across rotations; iamgate audit verify checks the files
// together. It is safe for concurrent use.
type RotatingFile struct {
	cfg FileConfig

	mu      sync.Mutex
	f       *os.File
	size    int64
	started time.Time // time of the current file's first event
	dirty   bool      // written since the last sync
	partial bool      // a failed write may have left part of a line
	err     error     // last write or sync error; nil after a successful write
	closed  bool

	stop chan struct{}
	done chan struct{}
}

var (
	_ BatchSink    = (*RotatingFile)(nil)
	_ Availability = (*RotatingFile)(nil)
	_ io.Closer    = (*RotatingFile)(nil)
)

// OpenRotatingFile opens (creating if needed) cfg.Path for appending.
func OpenRotatingFile(cfg FileConfig) (*RotatingFile, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: file sink needs a path")
	}
	if cfg.MaxSize < 0 || cfg.MaxAge < 0 || cfg.Retain < 0 || cfg.SyncInterval < 0 {
		return nil, errors.New("audit: negative file rotation setting")
	}
	switch cfg.Fsync {
	case "":
		cfg.Fsync = FsyncInterval
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return nil, fmt.Errorf("audit: unknown fsync policy %q", cfg.Fsync)
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &RotatingFile{cfg: cfg}
	if err := r.open(); err != nil {
		return nil, err
	}
	if cfg.Fsync == FsyncInterval {
		r.stop, r.done = make(chan struct{}), make(chan struct{})
		go r.syncLoop()
	}
	return r, nil
}

// open opens the file; r.mu is held or r is not yet shared.
func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", r.cfg.Path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: open %s: %w", r.cfg.Path, err)
	}
	r.f, r.size, r.started, r.partial = f, fi.Size(), time.Time{}, false
	if r.size > 0 {
		r.started = firstEventTime(r.cfg.Path, fi.ModTime())
	}
	return nil
}

// firstEventTime returns the eventTime of the first event in the file at
// path, or fallback if it cannot be read. The line is read as the webhook
// sender reads it: by position when this package wrote it, decoded
// otherwise.
func firstEventTime(path string, fallback time.Time) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return fallback
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadSlice('\n')
	if err != nil {
		return fallback
	}
	var m lineMeta
	readLineMeta(line, &m)
	if m.Time.IsZero() {
		return fallback
	}
	return m.Time
}

// WriteEvent implements Sink. It rotates first if the line would exceed
// MaxSize or the file is older than MaxAge. A failed write or sync is
// returned, and reported by Available until a write succeeds.
func (r *RotatingFile) WriteEvent(line []byte) error {
	return r.WriteEvents(line, 1)
}

// WriteEvents implements BatchSink: the lines in one write(2), or, where
// MaxSize falls between them, one write per file; rotation by MaxSize
// and MaxAge happens as if the lines were written one by one.
func (r *RotatingFile) WriteEvents(lines []byte, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrSinkClosed
	}
	now := r.cfg.Now()
	for len(lines) > 0 {
		if r.f == nil || r.size > 0 && r.cfg.MaxAge > 0 && now.Sub(r.started) >= r.cfg.MaxAge {
			if err := r.rotate(now); err != nil {
				r.err = err
				return err
			}
		}
		chunk := lines
		if r.cfg.MaxSize > 0 && r.size+int64(len(lines)) > r.cfg.MaxSize {
			chunk = wholeLines(lines, r.cfg.MaxSize-r.size)
			if len(chunk) == 0 {
				if r.size > 0 {
					if err := r.rotate(now); err != nil {
						r.err = err
						return err
					}
					continue
				}
				// A line larger than MaxSize gets a file of its own.
				chunk = lines
				if i := bytes.IndexByte(lines, '\n'); i >= 0 {
					chunk = lines[:i+1]
				}
			}
		}
		if err := r.write(chunk, now); err != nil {
			return err
		}
		lines = lines[len(chunk):]
	}
	if r.cfg.Fsync == FsyncAlways {
		if err := r.f.Sync(); err != nil {
			r.err = fmt.Errorf("audit: sync %s: %w", r.cfg.Path, err)
			return r.err
		}
	} else {
		r.dirty = true
	}
	r.err = nil
	return nil
}

// wholeLines returns the longest prefix of lines that holds whole lines
// only and is at most room bytes long. A final line without a newline
// counts as whole.
func wholeLines(lines []byte, room int64) []byte {
	end := 0
	for end < len(lines) {
		i := bytes.IndexByte(lines[end:], '\n')
		next := len(lines)
		if i >= 0 {
			next = end + i + 1
		}
		if int64(next) > room {
			break
		}
		end = next
	}
	return lines[:end]
}

// write writes chunk to the current file; r.mu is held.
func (r *RotatingFile) write(chunk []byte, now time.Time) error {
	if r.partial {
		// Keep the remains of a failed write on a line of their own.
		chunk = append([]byte{'\n'}, chunk...)
	}
	n, err := r.f.Write(chunk)
	r.size += int64(n)
	if err != nil {
		r.partial = r.partial || n > 0
		r.err = fmt.Errorf("audit: write %s: %w", r.cfg.Path, err)
		return r.err
	}
	r.partial = false
	if r.started.IsZero() {
		r.started = now
	}
	return nil
}

// rotate renames the current file and opens a new one; r.mu is held. If the
// old file cannot be renamed, writing continues into it.
func (r *RotatingFile) rotate(now time.Time) error {
	if r.f != nil {
		if r.cfg.Fsync != FsyncNever {
			if err := r.f.Sync(); err != nil {
				return fmt.Errorf("audit: sync %s: %w", r.cfg.Path, err)
			}
			r.dirty = false
		}
		target := r.cfg.Path + "." + now.UTC().Format(RotatedTimeFormat)
		for i := 1; ; i++ {
			if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
				break
			}
			target = r.cfg.Path + "." + now.UTC().Format(RotatedTimeFormat) + "-" + strconv.Itoa(i)
		}
		if err := os.Rename(r.cfg.Path, target); err != nil {
			return fmt.Errorf("audit: rotate %s: %w", r.cfg.Path, err)
		}
		r.f.Close()
		r.f = nil
		r.prune()
	}
	if err := r.open(); err != nil {
		return err
	}
	if r.cfg.Fsync == FsyncAlways {
		syncDir(filepath.Dir(r.cfg.Path))
	}
	return nil
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) ([]string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || !e.Type().IsRegular() || len(suffix) < len(RotatedTimeFormat) {
			continue
		}
		if _, err := time.Parse(RotatedTimeFormat, suffix[:len(RotatedTimeFormat)]); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	// The names sort by time; a -N suffix sorts after its plain name
	// except past -9, which a millisecond never holds.
	slices.Sort(out)
	return out, nil
}

// prune deletes the oldest rotated files beyond Retain; r.mu is held.
func (r *RotatingFile) prune() {
	if r.cfg.Retain == 0 {
		return
	}
	files, err := Rotated(r.cfg.Path)
	if err != nil {
		r.report(err)
		return
	}
	for len(files) > r.cfg.Retain {
		if err := os.Remove(files[0]); err != nil {
			r.report(fmt.Errorf("audit: remove rotated file: %w", err))
		}
		files = files[1:]
	}
}

func (r *RotatingFile) report(err error) {
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
}

func (r *RotatingFile) syncLoop() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.Sync(); err != nil {
				r.report(err)
			}
		}
	}
}

// Sync flushes written events to stable storage, if any were written since
// the last sync.
func (r *RotatingFile) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || !r.dirty {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		r.err = fmt.Errorf("audit: sync %s: %w", r.cfg.Path, err)
		return r.err
	}
	r.dirty = false
	return nil
}

// Available implements Availability: the last write or sync error, until
// a write succeeds.
func (r *RotatingFile) Available() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrSinkClosed
	}
	return r.err
}

// Close syncs (unless FsyncNever) and closes the file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var err error
	if r.f != nil {
		if r.cfg.Fsync != FsyncNever && r.dirty {
			err = r.f.Sync()
		}
		err = errors.Join(err, r.f.Close())
		r.f = nil
	}
	r.mu.Unlock()
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
	if err != nil {
		return fmt.Errorf("audit: close %s: %w", r.cfg.Path, err)
	}
	return nil
}

// syncDir syncs a directory so that a created or renamed entry survives a
// power failure. Errors are ignored: not every file system supports it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
