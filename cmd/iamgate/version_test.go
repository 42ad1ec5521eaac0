package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// A build stamped the way scripts/build.sh stamps prints what it was
// given, and the Go version it was built with.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "iamgate")
	ldflags := "-X main.version=v1.2.3-rc.1 -X main.commit=0123456789abcdef0123456789abcdef01234567 -X main.date=2026-12-02T03:50:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("iamgate version: %v\n%s", err, out)
	}
	want := "iamgate v1.2.3-rc.1\n" +
		"commit: 0123456789abcdef0123456789abcdef01234567\n" +
		"built:  2026-12-02T03:50:00Z\n" +
		"go:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if string(out) != want {
		t.Fatalf("iamgate version printed\n%s\nwant\n%s", out, want)
	}
}

// Without a stamp, the version and commit come from the toolchain's
// record; stamped values win over it.
func TestResolveBuild(t *testing.T) {
	goVer := runtime.Version()
	plat := runtime.GOOS + "/" + runtime.GOARCH
	vcs := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "feedfacefeedfacefeedfacefeedfacefeedface"},
		{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	cases := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildInfo
		wantText              string
	}{
		{name: "nothing known", want: buildInfo{Version: "devel", GoVersion: goVer, Platform: plat},
			wantText: "iamgate devel\ngo:     " + goVer + " " + plat + "\n"},
		{name: "go install of a tagged module", bi: &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.4.0"}},
			want:     buildInfo{Version: "v1.4.0", GoVersion: "go1.99.1", Platform: plat},
			wantText: "iamgate v1.4.0\ngo:     go1.99.1 " + plat + "\n"},
		{name: "a checkout, not stamped", bi: vcs,
			want: buildInfo{Version: "devel", Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Modified: true,
				CommitTime: "2026-11-30T10:00:00Z", GoVersion: "go1.99.1", Platform: plat},
			wantText: "iamgate devel\ncommit: feedfacefeedfacefeedfacefeedfacefeedface (modified)\ncommit time: 2026-11-30T10:00:00Z\ngo:     go1.99.1 " + plat + "\n"},
		{name: "stamped wins", version: "v2.0.0", commit: "0123456789abcdef0123456789abcdef01234567", date: "2026-12-01T00:00:00Z", bi: vcs,
			want: buildInfo{Version: "v2.0.0", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-01T00:00:00Z",
				GoVersion: "go1.99.1", Platform: plat},
			wantText: "iamgate v2.0.0\ncommit: 0123456789abcdef0123456789abcdef01234567\nbuilt:  2026-12-01T00:00:00Z\ngo:     go1.99.1 " + plat + "\n"},
		{name: "stamped version only", version: "v2.0.0", bi: vcs,
			want: buildInfo{Version: "v2.0.0", Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Modified: true,
				CommitTime: "2026-11-30T10:00:00Z", GoVersion: "go1.99.1", Platform: plat},
			wantText: "iamgate v2.0.0\ncommit: feedfacefeedfacefeedfacefeedfacefeedface (modified)\ncommit time: 2026-11-30T10:00:00Z\ngo:     go1.99.1 " + plat + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resolveBuild(c.version, c.commit, c.date, c.bi)
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			var b bytes.Buffer
			got.write(&b)
			if b.String() != c.wantText {
				t.Fatalf("printed\n%s\nwant\n%s", b.String(), c.wantText)
			}
		})
	}
}
