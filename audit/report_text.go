package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the review for people: one section per question, with
// aligned columns.
func (r *AccessReview) WriteText(w io.Writer) error {
	var b bytes.Buffer
	r.writeSummary(&b)
	r.writeRoles(&b)
	r.writeCredentials(&b)
	r.writeDenied(&b)
	r.writeTraffic(&b)
	_, err := w.Write(b.Bytes())
	return err
}

func (r *AccessReview) writeSummary(b *bytes.Buffer) {
	period := "all events"
	switch {
	case r.Since != nil && r.Until != nil:
		period = "from " + reviewTime(r.Since) + " until " + reviewTime(r.Until) + " (exclusive)"
	case r.Since != nil:
		period = "from " + reviewTime(r.Since)
	case r.Until != nil:
		period = "until " + reviewTime(r.Until) + " (exclusive)"
	}
	fmt.Fprintf(b, "Access review: %s\n", period)
	if r.FirstEvent != nil {
		fmt.Fprintf(b, "Events from %s to %s\n", reviewTime(r.FirstEvent), reviewTime(r.LastEvent))
	}
	fmt.Fprintf(b, "Read %s: %s counted, %d outside the period, %d other (checkpoint, start, stop, reload), %d skipped\n",
		nounCount(len(r.Files), "file"), nounCount(r.Events, "event"), r.OutOfPeriod, r.Ignored, r.Skipped)
	for _, s := range r.SkippedLines {
		fmt.Fprintf(b, "  skipped %s:%d: %s\n", s.File, s.Line, s.Reason)
	}
	if more := r.Skipped - len(r.SkippedLines); more > 0 {
		fmt.Fprintf(b, "  … and %d more skipped lines\n", more)
	}
}

func (r *AccessReview) writeRoles(b *bytes.Buffer) {
	b.WriteString("\nROLES\n")
	b.WriteString("A role's identities are those with an allowed request under it (an S3 request served, STS\n" +
		"credentials issued); refused attempts are listed apart and are not use. Events do not say which\n" +
		"trust rule matched: a rule is \"matched\" only if it is the role's one rule for an issuer whose\n" +
		"identities used the role, \"unmatched\" if no identity of its issuer did, else \"undetermined\".\n")
	var unused []RoleUsage
	for _, ru := range r.Roles {
		if ru.Status == RoleUnused {
			unused = append(unused, ru)
			continue
		}
		b.WriteString("\n")
		head := "role " + ru.Name
		if ru.Kind != "" {
			head += " (" + ru.Kind + ")"
		}
		if !ru.InConfig {
			head += " — NOT IN THE CONFIGURATION"
		}
		fmt.Fprintf(b, "%s: %s, %s (%d allowed, %d denied), last used %s\n", head,
			nounCount(len(ru.Identities), "identity"), nounCount(ru.Requests, "request"), ru.Allowed, ru.Denied, reviewTime(ru.LastUsed))
		if ru.Status == RoleServiceOnly {
			b.WriteString("  used only by service credentials: no trust rule matched anybody\n")
		}
		tw := newReviewTable(b)
		fmt.Fprintln(tw, "  IDENTITY\tUSERNAME\tREQUESTS\tALLOWED\tDENIED\tLAST USED")
		for _, iu := range ru.Identities {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\n", iu.Identity.String(), orDash(iu.Username), iu.Requests, iu.Allowed, iu.Denied, reviewTime(iu.LastUsed))
		}
		tw.Flush()
		writeRefused(b, ru.Refused)
		writeTrust(b, ru.Trust)
	}
	b.WriteString("\nROLES NEVER USED (stale trust: review, then remove)\n")
	if len(unused) == 0 {
		b.WriteString("  none\n")
	}
	for _, ru := range unused {
		head := "  role " + ru.Name + " (" + orDash(ru.Kind) + ")"
		if !ru.InConfig {
			head += " — NOT IN THE CONFIGURATION"
		}
		fmt.Fprintf(b, "%s: nobody used it: no request under it was allowed\n", head)
		writeRefused(b, ru.Refused)
		writeTrust(b, ru.Trust)
	}
}

