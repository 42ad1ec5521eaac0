package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// corpus is a log of varied events, golden lines, blank lines and lines
// that are not events, long enough to span several blocks.
func corpus(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	golden := goldenLines(t)
	l, err := NewChainedLogger(ChainConfig{CheckpointInterval: 100, SigningKey: testKey, Now: testClock()}, WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	subjects := []string{"alice", "bob", "carol", "", "svc-backup"}
	roles := []string{"analyst", "admin", "agent-reader", ""}
	decisions := []string{"allow", "allow", "allow", "deny", "error"}
	for i := range n {
		switch {
		case i%97 == 5:
			buf.Write(golden[i%len(golden)])
			buf.WriteByte('\n')
			continue
		case i%211 == 7:
			buf.WriteString("not an event\n\n   \n")
			continue
		case i%307 == 9:
			buf.WriteString(`{"eventVersion":"2.0","eventTime":"2027-01-01T00:00:00Z","iamgate":{"kind":"s3","Decision":"deny","decision":"allow"}}` + "\n")
			continue
		}
		e := sampleEvent()
		e.Subject = subjects[i%len(subjects)]
		e.Username = strings.ToUpper(e.Subject)
		if r := roles[i%len(roles)]; r != "" {
			e.Roles = []string{r}
		} else {
			e.Roles = nil
		}
		e.Decision = decisions[i%len(decisions)]
		e.Reason = "r" + fmt.Sprint(i%7)
		e.BytesOut, e.BytesIn = int64(i*13), int64(i%5)
		if i%3 == 0 {
			e.AuthMethod, e.Issuer = "service-credential", "service-credential"
		}
		if i%11 == 0 {
			e.Kind = KindSTS
		}
		e.Key = fmt.Sprintf("home/%s/file-%d & <x>", e.Subject, i%50)
		e.Claims = map[string]any{"agent_run": fmt.Sprintf("run-%d", i%4)}
		if err := l.Log(e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	return buf.Bytes()
}

// readSequential is how a Reviewer read files before it read in parallel
// with decodeFast: line by line, with Decode.
func readSequential(rv *Reviewer, name string, r io.Reader) {
	rv.r.Files = append(rv.r.Files, name)
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if e, derr := Decode(line); derr != nil {
				rv.skip(name, n, reviewLine(derr.Error()))
			} else {
				rv.event(name, n, e)
			}
		}
		if err != nil {
			return
		}
	}
}

// The parallel, fast reading gives the review that reading line by line
// with Decode gives.
func TestReviewParallelSameAsSequential(t *testing.T) {
	data := corpus(t, 6000) // several blocks
	if len(data) < 2*scanBlockSize {
		t.Fatalf("corpus of %d bytes spans one block", len(data))
	}
	cfg := ReviewConfig{AsOf: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), Top: -1,
		Roles:              []ReviewRole{{Name: "analyst", Trust: []ReviewTrustRule{{Issuer: "corp"}}}, {Name: "idle"}},
		ServiceCredentials: []ReviewCredential{{Name: "svc-backup", AccessKeyID: "AKIA1", Role: "admin"}}}
	want := NewReviewer(cfg)
	readSequential(want, "a.log", bytes.NewReader(data))
	// A reader returning a byte at a time cuts blocks anywhere.
	readers := map[string]io.Reader{"whole": bytes.NewReader(data), "odd sizes": iotest.HalfReader(bytes.NewReader(data))}
	for name, r := range readers {
		got := NewReviewer(cfg)
		if err := got.Read("a.log", r); err != nil {
			t.Fatal(err)
		}
		g, _ := json.MarshalIndent(got.Finish(), "", " ")
		w, _ := json.MarshalIndent(want.Finish(), "", " ")
		if !bytes.Equal(g, w) {
			t.Errorf("%s: parallel review differs from sequential:\n%s\nwant\n%s", name, g, w)
		}
	}
	r := want.Finish()
	if r.Events < 5000 || r.Skipped == 0 {
		t.Errorf("corpus: %d events, %d skipped", r.Events, r.Skipped)
	}
}

// Lines longer than a block, and a last line without a newline, are read
// whole, with their numbers.
func TestScanLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*scanBlockSize)
	in := "a\n" + long + "\nb\n\nc"
	var got []string
	err := scanParallel("f", iotest.OneByteReader(strings.NewReader(in[:10])), func(b *block) []string {
		var out []string
		b.lines(func(n int, line []byte) { out = append(out, fmt.Sprintf("%d:%d", n, len(line))) })
		return out
	}, func(b *block, r []string) error { got = append(got, r...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	err = scanParallel("f", strings.NewReader(in), func(b *block) []string {
		var out []string
		b.lines(func(n int, line []byte) { out = append(out, fmt.Sprintf("%d:%d", n, len(line))) })
		return out
	}, func(b *block, r []string) error { got = append(got, r...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[1:1 2:%d 3:1 4:0 5:1]", len(long))
	if fmt.Sprint(got) != want {
		t.Errorf("lines %v, want %s", got, want)
	}
}
