package proxy

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iamgate/iamgate/audit"
)

// failingBatchSink fails every write; it holds the first until release is
// closed, so that the events of the requests that finish meanwhile are
// written together.
type failingBatchSink struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
	lines   atomic.Int32
}

func (s *failingBatchSink) WriteEvent(line []byte) error { return s.WriteEvents(line, 1) }

func (s *failingBatchSink) WriteEvents(lines []byte, n int) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	s.lines.Add(int32(bytes.Count(lines, []byte("\n"))))
	return errors.New("disk full")
}

// TestAuditGroupWriteErrorEachRequest: when a write of grouped events
// fails, every request whose event was in it counts an audit error, as a
// failed write of one event does, and is still served (best effort).
func TestAuditGroupWriteErrorEachRequest(t *testing.T) {
	f := newFixture(t, nil, nil)
	sink := &failingBatchSink{release: make(chan struct{}), entered: make(chan struct{})}
	f.h.cfg.Audit = audit.NewLogger(sink)
	alice := f.token(t, "alice", "staff")
	const requests = 8
	statuses := make([]int, requests)
	var wg sync.WaitGroup
	get := func(i int) {
		defer wg.Done()
		res, _ := f.do(t, "GET", "/bkt/home/alice/k", alice, nil)
		statuses[i] = res.StatusCode
	}
	wg.Add(1)
	go get(0)
	<-sink.entered // the first request is writing its event
	for i := 1; i < requests; i++ {
		wg.Add(1)
		go get(i)
	}
	// Let the others reach the audit write; how many join the group does
	// not change what is checked.
	time.Sleep(50 * time.Millisecond)
	close(sink.release)
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("request %d: status %d", i, st)
		}
	}
	if n := sink.lines.Load(); n != requests {
		t.Errorf("%d events written, want %d", n, requests)
	}
	if got := testutil.ToFloat64(f.m.AuditErrors); got != requests {
		t.Errorf("%v audit errors counted, want %d", got, requests)
	}
}
