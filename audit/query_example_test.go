package audit_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/iamgate/iamgate/audit"
)

// Query selects the events of a log that match a filter, in file order.
func ExampleQuery() {
	var log bytes.Buffer
	l := audit.NewLogger(audit.WriterSink{W: &log})
	t := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	l.Log(&audit.Event{Time: t, Kind: audit.KindS3, Issuer: "corp", Subject: "alice", Roles: []string{"analyst"},
		Operation: "GetObject", Action: "s3:GetObject", Bucket: "data", Key: "reports/q4.csv", Decision: "allow"})
	l.Log(&audit.Event{Time: t.Add(time.Minute), Kind: audit.KindS3, Issuer: "corp", Subject: "bob", Roles: []string{"analyst"},
		Operation: "PutObject", Action: "s3:PutObject", Bucket: "data", Key: "reports/q4.csv", Decision: "deny", Reason: "no_allow"})
	l.Log(&audit.Event{Time: t.Add(2 * time.Minute), Kind: audit.KindS3, Issuer: "corp", Subject: "alice", Roles: []string{"analyst"},
		Operation: "GetObject", Action: "s3:GetObject", Bucket: "other", Key: "x", Decision: "allow"})

	f := &audit.Filter{Buckets: []string{"data"}, KeyPrefix: "reports/"}
	err := audit.Query("audit.log", &log, f, func(m *audit.Match) error {
		e := m.Event
		fmt.Printf("%s:%d %s %s %s %s/%s\n", m.File, m.Line, e.Time.Format(time.RFC3339), e.Subject, e.Decision, e.Bucket, e.Key)
		return nil
	}, func(b audit.BadLine) error {
		fmt.Printf("%s:%d: %s\n", b.File, b.Line, b.Reason)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// audit.log:1 2027-01-04T09:00:00Z alice allow data/reports/q4.csv
	// audit.log:2 2027-01-04T09:01:00Z bob deny data/reports/q4.csv
}
