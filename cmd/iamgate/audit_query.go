package main

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iamgate/iamgate/audit"
)

var auditQueryCmd = cliCommand{
	Name:  "audit query",
	Usage: "[flags] FILE|DIR...",
	About: `Prints the audit events that match every filter given: a flag given twice
matches either value. Reads files, rotated files, gzip-compressed files and
directories (their files, each log's rotated files before the log itself).
Times are RFC 3339, a date, or a duration back from now (7d, 12h, 30m); the
period is since <= time < until. Output: a table, the original JSON lines
(--format json, byte for byte), or CSV. Lines that are not audit events are
reported on standard error as FILE:LINE and skipped.`,
	Examples: []string{
		"iamgate audit query --bucket data --since 2027-01-01 audit.log",
		"iamgate audit query --decision deny --format csv audit.log",
		"iamgate audit query --prefix home/alice/ --format json audit.log",
	},
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// queryNow is the clock of relative times; tests replace it.
var queryNow = time.Now

func cmdAuditQuery(args []string, stdout, stderr io.Writer) error {
	c := &auditQueryCmd
	fset := c.flagSet()
	var f audit.Filter
	var kinds, buckets, subjects, issuers, claims, roles, roleKinds, actions, decisions, methods, runs, sources listFlag
	since := fset.String("since", "", "start of the period (RFC 3339, date, or duration back from now: 7d)")
	until := fset.String("until", "", "end of the period, exclusive (RFC 3339, date (inclusive), or duration back from now)")
	fset.Var(&buckets, "bucket", "the `bucket`")
	fset.StringVar(&f.KeyPrefix, "prefix", "", "the object key (or a key of a DeleteObjects) starts with `prefix`")
	fset.Var(&subjects, "subject", "the `subject` (userIdentity.principalId)")
	fset.Var(&issuers, "issuer", "the configured `issuer` name (userIdentity.identityProvider)")
	fset.Var(&claims, "claim", "a recorded claim has this value: `name=value`")
	fset.Var(&runs, "run", "the agent run: the same as --claim agent_run=`id`")
	fset.Var(&roles, "role", "one of the roles used is `role`")
	fset.Var(&roleKinds, "role-kind", "the role kind: human, machine or agent")
	fset.Var(&actions, "action", "the IAM `action` (s3:GetObject) or operation (GetObject)")
	fset.Var(&decisions, "decision", "allow, deny or error")
	fset.Var(&methods, "auth-method", "the authentication `method` (bearer, sigv4, service-credential, …)")
	fset.Var(&sources, "source", "the source address is this `IP` or in this CIDR")
	fset.Var(&kinds, "kind", "the event `kind` (s3, sts, auth_failure, login, …)")
	format := fset.String("format", "table", "output: table, json (the original lines) or csv")
	if err := c.parse(fset, args, stdout); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return c.usagef("give at least one audit log file or directory")
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return c.usagef("--format %q: give table, json or csv", *format)
	}
	now := queryNow()
	var err error
	if f.Since, err = parseQueryTime("--since", *since, now, false); err != nil {
		return c.usagef("%v", err)
	}
	if f.Until, err = parseQueryTime("--until", *until, now, true); err != nil {
		return c.usagef("%v", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return c.usagef("--since %s is not before --until %s", *since, *until)
	}
	for _, d := range decisions {
		if d != "allow" && d != "deny" && d != "error" {
			return c.usagef("--decision %q: give allow, deny or error", d)
		}
	}
	for _, k := range roleKinds {
		if k != "human" && k != "machine" && k != "agent" {
			return c.usagef("--role-kind %q: give human, machine or agent", k)
		}
	}
	for _, cl := range claims {
		name, value, ok := strings.Cut(cl, "=")
		if !ok || name == "" {
			return c.usagef("--claim %q: give name=value", cl)
		}
		f.Claims = append(f.Claims, audit.ClaimMatch{Name: name, Value: value})
	}
	for _, r := range runs {
		f.Claims = append(f.Claims, audit.ClaimMatch{Name: "agent_run", Value: r})
	}
	for _, s := range sources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return c.usagef("--source %q: give an IP address or a CIDR (10.0.0.0/8)", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		f.Sources = append(f.Sources, p.Masked())
	}
	f.Kinds, f.Buckets, f.Subjects, f.Issuers, f.Roles, f.RoleKinds, f.Actions, f.Decisions, f.AuthMethods =
		kinds, buckets, subjects, issuers, roles, roleKinds, actions, decisions, methods

	files, err := expandLogs(fset.Args())
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(stdout, 256<<10)
	out := newQueryWriter(*format, bw)
	var bad, matched int
	for _, name := range files {
		r, err := audit.OpenLog(name)
		if err != nil {
			return err
		}
		err = audit.Query(name, r, &f, func(m *audit.Match) error {
			matched++
			return out.write(m)
		}, func(b audit.BadLine) error {
			bad++
			if bad <= 20 {
				fmt.Fprintf(stderr, "%s:%d: skipped: %s\n", b.File, b.Line, b.Reason)
			}
			return nil
		})
		r.Close()
		if err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if bad > 20 {
		fmt.Fprintf(stderr, "%d lines that are not audit events skipped (the first 20 shown)\n", bad)
	}
	return nil
}

// expandLogs replaces each directory of args by its regular files: each
// log's rotated files (log.TIME, oldest first) before the log itself.
func expandLogs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range ents {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		// A log sorts after its rotated files, which are named after it.
		slices.Sort(names)
		key := make(map[string]string, len(names))
		for _, n := range names {
			key[n] = n
			if i, _ := slices.BinarySearch(names, n+"."); i < len(names) && strings.HasPrefix(names[i], n+".") {
				key[n] = n + ".\xff"
			}
		}
		slices.SortFunc(names, func(x, y string) int { return strings.Compare(key[x], key[y]) })
		for _, n := range names {
			out = append(out, filepath.Join(a, n))
		}
	}
	return out, nil
}

// parseQueryTime reads an RFC 3339 time, a date (UTC midnight; with
// endOfDay, the midnight that ends it) or a duration back from now ("7d",
// "36h", "90m"). "" is the zero time.
func parseQueryTime(flagName, s string, now time.Time, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := parseReportTime(flagName, s, endOfDay)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: give an RFC 3339 time (2027-01-31T09:00:00Z), a date (2027-01-31) or a duration back from now (7d, 12h)", flagName, s)
	}
	return t, nil
}

