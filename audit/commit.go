package audit

import (
	"errors"
	"sync"
)

// Group commit. A Log call queues its line in the open batch, under
// Logger.mu. If no other call is writing, it becomes the leader: it takes
// the open batch, leaves an empty one for the calls that come while it
// writes, writes without the lock, and wakes the batch's other callers.
// Otherwise it waits until its batch is written, or until the leader is
// done and it must lead the next batch itself. Without contention a Log
// call writes its own line at once, on its own goroutine; under contention
// every write carries the lines queued while the previous one was made.

// batch is lines written together: for a file, in one write(2).
type batch struct {
	buf  []byte // whole lines, in chain order
	ends []int  // where each line of buf ends

	waiters int // commit calls on this batch not yet returned
	done    bool
	err     error   // of the BatchSinks: every line failed
	lineErr []error // of the other sinks, by line; nil if none failed
	cond    sync.Cond
}

// maxKeptBatch is the largest batch buffer kept for reuse.
const maxKeptBatch = 1 << 20

// add appends line (and a newline, if nl) as the batch's next line.
func (b *batch) add(line []byte, nl bool) {
	b.buf = append(b.buf, line...)
	if nl {
		b.buf = append(b.buf, '\n')
	}
	b.ends = append(b.ends, len(b.buf))
}

// queue returns the open batch; l.mu is held.
func (l *Logger) queue() *batch {
	if l.open == nil {
		l.open = l.newBatch()
	}
	return l.open
}

// newBatch returns an empty batch; l.mu is held.
func (l *Logger) newBatch() *batch {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	b := &batch{buf: make([]byte, 0, 4096)}
	b.cond.L = &l.mu
	return b
}

// commit waits until b, the open batch when the caller queued its lines
// from index first on, is written, writing it itself if no other call is
// writing. It returns the errors of those lines; l.mu is held, and is
// released while waiting or writing.
func (l *Logger) commit(b *batch, first int) error {
	last := len(b.ends)
	b.waiters++
	for !b.done {
		if !l.writing {
			// b is still the open batch: a batch is taken only by a
			// leader, and stays written-but-not-done only while
			// l.writing.
			l.lead()
			continue
		}
		b.cond.Wait()
	}
	err := b.err
	if b.lineErr != nil {
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range b.lineErr[first:last] {
			if e != nil {
				errs = append(errs, e)
			}
		}
		err = errors.Join(errs...)
	}
	if first == last {
		err = nil // the caller queued no line; it only waited
	}
	b.waiters--
	if b.waiters == 0 {
		l.recycle(b)
	}
	return err
}

// lead writes the open batch; l.mu is held, and released while writing.
func (l *Logger) lead() {
	b := l.open
	l.open = l.newBatch()
	l.writing = true
	l.mu.Unlock()
	l.writeBatch(b)
	l.mu.Lock()
	l.writing = false
	b.done = true
	b.cond.Broadcast()
	if l.open.waiters > 0 {
		// Wake one caller of the next batch to write it, unless a new
		// call takes the lock first and writes it.
		l.open.cond.Signal()
	}
}

// recycle keeps a written batch whose callers have all returned; l.mu is
// held.
func (l *Logger) recycle(b *batch) {
	if cap(b.buf) > maxKeptBatch || len(l.free) >= 4 {
		return
	}
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	b.done, b.err, b.lineErr = false, nil, nil
	l.free = append(l.free, b)
}

// writeBatch hands b to every sink; only the leader calls it, without
// l.mu. A BatchSink takes all lines at once, another sink line by line.
func (l *Logger) writeBatch(b *batch) {
	if len(b.ends) == 0 {
		return
	}
	var errs []error
	for _, s := range l.sinks {
		if bs, ok := s.(BatchSink); ok {
			if err := bs.WriteEvents(b.buf, len(b.ends)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		start := 0
		for i, end := range b.ends {
			if err := s.WriteEvent(b.buf[start:end]); err != nil {
				if b.lineErr == nil {
					b.lineErr = make([]error, len(b.ends))
				}
				b.lineErr[i] = errors.Join(b.lineErr[i], err)
			}
			start = end
		}
	}
	b.err = errors.Join(errs...)
}
