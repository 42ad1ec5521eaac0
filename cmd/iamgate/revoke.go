package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/iamgate/iamgate/state"
)

var revokeCmd = cliCommand{
	Name: "revoke",
	Usage: "--admin-url URL [--token-file FILE] --reason TEXT SELECTOR... [--before TIME] [--expires TIME]\n" +
		"--admin-url URL [--token-file FILE] --list\n" +
		"--admin-url URL [--token-file FILE] --grant ID --reason TEXT",
	About: `Adds a revocation at run time through the admin endpoint of a running
iamgate (admin section, on metrics_listen). With Redis as the shared state
(state.redis) it applies on every replica within a second. Sessions that
match every selector given (--subject, --issuer, --role, --session-id,
--claim NAME=VALUE; at least one) and were issued before --before (default
now) are refused: STS credentials, browser sessions, new sign-ins.
--list prints the run-time revocations in force. --grant ends a
just-in-time access grant in force (its ID, ar-…, is in the console and
the audit events) on every replica.

The bearer token is read from --token-file, or else from the environment
variable IAMGATE_ADMIN_TOKEN: admin.token, or an OIDC token that a role of
admin.roles trusts. Exit status 0: done; 1: refused or failed (the
revocation was not added); 2: usage.`,
	Examples: []string{
		`iamgate revoke --admin-url http://127.0.0.1:9090 --token-file admin.token --subject id-alice --reason "laptop stolen"`,
		`iamgate revoke --admin-url http://127.0.0.1:9090 --token-file admin.token --claim agent_run=r-42 --reason "runaway agent"`,
		"iamgate revoke --admin-url http://127.0.0.1:9090 --token-file admin.token --list",
		`iamgate revoke --admin-url http://127.0.0.1:9090 --token-file admin.token --grant ar-4f3yxs3pdzaj2wqe --reason "no longer needed"`,
	},
}

func cmdRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &revokeCmd
	fs := c.flagSet()
	adminURL := fs.String("admin-url", "", "the admin endpoint's `URL`: http(s)://host:port of metrics_listen")
	tokenFile := fs.String("token-file", "", "read the bearer token from this `file` (default: $IAMGATE_ADMIN_TOKEN)")
	list := fs.Bool("list", false, "list the run-time revocations in force instead of adding one")
	grant := fs.String("grant", "", "end the just-in-time access grant with this `ID` (ar-…) instead")
	var req adminRevocationRequest
	fs.StringVar(&req.Subject, "subject", "", "revoke the sessions of this `subject` (sub claim, or LDAP DN)")
	fs.StringVar(&req.Issuer, "issuer", "", "revoke the sessions from this issuer or directory (configured `name`)")
	fs.StringVar(&req.Role, "role", "", "revoke the sessions of this `role`")
	fs.StringVar(&req.SessionID, "session-id", "", "revoke the session with this `ID` (audit sessionId)")
	claim := fs.String("claim", "", "revoke the sessions whose token claim has this value: `NAME=VALUE`")
	fs.StringVar(&req.IssuedBefore, "before", "", "revoke the sessions issued before this RFC 3339 `time` (default now)")
	fs.StringVar(&req.Expires, "expires", "", "forget the revocation at this RFC 3339 `time` (default 24h after --before)")
	fs.StringVar(&req.Reason, "reason", "", "why, for the audit log (`text`, required)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this `duration`")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
	}
	base, err := url.Parse(*adminURL)
	switch {
	case *adminURL == "":
		return c.usagef("--admin-url is required (http://host:port of the metrics listener)")
	case err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https"):
		return c.usagef("--admin-url %q: use http://host:port or https://host:port", *adminURL)
	}
	selectors := req.Subject != "" || req.Issuer != "" || req.Role != "" || req.SessionID != "" || *claim != ""
	if *grant != "" {
		if selectors || *list || req.IssuedBefore != "" || req.Expires != "" {
			return c.usagef("--grant takes only --reason")
		}
		if strings.TrimSpace(req.Reason) == "" {
			return c.usagef("--reason is required (it goes to the audit log)")
		}
		token, err := adminToken(*tokenFile)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return revokeGrant(ctx, strings.TrimRight(base.String(), "/")+adminRevokeGrantPath, token, *grant, req.Reason, stdout)
	}
	if *list {
		if selectors || req.Reason != "" || req.IssuedBefore != "" || req.Expires != "" {
			return c.usagef("--list takes no selector, --reason, --before or --expires")
		}
	} else {
		if !selectors {
			return c.usagef("give at least one of --subject, --issuer, --role, --session-id, --claim")
		}
		if strings.TrimSpace(req.Reason) == "" {
			return c.usagef("--reason is required (it goes to the audit log)")
		}
		if *claim != "" {
			name, value, ok := strings.Cut(*claim, "=")
			if !ok || name == "" || value == "" {
				return c.usagef("--claim %q: use NAME=VALUE, such as agent_run=r-42", *claim)
			}
			req.Claim, req.ClaimValue = name, value
		}
		for _, t := range []struct{ flag, v string }{{"--before", req.IssuedBefore}, {"--expires", req.Expires}} {
			if t.v != "" {
				if _, err := time.Parse(time.RFC3339, t.v); err != nil {
					return c.usagef("%s %q: use an RFC 3339 time such as 2026-11-27T12:00:00Z", t.flag, t.v)
				}
			}
		}
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	endpoint := strings.TrimRight(base.String(), "/") + "/admin/revocations"
	var hreq *http.Request
	if *list {
		hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	} else {
		body, _ := json.Marshal(req)
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err == nil {
			hreq.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %v (nothing was revoked)", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %v", endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		what := "the revocation was not added"
		if *list {
			what = "nothing was listed"
		}
		return fmt.Errorf("%s answered %s: %s (%s)", endpoint, resp.Status, msg, what)
	}
	if *list {
		var out struct {
			Revocations []state.Revocation `json:"revocations"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("%s: the answer does not decode: %v", endpoint, err)
		}
		printRevocations(stdout, out.Revocations)
		return nil
	}
	var out struct {
		Revocation state.Revocation `json:"revocation"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("%s: the answer does not decode: %v", endpoint, err)
	}
	r := out.Revocation
	fmt.Fprintf(stdout, "revoked: %s (sessions issued before %s; kept until %s)\n", r.ID,
		r.IssuedBefore.UTC().Format(time.RFC3339), r.Expires.UTC().Format(time.RFC3339))
	return nil
}

// adminToken reads the bearer token from file, or else from
// $IAMGATE_ADMIN_TOKEN; surrounding white space is ignored.
func adminToken(file string) (string, error) {
	var tok string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		tok = string(b)
	} else {
		tok = os.Getenv("IAMGATE_ADMIN_TOKEN")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		if file != "" {
			return "", fmt.Errorf("--token-file %s is empty", file)
		}
		return "", revokeCmd.usagef("no token: give --token-file or set IAMGATE_ADMIN_TOKEN")
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", errors.New("the admin token has more than one line")
	}
	return tok, nil
}

// printRevocations writes one line per rule.
func printRevocations(w io.Writer, rules []state.Revocation) {
	if len(rules) == 0 {
		fmt.Fprintln(w, "no run-time revocations in force")
		return
	}
	// Control characters (a reason with a line break or an escape
	// sequence) are shown as spaces.
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCHES\tISSUED BEFORE\tEXPIRES\tADDED BY\tREASON")
	for _, r := range rules {
		var m []string
		for _, f := range []struct{ k, v string }{{"subject", r.Subject}, {"issuer", r.Issuer}, {"role", r.Role},
			{"session_id", r.SessionID}} {
			if f.v != "" {
				m = append(m, f.k+"="+f.v)
			}
		}
		if r.Claim != "" {
			m = append(m, "claim "+r.Claim+"="+r.ClaimValue)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", clean(r.ID), clean(strings.Join(m, " ")), r.IssuedBefore.UTC().Format(time.RFC3339),
			r.Expires.UTC().Format(time.RFC3339), clean(r.AddedBy), clean(r.Reason))
	}
	tw.Flush()
}

// revokeGrant asks the admin endpoint to end a grant.
func revokeGrant(ctx context.Context, endpoint, token, id, reason string, stdout io.Writer) error {
	body, _ := json.Marshal(map[string]string{"id": id, "reason": reason})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %v (nothing was revoked)", endpoint, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return fmt.Errorf("%s answered %s: %s (the grant was not revoked)", endpoint, resp.Status, msg)
	}
	var out struct {
		Request state.AccessRequest `json:"request"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("%s: the answer does not decode: %v", endpoint, err)
	}
	fmt.Fprintf(stdout, "revoked: grant %s of role %s to %s (ended %s)\n", out.Request.ID, out.Request.Role,
		out.Request.Requester.Subject, out.Request.End.UTC().Format(time.RFC3339))
	return nil
}
