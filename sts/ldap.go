package sts

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/identity/ldapdir"
)

// Directory authenticates a user name and password; *ldapdir.Directory
// implements it.
type Directory interface {
	Name() string
	Authenticate(ctx context.Context, a ldapdir.Attempt) (*ldapdir.Identity, error)
}

var _ Directory = (*ldapdir.Directory)(nil)

// credentialsMessage is what the caller is told for every credential
// problem: a wrong password, an unknown or locked user. The audit record
// has the reason.
const credentialsMessage = "invalid user name or password"

// directory picks the directory of req.
func (s *Service) directory(req *request) (Directory, *apiError) {
	if len(s.cfg.Directories) == 0 {
		return nil, badRequest(codeInvalidAction, "AssumeRoleWithLDAPIdentity is not available: this iamgate has no ldap directory configured")
	}
	if req.directory == "" {
		if len(s.cfg.Directories) == 1 {
			return s.cfg.Directories[0], nil
		}
		names := make([]string, len(s.cfg.Directories))
		for i, d := range s.cfg.Directories {
			names[i] = strconv.Quote(d.Name())
		}
		return nil, badRequest(codeMissingParameter, "the request must contain the parameter LDAPDirectory: several directories are configured ("+strings.Join(names, ", ")+")")
	}
	for _, d := range s.cfg.Directories {
		if d.Name() == req.directory {
			return d, nil
		}
	}
	return nil, badRequest(codeInvalidParameterValue, "LDAPDirectory "+quoteName(req.directory)+" names no configured directory")
}

// assumeLDAP authenticates the user name and password with the
// directory, picks the role and issues the session.
func (s *Service) assumeLDAP(r *http.Request, req *request, rid string, source netip.Addr, ev *Event) (any, *apiError) {
	now := s.cfg.Now()
	ev.Username = clip(req.username, 256)
	dir, aerr := s.directory(req)
	if aerr != nil {
		return nil, aerr
	}
	ev.Directory = dir.Name()
	notAuthorized := "Not authorized to perform sts:" + string(req.action)
	id, err := dir.Authenticate(r.Context(), ldapdir.Attempt{Username: req.username, Password: req.password, Source: source})
	if err != nil {
		var le *ldapdir.Error
		if !errors.As(err, &le) {
			return nil, &apiError{Status: http.StatusInternalServerError, Code: codeInternalError, Message: "the user could not be authenticated", Cause: err}
		}
		ev.Reason = string(le.Reason)
		switch le.Reason {
		case ldapdir.ReasonUnavailable:
			return nil, &apiError{Status: http.StatusServiceUnavailable, Code: codeServiceUnavailable,
				Message: "the directory " + dir.Name() + " cannot be reached; try again later", Cause: err}
		case ldapdir.ReasonThrottled:
			return nil, &apiError{Status: http.StatusTooManyRequests, Code: codeThrottling,
				Message: "too many failed sign-in attempts for this user name or from this address; try again later", Cause: err, RetryAfter: le.RetryAfter}
		}
		return nil, &apiError{Status: http.StatusForbidden, Code: codeAccessDenied, Message: notAuthorized + ": " + credentialsMessage, Cause: err}
	}
	claims := id.Claims()
	ev.Issuer, ev.Subject, ev.Claims = dir.Name(), id.DN, claims

	role, aerr := s.pickRole(req, &authz.Identity{Issuer: dir.Name(), Subject: id.DN, Claims: claims}, "identity")
	if aerr != nil {
		ev.Reason = "no_role"
		return nil, aerr
	}
	ev.Role = role.Name()
	sessionName := req.sessionName
	if sessionName == "" {
		sessionName = defaultSessionName(req.username)
	}
	ev.RoleSessionName = sessionName
	if req.policy != nil {
		if _, err := authz.ParsePolicy(sessionPolicyName, req.policy); err != nil {
			return nil, badRequest(codeMalformedPolicyDocument, "Policy is not a valid session policy: "+oneLine(err.Error(), 1000))
		}
	}
	issued, expiry, aerr := s.sessionTimes(req, strconv.Quote(role.Name()), s.settings(role.Name()), time.Time{}, now)
	if aerr != nil {
		return nil, aerr
	}
	sess := identity.NewSession()
	sess.Issuer, sess.Subject = dir.Name(), id.DN
	sess.Roles = []string{role.Name()}
	sess.RoleSessionName = sessionName
	sess.Claims = claims
	sess.SessionPolicy = req.policy
	sess.IssuedAt, sess.Expiry = issued, expiry
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		ev.Reason = "state_unavailable"
		return nil, revocationsUnavailable(err)
	} else if revoked {
		ev.Reason = "revoked"
		return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("%s: sessions of this identity for role %s are revoked", notAuthorized, strconv.Quote(role.Name())))
	}
	sessionToken, err := s.cfg.Keys.Seal(sess)
	if err != nil {
		if errors.Is(err, identity.ErrSessionTooLarge) {
			e := badRequest(codePackedPolicyTooLarge, fmt.Sprintf("the session would not fit in a session token of %d bytes: the user's attributes and groups and the session policy are too large", identity.MaxSessionTokenLength))
			e.Cause = err
			return nil, e
		}
		return nil, &apiError{Status: http.StatusInternalServerError, Code: codeInternalError, Message: "the session could not be issued", Cause: err}
	}
	ev.SessionID, ev.AccessKeyID = sess.ID, sess.AccessKeyID
	ev.Duration, ev.Expiry = expiry.Sub(issued), expiry
	var packed *int
	if req.policy != nil {
		p := (len(req.policy)*100 + s.cfg.MaxPolicySize - 1) / s.cfg.MaxPolicySize
		packed = &p
	}
	return &xmlLDAPResponse{Result: xmlLDAPResult{
		AssumedRoleUser: xmlAssumedRoleUser{
			Arn:           "arn:aws:sts::iamgate:assumed-role/" + role.Name() + "/" + sessionName,
			AssumedRoleID: s.roleIDs[role.Name()] + ":" + sessionName,
		},
		Credentials: xmlCredentials{
			AccessKeyID:     sess.AccessKeyID,
			SecretAccessKey: sess.SecretAccessKey,
			SessionToken:    sessionToken,
			Expiration:      expiry.UTC().Format(time.RFC3339),
		},
		PackedPolicySize: packed,
	}, Metadata: xmlMetadata{RequestID: rid}}, nil
}

// xmlLDAPResponse follows MinIO's AssumeRoleWithLDAPIdentity response.
type xmlLDAPResponse struct {
	XMLName  xml.Name      `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithLDAPIdentityResponse"`
	Result   xmlLDAPResult `xml:"AssumeRoleWithLDAPIdentityResult"`
	Metadata xmlMetadata   `xml:"ResponseMetadata"`
}

type xmlLDAPResult struct {
	AssumedRoleUser  xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials      xmlCredentials     `xml:"Credentials"`
	PackedPolicySize *int               `xml:"PackedPolicySize,omitempty"`
}
