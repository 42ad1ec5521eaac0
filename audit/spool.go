package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The spool is an on-disk queue of event lines: numbered segment files
// (00000000000000000001.seg, …) appended to in order, and a cursor file
// naming the position up to which the collector has accepted them. Only
// the newest segment is appended to; a segment is deleted once the cursor
// has passed it. Lines are only ever appended whole: a failed write is cut
// off again.

const (
	segmentExt = ".seg"
	cursorFile = "cursor"
	lockFile   = "lock"

	minSegmentBytes = 4 << 10
	maxSegmentBytes = 64 << 20
	maxReserveBytes = 32 << 20
)

// spoolPos is a position in the spool: a byte offset in a segment.
type spoolPos struct {
	Seg uint64 `json:"segment"`
	Off int64  `json:"offset"`
}

type segment struct {
	id    uint64
	size  int64 // committed: always at a line boundary
	extra int64 // bytes past size: the remains of a write that could not be cut off
}

// record is one line read from the spool and the position after it.
type record struct {
	line []byte
	end  spoolPos
	meta lineMeta
}

type spoolConfig struct {
	dir      string
	maxBytes int64
	fsync    Fsync
}

type spool struct {
	cfg     spoolConfig
	segMax  int64
	reserve int64
	maxLine atomic.Int64 // the longest line appended, added to the reserve
	unlock  func()
	notify  chan struct{} // signalled after an append

	mu     sync.Mutex
	segs   []segment // oldest first; the last is the active one
	active *os.File
	used   int64 // bytes of every segment on disk
	depth  int64 // events after the cursor
	// pending is the bytes of those events. A drained segment stays on
	// disk (in used) until the next one is started; pending does not
	// count it.
	pending int64
	dirty   bool
	closed  bool
	cursor  spoolPos
	// minNext is the lowest id a new segment may have.
	minNext uint64

	// Read without mu by Available and for metrics.
	usedA    atomic.Int64
	depthA   atomic.Int64
	pendingA atomic.Int64
	werr     atomic.Pointer[error]

	// Reader state, owned by the sender goroutine.
	rf   *os.File
	rfID uint64
	br   *bufio.Reader
}

func segName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentExt) }

// openSpool opens or creates the spool in cfg.dir: it deletes the segments
// the cursor has passed, cuts off a partial last line, counts the events
// still to deliver and starts a new segment.
func openSpool(cfg spoolConfig) (*spool, error) {
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	unlock, err := lockDir(filepath.Join(cfg.dir, lockFile))
	if err != nil {
		return nil, err
	}
	s := &spool{cfg: cfg, unlock: unlock, notify: make(chan struct{}, 1)}
	s.segMax = min(max(cfg.maxBytes/16, minSegmentBytes), maxSegmentBytes)
	s.reserve = min(cfg.maxBytes/32, maxReserveBytes)
	if err := s.load(); err != nil {
		unlock()
		return nil, err
	}
	if err := s.newSegment(); err != nil {
		unlock()
		return nil, err
	}
	s.storeErr(nil)
	return s, nil
}

func (s *spool) load() error {
	ents, err := os.ReadDir(s.cfg.dir)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil || id == 0 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		s.segs = append(s.segs, segment{id: id, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmp.Compare(a.id, b.id) })

	// A missing or unreadable cursor means nothing was acknowledged:
	// everything is sent again (at least once).
	if data, err := os.ReadFile(filepath.Join(s.cfg.dir, cursorFile)); err == nil {
		var c spoolPos
		if json.Unmarshal(data, &c) == nil && c.Off >= 0 {
			s.cursor = c
		}
	}
	// New segments are numbered after the cursor's, even if it is gone:
	// a restart before the next acknowledgement must not delete them.
	s.minNext = s.cursor.Seg + 1
	for len(s.segs) > 0 && s.segs[0].id < s.cursor.Seg {
		if err := os.Remove(filepath.Join(s.cfg.dir, segName(s.segs[0].id))); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0].id != s.cursor.Seg || s.cursor.Off > s.segs[0].size {
		s.cursor = spoolPos{}
		if len(s.segs) > 0 {
			s.cursor.Seg = s.segs[0].id
		}
	}
	if n := len(s.segs); n > 0 {
		if err := s.cutPartial(&s.segs[n-1]); err != nil {
			return err
		}
	}
	for i, sg := range s.segs {
		s.used += sg.size
		from := int64(0)
		if i == 0 {
			from = s.cursor.Off
		}
		n, err := countLines(filepath.Join(s.cfg.dir, segName(sg.id)), from, sg.size)
		if err != nil {
			return err
		}
		s.depth += n
		if n > 0 {
			s.pending += sg.size - from
		}
	}
	s.usedA.Store(s.used)
	s.depthA.Store(s.depth)
	s.pendingA.Store(s.pending)
	return nil
}

