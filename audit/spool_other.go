//go:build !unix

package audit

import (
	"fmt"
	"os"
)

// lockDir creates path. Without flock, nothing stops two processes from
// sharing a spool: give each its own spool_dir.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	return func() { f.Close() }, nil
}
