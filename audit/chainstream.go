package audit

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// VerifyWindow is the number of lines of a stream a Verifier holds to put
// them in seq order: lines of a stream may be that far out of place (a
// swapped pair, a rotated file read after the one that follows it) and
// still be checked as if read in order.
const VerifyWindow = 4096

// streamCheck checks one stream as its lines arrive. Lines wait in a heap
// ordered by seq, at most VerifyWindow of them; the lowest seq leaves it
// when it is full, and at the end. Lines of one seq leave together (a
// group); a group is resolved (which of its lines is the chain's) once the
// group after it has left too, so that the line chained to both of its
// neighbours wins.
type streamCheck struct {
	v      *Verifier
	id     string
	start  [32]byte
	window entryWindow
	ord    uint64

	files map[int]*fileOrder // lines out of order within each file
	flags map[pos]string     // lines out of place, and why

	cur     []entry // the group waiting for the next one
	spare   []entry // the slice of the group before, reused
	started bool
	last    entry // the chain's last line

	sum           StreamSummary
	closed        *entry // the closing checkpoint
	afterClose    bool   // an event after it was reported
	covered       *entry // the last signed checkpoint
	uncoveredFrom *entry // the first line after it
	uncovered     int
}

// pos is a line of a file.
type pos struct{ file, line int }

type fileOrder struct {
	last, before entry // the last line in order and the one before it
	pending      entry // below last: out of place, unless the next line is too
	// which of them there are
	hasLast, hasBefore, hasPending bool
}

func newStreamCheck(v *Verifier, id string) *streamCheck {
	return &streamCheck{v: v, id: id, start: streamStart(id), files: map[int]*fileOrder{}, flags: map[pos]string{},
		sum: StreamSummary{Stream: id}}
}

// add takes the next line of the stream.
func (c *streamCheck) add(e entry) {
	c.ord++
	e.ord = c.ord
	c.order(e)
	v, s := c.v, c.id
	if c.cur != nil && e.seq == c.cur[0].seq {
		c.cur = append(c.cur, e) // its group is not resolved yet
		return
	}
	if c.cur != nil && e.seq < c.cur[0].seq {
		// The window has passed this seq: the line is too far out of
		// place to be put back.
		delete(c.flags, pos{e.file, e.line})
		if st := c.files[e.file]; st.hasPending && st.pending.line == e.line {
			st.hasPending = false // reported here, once
		}
		ref := c.cur[0]
		if c.started {
			ref = c.last
		}
		if e.seq == ref.seq && e.hash == ref.hash {
			v.problem(FindingDuplicate, e.file, e.line, s, e.seq, "event seq %d of stream %s repeats %s", e.seq, s, v.pos(ref))
		} else {
			v.problem(FindingReordered, e.file, e.line, s, e.seq, "event seq %d of stream %s is out of order: it comes more than %d lines after the lines around its seq (seq %d at %s was checked before it)", e.seq, s, VerifyWindow, ref.seq, v.pos(ref))
		}
		return
	}
	c.window.push(e)
	if c.window.len() > VerifyWindow {
		c.next()
	}
}

// order finds the lines out of order within their file. Where one line's
// seq jumps ahead and the lines after it go on from before the jump, the
// line that jumped is the one out of place, not every line after it.
func (c *streamCheck) order(e entry) {
	v := c.v
	st := c.files[e.file]
	if st == nil {
		st = &fileOrder{}
		c.files[e.file] = st
	}
	flag := func(x entry, why string) { c.flags[pos{x.file, x.line}] = why }
	if !st.hasLast || e.seq >= st.last.seq {
		if st.hasPending {
			flag(st.pending, fmt.Sprintf("it comes after seq %d at %s", st.last.seq, v.pos(st.last)))
			st.hasPending = false
		}
		st.before, st.hasBefore = st.last, st.hasLast
		st.last, st.hasLast = e, true
		return
	}
	if st.hasPending {
		p := st.pending
		if p.seq < e.seq && (!st.hasBefore || p.seq > st.before.seq) {
			// Two lines in a row below last, going on from before it:
			// last jumped.
			why := fmt.Sprintf("its seq jumps ahead of the lines around it (seq %d at %s, then seq %d)", p.seq, v.pos(p), e.seq)
			if st.hasBefore {
				why = fmt.Sprintf("its seq jumps ahead of the lines around it (seq %d at %s, then seq %d at %s)", st.before.seq, v.pos(st.before), p.seq, v.pos(p))
			}
			flag(st.last, why)
			st.before, st.hasBefore = p, true
			st.last, st.hasPending = e, false
			return
		}
		flag(p, fmt.Sprintf("it comes after seq %d at %s", st.last.seq, v.pos(st.last)))
	}
	st.pending, st.hasPending = e, true
}

