package sts

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/state"
)

// sessionPolicyName names the session policy in authz errors.
const sessionPolicyName = "session"

// assume verifies the token, picks the role and issues the session.
func (s *Service) assume(r *http.Request, req *request, rid string, ev *Event) (any, *apiError) {
	now := s.cfg.Now()
	tok, err := s.cfg.Verifier.Verify(r.Context(), req.token)
	if err != nil {
		return nil, tokenError(req.action, err)
	}
	ev.Issuer, ev.Subject, ev.Claims = tok.Issuer, tok.Subject, tok.Claims
	var fp string
	if s.cfg.Fingerprint != nil {
		fp = s.cfg.Fingerprint(tok.Hash)
	}
	ev.TokenFingerprint = fp

	role, aerr := s.pickRole(req, &authz.Identity{Issuer: tok.Issuer, Subject: tok.Subject, Claims: tok.Claims}, "token")
	var grant *state.AccessRequest
	if aerr != nil {
		if grant = s.grantFor(req, tok); grant == nil {
			return nil, aerr
		}
		role, _ = s.cfg.Engine.Role(grant.Role)
		ev.GrantID, ev.GrantEnd = grant.ID, grant.End
	}
	ev.Role = role.Name()

	// A token with an "act" claim was issued to an actor acting for its
	// subject (RFC 8693 §4.1): the session is delegated, and allowed only
	// what both the subject's role and the actor's role allow.
	rs := s.settings(role.Name())
	roleLabel := strconv.Quote(role.Name())
	var actor *identity.SessionActor
	actorID, aerr, err := s.actorIdentity(tok)
	switch {
	case aerr != nil:
		return nil, aerr
	case errors.Is(err, identity.ErrNoActor):
		if req.actorRole != "" {
			return nil, badRequest(codeInvalidParameterValue, "ActorRoleArn is given, but the web identity token has no act claim")
		}
	case err != nil:
		return nil, badRequest(codeInvalidIdentityToken, "the web identity token was rejected: "+err.Error())
	default:
		ev.ActorIssuer, ev.ActorSubject, ev.ActorClaims = actorID.Issuer, actorID.Subject, actorID.Claims
		actorRole, aerr := s.pickActorRole(req.action, req.actorRole, actorID)
		if aerr != nil {
			return nil, aerr
		}
		ev.ActorRole = actorRole.Name()
		actor = sessionActor(actorID, actorRole)
		rs = s.delegatedSettings(role.Name(), actorRole.Name())
		roleLabel += " and the actor's role " + strconv.Quote(actorRole.Name())
	}
	sessionName := req.sessionName
	if sessionName == "" {
		sessionName = defaultSessionName(tok.Subject)
	}
	ev.RoleSessionName = sessionName

	if req.policy != nil {
		if _, err := authz.ParsePolicy(sessionPolicyName, req.policy); err != nil {
			return nil, badRequest(codeMalformedPolicyDocument, "Policy is not a valid session policy: "+oneLine(err.Error(), 1000))
		}
	}

	issued, expiry, aerr := s.sessionTimes(req, roleLabel, rs, tok.Expiry, now)
	if aerr != nil {
		return nil, aerr
	}
	if grant != nil {
		// The credentials end with the grant (to the second, never after).
		if end := grant.End.UTC().Truncate(time.Second); expiry.After(end) {
			expiry = end
		}
		if !expiry.After(issued) {
			return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("Not authorized to perform sts:%s: the access grant %s of role %s ends now", req.action, grant.ID, strconv.Quote(role.Name())))
		}
	}

	sess := identity.NewSession()
	sess.Issuer = tok.Issuer
	sess.Subject = tok.Subject
	sess.Roles = []string{role.Name()}
	sess.RoleSessionName = sessionName
	sess.Claims = tok.Claims
	sess.SessionPolicy = req.policy
	sess.IssuedAt, sess.Expiry = issued, expiry
	sess.TokenFingerprint = fp
	sess.Actor = actor
	if grant != nil {
		sess.GrantID = grant.ID
	}
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		return nil, revocationsUnavailable(err)
	} else if revoked {
		return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("Not authorized to perform sts:%s: sessions of this identity for role %s are revoked", req.action, strconv.Quote(role.Name())))
	}
	sessionToken, err := s.cfg.Keys.Seal(sess)
	if err != nil {
		if errors.Is(err, identity.ErrSessionTooLarge) {
			e := badRequest(codePackedPolicyTooLarge, fmt.Sprintf("the session would not fit in a session token of %d bytes: the web identity token's claims and the session policy are too large", identity.MaxSessionTokenLength))
			e.Cause = err
			return nil, e
		}
		return nil, &apiError{Status: http.StatusInternalServerError, Code: codeInternalError, Message: "the session could not be issued", Cause: err}
	}
	if aerr := s.recordDelegation(r.Context(), sess); aerr != nil {
		return nil, aerr
	}
	ev.SessionID, ev.AccessKeyID = sess.ID, sess.AccessKeyID
	ev.Duration, ev.Expiry = expiry.Sub(issued), expiry

	creds := xmlCredentials{
		AccessKeyID:     sess.AccessKeyID,
		SecretAccessKey: sess.SecretAccessKey,
		SessionToken:    sessionToken,
		Expiration:      expiry.UTC().Format(time.RFC3339),
	}
	user := xmlAssumedRoleUser{
		Arn:           "arn:aws:sts::iamgate:assumed-role/" + role.Name() + "/" + sessionName,
		AssumedRoleID: s.roleIDs[role.Name()] + ":" + sessionName,
	}
	var packed *int
	if req.policy != nil {
		p := (len(req.policy)*100 + s.cfg.MaxPolicySize - 1) / s.cfg.MaxPolicySize
		packed = &p
	}
	meta := xmlMetadata{RequestID: rid}
	if req.action == AssumeRoleWithClientGrants {
		return &xmlClientGrantsResponse{Result: xmlClientGrantsResult{
			AssumedRoleUser:  user,
			Audience:         audience(tok),
			Credentials:      creds,
			PackedPolicySize: packed,
			Provider:         tok.IssuerURL,
			SubjectFromToken: tok.Subject,
		}, Metadata: meta}, nil
	}
	return &xmlWebIdentityResponse{Result: xmlWebIdentityResult{
		SubjectFromWebIdentityToken: tok.Subject,
		Audience:                    audience(tok),
		AssumedRoleUser:             user,
		Credentials:                 creds,
		Provider:                    tok.IssuerURL,
		PackedPolicySize:            packed,
	}, Metadata: meta}, nil
}

