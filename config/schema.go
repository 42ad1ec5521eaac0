package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// ref is a name in one section that must exist in another.
type ref struct {
	kind string // "issuer", "role" or "policy"
	name string
	node *yaml.Node
	path string
}

// decodeState is what cross-checks need beyond the File itself.
type decodeState struct {
	refs        []ref
	upstream    bool
	auditStdout *bool
	auditNode   *yaml.Node
	rotateNode  *yaml.Node
	webhookNode *yaml.Node
	root        *yaml.Node
	policyNodes map[string]*yaml.Node
	caNode      *yaml.Node
	metricsNode *yaml.Node
	// adminNode is the admin section, when no metrics_listen was seen
	// before it (checked once the whole file is read).
	adminNode *yaml.Node
	// loginIssuers are the client_id nodes of issuers with browser sign-in.
	loginIssuers   []*yaml.Node
	loginPaths     []string
	consoleEnabled *yaml.Node // console.enabled when it is true
	// ldapNames are the names of the ldap entries, for the shared
	// namespace with the issuers.
	ldapNames []ref
}

const (
	maxDuration = 1000 * time.Hour
	// maxDrainDelay bounds server.drain_delay: a load balancer notices a
	// failing readiness check within seconds, not minutes.
	maxDrainDelay = 10 * time.Minute
	maxInt        = math.MaxInt32
)

func (p *parser) file(root *yaml.Node, f *File) {
	f.Listen = DefaultListen
	f.SigV2 = true
	f.Server = Server{
		ReadHeaderTimeout:     DefaultReadHeaderTimeout,
		IdleTimeout:           DefaultIdleTimeout,
		MaxHeaderBytes:        DefaultMaxHeaderBytes,
		DrainDelay:            DefaultDrainDelay,
		ShutdownGrace:         DefaultShutdownGrace,
		DeleteObjectsMaxBytes: DefaultDeleteObjectsMaxBytes,
	}
	f.Upstream = Upstream{
		Region:                DefaultRegion,
		DialTimeout:           DefaultDialTimeout,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		IdleConnTimeout:       DefaultIdleConnTimeout,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		Client:                DefaultUpstreamClient,
	}
	f.Log = Log{Level: DefaultLogLevel, Format: DefaultLogFormat}
	f.State = State{CountersOnError: DefaultCountersOnError}
	p.st = &decodeState{root: root, policyNodes: map[string]*yaml.Node{}}

	_, ok := p.mapping(root, "", []field{
		{"listen", func(path string, v *yaml.Node) {
			if s, ok := p.addr(v, path); ok {
				f.Listen = s
			}
		}},
		{"metrics_listen", func(path string, v *yaml.Node) {
			if s, ok := p.addr(v, path); ok {
				f.MetricsListen = s
				p.st.metricsNode = v
			}
		}},
		{"tls", func(path string, v *yaml.Node) { f.TLS = p.tls(v, path) }},
		{"virtual_host_domains", func(path string, v *yaml.Node) { f.VirtualHostDomains = p.domains(v, path) }},
		{"trusted_proxies", func(path string, v *yaml.Node) { f.TrustedProxies = p.prefixes(v, path) }},
		{"sigv2", func(path string, v *yaml.Node) {
			if b, ok := p.boolean(v, path); ok {
				f.SigV2 = b
			}
		}},
		{"server", func(path string, v *yaml.Node) { p.server(v, path, &f.Server) }},
		{"upstream", func(path string, v *yaml.Node) { p.st.upstream = p.upstream(v, path, &f.Upstream) }},
		{"issuers", func(path string, v *yaml.Node) { f.Issuers = p.issuers(v, path) }},
		{"ldap", func(path string, v *yaml.Node) { f.LDAP = p.ldap(v, path) }},
		{"roles", func(path string, v *yaml.Node) { f.Roles = p.roles(v, path) }},
		{"policies", func(path string, v *yaml.Node) { f.Policies = p.policies(v, path) }},
		{"sts", func(path string, v *yaml.Node) { f.STS = p.sts(v, path) }},
		{"revocations", func(path string, v *yaml.Node) { f.Revocations = p.revocations(v, path) }},
		{"service_credentials", func(path string, v *yaml.Node) { f.ServiceCredentials = p.serviceCredentials(v, path) }},
		{"console", func(path string, v *yaml.Node) { f.Console = p.console(v, path) }},
		{"audit", func(path string, v *yaml.Node) { p.audit(v, path, &f.Audit) }},
		{"log", func(path string, v *yaml.Node) { p.log(v, path, &f.Log) }},
		{"state", func(path string, v *yaml.Node) { f.State = *p.state(v, path) }},
		{"admin", func(path string, v *yaml.Node) { f.Admin = p.admin(v, path) }},
		{"alerts", func(path string, v *yaml.Node) { f.Alerts = p.alerts(v, path) }},
		{"access_requests", func(path string, v *yaml.Node) { f.AccessRequests = p.accessRequests(v, path) }},
	})
	if !ok {
		return
	}
	if !p.st.upstream {
		p.errorf(root, "", `missing required section "upstream" (endpoint, and access_key_id and secret_access_key or federation)`)
	}
	if f.Admin != nil && f.MetricsListen == "" && p.st.adminNode != nil {
		at := p.st.adminNode
		if k := p.keyOf[at]; k != nil {
			at = k
		}
		p.errorf(at, "admin", "the admin endpoint is served on the metrics listener: set metrics_listen too")
	}
	if p.st.auditStdout == nil {
		f.Audit.Stdout = f.Audit.File == "" && f.Audit.Webhook == nil
	} else {
		f.Audit.Stdout = *p.st.auditStdout
	}
}

