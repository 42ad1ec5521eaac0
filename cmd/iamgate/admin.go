package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// Limits of the admin endpoint.
const (
	// maxAdminBody bounds a request body.
	maxAdminBody = 16 << 10
	// DefaultRevocationLife is how long a run-time revocation is kept
	// after the later of its issued_before and the time it is added, when
	// the request sets no expiry: longer than any session issued before
	// it can still be used (12 hours at most, plus a browser session's
	// renewal window).
	DefaultRevocationLife = 24 * time.Hour
)

// adminRevocationRequest is the body of POST /admin/revocations.
type adminRevocationRequest struct {
	Subject      string `json:"subject"`
	Issuer       string `json:"issuer"`
	Role         string `json:"role"`
	SessionID    string `json:"session_id"`
	Claim        string `json:"claim"`
	ClaimValue   string `json:"claim_value"`
	IssuedBefore string `json:"issued_before"` // RFC 3339; "": now
	Expires      string `json:"expires"`       // RFC 3339; "": DefaultRevocationLife after
	Reason       string `json:"reason"`
}

// parseAdminRevocation decodes a revocation request strictly (no unknown
// field, one JSON object, nothing after it) and validates it at now. The
// error is a sentence for the caller.
func parseAdminRevocation(body []byte, now time.Time) (state.Revocation, error) {
	var req adminRevocationRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return state.Revocation{}, fmt.Errorf("invalid JSON body: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return state.Revocation{}, errors.New("invalid JSON body: data after the object")
	}
	r := state.Revocation{Subject: req.Subject, Issuer: req.Issuer, Role: req.Role, SessionID: req.SessionID,
		Claim: req.Claim, ClaimValue: req.ClaimValue, Reason: strings.TrimSpace(req.Reason), IssuedBefore: now.UTC()}
	if req.IssuedBefore != "" {
		t, err := time.Parse(time.RFC3339, req.IssuedBefore)
		if err != nil {
			return state.Revocation{}, errors.New("issued_before: not an RFC 3339 time such as 2026-11-27T12:00:00Z")
		}
		r.IssuedBefore = t.UTC()
	}
	if req.Expires != "" {
		t, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil {
			return state.Revocation{}, errors.New("expires: not an RFC 3339 time such as 2026-11-28T12:00:00Z")
		}
		r.Expires = t.UTC()
	} else {
		r.Expires = later(now, r.IssuedBefore).Add(DefaultRevocationLife).UTC()
	}
	if err := r.Validate(now); err != nil {
		return state.Revocation{}, errors.New(strings.TrimPrefix(err.Error(), state.ErrInvalidRevocation.Error()+": "))
	}
	return r, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not a JSON object"
}

// adminHandler serves /admin/ on the metrics listener: run-time
// revocations. Every request is authenticated by a bearer token (an OIDC
// token that a role of admin.roles trusts, or admin.token) and audited.
type adminHandler struct{ a *app }

// adminCaller is who made an admin request.
type adminCaller struct {
	method          string // "admin-token" or "bearer"
	issuer, subject string
}

func (c *adminCaller) String() string {
	if c.method == "admin-token" {
		return "admin-token"
	}
	return c.issuer + ":" + c.subject
}

func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.a
	ev := &audit.Event{Kind: audit.KindAdmin, Operation: "AdminRequest", UserAgent: r.UserAgent()}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.SourceIP = host
	}
	code, body := h.serve(w, r, ev)
	ev.Status = code
	a.logEvent(ev)
	writeAdminJSON(w, code, body)
}

