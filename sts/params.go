package sts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Action is an STS action name.
type Action string

// Supported actions.
const (
	// AssumeRoleWithWebIdentity is AWS's action: an OIDC token for
	// credentials of one role.
	AssumeRoleWithWebIdentity Action = "AssumeRoleWithWebIdentity"
	// AssumeRoleWithClientGrants is MinIO's action for OAuth2
	// client-credentials tokens; the token is in the Token parameter and
	// RoleArn may be left out when exactly one role trusts the token.
	AssumeRoleWithClientGrants Action = "AssumeRoleWithClientGrants"
	// AssumeRoleWithLDAPIdentity is MinIO's action for a directory user
	// name and password (LDAPUsername, LDAPPassword); RoleArn may be left
	// out when exactly one role trusts the user.
	AssumeRoleWithLDAPIdentity Action = "AssumeRoleWithLDAPIdentity"
)

// APIVersion is the only Version parameter accepted.
const APIVersion = "2011-06-15"

// Limits on parameters.
const (
	// MaxBodySize bounds a POST form body.
	MaxBodySize = 64 << 10
	// MinDuration is the shortest DurationSeconds accepted, as in AWS.
	MinDuration = 900 * time.Second
	// DefaultDuration is the session length when DurationSeconds is absent
	// (before it is shortened to the token lifetime; see RoleSettings).
	DefaultDuration = time.Hour
	// maxRoleArnLength and maxTokenLength follow AWS's parameter limits.
	maxRoleArnLength = 2048
	maxTokenLength   = 20000
	// maxUsernameLength and maxPasswordLength bound the LDAP parameters.
	maxUsernameLength = 256
	maxPasswordLength = 1024
	// maxPolicyParam bounds the Policy parameter before compaction.
	maxPolicyParam = 32 << 10
)

// request is a syntactically valid STS request. Semantic checks (token,
// role, duration against the role maximum) happen later.
type request struct {
	action      Action
	roleName    string // "" only for AssumeRoleWithClientGrants without RoleArn
	sessionName string // "" only for AssumeRoleWithClientGrants without RoleSessionName
	token       string
	duration    time.Duration // 0: not given
	policy      []byte        // compacted JSON; nil: not given
	// AssumeRoleWithLDAPIdentity: the user name and password (never
	// logged), and the directory named by LDAPDirectory ("" if absent).
	username, password, directory string
	// actorRole is the actor's role of a delegated session (ActorRoleArn);
	// "": the one role that trusts the actor.
	actorRole string
}

// parseValues reads the parameters of a query string and an optional form
// body. A parameter may appear once in all: a repeated parameter is
// refused, so that no two readers can disagree on its value.
func parseValues(query, body string) (url.Values, *apiError) {
	vals := url.Values{}
	for _, src := range []string{query, body} {
		if src == "" {
			continue
		}
		v, err := url.ParseQuery(src)
		if err != nil {
			return nil, badRequest(codeMalformedQueryString, "the request parameters are not valid URL encoding")
		}
		for k, list := range v {
			if len(list) > 1 || vals.Has(k) {
				return nil, badRequest(codeInvalidParameterValue, fmt.Sprintf("parameter %s is given more than once", quoteName(k)))
			}
			vals[k] = list
		}
	}
	return vals, nil
}

