package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/config"
)

const auditUsage = `usage: iamgate audit verify [flags] [FILE...]
       iamgate audit report --config FILE [flags] FILE...
       iamgate audit review --config FILE --since TIME [flags] FILE|DIR...
       iamgate audit query [flags] FILE|DIR...
       iamgate audit public-key [flags]
       iamgate audit schema

Checks, reviews and describes audit logs. Run 'iamgate audit COMMAND -h' for a
command's flags and examples.

examples:
  iamgate audit verify --public-key audit.pub audit.log
  iamgate audit report --config iamgate.yaml --since 2027-01-01 audit.log
  iamgate audit review --config iamgate.yaml --since 2027-01-01 -o review.html audit.log
  iamgate audit query --bucket data --since 7d /var/log/iamgate/
`

var auditVerifyCmd = cliCommand{
	Name:  "audit verify",
	Usage: "[flags] [FILE...]",
	About: `Checks the hash chain and the checkpoint signatures of audit log files
(gzip accepted). Files may be given in any order (they are read oldest
first); a stream rotated over several files verifies as one. Without FILE,
the audit.file of --config. A reviewer verifies with --public-key: the public
key (PEM file or base64) that iamgate audit public-key printed on the iamgate
host. --config alone derives it from the private audit.signing_key, which
only that host should hold; with --public-key, the secrets of --config need
not be present. Exit status 1 if a line was modified, removed, reordered or
inserted, or a signature fails; --strict also fails on warnings (events not
covered by a signature, a stream without its closing checkpoint).`,
	Examples: []string{
		"iamgate audit public-key --config iamgate.yaml > audit.pub && iamgate audit verify --public-key audit.pub audit.log",
		"iamgate audit verify --config iamgate.yaml audit.log",
	},
}

var auditPublicKeyCmd = cliCommand{
	Name:     "audit public-key",
	Usage:    "[flags]",
	About:    "Prints the public key of audit.signing_key (PEM), for audit verify --public-key.",
	Examples: []string{"iamgate audit public-key --config iamgate.yaml"},
}

var auditReportCmd = cliCommand{
	Name:  "audit report",
	Usage: "--config FILE [flags] FILE... | --by CLAIM [flags] FILE...",
	About: `Access review of audit log files (gzip accepted): per role, who used it and
how often; roles whose trust matched nobody; service credentials unused,
expired or expiring within 30 days; the most denied identities and actions;
bytes read and written per identity. Times are RFC 3339 or a date (--until
DATE includes that day); the period is since <= time < until, all events by
default. Lines that are not audit events are counted and skipped. The
configuration's env: and file: secrets need not be present. With --by
CLAIM (no --config needed), the activity per value of the claim instead (such
as agent_run; the claim must be in audit.claims, except sub): requests, bytes
and objects read and written, denials, limit hits and kill-switch steps.`,
	Examples: []string{"iamgate audit report --config iamgate.yaml --since 2027-01-01 audit.log",
		"iamgate audit report --by agent_run --since 2027-01-01 audit.log"},
}

var auditSchemaCmd = cliCommand{
	Name:     "audit schema",
	Usage:    "",
	About:    "Prints the JSON Schema (draft 2020-12) of an audit event.",
	Examples: []string{"iamgate audit schema"},
}

func cmdAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{cmd: "audit", reason: "give a command: verify, report, review, query, public-key or schema"}
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(args[1:], stdout, stderr)
	case "public-key":
		return cmdAuditPublicKey(args[1:], stdout, stderr)
	case "report":
		return cmdAuditReport(args[1:], stdout, stderr)
	case "review":
		return cmdAuditReview(args[1:], stdout, stderr)
	case "query":
		return cmdAuditQuery(args[1:], stdout, stderr)
	case "schema":
		c := &auditSchemaCmd
		fs := c.flagSet()
		if err := c.parse(fs, args[1:], stdout); err != nil {
			return err
		}
		if err := c.noArgs(fs); err != nil {
			return err
		}
		_, err := stdout.Write(audit.Schema)
		return err
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	return &usageError{cmd: "audit", reason: fmt.Sprintf("unknown command %q; give verify, report, review, query, public-key or schema", args[0])}
}

