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
	"runtime/debug"
)

const usage = `iamgate — identity-aware S3 reverse proxy

Usage:
  iamgate serve   --config FILE        run the proxy
  iamgate check   --config FILE        validate a configuration and exit
  iamgate explain --config FILE ...    explain the decision for a request (see iamgate explain -h)
  iamgate dev     --config FILE        run with a built-in development issuer (loopback only; never in production)
  iamgate credentials ...              print temporary credentials for AWS credential_process (see iamgate credentials -h)
  iamgate audit verify FILE...         check audit logs for modified, removed or inserted events (see iamgate audit -h)
  iamgate import minio ...             write a configuration from MinIO's IAM export and identity settings (see iamgate import -h)
  iamgate version                      print the version
`

// errUsage means a usage message was already printed.
var errUsage = errors.New("usage")

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
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
	case "credentials":
		return cmdCredentials(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "iamgate", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "iamgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	fmt.Fprintln(stderr, "iamgate:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
