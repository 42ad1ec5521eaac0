package config

import (
	"net/url"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults and limits of the state and admin sections.
const (
	DefaultRedisKeyPrefix   = "iamgate:"
	DefaultRedisDialTimeout = 2 * time.Second
	DefaultRedisTimeout     = 200 * time.Millisecond
	DefaultRedisPoolSize    = 32
	DefaultCountersOnError  = "closed"
	// MinAdminTokenBytes is the shortest accepted admin.token.
	MinAdminTokenBytes = 32
)

// State says where the state every replica must agree on is kept:
// signed-out browser sessions, run-time revocations, failed sign-in counts
// and rate-limit counters.
type State struct {
	// Redis is the shared store; nil keeps the state in process memory
	// (one replica).
	Redis *Redis
	// CountersOnError is what rate limits do while the store fails:
	// "closed" refuses (default), "open" allows.
	CountersOnError string
}

// Redis is a Redis (or Valkey) server the replicas share.
type Redis struct {
	URL         string  // redis://host:port/db or rediss://host:port/db; no credentials
	Username    string  // "": none (the default user)
	Password    *Secret // nil: none
	CAFile      string  // PEM bundle trusted for rediss://; "": system roots
	KeyPrefix   string
	DialTimeout time.Duration
	Timeout     time.Duration // per command, round trip included
	PoolSize    int
	Pos         Pos
}

// Admin configures the admin endpoint (/admin/...) on the metrics
// listener. Each request is authenticated by a bearer token: an OIDC token
// of a configured issuer that one of Roles trusts, or Token.
type Admin struct {
	Roles []string // names of File.Roles
	Token *Secret  // break-glass static token; nil: none
	Pos   Pos
}

var keyPrefix = regexp.MustCompile(`^[A-Za-z0-9_:.{}-]{1,64}$`)

func (p *parser) state(n *yaml.Node, path string) *State {
	s := &State{CountersOnError: DefaultCountersOnError}
	p.mapping(n, path, []field{
		{"redis", func(path string, v *yaml.Node) { s.Redis = p.redis(v, path) }},
		{"counters_on_error", func(path string, v *yaml.Node) {
			if e, ok := p.enum(v, path, "closed", "open"); ok {
				s.CountersOnError = e
			}
		}},
	})
	return s
}

func (p *parser) redis(n *yaml.Node, path string) *Redis {
	r := &Redis{KeyPrefix: DefaultRedisKeyPrefix, DialTimeout: DefaultRedisDialTimeout, Timeout: DefaultRedisTimeout,
		PoolSize: DefaultRedisPoolSize, Pos: p.pos(n)}
	var caNode *yaml.Node
	present, ok := p.mapping(n, path, []field{
		{"url", func(path string, v *yaml.Node) { r.URL = p.redisURL(v, path) }},
		{"username", func(path string, v *yaml.Node) { r.Username, _ = p.str(v, path) }},
		{"password", func(path string, v *yaml.Node) {
			if s, ok := p.secret(v, path); ok {
				r.Password = &s
			}
		}},
		{"ca_file", func(path string, v *yaml.Node) { r.CAFile, caNode = p.existingFile(v, path), v }},
		{"key_prefix", func(path string, v *yaml.Node) {
			if s, ok := p.str(v, path); ok {
				if !keyPrefix.MatchString(s) {
					p.errorf(v, path, "invalid key prefix "+quote(s)+"; use 1-64 of A-Z a-z 0-9 _ : . { } -")
					return
				}
				r.KeyPrefix = s
			}
		}},
		{"dial_timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, 10*time.Millisecond, time.Minute); ok {
				r.DialTimeout = d
			}
		}},
		{"timeout", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, time.Millisecond, 10*time.Second); ok {
				r.Timeout = d
			}
		}},
		{"pool_size", func(path string, v *yaml.Node) {
			if i, ok := p.intRange(v, path, 1, 10_000); ok {
				r.PoolSize = int(i)
			}
		}},
	})
	if !ok || !p.require(n, path, present, "url") || r.URL == "" {
		return nil
	}
	if caNode != nil && r.CAFile != "" {
		if u, err := url.Parse(r.URL); err == nil && u.Scheme != "rediss" {
			p.errorf(caNode, path+".ca_file", "applies to rediss:// URLs only (TLS); the url is redis://")
		}
	}
	return r
}

// redisURL decodes a redis:// or rediss:// URL without credentials.
func (p *parser) redisURL(n *yaml.Node, path string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.errorf(n, path, "invalid URL; use redis://host:6379/0 or rediss://host:6379/0 (TLS)")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		p.errorf(n, path, "scheme must be redis or rediss, got "+quote(u.Scheme))
	case u.User != nil:
		p.errorf(n, path, "must not contain credentials; use username and password (a secret reference)")
	case u.RawQuery != "" || u.Fragment != "":
		p.errorf(n, path, "must not have a query or fragment; use the keys of the redis section")
	default:
		if db := u.Path; db != "" && db != "/" {
			if i, err := strconv.Atoi(db[1:]); err != nil || i < 0 || i > 15 {
				p.errorf(n, path, "the path is the database number, 0 to 15; got "+quote(db))
				return ""
			}
		}
		return s
	}
	return ""
}

func (p *parser) admin(n *yaml.Node, path string) *Admin {
	a := &Admin{Pos: p.pos(n)}
	present, ok := p.mapping(n, path, []field{
		{"roles", func(path string, v *yaml.Node) {
			for _, it := range p.strItems(v, path) {
				a.Roles = append(a.Roles, it.s)
				p.st.refs = append(p.st.refs, ref{kind: "role", name: it.s, node: it.n, path: it.path})
			}
		}},
		{"token", func(path string, v *yaml.Node) {
			s, ok := p.secret(v, path)
			if !ok {
				return
			}
			if s.Resolved() && len(s.Reveal()) < MinAdminTokenBytes {
				p.errorf(v, path, "token is too short; use at least 32 bytes (for example: openssl rand -hex 32)")
				return
			}
			a.Token = &s
		}},
	})
	if !ok {
		return nil
	}
	if present["roles"] == nil && present["token"] == nil && !p.typoOf(n, "roles", "token") {
		at := n
		if k := p.keyOf[n]; k != nil {
			at = k
		}
		p.errorf(at, path, "set roles (OIDC bearer tokens trusted by these roles are admins), token (a static break-glass token), or both")
	}
	if p.st.metricsNode == nil {
		p.st.adminNode = n
	}
	return a
}

// typoOf reports whether a misspelt key of n was taken for one of keys.
func (p *parser) typoOf(n *yaml.Node, keys ...string) bool {
	for _, t := range p.typos[n] {
		for _, k := range keys {
			if t == k {
				return true
			}
		}
	}
	return false
}
