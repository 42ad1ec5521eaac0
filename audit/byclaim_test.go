package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
)

func TestClaimTally(t *testing.T) {
	t0 := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(v string) map[string]any { return map[string]any{"agent_run": v} }
	evs := []audit.Event{
		{Time: t0, Kind: audit.KindS3, Decision: "allow", Reason: "allowed", Operation: "GetObject", Status: 200, BytesOut: 100, Subject: "a1", Claims: run("r-1")},
		{Time: t0, Kind: audit.KindS3, Decision: "allow", Reason: "allowed", Operation: "PutObject", Status: 200, BytesIn: 40, Subject: "a1", Claims: run("r-1")},
		{Time: t0, Kind: audit.KindS3, Decision: "deny", Reason: "limit_bytes_downloaded", Operation: "GetObject", Status: 403, BytesOut: 300, Subject: "a2", Claims: run("r-1")},
		{Time: t0, Kind: audit.KindS3, Decision: "deny", Reason: "limit_bytes_downloaded", ErrorCode: "DownloadCut", Operation: "GetObject", Status: 200, BytesOut: 50, Subject: "a2", Claims: run("r-1")},
		{Time: t0, Kind: audit.KindEscalation, Decision: "deny", Reason: "deny", Subject: "a2", Claims: run("r-1")},
		{Time: t0, Kind: audit.KindS3, Decision: "allow", Reason: "allowed", Operation: "GetObject", Status: 200, BytesOut: 7, Subject: "b", Claims: run("r-2")},
		{Time: t0, Kind: audit.KindS3, Decision: "allow", Reason: "allowed", Operation: "GetObject", Status: 200, BytesOut: 7, Subject: "c"},
		{Time: t0.Add(-time.Hour), Kind: audit.KindS3, Decision: "allow", Operation: "GetObject", Status: 200, BytesOut: 7, Subject: "b", Claims: run("r-2")},
	}
	var buf bytes.Buffer
	for i := range evs {
		buf.Write(evs[i].AppendJSON(nil))
		buf.WriteByte('\n')
	}
	buf.WriteString("not json\n")
	tally := audit.NewClaimTally("agent_run", t0, time.Time{})
	if err := tally.Read("audit.log", &buf); err != nil {
		t.Fatal(err)
	}
	r := tally.Finish()
	if r.Events != 6 || r.WithoutIt != 1 || r.Skipped != 1 || r.OutOfPeriod != 1 || len(r.Values) != 2 {
		t.Fatalf("report %+v", r)
	}
	u := r.Values[0]
	if u.Value != "r-1" || u.Requests != 4 || u.BytesRead != 150 || u.ObjectsRead != 1 || u.BytesWritten != 40 ||
		u.ObjectsWritten != 1 || u.Denials != 2 || u.LimitHits["bytes_downloaded"] != 2 || u.Escalations["deny"] != 1 ||
		strings.Join(u.Subjects, ",") != "a1,a2" {
		t.Errorf("r-1: %+v", u)
	}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bytes_downloaded=2") || !strings.Contains(out.String(), "deny=1") {
		t.Errorf("text:\n%s", out.String())
	}
}