// serve handles the request and fills ev; it returns the status and the
// JSON body.
func (h *adminHandler) serve(w http.ResponseWriter, r *http.Request, ev *audit.Event) (int, any) {
	f := h.a.currentFile()
	deny := func(code int, reason, msg string) (int, any) {
		ev.Decision, ev.Reason, ev.Message = "deny", reason, msg
		return code, map[string]string{"error": msg}
	}
	if r.URL.Path == adminGrantsPath || r.URL.Path == adminRevokeGrantPath {
		return h.serveGrants(w, r, ev, f, deny)
	}
	if r.URL.Path != "/admin/revocations" {
		return deny(http.StatusNotFound, "not_found", "no such admin endpoint; use /admin/revocations or "+adminGrantsPath)
	}
	switch r.Method {
	case http.MethodGet:
		ev.Operation = "ListRevocations"
	case http.MethodPost:
		ev.Operation = "AddRevocation"
	default:
		w.Header().Set("Allow", "GET, POST")
		return deny(http.StatusMethodNotAllowed, "method_not_allowed", "use GET to list or POST to add")
	}
	caller, status, refusal := h.admit(w, r, ev, f, deny)
	if caller == nil {
		return status, refusal
	}
	sh := h.a.shared
	if r.Method == http.MethodGet {
		set, err := sh.watcher.Rules()
		if err != nil {
			ev.Decision, ev.Reason = "error", "state_unavailable"
			return http.StatusServiceUnavailable, map[string]string{"error": "the revocations cannot be read: " + err.Error()}
		}
		ev.Decision, ev.Reason = "allow", "listed"
		rules := set.Rules
		if rules == nil {
			rules = []state.Revocation{}
		}
		return http.StatusOK, map[string]any{"version": set.Version, "revocations": rules}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return deny(http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body is larger than %d bytes", maxAdminBody))
	}
	rule, err := parseAdminRevocation(body, time.Now())
	if err != nil {
		return deny(http.StatusBadRequest, "invalid_request", err.Error())
	}
	rule.AddedBy = caller.String()
	ev.Parameters = revocationParameters(&rule)
	added, err := sh.watcher.Add(r.Context(), rule)
	switch {
	case errors.Is(err, state.ErrTooManyRevocations):
		return deny(http.StatusConflict, "too_many_revocations", fmt.Sprintf("%d revocations are in force; no more can be added until some expire", state.MaxRevocations))
	case errors.Is(err, state.ErrInvalidRevocation):
		return deny(http.StatusBadRequest, "invalid_request", err.Error())
	case err != nil:
		h.a.log.Error("revocation not stored", "err", err)
		ev.Decision, ev.Reason, ev.Message = "error", "state_unavailable", "the revocation was not stored: the shared state failed"
		return http.StatusServiceUnavailable, map[string]string{"error": "the revocation was NOT stored: the shared state failed (" + err.Error() + "); try again"}
	}
	ev.Parameters["ruleId"] = added.ID
	ev.Decision, ev.Reason = "allow", "added"
	ev.Message = "sessions matching these parameters issued before issuedBefore are refused on every replica"
	return http.StatusCreated, map[string]any{"revocation": added}
}

// authenticate checks the bearer token: the static admin token, or an OIDC
// token of a configured issuer trusted by a role of admin.roles. It
// returns the caller, or the status and message of a refusal.
func (h *adminHandler) authenticate(r *http.Request) (*adminCaller, int, string) {
	a := h.a
	f := a.currentFile()
	raw, err := identity.ParseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return nil, http.StatusUnauthorized, "send Authorization: Bearer with an admin token"
	}
	if f.Admin.Token != nil {
		want, got := sha256.Sum256([]byte(f.Admin.Token.Reveal())), sha256.Sum256([]byte(raw))
		if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
			return &adminCaller{method: "admin-token"}, 0, ""
		}
	}
	if len(f.Admin.Roles) == 0 {
		return nil, http.StatusUnauthorized, "the bearer token is not the admin token"
	}
	gen := a.handler.Current()
	tok, err := gen.Verifier.Verify(r.Context(), raw)
	if err != nil {
		return nil, http.StatusUnauthorized, "the bearer token is neither the admin token nor a valid token of a configured issuer"
	}
	trusted, _ := gen.Engine.Trust(&authz.Identity{Issuer: tok.Issuer, Subject: tok.Subject, Claims: tok.Claims})
	for _, t := range trusted {
		if slices.Contains(f.Admin.Roles, t.Name()) {
			return &adminCaller{method: "bearer", issuer: tok.Issuer, subject: tok.Subject}, 0, ""
		}
	}
	return nil, http.StatusForbidden, "the token is valid, but no role of admin.roles trusts it"
}

// revocationParameters are a rule's fields for an audit event.
func revocationParameters(r *state.Revocation) map[string]string {
	p := map[string]string{"issuedBefore": r.IssuedBefore.UTC().Format(time.RFC3339),
		"expires": r.Expires.UTC().Format(time.RFC3339), "note": r.Reason}
	for k, v := range map[string]string{"issuer": r.Issuer, "subject": r.Subject, "role": r.Role,
		"sessionId": r.SessionID, "claim": r.Claim, "claimValue": r.ClaimValue} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// admit checks that the admin endpoint is on and authenticates the
// caller, filling ev; a nil caller: status and refusal are the answer.
func (h *adminHandler) admit(w http.ResponseWriter, r *http.Request, ev *audit.Event, f *config.File,
	deny func(int, string, string) (int, any)) (caller *adminCaller, status int, refusal any) {
	if f.Admin == nil {
		status, refusal = deny(http.StatusNotFound, "admin_disabled", "the admin endpoint is off: the configuration has no admin section")
		return nil, status, refusal
	}
	caller, code, msg := h.authenticate(r)
	if caller == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="iamgate admin"`)
		reason := "unauthenticated"
		if code == http.StatusForbidden {
			reason = "not_admin"
		}
		status, refusal = deny(code, reason, msg)
		return nil, status, refusal
	}
	ev.AuthMethod, ev.Issuer, ev.Subject = caller.method, caller.issuer, caller.subject
	return caller, 0, nil
}
