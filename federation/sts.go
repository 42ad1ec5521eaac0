package federation

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Credentials are temporary credentials from the store's STS.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// String and LogValue show the access key ID and expiry only.
func (c Credentials) String() string {
	return "Credentials{" + c.AccessKeyID + ", expires " + c.Expiration.UTC().Format(time.RFC3339) + "}"
}

// LogValue implements slog.LogValuer without the secret or the token.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration))
}

var _ slog.LogValuer = Credentials{}

// Bounds of an STS answer.
const (
	maxSTSResponse     = 64 << 10
	maxSTSDepth        = 8
	maxSTSElements     = 256
	maxAccessKeyID     = 128
	maxSecretKey       = 256
	maxSessionToken    = 32 << 10
	minAccessKeyID     = 3
	stsNamespace       = "https://sts.amazonaws.com/doc/2011-06-15/"
	assumeRoleAction   = "AssumeRoleWithWebIdentity"
	stsVersion         = "2011-06-15"
	DefaultSessionName = "iamgate"
)

// ErrMalformedResponse is returned for an STS answer that is not a
// well-formed, bounded AssumeRoleWithWebIdentity response.
var ErrMalformedResponse = errors.New("federation: malformed STS response")

// STSError is an error document from the STS: its HTTP status, Code and
// Message.
type STSError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *STSError) Error() string {
	if e.Code == "" {
		return "federation: STS answered HTTP " + strconv.Itoa(e.StatusCode)
	}
	return fmt.Sprintf("federation: STS answered HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// AssumeRoleRequest holds the parameters of AssumeRoleWithWebIdentity
// besides the token.
type AssumeRoleRequest struct {
	// RoleARN is the role to assume: AWS's IAM role, or MinIO's role ARN
	// when it maps the provider with role_policy. "": none (MinIO's
	// claim_name mode).
	RoleARN string
	// SessionName is RoleSessionName (AWS requires it); "" means
	// DefaultSessionName.
	SessionName string
	// Duration is DurationSeconds; 0 leaves it to the STS.
	Duration time.Duration
}

// STSClient calls AssumeRoleWithWebIdentity at an STS endpoint: a form
// POST to its root, as AWS STS and MinIO serve it.
type STSClient struct {
	// Endpoint is the STS URL, such as https://sts.eu-west-1.amazonaws.com
	// or the MinIO endpoint.
	Endpoint string
	// HTTP sends the request; nil means a client with a 30s timeout.
	HTTP *http.Client
}

// AssumeRoleWithWebIdentity exchanges token for temporary credentials.
// An STS error document is returned as *STSError; an answer that cannot
// be parsed wraps ErrMalformedResponse.
func (c *STSClient) AssumeRoleWithWebIdentity(ctx context.Context, token string, req AssumeRoleRequest) (Credentials, error) {
	form := url.Values{
		"Action":           {assumeRoleAction},
		"Version":          {stsVersion},
		"WebIdentityToken": {token},
		"RoleSessionName":  {req.SessionName},
	}
	if req.SessionName == "" {
		form.Set("RoleSessionName", DefaultSessionName)
	}
	if req.RoleARN != "" {
		form.Set("RoleArn", req.RoleARN)
	}
	if req.Duration > 0 {
		form.Set("DurationSeconds", strconv.FormatInt(int64(req.Duration/time.Second), 10))
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return Credentials{}, err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := hc.Do(hr)
	if err != nil {
		// The URL holds no secret; the token is in the body.
		return Credentials{}, fmt.Errorf("federation: STS request: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxSTSResponse+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("federation: STS response: %w", err)
	}
	if len(body) > maxSTSResponse {
		return Credentials{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformedResponse, maxSTSResponse)
	}
	if res.StatusCode != http.StatusOK {
		return Credentials{}, parseSTSError(res.StatusCode, body)
	}
	return ParseAssumeRoleResponse(body)
}

// element is a parsed XML element: its local name, namespace, text and
// children.
type element struct {
	name, space string
	text        string
	children    []*element
}

// parseXML reads one bounded XML document: no DOCTYPE or other
// directives, at most maxSTSDepth levels and maxSTSElements elements, no
// text beside child elements, nothing after the root.
func parseXML(data []byte) (*element, error) {
	if len(data) > maxSTSResponse {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedResponse, maxSTSResponse)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.Entity = nil
	var stack []*element
	var root *element
	count := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("%w: content after the root element", ErrMalformedResponse)
			}
			count++
			if count > maxSTSElements || len(stack) >= maxSTSDepth {
				return nil, fmt.Errorf("%w: too many or too deeply nested elements", ErrMalformedResponse)
			}
			e := &element{name: t.Name.Local, space: t.Name.Space}
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" {
					e.space = a.Value
				}
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				if strings.TrimSpace(p.text) != "" {
					return nil, fmt.Errorf("%w: text beside elements in <%s>", ErrMalformedResponse, p.name)
				}
				p.children = append(p.children, e)
			} else {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != t.Name.Local {
				return nil, fmt.Errorf("%w: unbalanced end element", ErrMalformedResponse)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, fmt.Errorf("%w: text outside the root element", ErrMalformedResponse)
				}
				continue
			}
			p := stack[len(stack)-1]
			if len(p.children) > 0 && len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text beside elements in <%s>", ErrMalformedResponse, p.name)
			}
			p.text += string(t)
		case xml.Directive:
			return nil, fmt.Errorf("%w: DOCTYPE or other directive", ErrMalformedResponse)
		case xml.ProcInst:
			if t.Target != "xml" || root != nil {
				return nil, fmt.Errorf("%w: processing instruction", ErrMalformedResponse)
			}
		case xml.Comment:
			// harmless
		}
	}
	if root == nil || len(stack) != 0 {
		return nil, fmt.Errorf("%w: no complete root element", ErrMalformedResponse)
	}
	return root, nil
}

