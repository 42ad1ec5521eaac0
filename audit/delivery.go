package audit

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Delivery is what happens to a request when its audit event cannot be
// persisted.
type Delivery string

// Delivery modes.
const (
	// DeliveryBestEffort serves requests whatever happens to their events;
	// an event a sink cannot take is reported and counted as dropped.
	DeliveryBestEffort Delivery = "best_effort"
	// DeliveryRequired refuses new requests while Logger.Available reports
	// an error: no audit, no access.
	DeliveryRequired Delivery = "required"
)

// Errors sinks return, wrapped; test them with errors.Is.
var (
	// ErrSpoolFull: the webhook spool has reached its size limit, because
	// the collector has not accepted events for a while.
	ErrSpoolFull = errors.New("audit: spool full")
	// ErrSinkClosed: the sink was closed.
	ErrSinkClosed = errors.New("audit: sink closed")
)

// Sink names passed to Metrics. They are the only values of the sink label.
const (
	SinkStdout  = "stdout"
	SinkFile    = "file"
	SinkWebhook = "webhook"
)

// Metrics receives what happens to events in the sinks. sink is one of the
// Sink* names. Implementations must be safe for concurrent use and must not
// block: they are called with sink locks held, on the request path.
type Metrics interface {
	// Emitted: an event was handed to the sink.
	Emitted(sink string)
	// Delivered: n events reached their destination: written to standard
	// output or the file, or accepted by the webhook collector.
	Delivered(sink string, n int)
	// Spooled: an event was appended to the webhook spool.
	Spooled(sink string)
	// Dropped: the sink could not take an event; it is lost for that sink.
	Dropped(sink string)
	// SinkError: a write, sync or delivery attempt failed.
	SinkError(sink string)
	// SpoolDepth: events and bytes waiting in the spool for delivery.
	SpoolDepth(sink string, events, bytes int64)
	// DeliveryDelay: the time from an event's time (the start of its
	// request) to its acceptance by the collector, once per event.
	DeliveryDelay(sink string, d time.Duration)
}

// Availability is implemented by sinks that can tell whether events can be
// persisted now. Available must be cheap: it is called for every request in
// DeliveryRequired mode.
type Availability interface {
	Available() error
}

// Available reports whether every sink that can tell (see Availability)
// can persist events now: nil, or the error of the first that cannot. In
// DeliveryRequired mode the proxy refuses a request when it is not nil.
// Available takes no Logger lock.
func (l *Logger) Available() error {
	if l == nil {
		return nil
	}
	for _, s := range l.sinks {
		if a, ok := s.(Availability); ok {
			if err := a.Available(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fsync says when a file sink or the webhook spool flushes written events
// to stable storage.
type Fsync string

// Fsync policies.
const (
	// FsyncAlways syncs after every event, before WriteEvent returns: no
	// event is lost in a power failure, at the cost of a disk flush on the
	// request path.
	FsyncAlways Fsync = "always"
	// FsyncInterval syncs in the background every SyncInterval (default
	// 1s) if anything was written: a power failure loses at most that long.
	FsyncInterval Fsync = "interval"
	// FsyncNever leaves flushing to the operating system. A process crash
	// loses nothing; a power failure may lose what the kernel had not
	// written yet.
	FsyncNever Fsync = "never"
)

// DefaultSyncInterval is how often FsyncInterval syncs.
const DefaultSyncInterval = time.Second

// Secret is a credential that prints, logs and marshals as "[redacted]".
type Secret string

const redacted = "[redacted]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return "audit.Secret(" + redacted + ")" }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var _ slog.LogValuer = Secret("")

// Instrument wraps a synchronous sink (standard output, a file) so that it
// counts its events in m under the name sink, and remembers its last write
// error: Available reports it until a write succeeds, or the wrapped sink's
// own Available error. Close passes through. m nil: nothing is counted. If
// s is a BatchSink, so is the result.
func Instrument(sink string, s Sink, m Metrics) Sink {
	i := &instrumented{name: sink, s: s, m: m}
	if bs, ok := s.(BatchSink); ok {
		return &instrumentedBatch{instrumented: i, bs: bs}
	}
	return i
}

type instrumented struct {
	name string
	s    Sink
	m    Metrics

	mu  sync.Mutex
	err error
}

var (
	_ Availability = (*instrumented)(nil)
	_ io.Closer    = (*instrumented)(nil)
	_ BatchSink    = (*instrumentedBatch)(nil)
)

func (i *instrumented) WriteEvent(line []byte) error {
	return i.done(i.s.WriteEvent(line), 1)
}

// done records the result of writing n events.
func (i *instrumented) done(err error, n int) error {
	i.mu.Lock()
	i.err = err
	i.mu.Unlock()
	if i.m != nil {
		for range n {
			i.m.Emitted(i.name)
		}
		if err != nil {
			for range n {
				i.m.Dropped(i.name)
			}
			i.m.SinkError(i.name)
		} else {
			i.m.Delivered(i.name, n)
		}
	}
	return err
}

func (i *instrumented) Available() error {
	i.mu.Lock()
	err := i.err
	i.mu.Unlock()
	if err != nil {
		return err
	}
	if a, ok := i.s.(Availability); ok {
		return a.Available()
	}
	return nil
}

func (i *instrumented) Close() error {
	if c, ok := i.s.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// instrumentedBatch is an instrumented BatchSink.
type instrumentedBatch struct {
	*instrumented
	bs BatchSink
}

func (i *instrumentedBatch) WriteEvents(lines []byte, n int) error {
	return i.done(i.bs.WriteEvents(lines, n), n)
}