func cmdAuditVerify(args []string, stdout, stderr io.Writer) error {
	c := &auditVerifyCmd
	fset := c.flagSet()
	keyArg := fset.String("public-key", "", "PEM public key `file`, or the base64 public key")
	cfgPath := fset.String("config", "", "configuration `file` whose audit.signing_key and audit.file to use")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	strict := fset.Bool("strict", false, "fail on warnings too")
	if err := c.parse(fset, args, stdout); err != nil {
		return err
	}
	files := fset.Args()
	var pub ed25519.PublicKey
	if *keyArg != "" {
		var err error
		if pub, err = parsePublicKey(*keyArg); err != nil {
			return err
		}
	}
	if *cfgPath != "" {
		// With --public-key, the configuration gives only audit.file: its
		// secrets are not needed.
		f, err := loadAuditConfig(*cfgPath, config.LoadOptions{UnresolvedSecrets: pub != nil}, stderr)
		if err != nil {
			return err
		}
		if pub == nil {
			if f.Audit.SigningKey == nil {
				return fmt.Errorf("%s: audit.signing_key is not set; give --public-key", *cfgPath)
			}
			pub = ed25519.NewKeyFromSeed([]byte(f.Audit.SigningKey.Reveal())).Public().(ed25519.PublicKey)
		}
		if len(files) == 0 && f.Audit.File != "" {
			files = []string{f.Audit.File}
		}
	}
	if len(files) == 0 {
		return c.usagef("no files given (and no audit.file in --config)")
	}

	v := audit.NewVerifier(audit.VerifyConfig{PublicKey: pub})
	for _, name := range audit.OrderLogs(files) {
		if err := verifyFile(v, name); err != nil {
			return err
		}
	}
	r := v.Finish()
	failed := !r.OK() || *strict && len(r.Warnings) > 0
	if *asJSON {
		out := struct {
			OK bool `json:"ok"`
			*audit.Report
		}{!failed, r}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printReport(stdout, r, failed)
	}
	if failed {
		return &exitError{code: 1, err: errors.New("audit log does not verify")}
	}
	return nil
}

func verifyFile(v *audit.Verifier, name string) error {
	r, err := audit.OpenLog(name)
	if err != nil {
		return err
	}
	defer r.Close()
	return v.Read(name, r)
}

