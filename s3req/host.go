package s3req

// VirtualHostBucket returns the bucket that host names in virtual-hosted
// style under c's domains, as Classify reads it; false for a path-style
// request. A Signature Version 2 signature covers "/bucket" in front of
// the path of such a request.
func (c Config) VirtualHostBucket(host string) (string, bool) {
	return virtualBucket(host, c.VirtualHostDomains)
}
