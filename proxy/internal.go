package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
)

// serveInternal answers iamgate's own endpoints under /_iamgate/.
func (h *Handler) serveInternal(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_iamgate/healthz":
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	case "/_iamgate/readyz":
		checks, ok := h.readiness(r.Context())
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "checks": checks})
	default:
		if strings.HasPrefix(r.URL.Path, "/_iamgate/oidc/") && h.cfg.OIDC != nil {
			h.cfg.OIDC.ServeHTTP(w, r)
			return
		}
		if gen := h.gen.Load(); gen != nil && gen.Browser != nil && isBrowserPath(r.URL.Path) {
			if h.cfg.AuditDelivery == audit.DeliveryRequired && r.URL.Path != "/_iamgate/signedout" {
				// No audit, no access: sign-in, the console and share links
				// too (they write events, and lead to S3 requests).
				if err := h.cfg.Audit.Available(); err != nil {
					w.Header().Set("Retry-After", "1")
					http.Error(w, "Service unavailable: audit events cannot be persisted, so access is refused for now. Try again in a minute.", http.StatusServiceUnavailable)
					return
				}
			}
			gen.Browser.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

// readiness reports whether the process is not shutting down, a
// configuration is loaded, the issuers' keys are loaded and the store is
// reachable.
func (h *Handler) readiness(ctx context.Context) (map[string]string, bool) {
	checks := map[string]string{}
	if h.draining.Load() {
		checks["shutdown"] = "shutting down"
		return checks, false
	}
	ok := true
	gen := h.gen.Load()
	if gen == nil {
		checks["config"] = "not loaded"
		return checks, false
	}
	checks["config"] = "ok"
	if err := gen.Verifier.Ready(); err != nil {
		checks["issuers"] = err.Error()
		ok = false
	} else {
		checks["issuers"] = "ok"
	}
	if h.cfg.AuditDelivery == audit.DeliveryRequired {
		if err := h.cfg.Audit.Available(); err != nil {
			checks["audit"] = err.Error()
			ok = false
		} else {
			checks["audit"] = "ok"
		}
	}
	if h.cfg.UpstreamCredentials != nil {
		if err := h.cfg.UpstreamCredentials(); err != nil {
			checks["upstream_credentials"] = err.Error()
			ok = false
		} else {
			checks["upstream_credentials"] = "ok"
		}
	}
	if h.cfg.StateReady != nil {
		if err := h.cfg.StateReady(); err != nil {
			checks["state"] = err.Error()
			ok = false
		} else {
			checks["state"] = "ok"
		}
	}
	if err := h.upstreamReady(ctx); err != nil {
		checks["upstream"] = err.Error()
		ok = false
	} else {
		checks["upstream"] = "ok"
	}
	return checks, ok
}

// upstreamReady probes the store at most once a second. Any HTTP answer
// counts as reachable: the probe is unauthenticated.
func (h *Handler) upstreamReady(ctx context.Context) error {
	if h.cfg.UpstreamReady != nil {
		return h.cfg.UpstreamReady(ctx)
	}
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	if time.Since(h.readyAt) < time.Second {
		return h.readyErr
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, h.cfg.Upstream.String()+"/", nil)
	if err == nil {
		var resp *http.Response
		resp, err = h.probeCl.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		err = fmt.Errorf("unreachable: %v", err)
	}
	h.readyAt, h.readyErr = time.Now(), err
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
