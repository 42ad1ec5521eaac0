package sts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
)

// OAuth 2.0 Token Exchange (RFC 8693) names.
const (
	// GrantTypeTokenExchange is the grant_type of a token exchange.
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// Token types accepted for subject_token and actor_token: each is a
	// JWT from a configured issuer, verified the same way.
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeAWSCredentials is the issued_token_type of iamgate's
	// answer: AWS temporary credentials, the session token in
	// access_token.
	TokenTypeAWSCredentials = "urn:iamgate:params:oauth:token-type:aws-credentials"
)

// TokenExchange is the Event.Action of a token exchange.
const TokenExchange Action = "TokenExchange"

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 8693 §2.2.2).
const (
	oauthInvalidRequest       = "invalid_request"
	oauthInvalidGrant         = "invalid_grant"
	oauthUnauthorizedClient   = "unauthorized_client"
	oauthUnsupportedGrantType = "unsupported_grant_type"
	oauthServerError          = "server_error"
	oauthUnavailable          = "temporarily_unavailable"
)

// exchangeRequest is a syntactically valid token exchange.
type exchangeRequest struct {
	subjectToken, actorToken string
	// role and actorRole are the roles asked for the person and the actor;
	// "": the one role that trusts each.
	role, actorRole string
	sessionName     string
	duration        time.Duration
}

// isTokenExchange reports whether the parameters are an OAuth token
// request rather than an STS action: grant_type without Action.
func isTokenExchange(vals url.Values) bool {
	return vals.Has("grant_type") && !vals.Has("Action")
}

func oauthError(code, message string) *apiError {
	return badRequest(code, message)
}

// parseExchange validates the parameters of a token exchange. Parameters
// it does not know (scope, audience, resource among them) are ignored, as
// RFC 6749 asks; they never widen what is issued.
func parseExchange(vals url.Values) (*exchangeRequest, *apiError) {
	if gt := vals.Get("grant_type"); gt != GrantTypeTokenExchange {
		return nil, oauthError(oauthUnsupportedGrantType, "grant_type must be "+GrantTypeTokenExchange)
	}
	if rt := vals.Get("requested_token_type"); rt != "" && rt != TokenTypeAWSCredentials {
		return nil, oauthError(oauthInvalidRequest, "requested_token_type must be "+TokenTypeAWSCredentials+" (AWS temporary credentials), or absent")
	}
	req := &exchangeRequest{subjectToken: vals.Get("subject_token"), actorToken: vals.Get("actor_token")}
	if req.subjectToken == "" {
		return nil, oauthError(oauthInvalidRequest, "the request must contain the parameter subject_token")
	}
	if err := checkTokenType("subject_token_type", vals.Get("subject_token_type"), true); err != nil {
		return nil, err
	}
	if len(req.subjectToken) > maxTokenLength || len(req.actorToken) > maxTokenLength {
		return nil, oauthError(oauthInvalidRequest, fmt.Sprintf("subject_token and actor_token must be at most %d characters", maxTokenLength))
	}
	switch {
	case req.actorToken != "":
		if err := checkTokenType("actor_token_type", vals.Get("actor_token_type"), true); err != nil {
			return nil, err
		}
	case vals.Has("actor_token_type"):
		return nil, oauthError(oauthInvalidRequest, "actor_token_type is given without actor_token")
	}
	for _, p := range []struct {
		param string
		dst   *string
	}{{"role", &req.role}, {"actor_role", &req.actorRole}} {
		if v := vals.Get(p.param); v != "" {
			name, err := roleNameFromArn(v)
			if err != nil {
				return nil, oauthError(oauthInvalidRequest, p.param+" is not a role name or role ARN")
			}
			*p.dst = name
		}
	}
	if n := vals.Get("role_session_name"); n != "" {
		if err := checkSessionName(n); err != nil {
			return nil, oauthError(oauthInvalidRequest, "role_session_name: "+err.Message)
		}
		req.sessionName = n
	}
	if vals.Has("duration_seconds") {
		d, err := parseDuration(vals.Get("duration_seconds"))
		if err != nil {
			return nil, oauthError(oauthInvalidRequest, "duration_seconds: "+err.Message)
		}
		req.duration = d
	}
	return req, nil
}

func checkTokenType(param, v string, required bool) *apiError {
	switch v {
	case TokenTypeJWT, TokenTypeIDToken, TokenTypeAccessToken:
		return nil
	case "":
		if !required {
			return nil
		}
		return oauthError(oauthInvalidRequest, "the request must contain the parameter "+param)
	}
	return oauthError(oauthInvalidRequest, param+" must be "+TokenTypeJWT+", "+TokenTypeIDToken+" or "+TokenTypeAccessToken+": iamgate exchanges JWTs of its configured issuers")
}

