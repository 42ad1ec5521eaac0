package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
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
type Webhook struct {
	url    string
	client *http.Client
	log    *slog.Logger
	queue  chan Alert
	done   chan struct{}
}

// WebhookQueue bounds the alerts waiting to be sent; more are dropped
// (and logged).
const WebhookQueue = 256

// NewWebhook starts a sender to url; client nil: a client with a 10 s
// timeout. Close stops it.
func NewWebhook(url string, client *http.Client, log *slog.Logger) *Webhook {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Webhook{url: url, client: client, log: log, queue: make(chan Alert, WebhookQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// Send queues a.
func (w *Webhook) Send(a Alert) {
	select {
	case w.queue <- a:
	default:
		w.log.Error("alert dropped: the alert queue is full", "step", a.Step, "role", a.Role, "session", a.Session)
	}
}

// Close sends what is queued (for at most a few seconds) and stops.
func (w *Webhook) Close() {
	close(w.queue)
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

func (w *Webhook) run() {
	defer close(w.done)
	for a := range w.queue {
		body, _ := json.Marshal(a)
		var err error
		for try := range 3 {
			if try > 0 {
				time.Sleep(time.Duration(try) * 500 * time.Millisecond)
			}
			if err = w.post(body); err == nil {
				break
			}
		}
		if err != nil {
			w.log.Error("alert not delivered", "step", a.Step, "role", a.Role, "session", a.Session, "err", err)
		}
	}
}

func (w *Webhook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		// A *url.Error names the URL, query (and any token in it)
		// included; the log gets only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("alert webhook answered %s", res.Status)
	}
	return nil
}
