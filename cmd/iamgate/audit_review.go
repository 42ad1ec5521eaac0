package main

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
)

var auditReviewCmd = cliCommand{
	Name:  "audit review",
	Usage: "--config FILE --since TIME [flags] FILE|DIR...",
	About: `Writes the access review of a period as one self-contained HTML page (inline
CSS and SVG charts, no script, nothing fetched) to read, print, sign and attach
as evidence, or as JSON with --json. For every role: its trust rules with their
last match and by whom, the identities that used it with first and last use,
requests and bytes, refused attempts, and a keep / remove / narrow checklist
with a reviewer and date line. Also: trust rules and service credentials unused
in the period, credentials expired or expiring within 30 days of --as-of,
denials by identity and action, agents' runs (the agent_run claim), requests,
bytes and denials over time per role kind, the configuration digests recorded
by start and reload events, and the hash chain and checkpoint signatures as
audit verify checks them (the key is --public-key, else derived from
audit.signing_key). A DIR stands for the files in it (gzip accepted). Times
are RFC 3339 or a date (--until DATE includes that day). Exit status 1 if the
chain does not verify; the review is written all the same and says so.`,
	Examples: []string{
		"iamgate audit review --config iamgate.yaml --since 2027-01-01 -o review.html audit.log",
		"iamgate audit review --config iamgate.yaml --since 2027-01-01 --json audit.log",
	},
}

func cmdAuditReview(args []string, stdout, stderr io.Writer) error {
	c := &auditReviewCmd
	fset := c.flagSet()
	cfgPath := fset.String("config", "", "configuration `file` whose roles, trust rules and service credentials to review")
	since := fset.String("since", "", "start of the period (RFC 3339 or date), inclusive")
	until := fset.String("until", "", "end of the period (RFC 3339, exclusive; or date, inclusive); default: the end of the files")
	asOf := fset.String("as-of", "", "judge credential expiry at this time, the review's date (default: now)")
	keyArg := fset.String("public-key", "", "PEM public key `file`, or the base64 public key, that signed the checkpoints (default: derived from audit.signing_key)")
	top := fset.Int("top", 50, "length of the denial, traffic and run lists; 0: no limit")
	out := fset.String("o", "", "write the review to this `file` (default: standard output)")
	asJSON := fset.Bool("json", false, "write the review as JSON instead of HTML")
	if err := c.parse(fset, args, stdout); err != nil {
		return err
	}
	switch {
	case *cfgPath == "":
		return c.usagef("give --config")
	case *since == "":
		return c.usagef("give --since: the review is of a period")
	case fset.NArg() == 0:
		return c.usagef("give audit log files or directories")
	case *top < 0:
		return c.usagef("--top must not be negative")
	}
	opts := audit.ReviewOptions{ConfigPath: *cfgPath}
	opts.Top = *top
	if *top == 0 {
		opts.Top = -1
	}
	var err error
	if opts.Since, err = parseReportTime("--since", *since, false); err != nil {
		return err
	}
	if opts.Until, err = parseReportTime("--until", *until, true); err != nil {
		return err
	}
	if opts.AsOf, err = parseReportTime("--as-of", *asOf, false); err != nil {
		return err
	}
	if !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return fmt.Errorf("--since %s is not before --until %s", *since, *until)
	}
	files, err := auditFiles(fset.Args())
	if err != nil {
		return err
	}
	if *keyArg != "" {
		if opts.PublicKey, err = parsePublicKey(*keyArg); err != nil {
			return err
		}
	}

	// A reviewer need not hold iamgate's secrets: the configuration is
	// read without them. Only the checkpoint key is derived from the
	// signing key, when this machine holds it and --public-key is not
	// given.
	f, err := loadAuditConfig(*cfgPath, config.LoadOptions{Now: opts.AsOf, UnresolvedSecrets: true}, stderr)
	if err != nil {
		return err
	}
	opts.ConfigDigest = f.Digest
	if opts.PublicKey == nil && f.Audit.SigningKey != nil {
		if full, _, err := config.LoadWith(*cfgPath, config.LoadOptions{Now: opts.AsOf}); err == nil &&
			full.Audit.SigningKey != nil && len(full.Audit.SigningKey.Reveal()) == ed25519.SeedSize {
			opts.PublicKey = ed25519.NewKeyFromSeed([]byte(full.Audit.SigningKey.Reveal())).Public().(ed25519.PublicKey)
		}
	}
	for _, r := range f.Roles {
		rr := audit.ReviewRole{Name: r.Name, Kind: r.Kind}
		for _, t := range r.Trust {
			rr.Trust = append(rr.Trust, audit.ReviewTrustRule{Issuer: t.Issuer, Claims: t.Claims, Source: t.Pos.String()})
		}
		opts.Roles = append(opts.Roles, rr)
	}
	for _, sc := range f.ServiceCredentials {
		opts.ServiceCredentials = append(opts.ServiceCredentials, audit.ReviewCredential{
			Name: sc.Name, AccessKeyID: sc.AccessKeyID, Role: sc.Role, Expires: sc.Expires})
	}
	if opts.TrustMatch, err = trustMatcher(f); err != nil {
		fmt.Fprintf(stderr, "warning: %s: trust rules are credited by issuer only: %v\n", *cfgPath, err)
	}

	b := audit.NewReviewBuilder(opts)
	for _, name := range files {
		if err := reviewFile(b, name); err != nil {
			return err
		}
	}
	review := b.Finish()
	if err := writeReview(review, *out, *asJSON, stdout); err != nil {
		return err
	}
	if *out != "" {
		status := "the chain verifies"
		if !review.Chain.OK {
			status = "the chain does NOT verify"
		}
		fmt.Fprintf(stdout, "%s: access review of %s in %s; %s\n", *out, plural(review.Events, "request"), plural(len(review.Files), "file"), status)
	}
	if !review.Chain.OK {
		return &exitError{code: 1, err: errors.New("audit log does not verify (see the review's integrity section, or run iamgate audit verify)")}
	}
	return nil
}

