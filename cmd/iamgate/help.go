package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cliCommand describes a subcommand, for one help style everywhere:
//
//	usage: iamgate NAME USAGE
//	<About>
//	flags:
//	  (flag.PrintDefaults: each flag with its default)
//	examples:
//	  iamgate NAME ...
//
// `iamgate NAME -h` prints it to standard output and exits 0; a usage error
// is one line on standard error and exit status 2.
type cliCommand struct {
	Name string // "explain", "audit verify"
	// Usage is what follows "iamgate NAME" on the usage line; several
	// forms are separated by newlines.
	Usage string
	About string // a few lines: what the command does, exit statuses
	// Examples are whole command lines that work when pasted, given the
	// files they name.
	Examples []string
}

// errHelp means help was printed on request: exit status 0.
var errHelp = errors.New("help printed")

// usageError is a usage mistake: exit status 2, reported as one line.
type usageError struct {
	cmd    string
	reason string
}

func (e *usageError) Error() string { return e.reason }

// usagef returns a usage error of the command.
func (c *cliCommand) usagef(format string, args ...any) error {
	return &usageError{cmd: c.Name, reason: fmt.Sprintf(format, args...)}
}

// flagSet returns the command's flag set; parse reports its errors.
func (c *cliCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args with fs. For -h or --help it prints the help to
// stdout and returns errHelp; a bad flag is a usage error.
func (c *cliCommand) parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(stdout, fs)
		return errHelp
	}
	if err != nil {
		return c.usagef("%s", err.Error())
	}
	return nil
}

// noArgs is a usage error when fs has positional arguments left.
func (c *cliCommand) noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return c.usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// printHelp writes the help text; fs may be nil for a command without flags.
func (c *cliCommand) printHelp(w io.Writer, fs *flag.FlagSet) {
	for i, u := range strings.Split(c.Usage, "\n") {
		lead := "usage: "
		if i > 0 {
			lead = "       "
		}
		fmt.Fprintf(w, "%siamgate %s %s\n", lead, c.Name, u)
	}
	if c.About != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.About, "\n"))
	}
	hasFlags := false
	if fs != nil {
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	}
	if hasFlags {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if len(c.Examples) > 0 {
		fmt.Fprint(w, "\nexamples:\n")
		for _, ex := range c.Examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
}

// reportUsage prints a usage error as one line and returns exit status 2.
func reportUsage(stderr io.Writer, e *usageError) int {
	fmt.Fprintf(stderr, "iamgate %s: %s (see 'iamgate %s -h')\n", e.cmd, e.reason, e.cmd)
	return 2
}
