package audit

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Tamper evidence. A chained Logger gives every line it writes a stream id,
// a sequence number and the SHA-256 of the line before it, so that a line
// that is modified, removed, reordered or inserted breaks the chain. Now and
// then it writes a checkpoint event whose Ed25519 signature covers the chain
// up to it, so that the chain cannot be rebuilt without the key.

// KindCheckpoint is the Kind of the checkpoint events of a chained Logger.
const KindCheckpoint = "checkpoint"

// Reasons of checkpoint events.
const (
	CheckpointInterval = "interval" // CheckpointInterval events were written
	CheckpointTimer    = "timer"    // CheckpointEvery passed since the first uncovered event
	CheckpointClose    = "close"    // the Logger was closed; nothing follows in the stream
)

// Defaults of ChainConfig.
const (
	DefaultCheckpointInterval = 1000
	DefaultCheckpointEvery    = time.Minute
)

// ErrClosed is returned by Log on a chained Logger after Close: the stream
// has ended with its closing checkpoint.
var ErrClosed = errors.New("audit: logger closed")

// ChainConfig configures a chained Logger. The zero value chains events and
// writes unsigned checkpoints.
type ChainConfig struct {
	// SigningKey signs checkpoints. nil: checkpoints are unsigned, so the
	// chain shows accidental damage, but whoever can write the file can
	// also rebuild it.
	SigningKey ed25519.PrivateKey

	// CheckpointInterval is the number of events after which a checkpoint
	// is written; 0 means DefaultCheckpointInterval.
	CheckpointInterval int

	// CheckpointEvery is the longest an event waits for a checkpoint;
	// 0 means DefaultCheckpointEvery. No checkpoint is written while no
	// events are.
	CheckpointEvery time.Duration

	// OnError receives the write errors of checkpoints written by the
	// CheckpointEvery timer, which have no caller to return them to.
	// nil: they are dropped (the next event's write will likely fail too).
	OnError func(error)

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Rand is the source of the stream id; nil means crypto/rand.
	Rand io.Reader
}

// NewChainedLogger returns a Logger writing to sinks that chains its
// events into a new stream and writes checkpoints. Close writes the
// closing checkpoint.
func NewChainedLogger(cfg ChainConfig, sinks ...Sink) (*Logger, error) {
	if cfg.SigningKey != nil && len(cfg.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signing key is %d bytes, want %d", len(cfg.SigningKey), ed25519.PrivateKeySize)
	}
	if cfg.CheckpointInterval < 0 || cfg.CheckpointEvery < 0 {
		return nil, errors.New("audit: negative checkpoint interval")
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	var id [16]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return nil, fmt.Errorf("audit: stream id: %w", err)
	}
	c := &chain{
		stream:   hex.EncodeToString(id[:]),
		key:      cfg.SigningKey,
		interval: cmp.Or(cfg.CheckpointInterval, DefaultCheckpointInterval),
		every:    cmp.Or(cfg.CheckpointEvery, DefaultCheckpointEvery),
		onError:  cfg.OnError,
	}
	c.prev = streamStart(c.stream)
	if c.key != nil {
		c.keyID = KeyID(c.key.Public().(ed25519.PublicKey))
	}
	l := NewLogger(sinks...)
	if cfg.Now != nil {
		l.now = cfg.Now
	}
	l.chain = c
	return l, nil
}

// Stream returns the stream id of a chained Logger, "" for another.
func (l *Logger) Stream() string {
	if l == nil || l.chain == nil {
		return ""
	}
	return l.chain.stream
}

// KeyID identifies a checkpoint signing key: the first 8 bytes of the
// SHA-256 of the public key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// streamStart is the prev of the first event of a stream.
func streamStart(stream string) [32]byte {
	return sha256.Sum256([]byte("iamgate audit stream " + stream))
}

// checkpointMessage is what a checkpoint's signature signs: its position
// in the stream, the hash of the line before it (and so, link by link, of
// every earlier line) and its time, exactly as written.
func checkpointMessage(stream string, seq uint64, prev, time string) []byte {
	return []byte("iamgate audit checkpoint v1\n" + stream + "\n" + strconv.FormatUint(seq, 10) + "\n" + prev + "\n" + time)
}

