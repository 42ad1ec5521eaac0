package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/federation"
	"github.com/iamgate/iamgate/identity/ldapdir"
	"github.com/iamgate/iamgate/proxy"
	"github.com/iamgate/iamgate/sigv4"
)

var serveCmd = cliCommand{
	Name:  "serve",
	Usage: "[flags]",
	About: `Runs the proxy: the S3 endpoint, STS, sign-in and console on listen, metrics
on metrics_listen. The configuration is reloaded when its files change and on
SIGHUP; SIGINT and SIGTERM drain requests and stop.`,
	Examples: []string{"iamgate serve --config iamgate.yaml"},
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &serveCmd
	fs := c.flagSet()
	path := fs.String("config", "iamgate.yaml", "configuration `file`")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this `file` until shutdown")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	a, err := newApp(ctx, *path, appOptions{Stdout: stdout, Stderr: stderr})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

type appOptions struct {
	Stdout, Stderr io.Writer
	// Listen and MetricsListen override the file (tests use 127.0.0.1:0).
	Listen, MetricsListen *string
	// ReloadInterval is how often the configuration files are checked for
	// changes; default 2s.
	ReloadInterval time.Duration
	// FederationMaxBackoff bounds the wait between failed attempts to
	// obtain upstream credentials; default federation.DefaultMaxBackoff.
	FederationMaxBackoff time.Duration
	// DrainDelay overrides server.drain_delay (iamgate dev, which no load
	// balancer watches, and tests).
	DrainDelay *time.Duration
	// drainTimer starts the drain delay; nil means time.After (tests end
	// the drain when they choose).
	drainTimer func(time.Duration) <-chan time.Time
	// VersioningCache sets proxy.Config.VersioningCache and
	// VersioningCacheEnabled (how long a bucket's versioning status is kept
	// for the versioned-only guards); 0: the defaults.
	VersioningCache time.Duration
	// GrantsNow is the clock of the just-in-time grants kept in memory
	// (state without redis): their record and the watcher that decides
	// when a grant ends; nil: time.Now. Tests move it past a grant's end.
	GrantsNow func() time.Time
}

// app is a running iamgate: listeners, handler, reload and shutdown.
type app struct {
	opts    appOptions
	path    string
	log     *slog.Logger
	file    *config.File
	handler *proxy.Handler
	signer  *sigv4.Transport
	// fed obtains the temporary upstream credentials; nil with a static
	// key.
	fed     *upstreamFederation
	metrics *proxy.Metrics
	audit   *audit.Logger
	fpKey   []byte // keys token fingerprints; stable for the process
	// shared is the state every replica must agree on (signed-out
	// sessions, failed sign-in counts, run-time revocations, counters),
	// kept for the process across reloads.
	shared *sharedState
	// limits counts and enforces the roles' limits.
	limits *limitsRuntime
	// grants are the just-in-time access grants and their notification.
	grants *grantsRuntime
	// dirs are the directories of the current generation (reloadMu).
	dirs []*ldapdir.Directory

	srv, msrv *http.Server
	ln, mln   net.Listener

	reloadMu sync.Mutex
}

func newLogger(w io.Writer, l config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newApp(ctx context.Context, path string, opts appOptions) (*app, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = 2 * time.Second
	}
	f, warnings, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	a := &app{opts: opts, path: path, file: f, log: newLogger(opts.Stderr, f.Log)}
	for _, w := range warnings {
		a.log.Warn("configuration warning", "warning", w.String())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = proxy.NewMetrics(reg)
	a.metrics.ReloadOK.Set(1)

	sinks, err := auditSinks(f.Audit, opts.Stdout, a.log, a.metrics)
	if err != nil {
		return nil, err
	}
	chainCfg := audit.ChainConfig{
		CheckpointInterval: f.Audit.CheckpointInterval,
		CheckpointEvery:    f.Audit.CheckpointEvery,
		OnError: func(err error) {
			a.log.Error("audit checkpoint write failed", "err", err)
			a.metrics.AuditErrors.Inc()
		},
	}
	if f.Audit.SigningKey != nil {
		chainCfg.SigningKey = ed25519.NewKeyFromSeed([]byte(f.Audit.SigningKey.Reveal()))
	}
	if a.audit, err = audit.NewChainedLogger(chainCfg, sinks...); err != nil {
		closeSinks(sinks)
		return nil, err
	}
	// Close the sinks (and so release the webhook spool) if a later step
	// fails.
	started := false
	defer func() {
		if !started {
			a.audit.Close()
		}
	}()

	a.fpKey = make([]byte, 32)
	if f.Audit.FingerprintKey != nil {
		a.fpKey = []byte(f.Audit.FingerprintKey.Reveal())
	} else if _, err := rand.Read(a.fpKey); err != nil {
		return nil, err
	}
	if a.shared, err = newSharedState(f, a.log, reg); err != nil {
		return nil, err
	}
	defer func() {
		if !started {
			a.shared.close()
		}
	}()
	a.shared.prime(ctx, a.log)
	a.limits = newLimitsRuntime(f, a.shared, a.audit, a.log, reg)
	defer func() {
		if !started {
			a.limits.close()
		}
	}()
	a.grants = newGrantsRuntime(f, a.shared, a.audit, a.log, opts.GrantsNow)
	defer func() {
		if !started {
			a.grants.close()
		}
	}()
	a.grants.prime(ctx, a.log)
	gen, dirs, err := buildGeneration(ctx, f, nil, a.log, a.metrics, a.fpKey, a.browserDeps())
	if err != nil {
		return nil, err
	}
	a.dirs = dirs
	for _, w := range gen.Engine.Warnings() {
		a.log.Warn("configuration warning", "warning", w.String())
	}
	upURL, transport, err := upstreamTransport(f)
	if err != nil {
		return nil, err
	}
	a.signer = transport
	pcfg := proxy.Config{
		Upstream:              upURL,
		Region:                f.Upstream.Region,
		Transport:             transport,
		Audit:                 a.audit,
		AuditDelivery:         audit.Delivery(f.Audit.Delivery),
		Metrics:               a.metrics,
		Logger:                a.log,
		FingerprintKey:        a.fpKey,
		DeleteObjectsMaxBytes: f.Server.DeleteObjectsMaxBytes,
		StateReady:            a.shared.ready(),
		Limiter:               a.limits.limiter,
	}
	pcfg.Counters = a.shared.counters
	pcfg.VersioningCache, pcfg.VersioningCacheEnabled = opts.VersioningCache, opts.VersioningCache
	if f.Upstream.Federation != nil {
		if a.fed, err = newUpstreamFederation(f, transport, reg, a.log, opts.FederationMaxBackoff); err != nil {
			return nil, err
		}
		pcfg.OIDC = a.fed.issuer
		pcfg.UpstreamCredentials = a.fed.refresher.Ready
	}
	a.handler, err = proxy.New(pcfg, gen)
	if err != nil {
		return nil, err
	}

	listen := f.Listen
	if opts.Listen != nil {
		listen = *opts.Listen
	}
	a.srv = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: f.Server.ReadHeaderTimeout,
		IdleTimeout:       f.Server.IdleTimeout,
		MaxHeaderBytes:    f.Server.MaxHeaderBytes,
		ErrorLog:          log.New(&slogWriter{a.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		// Request framing is tracked per connection (proxy.FramingListener).
		ConnContext: proxy.ConnContext,
		// OPTIONS * reaches the handler, which refuses it, instead of being
		// answered by net/http on a connection it keeps open.
		DisableGeneralOptionsHandler: true,
	}
	a.ln, err = net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", listen, err)
	}
	if f.TLS != nil {
		cr, err := proxy.NewCertReloader(f.TLS.CertFile, f.TLS.KeyFile)
		if err != nil {
			a.ln.Close()
			return nil, err
		}
		cr.OnError = func(err error) { a.log.Error("TLS certificate reload failed; keeping the old one", "err", err) }
		cr.OnLoad = func(t time.Time) { a.metrics.TLSCertExpiry.Set(float64(t.Unix())) }
		a.metrics.TLSCertExpiry.Set(float64(cr.NotAfter().Unix()))
		a.ln = tls.NewListener(a.ln, &tls.Config{GetCertificate: cr.GetCertificate, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"}})
	}
	a.ln = proxy.FramingListener(a.ln)
	mlisten := f.MetricsListen
	if opts.MetricsListen != nil {
		mlisten = *opts.MetricsListen
	}
	if mlisten != "" {
		a.mln, err = net.Listen("tcp", mlisten)
		if err != nil {
			a.ln.Close()
			return nil, fmt.Errorf("listen %s: %w", mlisten, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.Handle("/admin/", &adminHandler{a: a})
		// ReadTimeout bounds an admin request body sent slowly.
		a.msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	}
	started = true
	return a, nil
}

// auditSinks builds the audit sinks of the configuration, counted in m.
func auditSinks(c config.Audit, stdout io.Writer, log *slog.Logger, m *proxy.Metrics) ([]audit.Sink, error) {
	am := m.AuditSinks()
	var sinks []audit.Sink
	if c.Stdout {
		sinks = append(sinks, audit.Instrument(audit.SinkStdout, audit.WriterSink{W: stdout}, am))
	}
	if c.File != "" {
		fsink, err := audit.OpenRotatingFile(audit.FileConfig{
			Path:    c.File,
			MaxSize: c.Rotate.MaxSize,
			MaxAge:  c.Rotate.MaxAge,
			Retain:  c.Rotate.Retain,
			Fsync:   audit.Fsync(c.Fsync),
			OnError: func(err error) {
				log.Error("audit file error", "err", err)
				if am != nil {
					am.SinkError(audit.SinkFile)
				}
			},
		})
		if err != nil {
			closeSinks(sinks)
			return nil, err
		}
		sinks = append(sinks, audit.Instrument(audit.SinkFile, fsink, am))
	}
	if w := c.Webhook; w != nil {
		wc := audit.WebhookConfig{
			URL:           w.URL,
			BatchSize:     w.BatchSize,
			FlushInterval: w.FlushInterval,
			SpoolDir:      w.SpoolDir,
			SpoolMaxBytes: w.SpoolMaxBytes,
			Fsync:         audit.Fsync(c.Fsync),
			Metrics:       am,
			// A *audit.DeliveryError names the URL without its query, never
			// a credential.
			OnError: func(err error) { log.Warn("audit webhook delivery failed; retrying", "err", err) },
		}
		if w.BearerToken != nil {
			wc.BearerToken = audit.Secret(w.BearerToken.Reveal())
		}
		if w.HMACSecret != nil {
			wc.HMACSecret = audit.Secret(w.HMACSecret.Reveal())
		}
		wsink, err := audit.NewWebhook(wc)
		if err != nil {
			closeSinks(sinks)
			return nil, err
		}
		sinks = append(sinks, wsink)
		if m != nil {
			capacity := w.SpoolMaxBytes
			if capacity <= 0 {
				capacity = audit.DefaultSpoolMaxBytes
			}
			m.AuditSpoolCapacity.WithLabelValues(audit.SinkWebhook).Set(float64(capacity))
		}
	}
	return sinks, nil
}

func closeSinks(sinks []audit.Sink) {
	for _, s := range sinks {
		if c, ok := s.(io.Closer); ok {
			c.Close()
		}
	}
}

// Addr is the S3 listener's address.
func (a *app) Addr() string { return a.ln.Addr().String() }

// MetricsAddr is the metrics listener's address, or "".
func (a *app) MetricsAddr() string {
	if a.mln == nil {
		return ""
	}
	return a.mln.Addr().String()
}

// Run serves until ctx is done, reloading on SIGHUP and when a
// configuration file changes, then shuts down gracefully: in-flight
// requests get the configured grace period to finish.
func (a *app) Run(ctx context.Context) error {
	scheme := "http"
	if a.file.TLS != nil {
		scheme = "https"
	}
	a.log.Info("iamgate serving", "addr", a.Addr(), "scheme", scheme, "upstream", a.file.Upstream.Endpoint,
		"metrics", a.MetricsAddr(), "config_digest", a.file.Digest)
	a.logEvent(&audit.Event{Kind: "start", Decision: "allow", ConfigDigest: a.file.Digest})
	a.logRevocations(nil, a.file)

	if a.fed != nil {
		// Until the first credentials arrive, readyz reports why and S3
		// requests are answered 503; the OpenID documents the store needs
		// to trust iamgate are served from the start.
		fctx, fcancel := context.WithCancel(context.WithoutCancel(ctx))
		defer fcancel()
		go a.fed.refresher.Run(fctx)
	}
	// The revocations stay current until Run returns: requests draining
	// during shutdown are still checked against them.
	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	watchDone := make(chan struct{})
	go func() { a.shared.run(wctx); close(watchDone) }()
	gctx, stopGrants := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGrants()
	grantsDone := make(chan struct{})
	go func() { a.grants.run(gctx); close(grantsDone) }()

	errc := make(chan error, 2)
	go func() { errc <- a.srv.Serve(a.ln) }()
	if a.msrv != nil {
		go func() { errc <- a.msrv.Serve(a.mln) }()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(a.opts.ReloadInterval)
	defer tick.Stop()
	watched := fileStamps(a.file)

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr = err
			}
			break loop
		case <-hup:
			a.reload(ctx, "signal")
			watched = fileStamps(a.currentFile())
		case <-tick.C:
			if now := fileStamps(a.currentFile()); now != watched {
				watched = now
				a.reload(ctx, "file_change")
			}
		}
	}

	if serveErr == nil {
		a.drain()
	}
	grace := a.file.Server.ShutdownGrace
	a.log.Info("iamgate shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if a.msrv != nil {
		a.msrv.Shutdown(sctx)
	}
	if err := a.srv.Shutdown(sctx); err != nil {
		a.log.Warn("grace period over; closing remaining connections", "err", err)
		a.srv.Close()
	}
	// Close does not wait for the handlers of the connections it cut: wait
	// (bounded) for them to log their events before the stop event and the
	// closing checkpoint.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownDrain)
	defer dcancel()
	if err := a.handler.Wait(dctx); err != nil {
		a.log.Error("requests still running after shutdown; their audit events are lost", "wait", shutdownDrain.String())
	}
	// No expiry is written after the stop event.
	stopGrants()
	<-grantsDone
	a.grants.close()
	a.logEvent(&audit.Event{Kind: "stop", Decision: "allow"})
	a.limits.close()
	a.handler.Current().Verifier.Close()
	a.audit.Close()
	stopWatch()
	<-watchDone
	a.shared.close()
	return serveErr
}

// drain begins a shutdown without refusing anything: readyz answers 503
// "shutting down" and every response says Connection: close, while new
// connections and requests are still served for the drain delay. Load
// balancers thus stop sending requests here before the listener closes.
// Idle keep-alive connections are not closed now (a request may be on its
// way on one; http.Server.SetKeepAlivesEnabled(false) would cut it) but by
// Shutdown, when the load balancer no longer uses them. A second SIGINT or
// SIGTERM ends the delay at once.
func (a *app) drain() {
	delay := a.file.Server.DrainDelay
	if a.opts.DrainDelay != nil {
		delay = *a.opts.DrainDelay
	}
	a.handler.Drain()
	if delay <= 0 {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	timer := a.opts.drainTimer
	if timer == nil {
		timer = time.After
	}
	a.log.Info("iamgate draining: readiness reports shutting down, requests are still served", "drain_delay", delay.String())
	select {
	case <-timer(delay):
	case <-sig:
		a.log.Info("second signal: drain delay cut short")
	}
}

// shutdownDrain bounds the wait, after the shutdown grace period, for the
// requests whose connections were closed to return.
const shutdownDrain = 5 * time.Second

// browserDeps lets the console send its S3 requests through the proxy
// (built after the first generation, so looked up per request).
func (a *app) browserDeps() browserDeps {
	return browserDeps{
		s3:          http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }),
		audit:       a.audit,
		signedOut:   a.shared.signedOut,
		failures:    a.shared.failures,
		revocations: a.shared.revocations,
		delegations: a.shared.delegations,
		revoke:      a.shared.watcher,
		grants:      a.grants,
	}
}

func (a *app) currentFile() *config.File {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.file
}

// reload loads and compiles the configuration again. A file that does not
// load or compile (a policy with an unknown action, say) is rejected with a
// logged error; the old configuration keeps serving. Warnings are logged
// and do not stop the new configuration. Listener, TLS, upstream and audit
// settings need a restart.
func (a *app) reload(ctx context.Context, trigger string) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	f, warnings, err := config.Load(a.path)
	var gen *proxy.Generation
	var fedKeys *federation.KeySet
	if err == nil && a.fed != nil && f.Upstream.Federation != nil {
		fedKeys, err = federationKeySet(f.Upstream.Federation)
	}
	if err == nil {
		var dirs []*ldapdir.Directory
		gen, dirs, err = buildGeneration(ctx, f, a.handler.Current().Verifier, a.log, a.metrics, a.fpKey, a.browserDeps())
		if err == nil {
			old := a.handler.Current()
			if err = a.handler.Swap(gen); err != nil {
				closeDirectories(dirs)
			} else {
				// Sign-ins in flight finish on the old directories; their
				// connections are closed as they are returned.
				closeDirectories(a.dirs)
				a.dirs = dirs
				switch {
				case fedKeys != nil:
					a.fed.issuer.SetKeys(fedKeys)
				case a.fed == nil && f.Upstream.Federation == nil:
					a.signer.SetCredentials(upstreamCredentials(f))
				}
				if restartOnly(a.file, f) {
					a.log.Warn("configuration reloaded, but listener, TLS files, upstream endpoint or region, upstream federation (other than its signing keys), audit, log, server settings, console.signed_out_max_entries, state or alerts change only on restart")
				}
				a.logRevocations(a.file, f)
				a.file = f
				// Requests in flight may still use the old verifier's keys; they
				// stay valid, only its background refresh stops.
				old.Verifier.Close()
			}
		}
	}
	ev := &audit.Event{Kind: "config_reload", Reason: trigger}
	if err != nil {
		a.metrics.Reloads.WithLabelValues("error").Inc()
		a.metrics.ReloadOK.Set(0)
		a.log.Error("configuration reload rejected; the previous configuration keeps serving", "trigger", trigger, "err", err)
		ev.Decision = "deny"
		ev.Message = err.Error()
		a.logEvent(ev)
		return err
	}
	for _, w := range warnings {
		a.log.Warn("configuration warning", "warning", w.String())
	}
	for _, w := range gen.Engine.Warnings() {
		a.log.Warn("configuration warning", "warning", w.String())
	}
	a.metrics.Reloads.WithLabelValues("ok").Inc()
	a.metrics.ReloadOK.Set(1)
	a.log.Info("configuration reloaded", "trigger", trigger, "config_digest", f.Digest)
	ev.Decision = "allow"
	ev.ConfigDigest = f.Digest
	a.logEvent(ev)
	return nil
}

// logRevocations records the revocation rules of next that prev lacks
// ("added"; with prev nil, all of them, "in_effect") and those of prev that
// next lacks ("removed").
func (a *app) logRevocations(prev, next *config.File) {
	key := func(r *config.Revocation) string {
		return strings.Join([]string{r.Issuer, r.Subject, r.Role, r.SessionID, r.IssuedBefore.String(), r.Reason}, "\x00")
	}
	in := func(f *config.File) map[string]bool {
		m := map[string]bool{}
		if f != nil {
			for i := range f.Revocations {
				m[key(&f.Revocations[i])] = true
			}
		}
		return m
	}
	had, has := in(prev), in(next)
	log := func(r *config.Revocation, reason string) {
		p := map[string]string{"issuedBefore": r.IssuedBefore.UTC().Format(time.RFC3339)}
		for k, v := range map[string]string{"issuer": r.Issuer, "subject": r.Subject, "role": r.Role, "sessionId": r.SessionID, "note": r.Reason} {
			if v != "" {
				p[k] = v
			}
		}
		a.logEvent(&audit.Event{Kind: audit.KindRevocation, Decision: "allow", Reason: reason, Parameters: p,
			ConfigDigest: next.Digest, Message: "STS and browser sessions matching these parameters issued before issuedBefore are refused"})
	}
	reason := "added"
	if prev == nil {
		reason = "in_effect"
	}
	for i := range next.Revocations {
		if r := &next.Revocations[i]; !had[key(r)] {
			log(r, reason)
		}
	}
	if prev != nil {
		for i := range prev.Revocations {
			if r := &prev.Revocations[i]; !has[key(r)] {
				log(r, "removed")
			}
		}
	}
}

func (a *app) logEvent(ev *audit.Event) {
	if err := a.audit.Log(ev); err != nil {
		a.log.Error("audit write failed", "err", err)
		a.metrics.AuditErrors.Inc()
	}
}

// restartOnly reports whether settings that a reload cannot apply changed.
func restartOnly(old, new *config.File) bool {
	return old.Listen != new.Listen || old.MetricsListen != new.MetricsListen ||
		fmt.Sprint(old.TLS) != fmt.Sprint(new.TLS) || old.Upstream.Endpoint != new.Upstream.Endpoint ||
		old.Upstream.Region != new.Upstream.Region || old.Upstream.CAFile != new.Upstream.CAFile ||
		old.Upstream.DialTimeout != new.Upstream.DialTimeout ||
		old.Upstream.ResponseHeaderTimeout != new.Upstream.ResponseHeaderTimeout ||
		old.Upstream.IdleConnTimeout != new.Upstream.IdleConnTimeout ||
		old.Upstream.MaxIdleConnsPerHost != new.Upstream.MaxIdleConnsPerHost ||
		old.Upstream.Client != new.Upstream.Client ||
		old.Log != new.Log || old.Audit.CheckpointInterval != new.Audit.CheckpointInterval ||
		old.Audit.CheckpointEvery != new.Audit.CheckpointEvery ||
		(old.Audit.SigningKey == nil) != (new.Audit.SigningKey == nil) ||
		old.Audit.SigningKey != nil && old.Audit.SigningKey.Reveal() != new.Audit.SigningKey.Reveal() ||
		!old.Audit.SameDelivery(&new.Audit) || old.Server != new.Server ||
		signedOutMax(old) != signedOutMax(new) || !sameState(&old.State, &new.State) ||
		!sameFederation(old.Upstream.Federation, new.Upstream.Federation) || alertsURL(old) != alertsURL(new) ||
		accessWebhookURL(old) != accessWebhookURL(new)
}

func alertsURL(f *config.File) string {
	if f.Alerts == nil {
		return ""
	}
	return f.Alerts.Webhook
}

// sameState reports whether a and b keep the shared state in the same
// place in the same way.
func sameState(a, b *config.State) bool {
	if a.CountersOnError != b.CountersOnError || (a.Redis == nil) != (b.Redis == nil) {
		return false
	}
	if a.Redis == nil {
		return true
	}
	x, y := *a.Redis, *b.Redis
	samePassword := x.Password == nil && y.Password == nil ||
		x.Password != nil && y.Password != nil && x.Password.Reveal() == y.Password.Reveal()
	x.Password, y.Password, x.Pos, y.Pos = nil, nil, config.Pos{}, config.Pos{}
	return samePassword && x == y
}

func signedOutMax(f *config.File) int {
	if f.Console == nil {
		return config.DefaultSignedOutMaxEntries
	}
	return f.Console.SignedOutMaxEntries
}

// fileStamps summarizes the size and modification time of every file the
// configuration was read from.
func fileStamps(f *config.File) string {
	var b strings.Builder
	files := append([]string{f.Path}, f.Files...)
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", p)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// slogWriter routes net/http's server log into the structured logger.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
