package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/web"
)

// cmdCheck validates a configuration without serving or touching the
// network: the file format, secret references, the policy language and the
// trust rules. Every problem is printed, one per line, with file:line;
// warnings (about the file, and policy statements that can never match)
// are printed too but do not make the configuration invalid.
var checkCmd = cliCommand{
	Name:  "check",
	Usage: "[flags]",
	About: `Validates a configuration without serving or touching the network: the file
format, secret references, the policy language and the trust rules. Every
problem is printed with file:line (exit status 1); warnings are printed
too but do not make the configuration invalid. With --compat minio it also
lists every policy statement MinIO's engine decides differently, with its
file:line:col and a request that shows it (exit status 1 with --strict).`,
	Examples: []string{"iamgate check --config iamgate.yaml", "iamgate check --config iamgate.yaml --compat minio"},
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	c := &checkCmd
	fs := c.flagSet()
	path := fs.String("config", "iamgate.yaml", "configuration `file`")
	compat := fs.String("compat", "", "also list the policy statements `engine` (only minio) decides differently from iamgate")
	strict := fs.Bool("strict", false, "with --compat: exit 1 when a statement is decided differently")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
	}
	if *compat != "" && *compat != "minio" {
		return c.usagef("--compat %q: the only value is minio", *compat)
	}
	f, warnings, err := config.Load(*path)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w.String())
	}
	if err != nil {
		printErrors(stderr, err)
		return &exitError{code: 1, err: fmt.Errorf("%s: configuration is invalid", *path)}
	}
	var problems []error
	if engine, err := compileEngine(f); err != nil {
		problems = append(problems, err)
	} else {
		for _, w := range engine.Warnings() {
			fmt.Fprintln(stderr, "warning:", w.String())
		}
	}
	dirs, dirErr := directories(f, nil)
	if dirErr != nil {
		problems = append(problems, dirErr)
	}
	defer closeDirectories(dirs)
	if f.STS != nil {
		kr, err := sessionKeyRing(f.STS)
		if err != nil {
			problems = append(problems, err)
		}
		if engine, eerr := compileEngine(f); eerr == nil && kr != nil && (len(f.LoginIssuers()) > 0 || len(f.LoginDirectories()) > 0) && dirErr == nil {
			gen := &proxy.Generation{Sessions: kr, Revocations: revocations(f)}
			wc := webConfig(f, gen, engine, browserDeps{s3: http.NotFoundHandler(), signedOut: signedOutRecord(f)})
			wc.Directories = webDirectories(f, dirs)
			if _, err := web.New(wc); err != nil {
				problems = append(problems, err)
			}
		}
	}
	v, err := identity.New(context.Background(), identityConfig(f, nil, nil))
	if err != nil {
		problems = append(problems, err)
	} else {
		v.Close()
	}
	if len(problems) > 0 {
		printErrors(stderr, errors.Join(problems...))
		return &exitError{code: 1, err: fmt.Errorf("%s: configuration is invalid", *path)}
	}
	if len(f.LDAP) > 0 {
		fmt.Fprintf(stdout, "%s: OK (%d issuers, %d directories, %d roles, %d policies)\n", *path, len(f.Issuers), len(f.LDAP), len(f.Roles), len(f.Policies))
	} else {
		fmt.Fprintf(stdout, "%s: OK (%d issuers, %d roles, %d policies)\n", *path, len(f.Issuers), len(f.Roles), len(f.Policies))
	}
	if *compat == "" {
		return nil
	}
	findings, err := authz.CompatMinIO(policyDocs(f))
	if err != nil {
		return err // compileEngine already accepted these policies
	}
	printCompat(stdout, findings)
	if *strict && len(findings) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%s: %d findings decided differently by MinIO (--strict)", *path, len(findings))}
	}
	return nil
}

// printCompat prints one line per finding and a summary.
func printCompat(w io.Writer, findings []authz.CompatFinding) {
	stmts := map[string]bool{}
	for _, f := range findings {
		fmt.Fprintln(w, "minio:", f.String())
		stmts[f.Policy+"\x00"+f.Statement] = true
	}
	fmt.Fprintf(w, "minio: %d findings in %d statements decided differently by MinIO (iamgate follows AWS; see docs/configuration.md#differences-from-minio)\n", len(findings), len(stmts))
}

// printErrors prints each joined error on its own line.
func printErrors(w io.Writer, err error) {
	var flatten func(error)
	flatten = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				flatten(e)
			}
			return
		}
		fmt.Fprintln(w, err)
	}
	flatten(err)
}