// chain is the state of a chained Logger; Logger.mu guards it. Its lines
// are queued in the order they are chained, and batches are written in the
// order they are queued, so the chain order is the order in the sinks.
type chain struct {
	stream   string
	seq      uint64   // of the last line written
	prev     [32]byte // hash of the last line written
	pending  int      // events since the last checkpoint
	key      ed25519.PrivateKey
	keyID    string
	interval int
	every    time.Duration
	onError  func(error)
	timer    *time.Timer
	due      time.Time // when the armed timer should write a checkpoint
	closed   bool
}

// next appends to dst the line to write for body, a marshalled Event: body
// with the chain fields, and a newline. It advances the chain.
func (c *chain) next(dst, body []byte, keyID, sig string) []byte {
	c.seq++
	start := len(dst)
	b := append(dst, body[:len(body)-1]...)
	b = append(b, `,"chain":{"stream":"`...)
	b = append(b, c.stream...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, c.seq, 10)
	b = append(b, `,"prev":"`...)
	b = hex.AppendEncode(b, c.prev[:])
	b = append(b, '"')
	if sig != "" {
		b = append(b, `,"keyId":"`...)
		b = append(b, keyID...)
		b = append(b, `","signature":"`...)
		b = append(b, sig...)
		b = append(b, '"')
	}
	b = append(b, '}', '}')
	c.prev = sha256.Sum256(b[start:])
	return append(b, '\n')
}

// appendChained queues body as the next event of the stream in b, the open
// batch, with a checkpoint after it when one is due; l.mu is held.
func (l *Logger) appendChained(b *batch, body []byte) error {
	c := l.chain
	if c.closed {
		return ErrClosed
	}
	b.buf = c.next(b.buf, body, "", "")
	b.ends = append(b.ends, len(b.buf))
	c.pending++
	if c.pending >= c.interval {
		l.checkpoint(b, CheckpointInterval)
		return nil
	}
	if c.pending == 1 {
		c.due = time.Now().Add(c.every)
		if c.timer == nil {
			c.timer = time.AfterFunc(c.every, l.timerCheckpoint)
		} else {
			c.timer.Reset(c.every)
		}
	}
	return nil
}

func (l *Logger) timerCheckpoint() {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.chain
	// A checkpoint may have been written, and the timer re-armed, while
	// this call waited for the lock.
	if c.closed || c.pending == 0 || time.Now().Before(c.due) {
		return
	}
	b := l.queue()
	first := len(b.ends)
	l.checkpoint(b, CheckpointTimer)
	if err := l.commit(b, first); err != nil && c.onError != nil {
		c.onError(err)
	}
}

// checkpoint queues a checkpoint event in b, the open batch; l.mu is held.
func (l *Logger) checkpoint(b *batch, reason string) {
	c := l.chain
	e := Event{Time: l.now().UTC(), Kind: KindCheckpoint, EventID: NewEventID(), Decision: "allow", Reason: reason}
	body := e.AppendJSON(nil)
	var sig string
	if c.key != nil {
		msg := checkpointMessage(c.stream, c.seq+1, hex.EncodeToString(c.prev[:]), e.Time.Format(time.RFC3339Nano))
		sig = base64.StdEncoding.EncodeToString(ed25519.Sign(c.key, msg))
	}
	c.pending = 0
	if c.timer != nil {
		c.timer.Stop()
	}
	b.buf = c.next(b.buf, body, c.keyID, sig)
	b.ends = append(b.ends, len(b.buf))
}

// closeChain queues the closing checkpoint in b, the open batch, if the
// stream has any event, and ends the stream; l.mu is held.
func (l *Logger) closeChain(b *batch) {
	c := l.chain
	if c.closed {
		return
	}
	if c.seq > 0 {
		l.checkpoint(b, CheckpointClose)
	}
	c.closed = true
}

// FindingCode classifies a Finding.
type FindingCode string