// cutPartial truncates a segment after its last complete line: the rest
// is a write a crash interrupted, which no caller was told succeeded.
func (s *spool) cutPartial(sg *segment) error {
	if sg.size == 0 {
		return nil
	}
	path := filepath.Join(s.cfg.dir, segName(sg.id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	defer f.Close()
	const tail = 64 << 10
	for end := sg.size; end > 0; {
		from := max(end-tail, 0)
		buf := make([]byte, end-from)
		if _, err := f.ReadAt(buf, from); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			keep := from + int64(i) + 1
			if keep == sg.size {
				return nil
			}
			sg.size = keep
			return f.Truncate(keep)
		}
		end = from
	}
	sg.size = 0
	return f.Truncate(0)
}

func countLines(path string, from, to int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: spool: %w", err)
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 256<<10)
	for off := from; off < to; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err != nil && !(errors.Is(err, io.EOF) && off >= to) {
			return 0, fmt.Errorf("audit: spool: %w", err)
		}
	}
	return n, nil
}

// newSegment seals the active segment and starts the next; s.mu is held
// or s is not yet shared.
func (s *spool) newSegment() error {
	id := max(s.minNext, 1)
	if n := len(s.segs); n > 0 {
		id = max(id, s.segs[n-1].id+1)
	}
	if s.active != nil {
		if s.cfg.fsync != FsyncNever && s.dirty {
			if err := s.active.Sync(); err != nil {
				return fmt.Errorf("audit: spool: sync: %w", err)
			}
			s.dirty = false
		}
		s.active.Close()
		s.active = nil
	}
	f, err := os.OpenFile(filepath.Join(s.cfg.dir, segName(id)), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	if s.cfg.fsync == FsyncAlways {
		syncDir(s.cfg.dir)
	}
	s.active = f
	s.segs = append(s.segs, segment{id: id})
	if len(s.segs) == 1 {
		s.cursor = spoolPos{Seg: id}
	}
	return nil
}

func (s *spool) storeErr(err error) { s.werr.Store(&err) }

// append adds line to the spool. It fails with ErrSpoolFull when the
// spool would exceed its size limit.
func (s *spool) append(line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSinkClosed
	}
	if n := int64(len(line)); n > s.maxLine.Load() {
		s.maxLine.Store(n)
	}
	if s.used+int64(len(line)) > s.cfg.maxBytes {
		return fmt.Errorf("%w: %d of %d bytes hold undelivered events", ErrSpoolFull, s.used, s.cfg.maxBytes)
	}
	act := &s.segs[len(s.segs)-1]
	if s.active == nil || act.size > 0 && act.size+int64(len(line)) > s.segMax {
		if err := s.newSegment(); err != nil {
			s.storeErr(err)
			return err
		}
	}
	return s.write(line, 1)
}

// appendAll adds n whole lines in one write, if they fit in the spool
// and in the active segment together; ok false means nothing was done and
// the lines are to be appended one by one.
func (s *spool) appendAll(lines []byte, n int) (ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := int64(len(lines))
	act := &s.segs[len(s.segs)-1]
	if s.closed || s.active == nil || s.used+size > s.cfg.maxBytes || act.size > 0 && act.size+size > s.segMax {
		return false, nil
	}
	var longest int64
	for rest := lines; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest) - 1
		}
		longest = max(longest, int64(i+1))
		rest = rest[i+1:]
	}
	if longest > s.maxLine.Load() {
		s.maxLine.Store(longest)
	}
	return true, s.write(lines, n)
}

// write appends data, n whole lines, to the active segment; s.mu is held.
// A failed write is cut off again.
func (s *spool) write(data []byte, lines int) error {
	act := &s.segs[len(s.segs)-1]
	n, err := s.active.Write(data)
	if err == nil && s.cfg.fsync == FsyncAlways {
		err = s.active.Sync()
	}
	if err != nil {
		err = fmt.Errorf("audit: spool: write: %w", err)
		if n > 0 {
			if terr := s.active.Truncate(act.size); terr != nil {
				// The segment now ends in part of a line: seal it there,
				// unread, and start another.
				s.used += int64(n)
				act.extra += int64(n)
				s.active.Close()
				s.active = nil
			}
		}
		s.usedA.Store(s.used)
		s.storeErr(err)
		return err
	}
	act.size += int64(n)
	s.used += int64(n)
	s.depth += int64(lines)
	s.pending += int64(n)
	s.dirty = true
	s.usedA.Store(s.used)
	s.depthA.Store(s.depth)
	s.pendingA.Store(s.pending)
	s.storeErr(nil)
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// available reports whether the spool can take events: not when the last
// write failed, nor when less than the reserve (and room for the longest
// event seen) is left, which is kept for the events of requests already
// being served.
func (s *spool) available() error {
	if err := *s.werr.Load(); err != nil {
		return err
	}
	if used := s.usedA.Load(); used > s.cfg.maxBytes-s.reserve-s.maxLine.Load() {
		return fmt.Errorf("%w: %d of %d bytes hold undelivered events", ErrSpoolFull, used, s.cfg.maxBytes)
	}
	return nil
}

// stats returns the events and bytes not yet delivered.
func (s *spool) stats() (events, bytes int64) {
	return s.depthA.Load(), s.pendingA.Load()
}

// syncActive syncs the active segment if anything was written since the
// last sync.
func (s *spool) syncActive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil || !s.dirty {
		return nil
	}
	if err := s.active.Sync(); err != nil {
		err = fmt.Errorf("audit: spool: sync: %w", err)
		s.storeErr(err)
		return err
	}
	s.dirty = false
	return nil
}

