package proxy

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertReloader serves a TLS certificate from files and picks up new files
// without a restart: on a handshake, at most once a second, it checks the
// files' modification times and reloads when they changed. A broken new
// pair is logged by the caller's OnError and the old certificate is kept.
type CertReloader struct {
	CertFile, KeyFile string
	OnError           func(error)
	// OnLoad, if set, is called with the certificate's NotAfter whenever a
	// new pair is loaded (not for the first, see NotAfter).
	OnLoad func(notAfter time.Time)

	mu      sync.Mutex
	cert    *tls.Certificate
	modCert time.Time
	modKey  time.Time
	checked time.Time
}

// NewCertReloader loads the pair once; an error means it cannot serve.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	c := &CertReloader{CertFile: certFile, KeyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CertReloader) load() error {
	ci, err := os.Stat(c.CertFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	ki, err := os.Stat(c.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if c.cert != nil && ci.ModTime().Equal(c.modCert) && ki.ModTime().Equal(c.modKey) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", c.CertFile, c.KeyFile, err)
	}
	first := c.cert == nil
	c.cert, c.modCert, c.modKey = &cert, ci.ModTime(), ki.ModTime()
	if !first && c.OnLoad != nil {
		c.OnLoad(cert.Leaf.NotAfter)
	}
	return nil
}

// NotAfter is the expiry of the certificate being served.
func (c *CertReloader) NotAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert.Leaf.NotAfter
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= time.Second {
		c.checked = time.Now()
		if err := c.load(); err != nil && c.OnError != nil {
			c.OnError(err)
		}
	}
	return c.cert, nil
}
