package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ClaimReport is the activity in audit logs per value of one claim (such
// as agent_run): what each run, or subject, read and wrote, what was
// refused, the limits it hit and the kill-switch steps taken. The claim
// must be recorded in events (audit.claims), except "sub", which is the
// event's subject.
type ClaimReport struct {
	Claim       string       `json:"claim"`
	Files       []string     `json:"files"`
	Since       time.Time    `json:"since,omitzero"`
	Until       time.Time    `json:"until,omitzero"`
	Events      int          `json:"events"`        // events with the claim, in the period
	WithoutIt   int          `json:"without"`       // events in the period without the claim
	Skipped     int          `json:"skipped"`       // lines that are not audit events
	Values      []ClaimUsage `json:"values"`        // by bytes read, then value
	OutOfPeriod int          `json:"out_of_period"` // events outside since..until
}

// ClaimUsage is the activity of one value of the claim.
type ClaimUsage struct {
	Value          string           `json:"value"`
	Subjects       []string         `json:"subjects"`
	Requests       int64            `json:"requests"`
	BytesRead      int64            `json:"bytes_read"`
	BytesWritten   int64            `json:"bytes_written"`
	ObjectsRead    int64            `json:"objects_read"`
	ObjectsWritten int64            `json:"objects_written"`
	Denials        int64            `json:"denials"`
	LimitHits      map[string]int64 `json:"limit_hits,omitempty"`  // by limit
	Escalations    map[string]int64 `json:"escalations,omitempty"` // by step
	First          time.Time        `json:"first,omitzero"`
	Last           time.Time        `json:"last,omitzero"`
}

// ClaimTally builds a ClaimReport from audit lines.
type ClaimTally struct {
	r        ClaimReport
	vals     map[string]*ClaimUsage
	subjects map[string]map[string]bool
}

// NewClaimTally counts by claim, in since <= time < until (zero: open).
func NewClaimTally(claim string, since, until time.Time) *ClaimTally {
	return &ClaimTally{r: ClaimReport{Claim: claim, Since: since, Until: until},
		vals: map[string]*ClaimUsage{}, subjects: map[string]map[string]bool{}}
}

// Read counts the events of one file.
func (t *ClaimTally) Read(name string, r io.Reader) error {
	t.r.Files = append(t.r.Files, name)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			t.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", name, err)
		}
	}
}

func (t *ClaimTally) value(e *Event) string {
	if t.r.Claim == "sub" {
		return e.Subject
	}
	switch v := e.Claims[t.r.Claim].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func (t *ClaimTally) line(line []byte) {
	e, err := Decode(line)
	if err != nil {
		t.r.Skipped++
		return
	}
	t.event(e)
}

// event counts one decoded event.
func (t *ClaimTally) event(e *Event) {
	if e.Kind == "" || e.Time.IsZero() {
		t.r.Skipped++
		return
	}
	if !t.r.Since.IsZero() && e.Time.Before(t.r.Since) || !t.r.Until.IsZero() && !e.Time.Before(t.r.Until) {
		t.r.OutOfPeriod++
		return
	}
	switch e.Kind {
	case KindS3, KindSTS, KindAuthFailure, KindEscalation:
	default:
		return
	}
	v := t.value(e)
	if v == "" {
		t.r.WithoutIt++
		return
	}
	t.r.Events++
	u := t.vals[v]
	if u == nil {
		u = &ClaimUsage{Value: v}
		t.vals[v] = u
		t.subjects[v] = map[string]bool{}
	}
	if e.Subject != "" {
		t.subjects[v][e.Subject] = true
	}
	if u.First.IsZero() || e.Time.Before(u.First) {
		u.First = e.Time
	}
	if e.Time.After(u.Last) {
		u.Last = e.Time
	}
	if e.Kind == KindEscalation {
		if u.Escalations == nil {
			u.Escalations = map[string]int64{}
		}
		u.Escalations[e.Reason]++
		return
	}
	u.Requests++
	if e.Decision == "deny" {
		u.Denials++
	}
	if lim, ok := strings.CutPrefix(e.Reason, "limit_"); ok {
		if u.LimitHits == nil {
			u.LimitHits = map[string]int64{}
		}
		u.LimitHits[lim]++
	}
	if e.Kind != KindS3 {
		return
	}
	// Bytes of objects as transferred (allowed, or cut at a budget), not
	// of error documents; objects for successful calls.
	ok := e.Decision == "allow" && e.Status >= 200 && e.Status < 300
	switch e.Operation {
	case "GetObject":
		if e.Decision == "allow" || e.ErrorCode == "DownloadCut" {
			u.BytesRead += e.BytesOut
		}
		if ok {
			u.ObjectsRead++
		}
	case "PutObject", "UploadPart", "PostObject":
		u.BytesWritten += e.BytesIn
		if ok && e.Operation != "UploadPart" {
			u.ObjectsWritten++
		}
	case "CompleteMultipartUpload", "CopyObject":
		if ok {
			u.ObjectsWritten++
		}
	}
}

// Finish returns the report.
func (t *ClaimTally) Finish() *ClaimReport {
	r := t.r
	r.Values = make([]ClaimUsage, 0, len(t.vals))
	for v, u := range t.vals {
		for s := range t.subjects[v] {
			u.Subjects = append(u.Subjects, s)
		}
		slices.Sort(u.Subjects)
		r.Values = append(r.Values, *u)
	}
	slices.SortFunc(r.Values, func(a, b ClaimUsage) int {
		if c := cmp.Compare(b.BytesRead, a.BytesRead); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return &r
}

// WriteText prints the report as a table.
func (r *ClaimReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Activity by %s: %d events with it, %d without, %d lines skipped\n\n", r.Claim, r.Events, r.WithoutIt, r.Skipped)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(r.Claim)+"\tREQUESTS\tBYTES READ\tOBJECTS READ\tBYTES WRITTEN\tOBJECTS WRITTEN\tDENIALS\tLIMIT HITS\tESCALATIONS\tSUBJECTS")
	for _, u := range r.Values {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", u.Value, u.Requests, u.BytesRead, u.ObjectsRead,
			u.BytesWritten, u.ObjectsWritten, u.Denials, countsText(u.LimitHits), countsText(u.Escalations), strings.Join(u.Subjects, ","))
	}
	return tw.Flush()
}

// countsText prints name=count pairs by name; "-" for none.
func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + strconv.FormatInt(m[k], 10))
	}
	return b.String()
}