// read returns up to maxEvents records after pos, holding at most
// maxBytes unless first is set and the first line alone is longer. full
// reports that it stopped before a line that did not fit. The lines are
// copies.
func (s *spool) read(pos spoolPos, maxEvents int, maxBytes int64, first bool) (out []record, full bool, err error) {
	var total int64
	for len(out) < maxEvents {
		s.mu.Lock()
		i, _ := slices.BinarySearchFunc(s.segs, pos.Seg, func(sg segment, id uint64) int { return cmp.Compare(sg.id, id) })
		if i == len(s.segs) {
			s.mu.Unlock()
			return out, false, nil
		}
		sg, last := s.segs[i], i == len(s.segs)-1
		s.mu.Unlock()
		if sg.id != pos.Seg {
			pos = spoolPos{Seg: sg.id} // pos's segment is gone: go on with the next
		}
		if pos.Off >= sg.size {
			if last {
				return out, false, nil
			}
			pos = spoolPos{Seg: s.nextSeg(sg.id)}
			continue
		}
		if s.rf == nil || s.rfID != sg.id {
			s.closeReader()
			f, err := os.Open(filepath.Join(s.cfg.dir, segName(sg.id)))
			if err != nil {
				return out, false, fmt.Errorf("audit: spool: %w", err)
			}
			s.rf, s.rfID = f, sg.id
		}
		sec := io.NewSectionReader(s.rf, pos.Off, sg.size-pos.Off)
		if s.br == nil {
			s.br = bufio.NewReaderSize(sec, 64<<10)
		} else {
			s.br.Reset(sec)
		}
		br := s.br
		for len(out) < maxEvents {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				if (len(out) > 0 || !first) && total+int64(len(line)) > maxBytes {
					return out, true, nil
				}
				pos.Off += int64(len(line))
				total += int64(len(line))
				out = append(out, record{line: line, end: pos})
			} else if len(line) > 0 {
				// The remains of a failed write in a sealed segment.
				pos.Off += int64(len(line))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return out, false, fmt.Errorf("audit: spool: %w", err)
			}
		}
	}
	return out, false, nil
}

func (s *spool) nextSeg(id uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sg := range s.segs {
		if sg.id > id {
			return sg.id
		}
	}
	return id + 1
}

func (s *spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// ack records that the collector accepted n events of size bytes up to
// pos: it persists the cursor and deletes the segments before it.
func (s *spool) ack(pos spoolPos, n int, size int64) error {
	s.mu.Lock()
	// A sealed segment read to its end is done: point the cursor at the next.
	for i := 0; i+1 < len(s.segs); i++ {
		if s.segs[i].id == pos.Seg && pos.Off >= s.segs[i].size {
			pos = spoolPos{Seg: s.segs[i+1].id}
		}
	}
	s.cursor = pos
	s.depth -= int64(n)
	s.pending -= size
	if s.depth <= 0 {
		// Drained. The remains of a failed write, if any, are not events.
		s.depth, s.pending = 0, 0
	}
	var gone []uint64
	for len(s.segs) > 1 && s.segs[0].id < pos.Seg {
		gone = append(gone, s.segs[0].id)
		s.used -= s.segs[0].size + s.segs[0].extra
		s.segs = s.segs[1:]
	}
	s.usedA.Store(s.used)
	s.depthA.Store(s.depth)
	s.pendingA.Store(s.pending)
	s.mu.Unlock()

	err := writeCursor(s.cfg.dir, pos, s.cfg.fsync == FsyncAlways)
	if err != nil {
		// Keep the segments: without the cursor, a restart starts at them.
		return err
	}
	for _, id := range gone {
		if id == s.rfID {
			s.closeReader()
		}
		if rerr := os.Remove(filepath.Join(s.cfg.dir, segName(id))); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("audit: spool: %w", rerr))
		}
	}
	return err
}

// writeCursor replaces the cursor file atomically.
func writeCursor(dir string, pos spoolPos, durable bool) error {
	data, _ := json.Marshal(pos)
	tmp := filepath.Join(dir, cursorFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: cursor: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil && durable {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, cursorFile))
	}
	if err != nil {
		return fmt.Errorf("audit: spool: cursor: %w", err)
	}
	if durable {
		syncDir(dir)
	}
	return nil
}

// closeWrites stops appends and syncs and closes the active segment. The
// sender may go on reading.
func (s *spool) closeWrites() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.active != nil {
		if s.cfg.fsync != FsyncNever && s.dirty {
			err = s.active.Sync()
		}
		err = errors.Join(err, s.active.Close())
		s.active = nil
		s.dirty = false
	}
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	return nil
}

// release closes the reader and releases the spool's lock; the sender has
// stopped.
func (s *spool) release() {
	s.closeReader()
	s.unlock()
}