func printReport(w io.Writer, r *audit.Report, failed bool) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p.String())
	}
	for _, p := range r.Warnings {
		fmt.Fprintln(w, "warning:", p.String())
	}
	closed, checkpoints, signed := 0, 0, 0
	for _, s := range r.Streams {
		if s.Closed {
			closed++
		}
		checkpoints += s.Checkpoints
		signed += s.Signed
	}
	status := "OK"
	if failed {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s: %s, %s; %s in %s (%d closed), %s (%d signed), %s\n", status,
		plural(len(r.Problems), "problem"), plural(len(r.Warnings), "warning"), plural(r.Events, "event"),
		plural(len(r.Streams), "stream"), closed, plural(checkpoints, "checkpoint"), signed, plural(len(r.Files), "file"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func cmdAuditPublicKey(args []string, stdout, stderr io.Writer) error {
	c := &auditPublicKeyCmd
	fset := c.flagSet()
	cfgPath := fset.String("config", "iamgate.yaml", "configuration `file`")
	if err := c.parse(fset, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fset); err != nil {
		return err
	}
	f, err := loadAuditConfig(*cfgPath, config.LoadOptions{}, stderr)
	if err != nil {
		return err
	}
	if f.Audit.SigningKey == nil {
		return fmt.Errorf("%s: audit.signing_key is not set", *cfgPath)
	}
	pub := ed25519.NewKeyFromSeed([]byte(f.Audit.SigningKey.Reveal())).Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "key_id %s\n", audit.KeyID(pub))
	return pem.Encode(stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func cmdAuditReport(args []string, stdout, stderr io.Writer) error {
	c := &auditReportCmd
	fset := c.flagSet()
	cfgPath := fset.String("config", "", "configuration `file` whose roles, trust rules and service credentials to review")
	since := fset.String("since", "", "start of the period (RFC 3339 or date), inclusive")
	until := fset.String("until", "", "end of the period (RFC 3339, exclusive; or date, inclusive)")
	asOf := fset.String("as-of", "", "judge credential expiry at this time (default: now)")
	top := fset.Int("top", audit.DefaultReviewTop, "length of the denied and bytes lists; 0: no limit")
	asJSON := fset.Bool("json", false, "print the review as JSON")
	by := fset.String("by", "", "instead of the access review, activity per value of this `claim` (agent_run, sub, …): bytes and objects read and written, denials, limit hits, escalations")
	if err := c.parse(fset, args, stdout); err != nil {
		return err
	}
	files := fset.Args()
	if *by != "" {
		return auditReportBy(c, *by, *since, *until, *asJSON, files, stdout)
	}
	switch {
	case *cfgPath == "":
		return c.usagef("give --config")
	case len(files) == 0:
		return c.usagef("give at least one audit log file")
	case *top < 0:
		return c.usagef("--top must not be negative")
	}
	cfg := audit.ReviewConfig{Top: *top}
	if *top == 0 {
		cfg.Top = -1
	}
	var err error
	if cfg.Since, err = parseReportTime("--since", *since, false); err != nil {
		return err
	}
	if cfg.Until, err = parseReportTime("--until", *until, true); err != nil {
		return err
	}
	if cfg.AsOf, err = parseReportTime("--as-of", *asOf, false); err != nil {
		return err
	}
	if !cfg.Since.IsZero() && !cfg.Until.IsZero() && !cfg.Since.Before(cfg.Until) {
		return fmt.Errorf("--since %s is not before --until %s", *since, *until)
	}
	// The configuration's expiry warnings are judged at --as-of too. The
	// review needs no secret: the reviewer's machine may not have them.
	f, err := loadAuditConfig(*cfgPath, config.LoadOptions{Now: cfg.AsOf, UnresolvedSecrets: true}, stderr)
	if err != nil {
		return err
	}
	for _, r := range f.Roles {
		rr := audit.ReviewRole{Name: r.Name, Kind: r.Kind}
		for _, t := range r.Trust {
			rr.Trust = append(rr.Trust, audit.ReviewTrustRule{Issuer: t.Issuer, Claims: t.Claims, Source: t.Pos.String()})
		}
		cfg.Roles = append(cfg.Roles, rr)
	}
	for _, sc := range f.ServiceCredentials {
		cfg.ServiceCredentials = append(cfg.ServiceCredentials, audit.ReviewCredential{
			Name: sc.Name, AccessKeyID: sc.AccessKeyID, Role: sc.Role, Expires: sc.Expires})
	}

	rv := audit.NewReviewer(cfg)
	for _, name := range files {
		if err := reviewFile(rv, name); err != nil {
			return err
		}
	}
	review := rv.Finish()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(review)
	}
	return review.WriteText(stdout)
}

// auditReportBy prints the activity per value of a claim.
func auditReportBy(c *cliCommand, claim, since, until string, asJSON bool, files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return c.usagef("give at least one audit log file")
	}
	s, err := parseReportTime("--since", since, false)
	if err != nil {
		return err
	}
	u, err := parseReportTime("--until", until, true)
	if err != nil {
		return err
	}
	t := audit.NewClaimTally(claim, s, u)
	for _, name := range files {
		if err := reviewFile(t, name); err != nil {
			return err
		}
	}
	r := t.Finish()
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(stdout)
}

// reviewFile feeds one audit file, gzip-compressed or not, to rv.
func reviewFile(rv interface {
	Read(name string, r io.Reader) error
}, name string) error {
	r, err := audit.OpenLog(name)
	if err != nil {
		return err
	}
	defer r.Close()
	return rv.Read(name, r)
}

// parseReportTime reads an RFC 3339 time or a date (UTC midnight; with
// endOfDay, the midnight that ends it). "" is the zero time.
func parseReportTime(flagName, s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: give an RFC 3339 time (2027-01-31T09:00:00Z) or a date (2027-01-31)", flagName, s)
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// loadAuditConfig loads the configuration at path with opts, printing its
// warnings.
func loadAuditConfig(path string, opts config.LoadOptions, stderr io.Writer) (*config.File, error) {
	f, warnings, err := config.LoadWith(path, opts)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w.String())
	}
	if err != nil {
		printErrors(stderr, err)
		return nil, &exitError{code: 1, err: fmt.Errorf("%s: configuration is invalid", path)}
	}
	return f, nil
}

// parsePublicKey reads an Ed25519 public key from a file (PEM, or base64)
// or, if no such file exists, from s itself as base64.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	text, err := os.ReadFile(s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		text = []byte(s)
	case err != nil:
		return nil, fmt.Errorf("--public-key: %w", err)
	}
	const how = "give a PEM public key file or the base64 public key (iamgate audit public-key prints it)"
	if block, _ := pem.Decode(text); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("--public-key: PEM holds %q, not a public key; %s", block.Type, how)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--public-key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("--public-key: %T is not an Ed25519 key", k)
		}
		return pub, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("--public-key: not an Ed25519 public key; %s", how)
	}
	return ed25519.PublicKey(b), nil
}
