package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/identity/ldapdir"
	"github.com/iamgate/iamgate/internal/upstream"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
	"github.com/iamgate/iamgate/state"
	"github.com/iamgate/iamgate/sts"
	"github.com/iamgate/iamgate/web"
)

// compileEngine maps the file's roles and policies onto the authz engine.
// Policy-language errors are prefixed with the position of the policy in
// the configuration file.
func compileEngine(f *config.File) (*authz.Engine, error) {
	ac := authz.Config{Policies: policyDocs(f)}
	for _, r := range f.Roles {
		rc := authz.RoleConfig{Name: r.Name, Kind: r.Kind, Policies: r.Policies, Source: r.Pos.String()}
		for _, t := range r.Trust {
			rc.Trust = append(rc.Trust, authz.TrustRule{Issuer: t.Issuer, Claims: t.Claims})
		}
		if q := r.Requestable; q != nil {
			rc.Requestable = &authz.Requestable{MaxDuration: q.MaxDuration}
			for _, t := range q.Approvers {
				rc.Requestable.Approvers = append(rc.Requestable.Approvers, authz.TrustRule{Issuer: t.Issuer, Claims: t.Claims})
			}
		}
		ac.Roles = append(ac.Roles, rc)
	}
	return authz.Compile(ac)
}

// policyDocs maps the file's policies onto authz documents whose messages
// point at the statement concerned.
func policyDocs(f *config.File) []authz.PolicyDoc {
	var docs []authz.PolicyDoc
	for _, p := range f.Policies {
		src := p.Pos.String()
		if p.Source != "" {
			src = p.Source + " (" + src + ")"
		}
		locate := func(line, col int) string {
			if pos, ok := p.Locate(line, col); ok {
				return pos.String()
			}
			return ""
		}
		docs = append(docs, authz.PolicyDoc{Name: p.Name, JSON: p.JSON, Source: src, Locate: locate})
	}
	return docs
}

// identityConfig maps the file's issuers onto the verifier's config.
func identityConfig(f *config.File, log *slog.Logger, onRefresh func(string, error)) identity.Config {
	var ic identity.Config
	for _, is := range f.Issuers {
		ic.Issuers = append(ic.Issuers, identity.IssuerConfig{
			Name:             is.Name,
			URL:              is.URL,
			Audiences:        is.Audiences,
			AllowAnyAudience: is.AllowAnyAudience,
			ClockSkew:        is.ClockSkew,
			RequiredClaims:   is.RequiredClaims,
			Algorithms:       is.Algorithms,
			JWKSURL:          is.JWKSURL,
		})
	}
	ic.Logger = log
	ic.OnJWKSRefresh = onRefresh
	return ic
}

// browserDeps are what the browser front end needs beyond the file, and
// keeps across reloads: the S3 handler its console sends requests through
// (the proxy itself), the audit log and the record of signed-out sessions.
type browserDeps struct {
	s3        http.Handler
	audit     *audit.Logger
	signedOut web.SignedOutSessions
	// failures counts failed directory sign-ins for the process (STS and
	// console alike), across reloads; nil: no throttling.
	failures state.Failures
	// revocations are the run-time revocation rules; nil: none.
	revocations identity.RevocationSource
	// delegations records the delegated sessions for the console, and
	// revoke adds the run-time revocation of one; nil: not recorded.
	delegations state.Delegations
	revoke      web.RevocationAdder
	// grants are the just-in-time access grants (nil: none): the record
	// the console changes, the watcher requests read, and the
	// notification of approvers.
	grants *grantsRuntime
}

// delegationRecorder records the delegated sessions the STS issues.
type delegationRecorder struct{ d state.Delegations }

var _ sts.DelegationRecord = delegationRecorder{}

func (r delegationRecorder) Record(ctx context.Context, s *identity.Session) error {
	a := s.Actor
	d := state.Delegation{SessionID: s.ID, Issuer: s.Issuer, Subject: s.Subject, Role: strings.Join(s.Roles, "+"),
		ActorIssuer: a.Issuer, ActorSubject: a.Subject, ActorRole: strings.Join(a.Roles, "+"),
		RoleSessionName: s.RoleSessionName, IssuedAt: s.IssuedAt, Expiry: s.Expiry}
	d.ActorClientID, _ = a.Claims["client_id"].(string)
	d.Claims, d.ActorClaims = recordedClaims(s.Claims), recordedClaims(a.Claims)
	return r.d.Add(ctx, d)
}

