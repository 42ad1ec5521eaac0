package sts

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
)

// MaxActorDepth bounds the chain of an RFC 8693 "act" claim.
const MaxActorDepth = identity.MaxActorDepth

// actorIdentity is the identity of the current actor of a token that
// carries an "act" claim: the actor's issuer is the configured issuer of
// act.iss, or the token's own when act.iss is absent.
func (s *Service) actorIdentity(tok *identity.Token) (*authz.Identity, *apiError, error) {
	act, err := identity.ParseActor(tok.Claims)
	if err != nil {
		return nil, nil, err
	}
	issuer, ok := s.cfg.Verifier.ActorIssuer(act, tok.Issuer, tok.IssuerURL)
	if !ok {
		return nil, errorf(http.StatusForbidden, codeIDPRejectedClaim, "the actor's issuer "+strconv.Quote(clip(act.IssuerURL, 200))+" (act.iss) is not a configured issuer"), nil
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
