// Command gomaxprocs prints what the Go runtime chose for GOMAXPROCS in the
// process it runs in, and the CPU count and cgroup CPU limit it saw; run it
// in a container or cgroup with a CPU limit (bench/gomaxprocs.sh does).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	fmt.Printf("GOMAXPROCS=%d NumCPU=%d env GOMAXPROCS=%q GODEBUG=%q cgroup CPU limit: %s\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), os.Getenv("GOMAXPROCS"), os.Getenv("GODEBUG"), cgroupLimit())
}

// cgroupLimit reads the CPU limit of the process's cgroup: cpu.max (cgroup
// v2) or cpu.cfs_quota_us / cpu.cfs_period_us (v1), as the runtime does.
func cgroupLimit() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
				if b, err := os.ReadFile(root + parts[2] + "/cpu.max"); err == nil {
					return "v2 cpu.max " + strings.TrimSpace(string(b))
				}
			}
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "cpu" {
				continue
			}
			dir := "/sys/fs/cgroup/cpu" + parts[2]
			q, err1 := os.ReadFile(dir + "/cpu.cfs_quota_us")
			p, err2 := os.ReadFile(dir + "/cpu.cfs_period_us")
			if err1 == nil && err2 == nil {
				return "v1 cpu.cfs_quota_us/cpu.cfs_period_us " + strings.TrimSpace(string(q)) + "/" + strings.TrimSpace(string(p))
			}
		}
	}
	return "none found"
}