// Finding codes. Problems: the log was tampered with or damaged. Warnings:
// what the chain cannot vouch for.
const (
	FindingMalformed    FindingCode = "malformed"     // not JSON, or no chain fields
	FindingBadStart     FindingCode = "bad_start"     // the first event does not start its stream
	FindingModified     FindingCode = "modified"      // a line's hash does not match the next line's prev
	FindingMissing      FindingCode = "missing"       // a gap in the sequence numbers
	FindingReordered    FindingCode = "reordered"     // a line comes after a later one of its stream
	FindingInserted     FindingCode = "inserted"      // a second line claims a sequence number, and is not the one chained
	FindingDuplicate    FindingCode = "duplicate"     // the same line appears twice
	FindingAfterClose   FindingCode = "after_close"   // an event follows the closing checkpoint
	FindingBadSignature FindingCode = "bad_signature" // a checkpoint signature does not verify
	FindingUnsigned     FindingCode = "unsigned"      // a checkpoint has no signature
	FindingUnchecked    FindingCode = "unchecked"     // no public key: signatures not checked
	FindingUncovered    FindingCode = "uncovered"     // events after the last signed checkpoint
	FindingNotClosed    FindingCode = "not_closed"    // a stream does not end with a closing checkpoint
)

// Finding is one problem or warning, at a line of a file when it has one.
type Finding struct {
	Code    FindingCode `json:"code"`
	File    string      `json:"file,omitempty"`
	Line    int         `json:"line,omitempty"`
	Stream  string      `json:"stream,omitempty"`
	Seq     uint64      `json:"seq,omitempty"`
	Message string      `json:"message"`

	file int // index into the files, for sorting; -1: none
}

// String returns "file:line: code: message".
func (f Finding) String() string {
	s := string(f.Code) + ": " + f.Message
	if f.File != "" {
		return f.File + ":" + strconv.Itoa(f.Line) + ": " + s
	}
	return s
}

// StreamSummary describes one stream found by a Verifier.
type StreamSummary struct {
	Stream      string `json:"stream"`
	First       uint64 `json:"first_seq"`
	Last        uint64 `json:"last_seq"`
	Events      int    `json:"events"` // lines, checkpoints included
	Checkpoints int    `json:"checkpoints"`
	Signed      int    `json:"signed_checkpoints"` // with a valid signature; unchecked ones without a public key
	Closed      bool   `json:"closed"`
}

// Report is the result of a verification.
type Report struct {
	Files    []string        `json:"files"`
	Events   int             `json:"events"`
	Streams  []StreamSummary `json:"streams"`
	Problems []Finding       `json:"problems"`
	Warnings []Finding       `json:"warnings"`
}

// OK reports whether no problem was found. Warnings do not count.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// VerifyConfig configures a Verifier.
type VerifyConfig struct {
	// PublicKey checks checkpoint signatures. nil: signatures are not
	// checked (a warning says so), and unsigned checkpoints are accepted
	// with a warning; with a key, an unsigned checkpoint is a problem.
	PublicKey ed25519.PublicKey
}

type sigState uint8

const (
	sigNone sigState = iota
	sigValid
	sigUnchecked
	sigInvalid
)

// entry is what verification keeps of one line, while it is within the
// window of its stream.
type entry struct {
	ord   uint64 // arrival order in its stream
	file  int
	line  int
	seq   uint64
	prev  [32]byte
	hash  [32]byte
	cp    bool // a checkpoint
	close bool // a closing checkpoint
	sig   sigState
}

// Verifier checks the chain of audit files. Read each file, oldest first
// (OrderLogs sorts them so), then call Finish. Lines are grouped by stream
// and ordered by seq within a window of VerifyWindow lines per stream, so
// that a stream rotated over several files verifies as one, and memory
// does not grow with the number of events; a line further out of place is
// reported as reordered.
type Verifier struct {
	cfg     VerifyConfig
	keyID   string
	files   []string
	streams map[string]*streamCheck
	order   []string // streams in order of first appearance
	report  Report
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifyConfig) *Verifier {
	v := &Verifier{cfg: cfg, streams: map[string]*streamCheck{}}
	if cfg.PublicKey != nil {
		v.keyID = KeyID(cfg.PublicKey)
	}
	return v
}

