package web

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

// Webhook posts access-request notifications to a URL, one JSON
// [Notification] per POST, from a bounded queue: a slow or failing
// receiver never holds up the console. The document's "text" member is a
// one-line summary, so that a Slack (or Mattermost, Teams workflow)
// incoming webhook shows it as is. Each notification is tried up to 3
// times; what cannot be delivered is logged without the URL.
type Webhook struct {
	url    string
	client *http.Client
	log    *slog.Logger
	queue  chan Notification
	done   chan struct{}
}

// WebhookQueue bounds the notifications waiting to be sent; more are
// dropped (and logged).
const WebhookQueue = 256

// NewWebhook starts a sender to u; client nil: a client with a 10 s
// timeout. Close stops it.
func NewWebhook(u string, client *http.Client, log *slog.Logger) *Webhook {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Webhook{url: u, client: client, log: log, queue: make(chan Notification, WebhookQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// Send queues n.
func (w *Webhook) Send(n Notification) {
	select {
	case w.queue <- n:
	default:
		w.log.Error("access request notification dropped: the queue is full", "event", n.Event, "request_id", n.ID)
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
	for n := range w.queue {
		body, _ := json.Marshal(&n)
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
			w.log.Error("access request notification not delivered", "event", n.Event, "request_id", n.ID, "err", err)
		}
	}
}

func (w *Webhook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		// A *url.Error names the URL (and any token in its path or
		// query); the log gets only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", res.Status)
	}
	return nil
}