// next takes the group of the lowest seq out of the window, and resolves
// the group before it.
func (c *streamCheck) next() {
	g := append(c.spare[:0], c.window.pop())
	for c.window.len() > 0 && c.window.min().seq == g[0].seq {
		g = append(g, c.window.pop())
	}
	if c.cur != nil {
		c.resolve(c.cur, g)
	}
	c.cur, c.spare = g, c.cur
}

// resolve picks the chain's line of group, reports the others, and checks
// the link to the line before. next is the group after it, or nil.
func (c *streamCheck) resolve(group, next []entry) {
	v, s := c.v, c.id
	var before *entry
	if c.started && c.last.seq+1 == group[0].seq {
		before = &c.last
	}
	var after []entry
	if len(next) > 0 && next[0].seq == group[0].seq+1 {
		after = next
	}
	chainedTo := func(e entry) bool { return slices.ContainsFunc(after, func(a entry) bool { return a.prev == e.hash }) }
	best := 0
	if len(group) > 1 {
		score := func(e entry) int {
			n := 0
			if before != nil && e.prev == before.hash {
				n++
			}
			if chainedTo(e) {
				n++
			}
			return n
		}
		for k := range group {
			if score(group[k]) > score(group[best]) {
				best = k
			}
		}
	}
	b := group[best]
	for k, e := range group {
		if k == best {
			continue
		}
		delete(c.flags, pos{e.file, e.line}) // reported here, once
		if e.hash == b.hash {
			v.problem(FindingDuplicate, e.file, e.line, s, e.seq, "event seq %d of stream %s repeats %s", e.seq, s, v.pos(b))
		} else {
			v.problem(FindingInserted, e.file, e.line, s, e.seq, "event claims seq %d of stream %s, which %s holds; it is not part of the chain", e.seq, s, v.pos(b))
		}
	}

	// A line out of place is reordered when it fits the chain where its
	// seq puts it, and inserted when it does not: then it is left out of
	// the chain, so that it is one problem, not a gap and a broken link
	// too.
	if why, ok := c.flags[pos{b.file, b.line}]; ok {
		delete(c.flags, pos{b.file, b.line})
		fits := !c.started && b.seq == 1 && b.prev == c.start || before != nil && before.hash == b.prev
		if after != nil && !chainedTo(b) {
			fits = false
		}
		if !fits {
			v.problem(FindingInserted, b.file, b.line, s, b.seq, "event claims seq %d of stream %s out of order (%s) and does not fit the chain there: it is not part of the chain", b.seq, s, why)
			return
		}
		v.problem(FindingReordered, b.file, b.line, s, b.seq, "event seq %d of stream %s is out of order: %s", b.seq, s, why)
	}
	c.link(b)
}

// link appends e to the chain.
func (c *streamCheck) link(e entry) {
	v, s := c.v, c.id
	switch {
	case !c.started:
		c.sum.First = e.seq
		if e.seq != 1 {
			v.problem(FindingMissing, e.file, e.line, s, e.seq, "stream %s: %s missing before this line", s, span(1, e.seq-1))
		} else if e.prev != c.start {
			v.problem(FindingBadStart, e.file, e.line, s, 1, "the first event of stream %s does not start it: its prev is not the stream's start marker (modified or inserted)", s)
		}
	case e.seq != c.last.seq+1:
		v.problem(FindingMissing, e.file, e.line, s, e.seq, "stream %s: %s missing between %s and this line", s, span(c.last.seq+1, e.seq-1), v.pos(c.last))
	case e.prev != c.last.hash:
		p := c.last
		v.problem(FindingModified, p.file, p.line, s, p.seq, "event seq %d of stream %s was modified: its hash does not match the prev recorded by the next event at %s", p.seq, s, v.pos(e))
	}
	if c.closed != nil && !c.afterClose {
		c.afterClose = true
		v.problem(FindingAfterClose, e.file, e.line, s, e.seq, "event seq %d of stream %s follows the closing checkpoint at %s", e.seq, s, v.pos(*c.closed))
	}
	c.started = true
	c.sum.Events++
	c.sum.Last = e.seq
	signed := false
	if e.cp {
		c.sum.Checkpoints++
		if e.sig == sigValid || e.sig == sigUnchecked {
			c.sum.Signed++
			signed = true
		}
		if e.close && c.closed == nil {
			ec := e
			c.closed = &ec
		}
	}
	if signed {
		ec := e
		c.covered, c.uncoveredFrom, c.uncovered = &ec, nil, 0
	} else {
		if c.uncoveredFrom == nil {
			ec := e
			c.uncoveredFrom = &ec
		}
		c.uncovered++
	}
	c.last = e
}