// require reports each of keys missing from present, at the key of the
// mapping n. A key already suggested for a misspelt one is not reported again.
func (p *parser) require(n *yaml.Node, path string, present map[string]*yaml.Node, keys ...string) bool {
	at := n
	if k := p.keyOf[n]; k != nil {
		at = k
	}
	ok := true
	for _, k := range keys {
		if present[k] == nil {
			ok = false
			if !slices.Contains(p.typos[n], k) {
				p.errorf(at, path, "missing required key "+quote(k))
			}
		}
	}
	return ok
}

func (p *parser) addr(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		p.errorf(n, path, "invalid address "+quote(s)+"; use host:port, such as 127.0.0.1:8080 or :8080")
		return "", false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.errorf(n, path, "invalid port "+quote(port)+" in "+quote(s))
		return "", false
	}
	return s, true
}

func (p *parser) tls(n *yaml.Node, path string) *TLS {
	t := &TLS{}
	present, ok := p.mapping(n, path, []field{
		{"cert_file", func(path string, v *yaml.Node) { t.CertFile = p.existingFile(v, path) }},
		{"key_file", func(path string, v *yaml.Node) { t.KeyFile = p.existingFile(v, path) }},
	})
	if !ok {
		return nil
	}
	if !p.require(n, path, present, "cert_file", "key_file") || t.CertFile == "" || t.KeyFile == "" {
		return nil
	}
	return t
}

// existingFile decodes a path, resolves it and checks that the file exists.
func (p *parser) existingFile(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	if s == "" {
		p.errorf(n, path, "must not be empty")
		return ""
	}
	full := p.path(s)
	fi, err := os.Stat(full)
	if err != nil {
		p.errorf(n, path, "cannot read "+full+": "+fsReason(err))
		return ""
	}
	if fi.IsDir() {
		p.errorf(n, path, full+" is a directory")
		return ""
	}
	return full
}

var hostnameLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (p *parser) domains(n *yaml.Node, path string) []string {
	var out []string
	for _, it := range p.strItems(n, path) {
		d, item, ip := it.s, it.n, it.path
		switch {
		case strings.Contains(d, ":") || strings.Contains(d, "/"):
			p.errorf(item, ip, quote(d)+" must be a bare hostname, without scheme or port")
		case strings.ToLower(d) != d:
			p.errorf(item, ip, quote(d)+" must be lower case (write "+quote(strings.ToLower(d))+")")
		case !validHostname(d):
			p.errorf(item, ip, quote(d)+" is not a valid hostname")
		default:
			out = append(out, d)
		}
	}
	return out
}

func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !hostnameLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func (p *parser) prefixes(n *yaml.Node, path string) []netip.Prefix {
	var out []netip.Prefix
	for _, it := range p.strItems(n, path) {
		s, item, ip := it.s, it.n, it.path
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			p.errorf(item, ip, "invalid CIDR "+quote(s)+"; use an address or a prefix such as 10.0.0.0/8")
			continue
		}
		if pf.Masked() != pf {
			p.errorf(item, ip, quote(s)+" has host bits set; did you mean "+quote(pf.Masked().String())+"?")
			continue
		}
		out = append(out, pf)
	}
	return out
}

