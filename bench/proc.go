package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procTree is pid and its descendants (nginx's master and workers, say).
func procTree(pid int) []int {
	if pid <= 0 {
		return nil
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// cpuTime is the user+system CPU time of the processes, from /proc.
func cpuTime(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return total
}

// syscalls is the number of read and write system calls the processes
// made (syscr and syscw of /proc/PID/io: read, write and their vector and
// positional forms, socket ones included).
func syscalls(pids []int) (reads, writes int64) {
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, v, ok := strings.Cut(line, ": ")
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if !ok || err != nil {
				continue
			}
			switch name {
			case "syscr":
				reads += n
			case "syscw":
				writes += n
			}
		}
	}
	return reads, writes
}

// selfCPU is the load generator's own CPU time.
func selfCPU() time.Duration { return cpuTime([]int{os.Getpid()}) }

// statusKB reads one "Name: N kB" line of /proc/PID/status, in bytes.
func statusKB(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// rssMeter tracks the peak resident set size of a process tree during a
// run: the kernel's high-water mark (VmHWM), reset at the start through
// clear_refs, summed over the tree, or where that reset is refused, the
// largest VmRSS sum sampled every 20 ms.
type rssMeter struct {
	pids    []int
	hwmOK   bool
	sampled int64
	stop    chan struct{}
	done    chan struct{}
}

func startRSS(pid int) *rssMeter {
	m := &rssMeter{pids: procTree(pid), hwmOK: true, stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range m.pids {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p), []byte("5"), 0); err != nil {
			m.hwmOK = false
		}
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var sum int64
			for _, p := range m.pids {
				sum += statusKB(p, "VmRSS")
			}
			m.sampled = max(m.sampled, sum)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// peak stops the meter and returns the peak in bytes.
func (m *rssMeter) peak() int64 {
	close(m.stop)
	<-m.done
	if !m.hwmOK {
		return m.sampled
	}
	var hwm int64
	for _, p := range m.pids {
		hwm += statusKB(p, "VmHWM")
	}
	return max(hwm, m.sampled)
}
