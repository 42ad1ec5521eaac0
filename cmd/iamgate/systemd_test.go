package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/config"
)

const systemdUnit = "../../deploy/systemd/iamgate.service"

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

// parseUnit reads a unit file: [Section] headers, Key=Value lines,
// comments (# ;) and blank lines; a trailing backslash continues a line.
func parseUnit(data []byte) (unitFile, error) {
	u := unitFile{}
	var section, pending string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line, pending = pending+" "+line, ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is not Key=Value in a section", n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// last is the value that applies: the last assignment of key.
func (u unitFile) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// systemdSeconds parses a systemd time span such as "45s", "45", "1min 30s".
func systemdSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	for _, f := range strings.Fields(s) {
		m := regexp.MustCompile(`^(\d+)(ms|s|sec|min|m|h)$`).FindStringSubmatch(f)
		if m == nil {
			return 0, fmt.Errorf("time span %q", s)
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "sec": time.Second,
			"min": time.Minute, "m": time.Minute, "h": time.Hour}[m[2]]
		total += time.Duration(n) * unit
	}
	return total, nil
}

// The shipped unit is hardened, reloads with SIGHUP, and gives iamgate
// the time its shutdown takes with the default server.shutdown_grace.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Type":                    "exec",
		"DynamicUser":             "yes",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"StateDirectory":          "iamgate",
		"RestrictSUIDSGID":        "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
	}
	for k, v := range want {
		if got, ok := u.last("Service", k); !ok || got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	start, _ := u.last("Service", "ExecStart")
	check, _ := u.last("Service", "ExecStartPre")
	if !strings.HasSuffix(start, " serve --config /etc/iamgate/iamgate.yaml") ||
		check != strings.Replace(start, " serve ", " check ", 1) {
		t.Errorf("ExecStart %q and ExecStartPre %q: serve and check the same file", start, check)
	}
	if n, _ := u.last("Service", "LimitNOFILE"); n == "" {
		t.Error("no LimitNOFILE")
	} else if v, err := strconv.Atoi(n); err != nil || v < 65536 {
		t.Errorf("LimitNOFILE=%s, want at least 65536", n)
	}
	// systemd kills iamgate after TimeoutStopSec: it must outlast the
	// default drain delay and grace period plus the bounded wait for cut
	// requests.
	ts, _ := u.last("Service", "TimeoutStopSec")
	stop, err := systemdSeconds(ts)
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if need := config.DefaultDrainDelay + config.DefaultShutdownGrace + shutdownDrain; stop <= need {
		t.Errorf("TimeoutStopSec=%s, want more than drain_delay + shutdown_grace + 5s = %s", ts, need)
	}
	if got := u["Service"]["SystemCallFilter"]; strings.Join(got, " ") != "@system-service ~@privileged" {
		t.Errorf("SystemCallFilter %q", got)
	}
	if w, _ := u.last("Install", "WantedBy"); w != "multi-user.target" {
		t.Errorf("WantedBy=%q", w)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked by parsing only")
		return
	}
	// verify wants the executables to exist: point them at this test
	// binary. Any warning (an unknown key, a bad value) is a failure.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "iamgate.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("/usr/local/bin/iamgate"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(sa, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline (systemd 250 and later): %v", err)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for iamgate\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f (0 is best, 10 worst)", level)
	if level > 2 {
		t.Errorf("exposure level %.1f, want at most 2.0\n%s", level, out)
	}
}