// lineFields are the fields verification reads from a line.
type lineFields struct {
	Time    json.RawMessage `json:"eventTime"`
	Iamgate struct {
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	} `json:"iamgate"`
	Chain chainFields `json:"chain"`
}

type chainFields struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Prev      string `json:"prev"`
	KeyID     string `json:"keyId"`
	Signature string `json:"signature"`
}

// Read reads the lines of one file, named name in findings. It returns
// only read errors; what is wrong with the lines goes to the report. Lines
// are parsed, hashed and their signatures checked in parallel; the chain
// is checked in order.
func (v *Verifier) Read(name string, r io.Reader) error {
	fi := len(v.files)
	v.files = append(v.files, name)
	return scanParallel(name, r, v.parseBlock, func(b *block, ls *[]chainLine) error {
		for i := range *ls {
			v.line(fi, &(*ls)[i])
		}
		clear(*ls)
		*ls = (*ls)[:0]
		chainLinePool.Put(ls)
		return nil
	})
}

// chainLine is what verification reads of a line, in parallel. Its byte
// slices may point into the block read: they are valid until the block's
// lines are merged.
type chainLine struct {
	n            int
	err          error // not JSON
	kind, reason string
	stream       []byte
	seq          uint64
	prev         []byte // as written
	keyID        []byte
	signature    []byte
	rawTime      []byte // eventTime as written, any JSON value
	time         string // eventTime's string, for signed checkpoints
	hash         [32]byte
	prevHash     [32]byte
	prevOK       bool     // prev is the hex of a hash
	sig          sigState // of a signed checkpoint with a public key: sigValid or sigInvalid
}

var chainLinePool = sync.Pool{New: func() any { return new([]chainLine) }}

func (v *Verifier) parseBlock(b *block) *[]chainLine {
	ls := chainLinePool.Get().(*[]chainLine)
	b.lines(func(n int, data []byte) {
		*ls = append(*ls, chainLine{})
		v.parseLine(n, data, &(*ls)[len(*ls)-1])
	})
	return ls
}

// parseLine reads line n into l: its chain fields, its hash and, for a
// signed checkpoint, whether the signature holds. It may run in
// parallel with other lines.
func (v *Verifier) parseLine(n int, data []byte, l *chainLine) {
	l.n = n
	parseChainLine(data, l)
	if l.err == nil && len(l.signature) > 0 && v.cfg.PublicKey != nil && l.kind == KindCheckpoint {
		l.sig = sigInvalid
		if sig, err := base64.StdEncoding.DecodeString(string(l.signature)); err == nil && l.time != "" &&
			ed25519.Verify(v.cfg.PublicKey, checkpointMessage(string(l.stream), l.seq, string(l.prev), l.time), sig) {
			l.sig = sigValid
		}
	}
}

// parseChainLine reads the chain fields of a line, by scanChainLine when
// it can and encoding/json otherwise, and hashes it.
func parseChainLine(data []byte, l *chainLine) {
	if !scanChainLine(data, l) {
		var lf lineFields
		if err := json.Unmarshal(data, &lf); err != nil {
			*l = chainLine{n: l.n, err: err}
			return
		}
		*l = chainLine{n: l.n, kind: lf.Iamgate.Kind, reason: lf.Iamgate.Reason, stream: []byte(lf.Chain.Stream),
			seq: lf.Chain.Seq, prev: []byte(lf.Chain.Prev), keyID: []byte(lf.Chain.KeyID),
			signature: []byte(lf.Chain.Signature), rawTime: lf.Time}
	}
	if len(l.rawTime) > 0 && l.kind == KindCheckpoint && len(l.signature) > 0 {
		// The time as written is part of what the signature signs.
		var t string
		if json.Unmarshal(l.rawTime, &t) == nil {
			l.time = t
		}
	}
	if len(l.prev) == 2*sha256.Size {
		_, err := hex.Decode(l.prevHash[:], l.prev)
		l.prevOK = err == nil
	}
	l.hash = sha256.Sum256(data)
}

