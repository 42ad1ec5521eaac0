package limits

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/iamgate/iamgate/internal/jsonhook"
)

// Alert is the JSON document an alert webhook receives for each
// kill-switch step: who (role, issuer, subject, session, identity,
// recorded claims), what (the step, the limit, the revocation rule) and
// how much (hits in the window, the budgets used).
type Alert struct {
	Time         time.Time      `json:"time"`
	Step         Step           `json:"step"`
	Role         string         `json:"role"`
	RoleKind     string         `json:"role_kind,omitempty"`
	Issuer       string         `json:"issuer,omitempty"`
	Subject      string         `json:"subject,omitempty"`
	Session      string         `json:"session"`
	Identity     string         `json:"identity,omitempty"`
	Claims       map[string]any `json:"claims,omitempty"`
	Limit        Limit          `json:"limit"`
	Hits         int64          `json:"hits"`
	WindowSecs   int64          `json:"window_seconds"`
	Usage        string         `json:"usage,omitempty"`
	RevocationID string         `json:"revocation_id,omitempty"`
	Error        string         `json:"error,omitempty"`
}

// AlertOf returns the alert document of e.
func AlertOf(e Event) Alert {
	a := Alert{Time: e.Time.UTC(), Step: e.Step, Role: e.Role, RoleKind: e.Kind, Issuer: e.Subject.Issuer,
		Subject: e.Subject.Subject, Session: e.Subject.Session, Identity: e.Subject.Identity, Claims: e.Subject.Claims,
		Limit: e.Limit, Hits: e.Hits, WindowSecs: int64(e.Window / time.Second), Usage: e.Usage, RevocationID: e.Rule}
	if e.Err != nil {
		a.Error = e.Err.Error()
	}
	return a
}

// Webhook posts alerts to a URL, one JSON document per POST, from a
// bounded queue: a slow or failing receiver never holds up requests.
// Each alert is tried up to 3 times; what cannot be delivered is logged.
type Webhook = jsonhook.Sender[Alert]

// NewWebhook starts a sender to url; client nil: a client with a 10 s
// timeout. Close stops it.
func NewWebhook(url string, client *http.Client, log *slog.Logger) *Webhook {
	return jsonhook.New(url, "alert", func(a *Alert) []any {
		return []any{"step", a.Step, "role", a.Role, "session", a.Session}
	}, client, log)
}