// tokenError maps a verification failure to an STS error. The message is
// the identity package's client-safe sentence; it never holds the token.
func tokenError(action Action, err error) *apiError {
	var ae *identity.AuthError
	if !errors.As(err, &ae) {
		return &apiError{Status: http.StatusInternalServerError, Code: codeInternalError, Message: "the token could not be verified", Cause: err}
	}
	msg := "the web identity token was rejected: " + ae.Error()
	switch ae.Reason {
	case identity.ReasonExpired:
		return &apiError{Status: http.StatusBadRequest, Code: codeExpiredToken, Message: msg, Cause: err}
	case identity.ReasonIssuerUnavailable:
		return &apiError{Status: http.StatusBadRequest, Code: codeIDPCommunicationError, Message: "the identity provider's signing keys could not be loaded; try again later: " + ae.Error(), Cause: err}
	}
	code := codeInvalidIdentityToken
	if action == AssumeRoleWithClientGrants {
		code = codeInvalidClientGrantsToken
	}
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg, Cause: err}
}

// pickRole finds the requested role and checks that it trusts id (a
// "token" or an "identity", as messages call it). Without RoleArn
// (AssumeRoleWithClientGrants, AssumeRoleWithLDAPIdentity), the one role
// that trusts id is chosen.
func (s *Service) pickRole(req *request, id *authz.Identity, what string) (*authz.Role, *apiError) {
	notAuthorized := "Not authorized to perform sts:" + string(req.action)
	if req.roleName == "" {
		trusted, _ := s.cfg.Engine.Trust(id)
		switch len(trusted) {
		case 1:
			return trusted[0], nil
		case 0:
			code := codeIDPRejectedClaim
			if req.action == AssumeRoleWithLDAPIdentity {
				code = codeAccessDenied
			}
			return nil, errorf(http.StatusForbidden, code, notAuthorized+": no role trusts this "+what)
		default:
			names := make([]string, len(trusted))
			for i, r := range trusted {
				names[i] = strconv.Quote(r.Name())
			}
			return nil, badRequest(codeMissingParameter, "the request must contain the parameter RoleArn: several roles trust this "+what+" ("+strings.Join(names, ", ")+")")
		}
	}
	role, ok := s.cfg.Engine.Role(req.roleName)
	if !ok {
		return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("%s: role %s does not exist", notAuthorized, quoteName(req.roleName)))
	}
	trusted, misses := s.cfg.Engine.Trust(id)
	for _, t := range trusted {
		if t == role {
			return role, nil
		}
	}
	why := "the role's trust rules do not match the " + what
	for _, m := range misses {
		if m.Role == role.Name() {
			why = m.Reason
			break
		}
	}
	code := codeIDPRejectedClaim
	if req.action == AssumeRoleWithLDAPIdentity {
		code = codeAccessDenied
	}
	return nil, errorf(http.StatusForbidden, code, fmt.Sprintf("%s: role %s does not trust this %s: %s", notAuthorized, strconv.Quote(role.Name()), what, oneLine(why, 1000)))
}