// recordedClaims are the scalar claims a delegation record keeps for
// revocations by claim: at most 32, in name order, none over 256 bytes.
func recordedClaims(claims map[string]any) map[string]string {
	names := slices.Sorted(maps.Keys(claims))
	var out map[string]string
	for _, k := range names {
		v, ok := identity.ClaimString(claims[k])
		if !ok || len(v) > 256 || len(k) > 256 {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
		if len(out) == 32 {
			break
		}
	}
	return out
}

// directories builds the file's LDAP directories. They do no I/O until
// the first sign-in; the caller closes them when their generation is
// replaced.
func directories(f *config.File, failures state.Failures) ([]*ldapdir.Directory, error) {
	var out []*ldapdir.Directory
	var errs []error
	for _, d := range f.LDAP {
		cfg := ldapdir.Config{
			Name: d.Name, URL: d.URL, StartTLS: d.StartTLS,
			LookupBindDN: d.LookupBindDN, LookupBindPassword: d.LookupBindPassword.Reveal(),
			UserSearchBase: d.UserDNSearchBase, UserSearchFilter: d.UserDNSearchFilter,
			GroupSearchBase: d.GroupSearchBase, GroupSearchFilter: d.GroupSearchFilter,
			Attributes: d.Attributes, DialTimeout: d.DialTimeout, RequestTimeout: d.RequestTimeout, PoolSize: d.PoolSize,
			Throttle: ldapdir.Throttle{Failures: failures, MaxFailures: d.Throttle.MaxFailures,
				SourceMaxFailures: d.Throttle.SourceMaxFailures, Window: d.Throttle.Window, Lockout: d.Throttle.Lockout},
		}
		if d.CAFile != "" {
			pem, err := os.ReadFile(d.CAFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("ldap %q: ca_file: %w", d.Name, err))
				continue
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("ldap %q: ca_file %s holds no PEM certificate", d.Name, d.CAFile))
				continue
			}
		}
		dir, err := ldapdir.New(cfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, dir)
	}
	if len(errs) > 0 {
		closeDirectories(out)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func closeDirectories(dirs []*ldapdir.Directory) {
	for _, d := range dirs {
		d.Close()
	}
}

// signedOutRecord is the process's record of signed-out sessions, bounded
// as the file says at start.
func signedOutRecord(f *config.File) *state.Memory {
	return state.NewMemory(state.MemoryConfig{MaxEntries: signedOutMax(f)})
}

// buildGeneration compiles a loaded file into a servable generation. With
// prev, issuer key sets that did not change are carried over.
func buildGeneration(ctx context.Context, f *config.File, prev *identity.Verifier, log *slog.Logger, m *proxy.Metrics, fpKey []byte, bd browserDeps) (*proxy.Generation, []*ldapdir.Directory, error) {
	engine, err := compileEngine(f)
	if err != nil {
		return nil, nil, err
	}
	dirs, err := directories(f, bd.failures)
	if err != nil {
		return nil, nil, err
	}
	gen, err := buildWithDirectories(ctx, f, engine, dirs, prev, log, m, fpKey, bd)
	if err != nil {
		closeDirectories(dirs)
		return nil, nil, err
	}
	return gen, dirs, nil
}

func buildWithDirectories(ctx context.Context, f *config.File, engine *authz.Engine, dirs []*ldapdir.Directory, prev *identity.Verifier, log *slog.Logger, m *proxy.Metrics, fpKey []byte, bd browserDeps) (*proxy.Generation, error) {
	var err error
	ic := identityConfig(f, log, m.JWKSRefreshHook())
	var v *identity.Verifier
	if prev != nil {
		v, err = prev.Reload(ctx, ic)
	} else {
		v, err = identity.New(ctx, ic)
	}
	if err != nil {
		return nil, err
	}
	gen := &proxy.Generation{
		Engine:         engine,
		Verifier:       v,
		S3:             s3req.Config{VirtualHostDomains: f.VirtualHostDomains},
		TrustedProxies: f.TrustedProxies,
		SigV2:          f.SigV2,
		Digest:         f.Digest,
		IssuerURLs:     map[string]string{},
		AuditClaims:    f.Audit.Claims,
	}
	for _, is := range f.Issuers {
		gen.IssuerURLs[is.Name] = is.URL
	}
	for _, d := range f.LDAP {
		// What stands for an issuer URL in audit records.
		gen.IssuerURLs[d.Name] = "ldap:" + d.Name
	}
	gen.Protect = protections(f)
	gen.Revocations = revocations(f)
	gen.RuntimeRevocations = bd.revocations
	var grants sts.GrantSource
	if bd.grants != nil {
		gen.Grants, grants = bd.grants.watcher, bd.grants.watcher
	}
	gen.Limits = limitPolicies(f)
	if len(f.ServiceCredentials) > 0 {
		gen.Services = map[string]*proxy.ServiceCredential{}
		for _, sc := range f.ServiceCredentials {
			gen.Services[sc.AccessKeyID] = &proxy.ServiceCredential{Name: sc.Name, AccessKeyID: sc.AccessKeyID,
				SecretAccessKey: sc.SecretAccessKey.Reveal(), Role: sc.Role, Expires: sc.Expires}
		}
	}
	if f.STS != nil {
		keys, err := sessionKeyRing(f.STS)
		if err != nil {
			v.Close()
			return nil, err
		}
		gen.Sessions = keys
		roles := map[string]sts.RoleSettings{}
		for _, r := range f.Roles {
			roles[r.Name] = sts.RoleSettings{MaxSession: r.MaxSession, SessionMayOutliveToken: r.SessionMayOutliveToken}
		}
		var record sts.DelegationRecord
		if bd.delegations != nil {
			record = delegationRecorder{bd.delegations}
		}
		gen.STS, err = sts.New(sts.Config{
			Delegations:        record,
			Grants:             grants,
			Engine:             engine,
			Verifier:           v,
			Keys:               keys,
			Roles:              roles,
			Revocations:        gen.Revocations,
			RuntimeRevocations: gen.RuntimeRevocations,
			MaxPolicySize:      f.STS.MaxPolicySize,
			Directories:        stsDirectories(dirs),
			Fingerprint:        func(h [32]byte) string { return proxy.Fingerprint(fpKey, h) },
		})
		if err != nil {
			v.Close()
			return nil, err
		}
	}
	if len(f.LoginIssuers()) > 0 || len(f.LoginDirectories()) > 0 {
		wc := webConfig(f, gen, engine, bd)
		wc.Directories = webDirectories(f, dirs)
		wc.Logger = log
		wc.Fingerprint = func(h [32]byte) string { return proxy.Fingerprint(fpKey, h) }
		w, err := web.New(wc)
		if err != nil {
			v.Close()
			return nil, err
		}
		gen.Browser = w
	}
	return gen, nil
}

func stsDirectories(dirs []*ldapdir.Directory) []sts.Directory {
	out := make([]sts.Directory, len(dirs))
	for i, d := range dirs {
		out[i] = d
	}
	return out
}

// webDirectories are the directories of dirs with a login label.
func webDirectories(f *config.File, dirs []*ldapdir.Directory) []web.Directory {
	var out []web.Directory
	for i, d := range f.LDAP {
		if d.LoginLabel != "" && i < len(dirs) {
			out = append(out, web.Directory{Name: d.Name, Label: d.LoginLabel, Directory: dirs[i]})
		}
	}
	return out
}

// webConfig maps the file's login issuers and console section onto the
// browser front end's config. gen must hold the session key ring.
func webConfig(f *config.File, gen *proxy.Generation, engine *authz.Engine, bd browserDeps) web.Config {
	wc := web.Config{
		Keys:               gen.Sessions,
		Engine:             engine,
		Revocations:        gen.Revocations,
		RuntimeRevocations: gen.RuntimeRevocations,
		S3:                 bd.s3,
		Audit:              bd.audit,
		AuditClaims:        f.Audit.Claims,
		Region:             f.Upstream.Region,
		TrustedProxies:     f.TrustedProxies,
		MaxSession:         map[string]time.Duration{},
		SignedOut:          bd.signedOut,
		SessionRefresh:     config.DefaultSessionRefresh,
	}
	if bd.delegations != nil && bd.revoke != nil {
		wc.Delegations, wc.RevokeSessions = bd.delegations, bd.revoke
	}
	if g := bd.grants; g != nil {
		wc.Grants, wc.Notify = g.store, g.notifier()
		wc.GrantsChanged = g.watcher.Changed
		wc.RoleDescriptions = map[string]string{}
		for _, r := range f.Roles {
			if r.Requestable != nil && r.Description != "" {
				wc.RoleDescriptions[r.Name] = r.Description
			}
		}
	}
	for _, is := range f.LoginIssuers() {
		wi := web.Issuer{Name: is.Name, URL: is.URL, ClientID: is.ClientID, Scopes: is.Scopes, Label: is.LoginLabel,
			RequiredClaims: is.RequiredClaims, Algorithms: is.Algorithms}
		if is.ClientSecret != nil {
			wi.ClientSecret = is.ClientSecret.Reveal()
		}
		wc.Issuers = append(wc.Issuers, wi)
	}
	for _, r := range f.Roles {
		wc.MaxSession[r.Name] = r.MaxSession
	}
	if f.Console != nil {
		wc.PublicURL, wc.CookieName = f.Console.PublicURL, f.Console.CookieName
		wc.SessionRefresh = f.Console.SessionRefresh
	}
	return wc
}

// sessionKeyRing stretches each configured session secret to a 256-bit
// key with HKDF-SHA256; the first key seals.
func sessionKeyRing(c *config.STS) (*identity.KeyRing, error) {
	var keys []identity.SessionKey
	for _, k := range c.SessionKeys {
		key, err := hkdf.Key(sha256.New, []byte(k.Secret.Reveal()), nil, "iamgate session key "+k.ID, identity.SessionKeySize)
		if err != nil {
			return nil, err
		}
		keys = append(keys, identity.SessionKey{ID: k.ID, Secret: key})
	}
	return identity.NewKeyRing(keys)
}

func revocations(f *config.File) []identity.Revocation {
	var out []identity.Revocation
	for _, r := range f.Revocations {
		out = append(out, identity.Revocation{Subject: r.Subject, Issuer: r.Issuer, Role: r.Role,
			SessionID: r.SessionID, IssuedBefore: r.IssuedBefore})
	}
	return out
}

// upstreamTransport is the tuned, signing transport toward the store:
// iamgate's own HTTP/1.1 client (upstream.client: lean) or net/http's
// Transport (std), with the same timeouts, pool size and TLS settings.
func upstreamTransport(f *config.File) (*url.URL, *sigv4.Transport, error) {
	u, err := url.Parse(f.Upstream.Endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("upstream endpoint: %w", err)
	}
	var tlsConfig *tls.Config
	if f.Upstream.CAFile != "" {
		pem, err := os.ReadFile(f.Upstream.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, errors.New("upstream ca_file: no PEM certificates found")
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var base http.RoundTripper
	if f.Upstream.Client == config.UpstreamClientStd {
		dialer := &net.Dialer{Timeout: f.Upstream.DialTimeout, KeepAlive: 30 * time.Second}
		base = &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      false,
			MaxIdleConns:           f.Upstream.MaxIdleConnsPerHost * 2,
			MaxIdleConnsPerHost:    f.Upstream.MaxIdleConnsPerHost,
			IdleConnTimeout:        f.Upstream.IdleConnTimeout,
			ResponseHeaderTimeout:  f.Upstream.ResponseHeaderTimeout,
			ExpectContinueTimeout:  time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			TLSClientConfig:        tlsConfig,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 1 << 20,
			WriteBufferSize:        64 << 10,
			ReadBufferSize:         64 << 10,
		}
	} else {
		base = upstream.New(upstream.Config{
			DialTimeout:           f.Upstream.DialTimeout,
			TLSHandshakeTimeout:   10 * time.Second,
			TLSClientConfig:       tlsConfig,
			ResponseHeaderTimeout: f.Upstream.ResponseHeaderTimeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       f.Upstream.IdleConnTimeout,
			MaxIdleConns:          f.Upstream.MaxIdleConnsPerHost,
			MaxResponseHeaderSize: 1 << 20,
			ReadBufferSize:        64 << 10,
		})
	}
	if f.Upstream.Federation != nil {
		// Temporary credentials arrive from the store's STS (federation.go).
		return u, sigv4.NewTransportWithoutCredentials(base, f.Upstream.Region), nil
	}
	return u, sigv4.NewTransport(base, upstreamCredentials(f), f.Upstream.Region), nil
}

func upstreamCredentials(f *config.File) sigv4.Credentials {
	return sigv4.Credentials{
		AccessKeyID:     f.Upstream.AccessKeyID.Reveal(),
		SecretAccessKey: f.Upstream.SecretAccessKey.Reveal(),
	}
}

// protections maps the roles' protect sections onto the proxy's guards.
func protections(f *config.File) map[string]proxy.Protect {
	var out map[string]proxy.Protect
	for _, r := range f.Roles {
		p := r.Protect
		if p.Delete == "" && p.Overwrite == "" && p.BulkDelete == nil {
			continue
		}
		if out == nil {
			out = map[string]proxy.Protect{}
		}
		pp := proxy.Protect{Delete: proxy.GuardMode(p.Delete), Overwrite: proxy.GuardMode(p.Overwrite)}
		if p.BulkDelete != nil {
			pp.BulkDeleteMaxKeys, pp.BulkDeleteWindow = p.BulkDelete.MaxKeys, p.BulkDelete.Window
		}
		out[r.Name] = pp
	}
	return out
}