func (p *parser) server(n *yaml.Node, path string, s *Server) {
	p.mapping(n, path, []field{
		{"read_header_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, maxDuration); ok {
				s.ReadHeaderTimeout = d
			}
		}},
		{"idle_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, maxDuration); ok {
				s.IdleTimeout = d
			}
		}},
		{"max_header_bytes", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, 16<<20); ok {
				s.MaxHeaderBytes = int(i)
			}
		}},
		{"drain_delay", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, 0, maxDrainDelay); ok {
				s.DrainDelay = d
			}
		}},
		{"shutdown_grace", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, 0, maxDuration); ok {
				s.ShutdownGrace = d
			}
		}},
		{"delete_objects_max_bytes", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, 1<<30); ok {
				s.DeleteObjectsMaxBytes = i
			}
		}},
	})
}

func (p *parser) upstream(n *yaml.Node, path string, u *Upstream) bool {
	present, ok := p.mapping(n, path, []field{
		{"endpoint", func(path string, v *yaml.Node) { u.Endpoint = p.endpoint(v, path) }},
		{"region", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if s == "" || strings.ContainsAny(s, " /\t") {
					p.errorf(v, path, "invalid region "+quote(s))
					return
				}
				u.Region = s
			}
		}},
		{"access_key_id", func(path string, v *yaml.Node) { u.AccessKeyID, _ = p.identifier(v, path) }},
		{"secret_access_key", func(path string, v *yaml.Node) { u.SecretAccessKey, _ = p.secret(v, path) }},
		{"federation", func(path string, v *yaml.Node) { u.Federation = p.federation(v, path) }},
		{"ca_file", func(path string, v *yaml.Node) {
			p.st.caNode = v
			if u.CAFile = p.existingFile(v, path); u.CAFile == "" {
				return
			}
			pem, err := readFile(u.CAFile)
			if err != nil {
				p.errorf(v, path, "cannot read "+u.CAFile+": "+fsReason(err))
				return
			}
			if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				p.errorf(v, path, u.CAFile+" holds no PEM certificate")
			}
		}},
		{"dial_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, maxDuration); ok {
				u.DialTimeout = d
			}
		}},
		{"response_header_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, maxDuration); ok {
				u.ResponseHeaderTimeout = d
			}
		}},
		{"idle_conn_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, maxDuration); ok {
				u.IdleConnTimeout = d
			}
		}},
		{"max_idle_conns_per_host", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, 1<<16); ok {
				u.MaxIdleConnsPerHost = int(i)
			}
		}},
		{"client", func(path string, v *yaml.Node) {
			if s, ok := p.enum(v, path, UpstreamClientLean, UpstreamClientStd); ok {
				u.Client = s
			}
		}},
	})
	if !ok {
		return true // the type error is reported; don't also report it missing
	}
	p.require(n, path, present, "endpoint")
	p.upstreamAuth(n, path, present)
	return true
}

func (p *parser) endpoint(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.errorf(n, path, "invalid URL "+quote(s)+"; use http://host:port or https://host")
	case u.Scheme != "http" && u.Scheme != "https":
		p.errorf(n, path, "scheme must be http or https, got "+quote(u.Scheme))
	case u.User != nil:
		p.errorf(n, path, "must not contain credentials; use access_key_id and secret_access_key")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		p.errorf(n, path, "must not have a path, query or fragment")
	default:
		return u.Scheme + "://" + u.Host
	}
	return ""
}

func (p *parser) audit(n *yaml.Node, path string, a *Audit) {
	p.st.auditNode = n
	p.mapping(n, path, []field{
		{"stdout", func(path string, v *yaml.Node) {
			if b, ok := p.boolean(v, path); ok {
				p.st.auditStdout = &b
			}
		}},
		{"file", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if s == "" {
					p.errorf(v, path, "must not be empty; leave it out for no file")
					return
				}
				a.File = p.path(s)
			}
		}},
		{"fingerprint_key", func(path string, v *yaml.Node) {
			s, ok := p.secret(v, path)
			if !ok {
				return
			}
			if s.Resolved() && len(s.Reveal()) < MinFingerprintKeyBytes {
				p.errorf(v, path, fmt.Sprintf("key is %d bytes; use at least %d (for example: openssl rand -hex 32)", len(s.Reveal()), MinFingerprintKeyBytes))
				return
			}
			a.FingerprintKey = &s
		}},
		{"signing_key", func(path string, v *yaml.Node) {
			s, ok := p.secret(v, path)
			if !ok {
				return
			}
			if !s.Resolved() {
				a.SigningKey = &s
				return
			}
			seed, problem := ed25519Seed(s.Reveal())
			if problem != "" {
				p.errorf(v, path, problem)
				return
			}
			a.SigningKey = &Secret{value: string(seed), source: s.source}
		}},
		{"checkpoint_interval", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, MaxCheckpointInterval); ok {
				a.CheckpointInterval = int(i)
			}
		}},
		{"checkpoint_every", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, MinCheckpointEvery, MaxCheckpointEvery); ok {
				a.CheckpointEvery = d
			}
		}},
		{"rotate", func(path string, v *yaml.Node) {
			p.st.rotateNode = v
			p.rotate(v, path, &a.Rotate)
		}},
		{"fsync", func(path string, v *yaml.Node) {
			a.Fsync, _ = p.enum(v, path, FsyncAlways, FsyncInterval, FsyncNever)
		}},
		{"webhook", func(path string, v *yaml.Node) {
			p.st.webhookNode = v
			a.Webhook = p.webhook(v, path)
		}},
		{"delivery", func(path string, v *yaml.Node) {
			a.Delivery, _ = p.enum(v, path, DeliveryBestEffort, DeliveryRequired)
		}},
		{"claims", func(path string, v *yaml.Node) {
			for _, it := range p.strItems(v, path) {
				if len(it.s) > 256 || strings.ContainsFunc(it.s, unicode.IsControl) {
					p.errorf(it.n, it.path, "invalid claim name "+quote(it.s))
					continue
				}
				a.Claims = append(a.Claims, it.s)
			}
		}},
	})
}