// exchangeResponse is the answer to a token exchange: RFC 8693's fields
// for OAuth clients, and the fields of an AWS credential_process output
// (Version 1) for AWS SDKs, in one object.
type exchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`

	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`

	AssumedRoleArn string `json:"assumed_role_arn"`
	ActorRole      string `json:"actor_role"`
}

// exchange answers a token exchange: it writes the JSON answer or the
// RFC 6749 error itself and fills ev.
func (s *Service) exchange(w http.ResponseWriter, r *http.Request, vals url.Values, ev *Event) {
	ev.Action = string(TokenExchange)
	resp, aerr := s.doExchange(r, vals, ev)
	if aerr != nil {
		aerr = toOAuth(aerr)
		if !aerr.RetryAfter.IsZero() {
			secs := int64(aerr.RetryAfter.Sub(s.cfg.Now())/time.Second) + 1
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
		writeJSON(w, aerr.Status, map[string]string{"error": aerr.Code, "error_description": aerr.Message})
		ev.Status, ev.Error, ev.ErrorCode = aerr.Status, aerr.Message, aerr.Code
		ev.SessionID, ev.AccessKeyID, ev.Duration, ev.Expiry = "", "", 0, time.Time{}
		return
	}
	writeJSON(w, http.StatusOK, resp)
	ev.Status = http.StatusOK
}

func (s *Service) doExchange(r *http.Request, vals url.Values, ev *Event) (*exchangeResponse, *apiError) {
	now := s.cfg.Now()
	if r.Method != http.MethodPost || r.URL.RawQuery != "" {
		return nil, oauthError(oauthInvalidRequest, "a token exchange is a POST with its parameters in an application/x-www-form-urlencoded body")
	}
	req, aerr := parseExchange(vals)
	if aerr != nil {
		return nil, aerr
	}
	ev.Role, ev.RoleSessionName = req.role, req.sessionName
	subj, err := s.cfg.Verifier.Verify(r.Context(), req.subjectToken)
	if err != nil {
		return nil, exchangeTokenError("subject_token", err)
	}
	ev.Issuer, ev.Subject, ev.Claims = subj.Issuer, subj.Subject, subj.Claims
	var fp string
	if s.cfg.Fingerprint != nil {
		fp = s.cfg.Fingerprint(subj.Hash)
	}
	ev.TokenFingerprint = fp

	tokenExp := subj.Expiry
	var actorID *authz.Identity
	if req.actorToken != "" {
		act, err := s.cfg.Verifier.Verify(r.Context(), req.actorToken)
		if err != nil {
			return nil, exchangeTokenError("actor_token", err)
		}
		claims := act.Claims
		if prior, ok := subj.Claims["act"]; ok {
			// The subject is already acted for: the actor token's holder
			// becomes the current actor, the earlier ones its chain.
			if _, err := identity.ParseActor(subj.Claims); err != nil {
				return nil, oauthError(oauthInvalidGrant, "subject_token was rejected: "+err.Error())
			}
			claims = make(map[string]any, len(act.Claims)+1)
			for k, v := range act.Claims {
				claims[k] = v
			}
			claims["act"] = prior
			if _, err := identity.CheckActorChain(claims, 1); err != nil {
				return nil, oauthError(oauthInvalidGrant, "the delegation chain is too long: "+err.Error())
			}
		}
		actorID = &authz.Identity{Issuer: act.Issuer, Subject: act.Subject, Claims: claims}
		tokenExp = earliest(tokenExp, act.Expiry)
	} else {
		id, aerr, err := s.actorIdentity(subj)
		switch {
		case aerr != nil:
			return nil, aerr
		case errors.Is(err, identity.ErrNoActor):
			return nil, oauthError(oauthInvalidRequest, "the request must contain the parameter actor_token (the subject_token has no act claim)")
		case err != nil:
			return nil, oauthError(oauthInvalidGrant, "subject_token was rejected: "+err.Error())
		}
		actorID = id
	}
	ev.ActorIssuer, ev.ActorSubject, ev.ActorClaims = actorID.Issuer, actorID.Subject, actorID.Claims

	sreq := &request{action: TokenExchange, roleName: req.role, duration: req.duration}
	role, aerr := s.pickRole(sreq, &authz.Identity{Issuer: subj.Issuer, Subject: subj.Subject, Claims: subj.Claims}, "subject_token")
	if aerr != nil {
		return nil, aerr
	}
	ev.Role = role.Name()
	actorRole, aerr := s.pickActorRole(TokenExchange, req.actorRole, actorID)
	if aerr != nil {
		return nil, aerr
	}
	ev.ActorRole = actorRole.Name()
	sessionName := req.sessionName
	if sessionName == "" {
		sessionName = defaultSessionName(subj.Subject)
	}
	ev.RoleSessionName = sessionName

	rs := s.delegatedSettings(role.Name(), actorRole.Name())
	label := strconv.Quote(role.Name()) + " and the actor's role " + strconv.Quote(actorRole.Name())
	issued, expiry, aerr := s.sessionTimes(sreq, label, rs, tokenExp, now)
	if aerr != nil {
		return nil, aerr
	}

	sess := identity.NewSession()
	sess.Issuer, sess.Subject = subj.Issuer, subj.Subject
	sess.Roles = []string{role.Name()}
	sess.RoleSessionName = sessionName
	sess.Claims = subj.Claims
	sess.IssuedAt, sess.Expiry = issued, expiry
	sess.TokenFingerprint = fp
	sess.Actor = sessionActor(actorID, actorRole)
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		return nil, revocationsUnavailable(err)
	} else if revoked {
		return nil, errorf(http.StatusForbidden, codeAccessDenied, fmt.Sprintf("sessions of this identity for role %s are revoked", strconv.Quote(role.Name())))
	}
	token, err := s.cfg.Keys.Seal(sess)
	if err != nil {
		if errors.Is(err, identity.ErrSessionTooLarge) {
			return nil, &apiError{Status: http.StatusBadRequest, Code: oauthInvalidRequest, Cause: err,
				Message: fmt.Sprintf("the session would not fit in a session token of %d bytes: the tokens' claims are too large", identity.MaxSessionTokenLength)}
		}
		return nil, &apiError{Status: http.StatusInternalServerError, Code: codeInternalError, Message: "the session could not be issued", Cause: err}
	}
	if aerr := s.recordDelegation(r.Context(), sess); aerr != nil {
		return nil, aerr
	}
	ev.SessionID, ev.AccessKeyID = sess.ID, sess.AccessKeyID
	ev.Duration, ev.Expiry = expiry.Sub(issued), expiry
	return &exchangeResponse{
		AccessToken:     token,
		IssuedTokenType: TokenTypeAWSCredentials,
		TokenType:       "N_A",
		ExpiresIn:       int64(expiry.Sub(now) / time.Second),
		Version:         1,
		AccessKeyID:     sess.AccessKeyID,
		SecretAccessKey: sess.SecretAccessKey,
		SessionToken:    token,
		Expiration:      expiry.UTC().Format(time.RFC3339),
		AssumedRoleArn:  "arn:aws:sts::iamgate:assumed-role/" + role.Name() + "/" + sessionName,
		ActorRole:       actorRole.Name(),
	}, nil
}