// writeRefused lists the refused attempts naming a role.
func writeRefused(b *bytes.Buffer, refused []RefusedAttempt) {
	if len(refused) == 0 {
		return
	}
	fmt.Fprintf(b, "    refused attempts (not use): %s\n", nounCount(len(refused), "identity"))
	tw := newReviewTable(b)
	fmt.Fprintln(tw, "    IDENTITY\tUSERNAME\tREFUSED\tLAST\tLAST REASON")
	for _, r := range refused {
		id := r.Identity.String()
		if r.ServiceCredential {
			id += " (service credential)"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%s\t%s\n", id, orDash(r.Username), r.Count, r.LastTime.UTC().Format(time.RFC3339), orDash(r.LastReason))
	}
	tw.Flush()
}

func writeTrust(b *bytes.Buffer, rules []TrustUsage) {
	if len(rules) == 0 {
		return
	}
	tw := newReviewTable(b)
	fmt.Fprintln(tw, "    RULE\tISSUER\tCLAIMS\tSTATUS\tSOURCE")
	for _, t := range rules {
		fmt.Fprintf(tw, "    [%d]\t%s\t%s\t%s\t%s\n", t.Index, t.Issuer, claimsText(t.Claims), t.Status, orDash(t.Source))
	}
	tw.Flush()
}

func (r *AccessReview) writeCredentials(b *bytes.Buffer) {
	b.WriteString("\nSERVICE CREDENTIALS\n")
	if len(r.ServiceCredentials) == 0 {
		b.WriteString("  none\n")
		return
	}
	tw := newReviewTable(b)
	fmt.Fprintln(tw, "  NAME\tROLE\tREQUESTS\tALLOWED\tDENIED\tLAST USED\tEXPIRES\tFLAGS")
	for _, c := range r.ServiceCredentials {
		var flags []string
		if !c.InConfig {
			flags = append(flags, "NOT IN THE CONFIGURATION")
		}
		if c.Unused {
			flags = append(flags, "UNUSED in period")
			if c.Requests > 0 {
				flags = append(flags, "ONLY REFUSED ATTEMPTS")
			}
		}
		if c.Expired {
			flags = append(flags, "EXPIRED")
		}
		if c.ExpiresSoon {
			flags = append(flags, "EXPIRES SOON")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", c.Name, orDash(c.Role), c.Requests, c.Allowed, c.Denied,
			reviewTime(c.LastUsed), reviewTime(c.Expires), orDash(strings.Join(flags, ", ")))
	}
	tw.Flush()
	fmt.Fprintf(b, "  (expiry judged as of %s)\n", r.AsOf.Format(time.RFC3339))
}

func (r *AccessReview) writeDenied(b *bytes.Buffer) {
	fmt.Fprintf(b, "\nTOP DENIED IDENTITIES (%d of %d)\n", len(r.DeniedIdentities), r.DeniedIdentitiesN)
	if len(r.DeniedIdentities) == 0 {
		b.WriteString("  none\n")
	} else {
		tw := newReviewTable(b)
		fmt.Fprintln(tw, "  IDENTITY\tUSERNAME\tDENIED\tLAST\tLAST REASON")
		for _, d := range r.DeniedIdentities {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", d.Identity.String(), orDash(d.Username), d.Count, d.LastTime.UTC().Format(time.RFC3339), orDash(d.LastReason))
		}
		tw.Flush()
	}
	fmt.Fprintf(b, "\nTOP DENIED ACTIONS (%d of %d)\n", len(r.DeniedActions), r.DeniedActionsN)
	if len(r.DeniedActions) == 0 {
		b.WriteString("  none\n")
		return
	}
	tw := newReviewTable(b)
	fmt.Fprintln(tw, "  ACTION\tOPERATION\tDENIED\tLAST\tLAST REASON")
	for _, d := range r.DeniedActions {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", orDash(d.Action), orDash(d.Operation), d.Count, d.LastTime.UTC().Format(time.RFC3339), orDash(d.LastReason))
	}
	tw.Flush()
}

func (r *AccessReview) writeTraffic(b *bytes.Buffer) {
	fmt.Fprintf(b, "\nBYTES BY IDENTITY (allowed S3 requests; %d of %d identities)\n", len(r.Traffic), r.TrafficN)
	if len(r.Traffic) == 0 {
		b.WriteString("  none\n")
		return
	}
	tw := newReviewTable(b)
	fmt.Fprintln(tw, "  IDENTITY\tUSERNAME\tREQUESTS\tREAD\tWRITTEN")
	for _, t := range r.Traffic {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", t.Identity.String(), orDash(t.Username), t.Requests, reviewBytes(t.BytesRead), reviewBytes(t.BytesWritten))
	}
	tw.Flush()
}

// String returns "issuer/subject", or the Username note of an
// unidentified caller.
func (id Identity) String() string {
	if id.Subject == "" {
		if id.Issuer != "" {
			return id.Issuer + "/" + id.Username
		}
		return id.Username
	}
	return id.Issuer + "/" + id.Subject
}

func newReviewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func reviewTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nounCount(n int, noun string) string {
	if n != 1 {
		if strings.HasSuffix(noun, "y") {
			noun = strings.TrimSuffix(noun, "y") + "ie"
		}
		noun += "s"
	}
	return strconv.Itoa(n) + " " + noun
}

func claimsText(c map[string]any) string {
	if len(c) == 0 {
		return "(any token of the issuer)"
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprint(c)
	}
	return string(b)
}

// reviewBytes renders n in binary units, exact below 1 KiB.
func reviewBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