// finish checks what is left in the window and reports on the stream.
func (c *streamCheck) finish() {
	for c.window.len() > 0 {
		c.next()
	}
	if c.cur != nil {
		c.resolve(c.cur, nil)
		c.cur = nil
	}
	for p, why := range c.flags {
		// Not resolved: cannot happen, but a line out of place is never
		// silently dropped.
		c.v.problem(FindingReordered, p.file, p.line, c.id, 0, "event of stream %s is out of order: %s", c.id, why)
	}
	if !c.started {
		return // every line was reported
	}
	v, s, sum := c.v, c.id, c.sum
	sum.Closed = c.closed != nil
	if sum.Checkpoints > sum.Signed && v.cfg.PublicKey == nil {
		v.warn(FindingUnsigned, -1, 0, s, 0, "stream %s has %d unsigned checkpoints: the chain shows changes, but whoever can write the file can rebuild it", s, sum.Checkpoints-sum.Signed)
	}
	if e := c.uncoveredFrom; e != nil {
		if c.covered != nil {
			v.warn(FindingUncovered, e.file, e.line, s, e.seq, "%d events of stream %s after the last signed checkpoint (%s) are not covered by a signature", c.uncovered, s, v.pos(*c.covered))
		} else {
			v.warn(FindingUncovered, e.file, e.line, s, e.seq, "%d events of stream %s are not covered by a signature: it has no signed checkpoint", c.uncovered, s)
		}
	}
	if c.closed == nil {
		e := c.last
		v.warn(FindingNotClosed, e.file, e.line, s, e.seq, "stream %s ends here (seq %d) without a closing checkpoint: iamgate is still running or stopped abruptly, or the end of the log was removed", s, e.seq)
	}
	v.report.Streams = append(v.report.Streams, sum)
}

// entryWindow holds the lines of a stream waiting to be checked, lowest
// seq (then arrival) first. Lines mostly arrive in order: then it is a
// queue; a line that arrives out of order turns it into a heap until it
// is empty again.
type entryWindow struct {
	q    entryHeap
	head int  // first entry of the queue; 0 as a heap
	heap bool // q is a heap
}

func (w *entryWindow) len() int { return len(w.q) - w.head }

// min is the entry pop returns next; the window must not be empty.
func (w *entryWindow) min() *entry { return &w.q[w.head] }

func (w *entryWindow) push(e entry) {
	if w.heap {
		w.q.push(e)
		return
	}
	if n := len(w.q); n == w.head || !entryLess(&e, &w.q[n-1]) {
		w.q = append(w.q, e) // in order: the queue stays sorted
		return
	}
	w.q = append(w.q[:0], w.q[w.head:]...)
	w.head, w.heap = 0, true // a sorted slice is a heap already
	w.q.push(e)
}

func (w *entryWindow) pop() entry {
	if w.heap {
		e := w.q.pop()
		if len(w.q) == 0 {
			w.heap = false
		}
		return e
	}
	e := w.q[w.head]
	w.head++
	if w.head == len(w.q) {
		w.q, w.head = w.q[:0], 0
	} else if w.head >= 2*VerifyWindow {
		w.q = append(w.q[:0], w.q[w.head:]...)
		w.head = 0
	}
	return e
}

func entryLess(a, b *entry) bool { return a.seq < b.seq || a.seq == b.seq && a.ord < b.ord }

// entryHeap orders entries by seq, then arrival: a binary heap of its
// own, as container/heap would allocate for every entry it moves.
type entryHeap []entry

func (h entryHeap) less(i, j int) bool { return entryLess(&h[i], &h[j]) }

func (h *entryHeap) push(e entry) {
	*h = append(*h, e)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *entryHeap) pop() entry {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		m := i
		if l := 2*i + 1; l < n && a.less(l, m) {
			m = l
		}
		if r := 2*i + 2; r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// OrderLogs returns names sorted oldest first by the time of their first
// line, as a Verifier reads them best: rotated files before the file they
// were rotated from, whatever order a shell glob gave them in. Files whose
// first line has no time come first, in the order given.
func OrderLogs(names []string) []string {
	type named struct {
		name string
		t    time.Time
	}
	list := make([]named, len(names))
	for i, n := range names {
		list[i] = named{name: n, t: firstTime(n)}
	}
	slices.SortStableFunc(list, func(a, b named) int { return a.t.Compare(b.t) })
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = n.name
	}
	return out
}

// firstTime is the eventTime of the first line of a log, zero if none.
func firstTime(name string) time.Time {
	r, err := OpenLog(name)
	if err != nil {
		return time.Time{}
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(r, buf)
	line := buf[:n]
	for i, c := range line {
		if c == '\n' {
			line = line[:i]
			break
		}
	}
	var m lineMeta
	readLineMeta(line, &m)
	return m.Time
}