// child returns the only child named name; more than one is an error.
func (e *element) child(name string) (*element, error) {
	var found *element
	for _, c := range e.children {
		if c.name == name {
			if found != nil {
				return nil, fmt.Errorf("%w: <%s> repeated in <%s>", ErrMalformedResponse, name, e.name)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: <%s> missing in <%s>", ErrMalformedResponse, name, e.name)
	}
	return found, nil
}

// ParseAssumeRoleResponse reads an AssumeRoleWithWebIdentityResponse and
// returns its credentials. It is strict where it matters: the root and
// result elements, exactly one Credentials with exactly the four known
// elements, each once, within bounds; other elements of the result
// (AssumedRoleUser, Audience, ...) are ignored.
func ParseAssumeRoleResponse(data []byte) (Credentials, error) {
	root, err := parseXML(data)
	if err != nil {
		return Credentials{}, err
	}
	if root.name != assumeRoleAction+"Response" || root.space != "" && root.space != stsNamespace {
		return Credentials{}, fmt.Errorf("%w: root element <%s>", ErrMalformedResponse, root.name)
	}
	result, err := root.child(assumeRoleAction + "Result")
	if err != nil {
		return Credentials{}, err
	}
	ce, err := result.child("Credentials")
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	fields := map[string]*string{"AccessKeyId": &c.AccessKeyID, "SecretAccessKey": &c.SecretAccessKey, "SessionToken": &c.SessionToken}
	var exp string
	seen := map[string]bool{}
	for _, f := range ce.children {
		if seen[f.name] {
			return Credentials{}, fmt.Errorf("%w: <%s> repeated in <Credentials>", ErrMalformedResponse, f.name)
		}
		seen[f.name] = true
		if len(f.children) > 0 {
			return Credentials{}, fmt.Errorf("%w: <%s> has child elements", ErrMalformedResponse, f.name)
		}
		v := strings.TrimSpace(f.text)
		switch {
		case f.name == "Expiration":
			exp = v
		case fields[f.name] != nil:
			*fields[f.name] = v
		default:
			return Credentials{}, fmt.Errorf("%w: unknown element <%s> in <Credentials>", ErrMalformedResponse, f.name)
		}
	}
	switch {
	case len(c.AccessKeyID) < minAccessKeyID || len(c.AccessKeyID) > maxAccessKeyID || !printable(c.AccessKeyID):
		return Credentials{}, fmt.Errorf("%w: AccessKeyId missing, too long or not printable", ErrMalformedResponse)
	case c.SecretAccessKey == "" || len(c.SecretAccessKey) > maxSecretKey || !printable(c.SecretAccessKey):
		return Credentials{}, fmt.Errorf("%w: SecretAccessKey missing, too long or not printable", ErrMalformedResponse)
	case c.SessionToken == "" || len(c.SessionToken) > maxSessionToken || !printable(c.SessionToken):
		return Credentials{}, fmt.Errorf("%w: SessionToken missing, too long or not printable", ErrMalformedResponse)
	}
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: Expiration %q is not an RFC 3339 time", ErrMalformedResponse, truncate(exp, 40))
	}
	c.Expiration = t.UTC()
	return c, nil
}

// parseSTSError reads an STS ErrorResponse; a body that is not one still
// yields an *STSError with the status.
func parseSTSError(status int, body []byte) error {
	e := &STSError{StatusCode: status}
	root, err := parseXML(body)
	if err != nil || root.name != "ErrorResponse" {
		return e
	}
	if er, err := root.child("Error"); err == nil {
		if c, err := er.child("Code"); err == nil {
			e.Code = truncate(strings.TrimSpace(c.text), 64)
		}
		if m, err := er.child("Message"); err == nil {
			e.Message = truncate(strings.TrimSpace(m.text), 512)
		}
	}
	if !printable(e.Code) {
		e.Code = ""
	}
	e.Message = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, e.Message)
	return e
}

// printable reports whether s is visible ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
