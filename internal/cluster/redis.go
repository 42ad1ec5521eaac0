package cluster

import "testing"

// startRedis starts the shared state's server and returns its URL.
func startRedis(t testing.TB) string { return "" }

// stateSection is the configuration's state section for Redis at url.
func stateSection(url string) string {
	if url == "" {
		return ""
	}
	return "state:\n  redis: {url: " + url + "}\n"
}

// revokeExample is a revocation command to paste, or "" without shared
// state.
func revokeExample(c *Cluster) string { return "" }