// exchangeTokenError maps a verification failure of param to an OAuth
// error; the message never holds the token.
func exchangeTokenError(param string, err error) *apiError {
	var ae *identity.AuthError
	if !errors.As(err, &ae) {
		return &apiError{Status: http.StatusInternalServerError, Code: oauthServerError, Message: param + " could not be verified", Cause: err}
	}
	if ae.Reason == identity.ReasonIssuerUnavailable {
		return &apiError{Status: http.StatusServiceUnavailable, Code: oauthUnavailable, Message: "the identity provider's signing keys could not be loaded; try again later", Cause: err}
	}
	return &apiError{Status: http.StatusBadRequest, Code: oauthInvalidGrant, Message: param + " was rejected: " + ae.Error(), Cause: err}
}

// toOAuth turns an STS error into an RFC 6749 error: 400 with
// invalid_request, invalid_grant or unauthorized_client for the caller's
// mistakes, 500 server_error and 503 temporarily_unavailable for the
// server's.
func toOAuth(e *apiError) *apiError {
	c := *e
	switch e.Code {
	case oauthInvalidRequest, oauthInvalidGrant, oauthUnauthorizedClient, oauthUnsupportedGrantType, oauthServerError, oauthUnavailable:
		return &c
	case codeExpiredToken, codeInvalidIdentityToken:
		c.Code, c.Status = oauthInvalidGrant, http.StatusBadRequest
	case codeIDPRejectedClaim, codeAccessDenied:
		c.Code, c.Status = oauthUnauthorizedClient, http.StatusBadRequest
	case codeServiceUnavailable, codeIDPCommunicationError:
		c.Code, c.Status = oauthUnavailable, http.StatusServiceUnavailable
	case codeInternalError:
		c.Code, c.Status = oauthServerError, http.StatusInternalServerError
	default:
		c.Code, c.Status = oauthInvalidRequest, http.StatusBadRequest
	}
	return &c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
