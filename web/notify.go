package web

import (
	"log/slog"
	"net/http"

	"github.com/iamgate/iamgate/internal/jsonhook"
)

// Webhook posts access-request notifications to a URL, one JSON
// [Notification] per POST, from a bounded queue: a slow or failing
// receiver never holds up the console. The document's "text" member is a
// one-line summary, so that a Slack (or Mattermost, Teams workflow)
// incoming webhook shows it as is. Each notification is tried up to 3
// times; what cannot be delivered is logged without the URL.
type Webhook = jsonhook.Sender[Notification]

// NewWebhook starts a sender to u; client nil: a client with a 10 s
// timeout. Close stops it.
func NewWebhook(u string, client *http.Client, log *slog.Logger) *Webhook {
	return jsonhook.New(u, "access request notification", func(n *Notification) []any {
		return []any{"event", n.Event, "request_id", n.ID}
	}, client, log)
}