// parseRequest validates the parameters of one call, in the order AWS
// reports problems: action and version, missing parameters, then values.
func parseRequest(vals url.Values, maxPolicy int) (*request, *apiError) {
	action := Action(vals.Get("Action"))
	switch action {
	case AssumeRoleWithWebIdentity, AssumeRoleWithClientGrants, AssumeRoleWithLDAPIdentity:
	case "":
		return nil, badRequest(codeMissingParameter, "the request must contain the parameter Action")
	default:
		return nil, badRequest(codeInvalidAction, fmt.Sprintf("action %s is not valid: iamgate supports AssumeRoleWithWebIdentity, AssumeRoleWithClientGrants and AssumeRoleWithLDAPIdentity", quoteName(string(action))))
	}
	if vals.Has("Version") && vals.Get("Version") != APIVersion {
		return nil, badRequest(codeInvalidParameterValue, "Version must be "+APIVersion)
	}
	for k := range vals {
		if k == "ProviderId" || strings.HasPrefix(k, "PolicyArns") {
			// Refused rather than ignored: a client sending managed session
			// policies expects narrower access than it would get.
			return nil, badRequest(codeInvalidParameterValue, fmt.Sprintf("parameter %s is not supported", quoteName(k)))
		}
	}

	if action == AssumeRoleWithLDAPIdentity {
		return parseLDAPRequest(vals, maxPolicy)
	}
	req := &request{action: action}
	tokenParam := "WebIdentityToken"
	if action == AssumeRoleWithClientGrants {
		tokenParam = "Token"
	}
	req.token = vals.Get(tokenParam)
	arn := vals.Get("RoleArn")
	req.sessionName = vals.Get("RoleSessionName")
	var missing []string
	if action == AssumeRoleWithWebIdentity {
		if arn == "" {
			missing = append(missing, "RoleArn")
		}
		if req.sessionName == "" {
			missing = append(missing, "RoleSessionName")
		}
	}
	if req.token == "" {
		missing = append(missing, tokenParam)
	}
	if len(missing) > 0 {
		return nil, badRequest(codeMissingParameter, "the request must contain the parameter "+strings.Join(missing, ", "))
	}

	if len(req.token) > maxTokenLength {
		return nil, badRequest(codeValidationError, fmt.Sprintf("%s must be at most %d characters", tokenParam, maxTokenLength))
	}
	if arn != "" {
		name, err := roleNameFromArn(arn)
		if err != nil {
			return nil, err
		}
		req.roleName = name
	}
	if vals.Has("ActorRoleArn") {
		name, err := roleNameFromArn(vals.Get("ActorRoleArn"))
		if err != nil {
			return nil, err
		}
		req.actorRole = name
	}
	if err := req.parseCommon(vals, maxPolicy); err != nil {
		return nil, err
	}
	return req, nil
}

// parseCommon reads the parameters every action shares: the session
// name, DurationSeconds and Policy.
func (req *request) parseCommon(vals url.Values, maxPolicy int) *apiError {
	if req.sessionName != "" {
		if err := checkSessionName(req.sessionName); err != nil {
			return err
		}
	}
	if vals.Has("DurationSeconds") {
		d, err := parseDuration(vals.Get("DurationSeconds"))
		if err != nil {
			return err
		}
		req.duration = d
	}
	if vals.Has("Policy") {
		p, err := compactPolicy(vals.Get("Policy"), maxPolicy)
		if err != nil {
			return err
		}
		req.policy = p
	}
	return nil
}

// parseLDAPRequest reads AssumeRoleWithLDAPIdentity: LDAPUsername and
// LDAPPassword are required, RoleArn, RoleSessionName and LDAPDirectory
// optional.
func parseLDAPRequest(vals url.Values, maxPolicy int) (*request, *apiError) {
	req := &request{action: AssumeRoleWithLDAPIdentity, username: vals.Get("LDAPUsername"), password: vals.Get("LDAPPassword"),
		sessionName: vals.Get("RoleSessionName"), directory: vals.Get("LDAPDirectory")}
	var missing []string
	if req.username == "" {
		missing = append(missing, "LDAPUsername")
	}
	if req.password == "" {
		missing = append(missing, "LDAPPassword")
	}
	if len(missing) > 0 {
		return nil, badRequest(codeMissingParameter, "the request must contain the parameter "+strings.Join(missing, ", "))
	}
	if len(req.username) > maxUsernameLength || !printable(req.username) {
		return nil, badRequest(codeValidationError, fmt.Sprintf("LDAPUsername must be at most %d printable characters", maxUsernameLength))
	}
	if len(req.password) > maxPasswordLength || strings.IndexByte(req.password, 0) >= 0 {
		return nil, badRequest(codeValidationError, fmt.Sprintf("LDAPPassword must be at most %d characters, without NUL", maxPasswordLength))
	}
	if arn := vals.Get("RoleArn"); arn != "" {
		name, err := roleNameFromArn(arn)
		if err != nil {
			return nil, err
		}
		req.roleName = name
	}
	if err := req.parseCommon(vals, maxPolicy); err != nil {
		return nil, err
	}
	return req, nil
}

