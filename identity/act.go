package identity

import (
	"errors"
	"fmt"
)

// MaxActorDepth bounds the chain of an RFC 8693 "act" claim: the current
// actor and the actors before it. A deeper chain is refused.
const MaxActorDepth = 5

// ErrNoActor is returned by [ParseActor] for claims without "act".
var ErrNoActor = errors.New("no act claim")

// Actor is the current actor of an RFC 8693 "act" claim (§4.1): the
// outermost object. The objects nested in it under "act" are the actors
// before it, kept in Claims.
type Actor struct {
	Subject string
	// IssuerURL is the actor's "iss", or "" when absent: the actor is then
	// of the token's issuer.
	IssuerURL string
	// Claims are the members of the object, including the nested chain.
	Claims map[string]any
}

// ParseActor reads claims["act"]. It returns [ErrNoActor] when there is
// none, and an error whose message is safe to show to the client when the
// claim is malformed: not an object, a "sub" that is missing or not a
// non-empty string, an "iss" that is not a non-empty string, a nested
// "act" that is malformed, or a chain longer than MaxActorDepth.
func ParseActor(claims map[string]any) (*Actor, error) {
	v, ok := claims["act"]
	if !ok {
		return nil, ErrNoActor
	}
	m, err := CheckActorChain(v, 1)
	if err != nil {
		return nil, err
	}
	a := &Actor{Claims: m}
	a.Subject = m["sub"].(string)
	a.IssuerURL, _ = m["iss"].(string)
	return a, nil
}

// CheckActorChain checks an actor object v found at depth (1 for the
// outermost) and the actors nested in it, as [ParseActor] does.
func CheckActorChain(v any, depth int) (map[string]any, error) {
	if depth > MaxActorDepth {
		return nil, fmt.Errorf("the act claim nests more than %d actors", MaxActorDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the act claim is not a JSON object")
	}
	if s, ok := m["sub"].(string); !ok || s == "" {
		return nil, errors.New("the act claim has no sub")
	}
	if iss, ok := m["iss"]; ok {
		if s, ok := iss.(string); !ok || s == "" {
			return nil, errors.New("the act claim's iss is not a non-empty string")
		}
	}
	if next, ok := m["act"]; ok {
		if _, err := CheckActorChain(next, depth+1); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ActorIssuer is the configured name of an actor's issuer: that of
// a.IssuerURL, or tokenIssuer (the name of the issuer of the token that
// carries the claim) when it is absent or the token's own iss. ok is false
// when a.IssuerURL is not a configured issuer.
func (v *Verifier) ActorIssuer(a *Actor, tokenIssuer, tokenIssuerURL string) (name string, ok bool) {
	if a.IssuerURL == "" || a.IssuerURL == tokenIssuerURL {
		return tokenIssuer, true
	}
	return v.IssuerName(a.IssuerURL)
}
