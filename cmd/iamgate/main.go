// Command iamgate is an identity-aware S3 reverse proxy: callers
// authenticate with OpenID Connect, per-path role policies decide each
// request, and allowed requests are re-signed toward the S3 store.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

const usage = `iamgate — identity-aware S3 reverse proxy

usage: iamgate COMMAND [flags] [ARGS]

commands:
  serve --config FILE                 run the proxy
  check --config FILE                 validate a configuration and exit (1 if invalid)
  explain --config FILE ... REQUEST   explain the decision for a request (exit 0 ALLOW, 1 DENY)
  dev --config FILE                   run with a built-in development issuer (loopback only; never in production)
  credentials ...                     print temporary credentials for AWS credential_process
  audit verify FILE...                check audit logs for modified, removed, reordered or inserted events
  audit report --config FILE FILE...  access review of audit logs
  audit review --config FILE FILE...  access review as an HTML page to sign (or --json)
  audit query [flags] FILE|DIR...     events by time, bucket, key, identity, role, action, decision, run, address
  audit public-key --config FILE      print the public key of audit.signing_key
  audit schema                        print the JSON Schema of an audit event
  import minio --export FILE ...      write a configuration from MinIO's IAM export and identity settings
  revoke --admin-url URL ...          revoke sessions at run time on every replica (or --list)
  version                             print the version, commit, build time and Go version

Run 'iamgate COMMAND -h' for a command's flags and examples.
`

// errUsage means a usage message was already printed.
var errUsage = errors.New("usage")

// exitError carries a specific exit status. A quiet one is not printed:
// the command has already said what it had to.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "iamgate: give a command: serve, check, explain, dev, credentials, audit, import or version (see 'iamgate -h')")
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "explain":
		err = cmdExplain(args[1:], stdout, stderr)
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr)
	case "audit":
		err = cmdAudit(args[1:], stdout, stderr)
	case "import":
		err = cmdImport(args[1:], stdout, stderr)
	case "revoke":
		err = cmdRevoke(ctx, args[1:], stdout, stderr)
	case "credentials":
		return cmdCredentials(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = cmdVersion(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "iamgate: unknown command %q (see 'iamgate -h')\n", args[0])
		return 2
	}
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return reportUsage(stderr, ue)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.quiet {
			fmt.Fprintln(stderr, "iamgate:", err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "iamgate:", err)
	return 1
}
