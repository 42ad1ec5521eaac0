package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped at build time by scripts/build.sh (make build, make image):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=<full hash> -X main.date=2026-12-02T03:50:00Z"
//
// The names are the ones release tools such as GoReleaser set by default.
// Left empty, the version and commit come from what the Go toolchain
// records in the binary (runtime/debug.ReadBuildInfo): the module version
// for `go install …@v1.2.0`, the VCS revision for a build in a checkout.
var (
	version string
	commit  string
	date    string
)

// buildInfo describes the running binary.
type buildInfo struct {
	Version string // "devel" when unknown
	Commit  string // "" when unknown
	// Modified: the commit had local changes (from the toolchain's
	// vcs.modified; a stamped version says it with a "-dirty" suffix).
	Modified bool
	Date     string // build time, RFC 3339; "" when not stamped
	// CommitTime is the commit's time from the toolchain's vcs.time, shown
	// when no build time was stamped.
	CommitTime string
	GoVersion  string
	Platform   string // GOOS/GOARCH
}

// currentBuild is the running binary's build information.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, date, bi)
}

// resolveBuild prefers the stamped values and falls back on the
// toolchain's record bi (which may be nil).
func resolveBuild(stampVersion, stampCommit, stampDate string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: stampVersion, Commit: stampCommit, Date: stampDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		if b.Commit == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Commit = s.Value
				case "vcs.modified":
					b.Modified = s.Value == "true"
				case "vcs.time":
					b.CommitTime = s.Value
				}
			}
			if b.Commit == "" {
				b.Modified, b.CommitTime = false, ""
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// write prints the build information, the version on the first line.
func (b buildInfo) write(w io.Writer) {
	fmt.Fprintf(w, "iamgate %s\n", b.Version)
	if b.Commit != "" {
		mod := ""
		if b.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(w, "commit: %s%s\n", b.Commit, mod)
	}
	switch {
	case b.Date != "":
		fmt.Fprintf(w, "built:  %s\n", b.Date)
	case b.CommitTime != "":
		fmt.Fprintf(w, "commit time: %s\n", b.CommitTime)
	}
	fmt.Fprintf(w, "go:     %s %s\n", b.GoVersion, b.Platform)
}

var versionCmd = cliCommand{
	Name:  "version",
	Usage: "",
	About: `Prints iamgate's version, the commit it was built from, the build time and
the Go version. make build and make image stamp them; a plain go build takes
the commit from the checkout and says devel for the version.`,
	Examples: []string{"iamgate version"},
}

func cmdVersion(args []string, stdout io.Writer) error {
	c := &versionCmd
	fs := c.flagSet()
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
	}
	currentBuild().write(stdout)
	return nil
}