func (v *Verifier) problem(code FindingCode, file, line int, stream string, seq uint64, format string, args ...any) {
	v.report.Problems = append(v.report.Problems, v.finding(code, file, line, stream, seq, format, args...))
}

func (v *Verifier) warn(code FindingCode, file, line int, stream string, seq uint64, format string, args ...any) {
	v.report.Warnings = append(v.report.Warnings, v.finding(code, file, line, stream, seq, format, args...))
}

func (v *Verifier) finding(code FindingCode, file, line int, stream string, seq uint64, format string, args ...any) Finding {
	f := Finding{Code: code, Line: line, Stream: stream, Seq: seq, Message: fmt.Sprintf(format, args...), file: file}
	if file >= 0 {
		f.File = v.files[file]
	}
	return f
}

func (v *Verifier) pos(e entry) string { return v.files[e.file] + ":" + strconv.Itoa(e.line) }

func (v *Verifier) line(fi int, l *chainLine) {
	n := l.n
	if l.err != nil {
		v.problem(FindingMalformed, fi, n, "", 0, "not a JSON object (%v)", l.err)
		return
	}
	if l.seq == 0 || len(l.stream) == 0 || !l.prevOK {
		v.problem(FindingMalformed, fi, n, string(l.stream), l.seq, "event has no valid chain fields (seq, prev, stream): written without a chain, or inserted")
		return
	}
	e := entry{file: fi, line: n, seq: l.seq, hash: l.hash, prev: l.prevHash, cp: l.kind == KindCheckpoint}
	if e.cp {
		e.close = l.reason == CheckpointClose
		e.sig = v.signature(fi, n, l)
	}
	v.report.Events++
	sc := v.streams[string(l.stream)]
	if sc == nil {
		id := string(l.stream)
		sc = newStreamCheck(v, id)
		v.streams[id] = sc
		v.order = append(v.order, id)
	}
	sc.add(e)
}

// signature reports on the signature of a checkpoint, checked by
// parseBlock.
func (v *Verifier) signature(fi, n int, l *chainLine) sigState {
	stream := string(l.stream)
	if len(l.signature) == 0 {
		if v.cfg.PublicKey != nil {
			v.problem(FindingUnsigned, fi, n, stream, l.seq, "checkpoint seq %d of stream %s is not signed", l.seq, stream)
		}
		return sigNone
	}
	if v.cfg.PublicKey == nil {
		return sigUnchecked
	}
	switch {
	case string(l.keyID) != v.keyID:
		v.problem(FindingBadSignature, fi, n, stream, l.seq, "checkpoint seq %d of stream %s is signed by key %s, not by the given key %s", l.seq, stream, l.keyID, v.keyID)
	case l.sig != sigValid:
		v.problem(FindingBadSignature, fi, n, stream, l.seq, "checkpoint seq %d of stream %s: the signature does not verify", l.seq, stream)
	default:
		return sigValid
	}
	return sigInvalid
}

// Finish checks every stream and returns the report. Problems and
// warnings are sorted by file (in the order read) and line.
func (v *Verifier) Finish() *Report {
	r := &v.report
	r.Files = slices.Clone(v.files)
	if r.Events > 0 && v.cfg.PublicKey == nil {
		v.warn(FindingUnchecked, -1, 0, "", 0, "checkpoint signatures were not checked: no public key given")
	}
	for _, s := range v.order {
		v.streams[s].finish()
	}
	for _, list := range [][]Finding{r.Problems, r.Warnings} {
		slices.SortStableFunc(list, func(a, b Finding) int {
			return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.Line, b.Line))
		})
	}
	if r.Problems == nil {
		r.Problems = []Finding{}
	}
	if r.Warnings == nil {
		r.Warnings = []Finding{}
	}
	return r
}

// span describes missing events: "event seq 5 is", "events seq 5-7 (3) are".
func span(from, to uint64) string {
	if from == to {
		return "event seq " + strconv.FormatUint(from, 10) + " is"
	}
	return fmt.Sprintf("events seq %d-%d (%d) are", from, to, to-from+1)
}