// roleNameFromArn accepts "arn:<partition>:iam::<account>:role/<path/>name"
// or a bare role name.
func roleNameFromArn(arn string) (string, *apiError) {
	if len(arn) > maxRoleArnLength {
		return "", badRequest(codeValidationError, fmt.Sprintf("RoleArn must be at most %d characters", maxRoleArnLength))
	}
	invalid := badRequest(codeValidationError, fmt.Sprintf("RoleArn %s is not a role ARN (arn:aws:iam::<account>:role/<name>) or a role name", quoteName(arn)))
	if !strings.HasPrefix(arn, "arn:") {
		if strings.ContainsAny(arn, ":/") || !printable(arn) {
			return "", invalid
		}
		return arn, nil
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[1] == "" || parts[2] != "iam" || parts[3] != "" {
		return "", invalid
	}
	res, ok := strings.CutPrefix(parts[5], "role/")
	if !ok {
		return "", invalid
	}
	name := res[strings.LastIndexByte(res, '/')+1:]
	if name == "" || !printable(name) {
		return "", invalid
	}
	return name, nil
}

// checkSessionName applies AWS's RoleSessionName rule: 2 to 64 characters
// of [\w+=,.@-].
func checkSessionName(s string) *apiError {
	if len(s) < 2 || len(s) > 64 {
		return badRequest(codeValidationError, "RoleSessionName must be 2 to 64 characters long")
	}
	for i := 0; i < len(s); i++ {
		if !sessionNameChar(s[i]) {
			return badRequest(codeValidationError, `RoleSessionName may contain only letters, digits and the characters _+=,.@-`)
		}
	}
	return nil
}

func sessionNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}

// defaultSessionName derives a session name from the token subject when
// the caller gave none (AssumeRoleWithClientGrants).
func defaultSessionName(subject string) string {
	b := make([]byte, 0, 64)
	for i := 0; i < len(subject) && len(b) < 64; i++ {
		c := subject[i]
		if !sessionNameChar(c) {
			c = '-'
		}
		b = append(b, c)
	}
	if len(b) < 2 {
		return "client-grants"
	}
	return string(b)
}

func parseDuration(s string) (time.Duration, *apiError) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(codeInvalidParameterValue, "DurationSeconds must be a whole number of seconds")
	}
	if n < int64(MinDuration/time.Second) {
		return 0, badRequest(codeValidationError, fmt.Sprintf("DurationSeconds must be at least %d", int64(MinDuration/time.Second)))
	}
	const maxSeconds = int64(1<<62) / int64(time.Second)
	if n > maxSeconds {
		n = maxSeconds // far above every role maximum; reported there
	}
	return time.Duration(n) * time.Second, nil
}

// compactPolicy removes insignificant whitespace from a session policy and
// checks its size. The policy language itself is checked later, by
// authz.ParsePolicy.
func compactPolicy(p string, max int) ([]byte, *apiError) {
	if p == "" {
		return nil, badRequest(codeMalformedPolicyDocument, "Policy is empty")
	}
	if len(p) > maxPolicyParam {
		return nil, badRequest(codePackedPolicyTooLarge, fmt.Sprintf("Policy is %d bytes; the limit is %d bytes after removing whitespace", len(p), max))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(p)); err != nil {
		return nil, badRequest(codeMalformedPolicyDocument, "Policy is not valid JSON: "+clip(err.Error(), 200))
	}
	if buf.Len() > max {
		return nil, badRequest(codePackedPolicyTooLarge, fmt.Sprintf("Policy is %d bytes after removing whitespace; the limit is %d bytes", buf.Len(), max))
	}
	return buf.Bytes(), nil
}

// quoteName quotes a caller-supplied name for a message, bounded in size.
func quoteName(s string) string { return strconv.Quote(clip(s, 64)) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}
