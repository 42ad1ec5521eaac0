package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/iamgate/iamgate/internal/testenv"
)

// process is a child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
	err     error         // Wait's result, valid once done is closed
}

// startProcess starts bin with args and env (added to a copy of the
// current environment), writing stdout and stderr to logPath.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("cluster: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signalTerm() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		return fmt.Errorf("cluster: SIGTERM %s: %w", p.name, err)
	}
	return nil
}

// kill stops the process at once and waits for it. It is idempotent.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logTail returns about the last n bytes of the process log.
func (p *process) logTail(n int) string { return testenv.TailFile(p.logPath, n) }