// sessionTimes applies the duration rules of rs, the settings of the
// role (or roles) named by roleLabel in messages. A zero tokenExp (a
// directory sign-in) bounds nothing.
func (s *Service) sessionTimes(req *request, roleLabel string, rs RoleSettings, tokenExp time.Time, now time.Time) (issued, expiry time.Time, _ *apiError) {
	if tokenExp.IsZero() {
		rs.SessionMayOutliveToken = true
	}
	issued = now.UTC().Truncate(time.Second)
	tokenExp = tokenExp.UTC()
	if req.duration > 0 {
		secs := int64(req.duration / time.Second)
		if req.duration > rs.MaxSession {
			return issued, expiry, badRequest(codeValidationError, fmt.Sprintf("DurationSeconds %d exceeds the maximum session duration of role %s, %d seconds", secs, roleLabel, int64(rs.MaxSession/time.Second)))
		}
		if !rs.SessionMayOutliveToken && now.Add(req.duration).After(tokenExp) {
			return issued, expiry, badRequest(codeInvalidParameterValue, fmt.Sprintf("DurationSeconds %d would end the session at %s, but the web identity token expires at %s; the role does not allow sessions to outlive it",
				secs, now.Add(req.duration).UTC().Truncate(time.Second).Format(time.RFC3339), tokenExp.Format(time.RFC3339)))
		}
		return issued, issued.Add(req.duration), nil
	}
	expiry = issued.Add(min(DefaultDuration, rs.MaxSession))
	if !rs.SessionMayOutliveToken && expiry.After(tokenExp) {
		expiry = tokenExp.Truncate(time.Second)
		if !expiry.After(issued) {
			return issued, expiry, badRequest(codeExpiredToken, "the web identity token expires at "+tokenExp.Format(time.RFC3339)+"; no session time remains")
		}
	}
	return issued, expiry, nil
}

// audience is the client the token was issued to: azp if set, else the
// first aud.
func audience(tok *identity.Token) string {
	if azp, ok := tok.Claims["azp"].(string); ok && azp != "" {
		return azp
	}
	if len(tok.Audience) > 0 {
		return tok.Audience[0]
	}
	return ""
}

// oneLine joins a multi-line message (errors.Join output) and bounds it.
func oneLine(s string, n int) string {
	return clip(strings.ReplaceAll(s, "\n", "; "), n)
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type xmlAssumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type xmlMetadata struct {
	RequestID string `xml:"RequestId"`
}

type xmlWebIdentityResponse struct {
	XMLName  xml.Name             `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result   xmlWebIdentityResult `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata xmlMetadata          `xml:"ResponseMetadata"`
}

type xmlWebIdentityResult struct {
	SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
	Audience                    string             `xml:"Audience,omitempty"`
	AssumedRoleUser             xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials                 xmlCredentials     `xml:"Credentials"`
	Provider                    string             `xml:"Provider"`
	PackedPolicySize            *int               `xml:"PackedPolicySize,omitempty"`
}

// xmlClientGrantsResponse follows MinIO's AssumeRoleWithClientGrants
// response.
type xmlClientGrantsResponse struct {
	XMLName  xml.Name              `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithClientGrantsResponse"`
	Result   xmlClientGrantsResult `xml:"AssumeRoleWithClientGrantsResult"`
	Metadata xmlMetadata           `xml:"ResponseMetadata"`
}

type xmlClientGrantsResult struct {
	AssumedRoleUser  xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Audience         string             `xml:"Audience,omitempty"`
	Credentials      xmlCredentials     `xml:"Credentials"`
	PackedPolicySize *int               `xml:"PackedPolicySize,omitempty"`
	Provider         string             `xml:"Provider,omitempty"`
	SubjectFromToken string             `xml:"SubjectFromToken,omitempty"`
}

// GrantSource supplies the just-in-time access grants in force for a
// person; [state.GrantWatcher] satisfies it.
type GrantSource interface {
	Active(issuer, subject string) ([]state.AccessRequest, error)
}

// grantFor returns the grant in force that gives the token's person the
// role the request names, or nil. A token with an "act" claim (an agent
// acting for the person) gets none: a grant is the person's own.
func (s *Service) grantFor(req *request, tok *identity.Token) *state.AccessRequest {
	if s.cfg.Grants == nil || req.roleName == "" || tok.Claims["act"] != nil {
		return nil
	}
	if role, ok := s.cfg.Engine.Role(req.roleName); !ok {
		return nil
	} else if _, ok := role.Requestable(); !ok {
		return nil
	}
	list, err := s.cfg.Grants.Active(tok.Issuer, tok.Subject)
	if err != nil {
		return nil
	}
	var best *state.AccessRequest
	for i := range list {
		if g := &list[i]; g.Role == req.roleName && (best == nil || g.End.After(best.End)) {
			best = g
		}
	}
	return best
}