func (p *parser) rotate(n *yaml.Node, path string, r *Rotate) {
	present, ok := p.mapping(n, path, []field{
		{"max_size", func(path string, v *yaml.Node) {
			if b, ok := p.size(v, path, MinRotateSize, MaxRotateSize); ok {
				r.MaxSize = b
			}
		}},
		{"max_age", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, MinRotateAge, MaxRotateAge); ok {
				r.MaxAge = d
			}
		}},
		{"retain", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, MaxRotateCount); ok {
				r.Retain = int(i)
			}
		}},
	})
	if ok && present["max_size"] == nil && present["max_age"] == nil {
		at := n
		if k := p.keyOf[n]; k != nil {
			at = k
		}
		p.errorf(at, path, "set max_size, max_age or both; leave rotate out to never rotate")
	}
}

func (p *parser) webhook(n *yaml.Node, path string) *Webhook {
	w := &Webhook{
		BatchSize:     DefaultWebhookBatchSize,
		FlushInterval: DefaultWebhookFlushInterval,
		SpoolMaxBytes: DefaultSpoolMaxBytes,
	}
	present, ok := p.mapping(n, path, []field{
		{"url", func(path string, v *yaml.Node) { w.URL = p.webhookURL(v, path, "; use bearer_token or hmac_secret") }},
		{"bearer_token", func(path string, v *yaml.Node) {
			if s, ok := p.secret(v, path); ok {
				w.BearerToken = &s
			}
		}},
		{"hmac_secret", func(path string, v *yaml.Node) {
			s, ok := p.secret(v, path)
			if !ok {
				return
			}
			if s.Resolved() && len(s.Reveal()) < MinWebhookHMACBytes {
				p.errorf(v, path, fmt.Sprintf("secret is %d bytes; use at least %d (for example: openssl rand -hex 32)", len(s.Reveal()), MinWebhookHMACBytes))
				return
			}
			w.HMACSecret = &s
		}},
		{"batch_size", func(path string, v *yaml.Node) {
			if i, ok := p.integer(v, path, MaxWebhookBatchSize); ok {
				w.BatchSize = int(i)
			}
		}},
		{"flush_interval", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, MinWebhookFlushInterval, MaxWebhookFlushInterval); ok {
				w.FlushInterval = d
			}
		}},
		{"spool_dir", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if s == "" {
					p.errorf(v, path, "must not be empty")
					return
				}
				w.SpoolDir = p.path(s)
			}
		}},
		{"spool_max_bytes", func(path string, v *yaml.Node) {
			if b, ok := p.size(v, path, MinSpoolMaxBytes, MaxSpoolMaxBytes); ok {
				w.SpoolMaxBytes = b
			}
		}},
	})
	if !ok || !p.require(n, path, present, "url", "spool_dir") || w.URL == "" || w.SpoolDir == "" {
		return nil
	}
	return w
}

// webhookURL decodes an https URL, or an http URL on a loopback host,
// without credentials or fragment. A query is allowed (and never logged).
func (p *parser) webhookURL(n *yaml.Node, path, credentialsHint string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.errorf(n, path, "invalid URL; use https://host/path")
	case u.User != nil:
		p.errorf(n, path, "must not contain credentials"+credentialsHint)
	case u.Fragment != "":
		p.errorf(n, path, "must not have a fragment")
	case u.Scheme == "https", u.Scheme == "http" && isLoopback(u.Hostname()):
		return s
	case u.Scheme == "http":
		p.errorf(n, path, "must use https (http is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost)")
	default:
		p.errorf(n, path, "scheme must be https, got "+quote(u.Scheme))
	}
	return ""
}

