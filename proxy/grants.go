package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/state"
)

// GrantSource supplies the just-in-time access grants in force for a
// person; [state.GrantWatcher] satisfies it. Active does no I/O and
// decides with its clock whether each grant is still in force; an error
// means the grants cannot be confirmed current, and none is honoured.
type GrantSource interface {
	Active(issuer, subject string) ([]state.AccessRequest, error)
}

var _ GrantSource = (*state.GrantWatcher)(nil)

// grantUse is a role a principal holds through a grant.
type grantUse struct {
	id, role string
	end      time.Time
}

// grantBase is what a principal entry keeps to add granted roles to it:
// its identity and the roles it holds by trust. Only a person's own
// requests get granted roles: delegated principals (an actor) and
// sessions narrowed by a session policy keep none.
type grantBase struct {
	id    *authz.Identity
	roles []*authz.Role
	// wanted is the role named in RoleHeader, if any: only a grant of
	// that role applies then.
	wanted string
}

// withGrants returns pe with the roles granted to its person added, or
// pe itself when no grant is in force for a role pe does not hold. The
// result is cached beside pe (key names pe) until the first of pe's
// expiry and the grants' ends, so a grant ends exactly at its end; a
// revoked grant is no longer returned by the source, and the entry that
// held it is no longer looked up.
func (h *Handler) withGrants(ex *exchange, pe *principalEntry, key principalKey, expires time.Time) *principalEntry {
	gen := ex.gen
	if gen.Grants == nil || pe.base == nil {
		return pe
	}
	list, err := gen.Grants.Active(pe.issuer, pe.subject)
	if err != nil {
		// The watcher logs the failure once; the person keeps the roles
		// they hold by trust.
		h.log.Debug("access grants cannot be confirmed current; none is honoured for this request", "request_id", ex.rid, "err", err)
		return pe
	}
	if len(list) == 0 {
		return pe
	}
	var uses []grantUse
	var add []*authz.Role
	for _, g := range list {
		if slices.Contains(pe.roles, g.Role) || pe.base.wanted != "" && g.Role != pe.base.wanted {
			continue
		}
		// A role no longer requestable (the configuration changed)
		// honours no grant.
		role, ok := gen.Engine.Role(g.Role)
		if !ok {
			continue
		}
		if _, ok := role.Requestable(); !ok {
			continue
		}
		if i := slices.IndexFunc(uses, func(u grantUse) bool { return u.role == g.Role }); i >= 0 {
			if g.End.After(uses[i].end) {
				uses[i] = grantUse{id: g.ID, role: g.Role, end: g.End}
			}
			continue
		}
		uses = append(uses, grantUse{id: g.ID, role: g.Role, end: g.End})
		add = append(add, role)
	}
	if len(uses) == 0 {
		return pe
	}
	ids := make([]string, len(uses))
	for i, u := range uses {
		ids[i] = u.id
		expires = minTime(expires, u.end)
	}
	gkey := principalKey{hash: key.hash, role: key.role + "\x00grants:" + strings.Join(ids, ",")}
	if c, ok := gen.principals.get(gkey, ex.start); ok {
		return c
	}
	n := pe.clone()
	roles := append(slices.Clip(pe.base.roles), add...)
	n.principal = gen.Engine.NewPrincipal(pe.base.id, roles)
	n.noRole = ""
	n.roles = nil
	for _, r := range roles {
		n.roles = append(n.roles, r.Name())
	}
	n.roleKind = authz.SharedKind(roles)
	n.arn = fmt.Sprintf("arn:aws:sts::iamgate:assumed-role/%s/%s", strings.Join(n.roles, "+"), arnName(pe.arn, pe.subject))
	n.grants = uses
	gen.principals.put(gkey, n, expires, ex.start)
	return n
}

// arnName is the last part of an assumed-role ARN (the session name).
func arnName(arn, subject string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return subject
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// clone copies an entry's identity and credentials (not its limit keys,
// built on first use).
func (pe *principalEntry) clone() *principalEntry {
	return &principalEntry{
		principal: pe.principal, noRole: pe.noRole, issuer: pe.issuer, subject: pe.subject, username: pe.username,
		roles: pe.roles, arn: pe.arn, fingerprint: pe.fingerprint, issuerURL: pe.issuerURL, roleKind: pe.roleKind,
		claims: pe.claims, actor: pe.actor, secret: pe.secret, accessKeyID: pe.accessKeyID, sessionID: pe.sessionID,
		kind: pe.kind, session: pe.session, tokenKey: pe.tokenKey, base: pe.base, grants: pe.grants,
	}
}

// grantSession resolves the role of an STS session issued through a
// grant (identity.Session.GrantID): the grant must be in force, for the
// session's person and role. It returns the roles to use, or why not.
func grantSession(gen *Generation, s *identity.Session) (*authz.Role, *state.AccessRequest, string) {
	why := fmt.Sprintf("The session was issued through the access grant %s, which is no longer in force.", s.GrantID)
	if gen.Grants == nil || len(s.Roles) != 1 {
		return nil, nil, why
	}
	list, err := gen.Grants.Active(s.Issuer, s.Subject)
	if err != nil {
		return nil, nil, "The access grant of the session cannot be confirmed current; try again shortly."
	}
	for i := range list {
		g := &list[i]
		if g.ID == s.GrantID && g.Role == s.Roles[0] {
			role, ok := gen.Engine.Role(g.Role)
			if !ok {
				return nil, nil, fmt.Sprintf("The session's role %q no longer exists.", g.Role)
			}
			if _, ok := role.Requestable(); !ok {
				return nil, nil, fmt.Sprintf("The session's role %q is no longer requestable.", g.Role)
			}
			return role, g, ""
		}
	}
	return nil, nil, why
}

// checkGrantSession refuses a request made with the credentials of an
// STS session issued through a grant that is no longer in force
// (revoked early; its expiry already ends the session at the grant's
// end). It runs on every request, cached entry or not.
func (h *Handler) checkGrantSession(ex *exchange, pe *principalEntry) *s3err.Error {
	if pe.session == nil || pe.session.GrantID == "" {
		return nil
	}
	if _, _, why := grantSession(ex.gen, pe.session); why != "" {
		return h.sigFailure(ex, "grant_ended", s3err.New(http.StatusBadRequest, "ExpiredToken", why))
	}
	return nil
}
