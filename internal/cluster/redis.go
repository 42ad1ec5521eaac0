package cluster

import (
	"fmt"
	"testing"

	"github.com/iamgate/iamgate/internal/testenv"
)

// startRedis starts the shared state's server and returns its URL.
func startRedis(t testing.TB) string { return testenv.StartRedis(t).URL }

// stateSection is the configuration's state and admin sections: the
// shared state in Redis at url, and the admin endpoint's token.
func stateSection(url string) string {
	return fmt.Sprintf("state:\n  redis: {url: %q}\nadmin:\n  token: env:CLUSTER_ADMIN_TOKEN\n", url)
}

// revokeExample is a revocation command to paste.
func revokeExample(c *Cluster) string {
	return fmt.Sprintf("%s revoke --admin-url %s --token-file %s --subject \"$CLUSTER_MACHINE_ID\" --reason demo  # then the curl and aws commands above are refused on every replica",
		c.binary, c.Replicas[0].AdminURL(), c.AdminTokenFile)
}