// ed25519Seed decodes an audit signing key: a 32-byte Ed25519 seed in
// base64, or a PEM PKCS#8 private key. The problem never contains the key.
func ed25519Seed(s string) (seed []byte, problem string) {
	const how = "use a 32-byte Ed25519 seed in base64 (openssl rand -base64 32) or a PEM PKCS#8 private key (openssl genpkey -algorithm ed25519)"
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN ") {
		block, _ := pem.Decode([]byte(s))
		switch {
		case block == nil:
			return nil, "invalid PEM; " + how
		case strings.Contains(block.Type, "PUBLIC KEY"):
			return nil, "PEM holds a public key; signing_key needs the private key (the public key is for iamgate audit verify)"
		case block.Type != "PRIVATE KEY":
			return nil, "PEM holds a " + quote(block.Type) + " block, not PKCS#8 \"PRIVATE KEY\"; " + how
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, "invalid PKCS#8 private key; " + how
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Sprintf("PEM holds a %T, not an Ed25519 key; %s", k, how)
		}
		return ek.Seed(), ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, "neither base64 nor PEM; " + how
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Sprintf("decodes to %d bytes; an Ed25519 seed is %d (openssl rand -base64 32)", len(b), ed25519.SeedSize)
	}
	return b, ""
}

var cookieName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (p *parser) console(n *yaml.Node, path string) *Console {
	c := &Console{Enabled: true, CookieName: DefaultCookieName, SessionRefresh: DefaultSessionRefresh,
		SignedOutMaxEntries: DefaultSignedOutMaxEntries, Pos: p.pos(n)}
	p.mapping(n, path, []field{
		{"enabled", func(path string, v *yaml.Node) {
			if b, ok := p.boolean(v, path); ok {
				c.Enabled = b
				if b {
					p.st.consoleEnabled = v
				}
			}
		}},
		{"public_url", func(path string, v *yaml.Node) {
			s, ok := p.str(v, path)
			if !ok {
				return
			}
			u, err := url.Parse(s)
			switch {
			case err != nil || u.Host == "" || u.Opaque != "" || u.User != nil:
				p.errorf(v, path, "invalid URL "+quote(s)+"; use https://host[:port]")
			case u.Scheme != "https" && u.Scheme != "http":
				p.errorf(v, path, "scheme must be https (or http), got "+quote(u.Scheme))
			case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
				p.errorf(v, path, "must not have a path, query or fragment: iamgate's paths start at /")
			default:
				c.PublicURL = u.Scheme + "://" + u.Host
				if u.Scheme == "http" && !isLoopback(u.Hostname()) {
					p.warnf(v, path, "http: session cookies are not marked Secure and travel in clear text")
				}
			}
		}},
		{"cookie_name", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if !cookieName.MatchString(s) || strings.HasPrefix(s, "iamgate_login_") {
					p.errorf(v, path, "invalid cookie name "+quote(s)+"; use 1-64 of A-Z a-z 0-9 _ - (not starting with iamgate_login_)")
					return
				}
				c.CookieName = s
			}
		}},
		{"session_refresh", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Minute, 12*time.Hour); ok {
				c.SessionRefresh = d
			}
		}},
		{"signed_out_max_entries", func(path string, v *yaml.Node) {
			if n, ok := p.intRange(v, path, 100, 10_000_000); ok {
				c.SignedOutMaxEntries = int(n)
			}
		}},
	})
	return c
}

func (p *parser) log(n *yaml.Node, path string, l *Log) {
	p.mapping(n, path, []field{
		{"level", func(path string, v *yaml.Node) {
			if s, ok := p.enum(v, path, "debug", "info", "warn", "error"); ok {
				l.Level = s
			}
		}},
		{"format", func(path string, v *yaml.Node) {
			if s, ok := p.enum(v, path, "json", "text"); ok {
				l.Format = s
			}
		}},
	})
}

func (p *parser) enum(n *yaml.Node, path string, values ...string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if slices.Contains(values, s) {
		return s, true
	}
	msg := "invalid value " + quote(s)
	if g := suggest(s, values); g != "" {
		msg += " (did you mean " + quote(g) + "?)"
	}
	p.errorf(n, path, msg+"; must be one of "+strings.Join(values, ", "))
	return "", false
}
