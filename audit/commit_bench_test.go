package audit

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
)

// countingFileSink appends to a file like FileSink and counts its write
// calls, each one write(2).
type countingFileSink struct {
	f      *os.File
	fsync  bool // sync after each write, as FsyncAlways does
	writes atomic.Int64
}

func (s *countingFileSink) WriteEvent(line []byte) error {
	return s.WriteEvents(line, 1)
}

func (s *countingFileSink) WriteEvents(lines []byte, n int) error {
	s.writes.Add(1)
	if _, err := s.f.Write(lines); err != nil {
		return err
	}
	if s.fsync {
		return s.f.Sync()
	}
	return nil
}

// BenchmarkLogConcurrent logs to a file from 1, 8 and 64 goroutines at once
// through a chained Logger, as the proxy does, and reports events per
// second and write calls per event; with fsync, every write is synced, as
// under FsyncAlways. Each goroutine reuses its event (with an id set), so
// the allocations are the Logger's own.
func BenchmarkLogConcurrent(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, loggers := range []int{1, 8, 64} {
			name := "loggers=" + strconv.Itoa(loggers)
			if fsync {
				name = "fsync/" + name
			}
			b.Run(name, func(b *testing.B) { benchLogConcurrent(b, loggers, fsync) })
		}
	}
}

func benchLogConcurrent(b *testing.B, loggers int, fsync bool) {
	procs := runtime.GOMAXPROCS(0)
	{
		{
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "audit.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			sink := &countingFileSink{f: f, fsync: fsync}
			l, err := NewChainedLogger(ChainConfig{SigningKey: testKey}, sink)
			if err != nil {
				b.Fatal(err)
			}
			var events atomic.Int64
			b.ReportAllocs()
			if loggers == 1 {
				e := sampleEvent()
				e.EventID = NewEventID()
				for b.Loop() {
					if err := l.Log(e); err != nil {
						b.Fatal(err)
					}
					events.Add(1)
				}
			} else {
				b.SetParallelism(max(1, loggers/procs))
				b.RunParallel(func(pb *testing.PB) {
					e := sampleEvent()
					e.EventID = NewEventID()
					for pb.Next() {
						if err := l.Log(e); err != nil {
							b.Error(err)
							return
						}
						events.Add(1)
					}
				})
			}
			b.StopTimer()
			if n := events.Load(); n > 0 {
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(sink.writes.Load())/float64(n), "writes/event")
			}
			l.Close()
		}
	}
}
