package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
)

// MaxActorDepth bounds the chain of an RFC 8693 "act" claim: the current
// actor and the actors before it. A deeper chain is refused.
const MaxActorDepth = 5

// errNoAct: the token has no "act" claim.
var errNoAct = errors.New("no act claim")

// actClaim is the current actor of an RFC 8693 "act" claim (§4.1): its
// outermost object. The objects nested in it under "act" are the actors
// before it, kept in Claims.
type actClaim struct {
	Subject string
	// IssuerURL is the actor's "iss", or "" when absent (the actor is
	// then of the token's issuer).
	IssuerURL string
	// Claims are the members of the object, including the nested chain.
	Claims map[string]any
}

// parseAct reads claims["act"]. It returns errNoAct when there is none,
// and a client-safe error when the claim is malformed: not an object, a
// "sub" that is missing or not a non-empty string, an "iss" that is not a
// string, a nested "act" that is malformed, or a chain longer than
// MaxActorDepth.
func parseAct(claims map[string]any) (*actClaim, error) {
	v, ok := claims["act"]
	if !ok {
		return nil, errNoAct
	}
	m, err := checkAct(v, 1)
	if err != nil {
		return nil, err
	}
	a := &actClaim{Claims: m}
	a.Subject = m["sub"].(string)
	a.IssuerURL, _ = m["iss"].(string)
	return a, nil
}

func checkAct(v any, depth int) (map[string]any, error) {
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
		if _, err := checkAct(next, depth+1); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// actorIdentity is the identity of the current actor of a token that
// carries an "act" claim: the actor's issuer is the configured issuer of
// act.iss, or the token's own when act.iss is absent.
func (s *Service) actorIdentity(tok *identity.Token) (*authz.Identity, *apiError, error) {
	act, err := parseAct(tok.Claims)
	if err != nil {
		return nil, nil, err
	}
	issuer := tok.Issuer
	if act.IssuerURL != "" && act.IssuerURL != tok.IssuerURL {
		name, ok := s.cfg.Verifier.IssuerName(act.IssuerURL)
		if !ok {
			return nil, errorf(http.StatusForbidden, codeIDPRejectedClaim, "the actor's issuer "+strconv.Quote(clip(act.IssuerURL, 200))+" (act.iss) is not a configured issuer"), nil
		}
		issuer = name
	}
	return &authz.Identity{Issuer: issuer, Subject: act.Subject, Claims: act.Claims}, nil, nil
}

// pickActorRole finds the actor's role: the named one (ActorRoleArn,
// actor_role), which must trust the actor, or else the one role that
// trusts it. The person's role is never the actor's by default: a role
// that trusts both is named explicitly.
func (s *Service) pickActorRole(action Action, name string, actor *authz.Identity) (*authz.Role, *apiError) {
	notAuthorized := "Not authorized to perform sts:" + string(action)
	if action == TokenExchange {
		notAuthorized = "not authorized to exchange these tokens"
	}
	trusted, misses := s.cfg.Engine.Trust(actor)
	if name == "" {
		switch len(trusted) {
		case 1:
			return trusted[0], nil
		case 0:
			return nil, errorf(http.StatusForbidden, codeIDPRejectedClaim, notAuthorized+": no role trusts the actor "+strconv.Quote(clip(actor.Subject, 200)))
		default:
			names := make([]string, len(trusted))
			for i, r := range trusted {
				names[i] = strconv.Quote(r.Name())
			}
			return nil, badRequest(codeMissingParameter, "the request must name the actor's role (ActorRoleArn, or actor_role in a token exchange): several roles trust the actor ("+strings.Join(names, ", ")+")")
		}
	}
	role, ok := s.cfg.Engine.Role(name)
	if !ok {
		return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("%s: the actor's role %s does not exist", notAuthorized, quoteName(name)))
	}
	for _, t := range trusted {
		if t == role {
			return role, nil
		}
	}
	why := "the role's trust rules do not match the actor"
	for _, m := range misses {
		if m.Role == role.Name() {
			why = m.Reason
			break
		}
	}
	return nil, errorf(http.StatusForbidden, codeIDPRejectedClaim, fmt.Sprintf("%s: role %s does not trust the actor: %s", notAuthorized, strconv.Quote(role.Name()), oneLine(why, 1000)))
}

// delegatedSettings combines the settings of the person's and the
// actor's roles: the shorter MaxSession, and outliving the tokens only
// when both roles allow it.
func (s *Service) delegatedSettings(person, actor string) RoleSettings {
	p, a := s.settings(person), s.settings(actor)
	return RoleSettings{
		MaxSession:             min(p.MaxSession, a.MaxSession),
		SessionMayOutliveToken: p.SessionMayOutliveToken && a.SessionMayOutliveToken,
	}
}

// sessionActor is the identity.SessionActor of an actor holding role.
func sessionActor(actor *authz.Identity, role *authz.Role) *identity.SessionActor {
	return &identity.SessionActor{Issuer: actor.Issuer, Subject: actor.Subject, Roles: []string{role.Name()}, Claims: actor.Claims}
}

// earliest returns the earlier of two token expiries.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// recordDelegation records a delegated session before it is returned.
func (s *Service) recordDelegation(ctx context.Context, sess *identity.Session) *apiError {
	if s.cfg.Delegations == nil || sess.Actor == nil {
		return nil
	}
	if err := s.cfg.Delegations.Record(ctx, sess); err != nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: codeServiceUnavailable, Cause: err,
			Message: "the delegated session cannot be recorded for the person it acts for right now; try again shortly"}
	}
	return nil
}
