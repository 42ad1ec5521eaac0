package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

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
too but do not make the configuration invalid.`,
	Examples: []string{"iamgate check --config iamgate.yaml"},
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	c := &checkCmd
	fs := c.flagSet()
	path := fs.String("config", "iamgate.yaml", "configuration `file`")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
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
	if f.STS != nil {
		kr, err := sessionKeyRing(f.STS)
		if err != nil {
			problems = append(problems, err)
		}
		if engine, eerr := compileEngine(f); eerr == nil && kr != nil && len(f.LoginIssuers()) > 0 {
			gen := &proxy.Generation{Sessions: kr, Revocations: revocations(f)}
			if _, err := web.New(webConfig(f, gen, engine, browserDeps{s3: http.NotFoundHandler(), signedOut: signedOutRecord(f)})); err != nil {
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
	fmt.Fprintf(stdout, "%s: OK (%d issuers, %d roles, %d policies)\n", *path, len(f.Issuers), len(f.Roles), len(f.Policies))
	return nil
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
