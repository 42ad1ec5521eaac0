package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Requestable makes a role available for just-in-time access: a person
// asks for it in the console with a reason, someone the approvers' trust
// rules match approves, and the role is added to the requester's
// sessions for the approved time only. The requester never approves
// their own request.
type Requestable struct {
	// Approvers are trust rules, in the syntax of roles[].trust: who may
	// approve or reject a request; any matching rule is enough.
	Approvers []TrustRule
	// MaxDuration is the longest grant a request may ask for.
	MaxDuration time.Duration
	// ReasonRequired: a request must say why (always true today; the key
	// exists so that a file says it).
	ReasonRequired bool
	Pos            Pos
}

// AccessRequests configures the notifications of access requests.
type AccessRequests struct {
	// Webhook receives a JSON POST for each new request and each
	// decision (approval, rejection, revocation, expiry), with a text
	// field that chat tools such as Slack display. "": no notification.
	Webhook string
	Pos     Pos
}

// Bounds of requestable.max_duration.
const (
	MinRequestDuration     = time.Minute
	MaxRequestDuration     = 7 * 24 * time.Hour
	DefaultRequestDuration = time.Hour
)

func (p *parser) requestable(n *yaml.Node, path string) *Requestable {
	r := &Requestable{MaxDuration: DefaultRequestDuration, ReasonRequired: true, Pos: p.pos(n)}
	present, ok := p.mapping(n, path, []field{
		{"approvers", func(path string, v *yaml.Node) {
			r.Approvers = p.trust(v, path)
			for _, a := range r.Approvers {
				if a.Limits != nil {
					p.errorAt(a.Pos, path, "an approvers rule has no limits (they bound sessions, and approving is not one)")
				}
			}
		}},
		{"max_duration", func(path string, v *yaml.Node) {
			if d, ok := p.duration(v, path, MinRequestDuration, MaxRequestDuration); ok {
				r.MaxDuration = d
			}
		}},
		{"reason", func(path string, v *yaml.Node) { _, _ = p.enum(v, path, "required") }},
	})
	if !ok {
		return nil
	}
	p.require(n, path, present, "approvers")
	return r
}

func (p *parser) accessRequests(n *yaml.Node, path string) *AccessRequests {
	a := &AccessRequests{Pos: p.pos(n)}
	_, ok := p.mapping(n, path, []field{
		{"webhook", func(path string, v *yaml.Node) { a.Webhook = p.webhookURL(v, path, "") }},
	})
	if !ok {
		return nil
	}
	return a
}