// writeReview writes r as HTML or JSON to the file out, or to stdout.
func writeReview(r *audit.Review, out string, asJSON bool, stdout io.Writer) error {
	w := stdout
	var file *os.File
	if out != "" {
		var err error
		if file, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriter(w)
	var err error
	if asJSON {
		enc := json.NewEncoder(bw)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteHTML(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && file != nil {
		err = file.Close()
	}
	if err != nil {
		return fmt.Errorf("write review: %w", err)
	}
	return nil
}

// auditFiles expands the arguments: a directory stands for the regular
// files in it (not its subdirectories or hidden files), by name.
func auditFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := len(files)
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(a, e.Name()))
			}
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no audit files in the directory", a)
		}
	}
	return files, nil
}

// trustMatcher credits an allowed request to the trust rule of its role
// that matched, judged as the proxy does on the claims the event records
// (audit.claims, and sub). When a rule before the one that matched names
// a claim the event does not record, that rule may have matched the
// token: the request is not credited (-1).
func trustMatcher(f *config.File) (func(role string, e *audit.Event) int, error) {
	eng, err := compileEngine(f)
	if err != nil {
		return nil, err
	}
	rules := map[string][]config.TrustRule{}
	for _, r := range f.Roles {
		rules[r.Name] = r.Trust
	}
	return func(role string, e *audit.Event) int {
		r, ok := eng.Role(role)
		if !ok || e.Issuer == "" {
			return -1
		}
		claims := maps.Clone(e.Claims)
		if claims == nil {
			claims = map[string]any{}
		}
		if _, ok := claims["sub"]; !ok && e.Subject != "" {
			claims["sub"] = e.Subject
		}
		k := r.TrustRuleIndex(&authz.Identity{Issuer: e.Issuer, Subject: e.Subject, Claims: claims})
		if k < 0 {
			return -1
		}
		for _, t := range rules[role][:min(k, len(rules[role]))] {
			if t.Issuer != e.Issuer {
				continue
			}
			for _, p := range slices.Sorted(maps.Keys(t.Claims)) {
				if !claimRecorded(claims, p) {
					return -1
				}
			}
		}
		return k
	}, nil
}

// claimRecorded reports whether the claim at path (a name, or a dotted
// path into nested objects) is in claims.
func claimRecorded(claims map[string]any, path string) bool {
	if _, ok := claims[path]; ok {
		return true
	}
	for i := range len(path) {
		if path[i] != '.' {
			continue
		}
		if sub, ok := claims[path[:i]].(map[string]any); ok && claimRecorded(sub, path[i+1:]) {
			return true
		}
	}
	return false
}