// queryWriter prints matches in one format.
type queryWriter struct {
	format string
	w      *bufio.Writer
	tw     *tabwriter.Writer
	cw     *csv.Writer
	rows   int
}

var queryColumns = []string{"time", "kind", "decision", "reason", "issuer", "subject", "username", "roles", "role_kind",
	"auth_method", "action", "operation", "bucket", "key", "source_ip", "status", "bytes_in", "bytes_out", "claims", "file", "line"}

func newQueryWriter(format string, w *bufio.Writer) *queryWriter {
	q := &queryWriter{format: format, w: w}
	switch format {
	case "csv":
		q.cw = csv.NewWriter(w)
		q.cw.Write(queryColumns)
	case "table":
		q.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(q.tw, "TIME\tDECISION\tIDENTITY\tROLES\tACTION\tRESOURCE\tSOURCE")
	}
	return q
}

func (q *queryWriter) write(m *audit.Match) error {
	e := m.Event
	switch q.format {
	case "json":
		q.w.Write(m.Raw)
		return q.w.WriteByte('\n')
	case "csv":
		var claims string
		if len(m.Claims) > 0 {
			b, _ := json.Marshal(m.Claims)
			claims = string(b)
		}
		return q.cw.Write([]string{e.Time.UTC().Format(time.RFC3339Nano), e.Kind, e.Decision, e.Reason, e.Issuer, e.Subject,
			e.Username, strings.Join(e.Roles, "+"), e.RoleKind, e.AuthMethod, e.Action, e.Operation, e.Bucket, e.Key,
			e.SourceIP, strconv.Itoa(e.Status), strconv.FormatInt(e.BytesIn, 10), strconv.FormatInt(e.BytesOut, 10),
			claims, m.File, strconv.Itoa(m.Line)})
	}
	id := e.Username
	if e.Subject != "" {
		id = e.Issuer + ":" + e.Subject
		if e.Username != "" && e.Username != e.Subject {
			id += " (" + e.Username + ")"
		}
	}
	action := cmp.Or(e.Action, e.Operation, e.Kind)
	resource := e.Bucket
	if e.Key != "" {
		resource += "/" + e.Key
	}
	fmt.Fprintf(q.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), cmp.Or(e.Decision, "-"),
		cmp.Or(tabSafe(id), "-"), cmp.Or(tabSafe(strings.Join(e.Roles, "+")), "-"), tabSafe(action),
		cmp.Or(tabSafe(resource), "-"), cmp.Or(e.SourceIP, "-"))
	// Columns are aligned within runs of rows, so that the table streams.
	if q.rows++; q.rows%1000 == 0 {
		return q.tw.Flush()
	}
	return nil
}

func (q *queryWriter) flush() error {
	switch {
	case q.cw != nil:
		q.cw.Flush()
		return q.cw.Error()
	case q.tw != nil:
		return q.tw.Flush()
	}
	return nil
}

// tabSafe keeps a value from breaking the table's columns and lines.
func tabSafe(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") {
		return s
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}
