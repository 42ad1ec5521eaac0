package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

var credentialsCmd = cliCommand{
	Name:  "credentials",
	Usage: "--endpoint URL --role NAME_OR_ARN (--token-file PATH | --token-env NAME | --token-command CMD) [flags]",
	About: `Trades an OIDC token for temporary S3 credentials at iamgate's STS
(AssumeRoleWithWebIdentity) and prints them as AWS credential_process JSON.
Exactly one token source is used. Cached credentials are reused while more
than 5 minutes remain. Errors are one line on stderr: exit status 1, or 2
for a usage error.

In ~/.aws/config:
  [profile iamgate]
  credential_process = iamgate credentials --endpoint https://s3.example.com --role analyst --token-file /run/token`,
	Examples: []string{
		"iamgate credentials --endpoint http://127.0.0.1:8080 --role member --token-file .demo/alice.token",
	},
}

const (
	// credentialsRefreshMargin is how long cached credentials must still be
	// valid to be reused.
	credentialsRefreshMargin = 5 * time.Minute
	// tokenCommandTimeout bounds --token-command.
	tokenCommandTimeout = 30 * time.Second
	// stsTimeout bounds the STS call.
	stsTimeout = 30 * time.Second
	// maxSTSResponse bounds the STS response body read.
	maxSTSResponse = 1 << 20
	// minSessionDuration is STS's shortest DurationSeconds.
	minSessionDuration = 15 * time.Minute
)

// tokenSource says where the OIDC token comes from: Kind is "file", "env"
// or "command", Value the path, variable name or command line.
type tokenSource struct {
	Kind, Value string
}

// credentialsRequest is a validated `iamgate credentials` invocation.
type credentialsRequest struct {
	Endpoint    *url.URL
	Role        string
	SessionName string
	Duration    time.Duration // 0: not sent
	Token       tokenSource
	Policy      []byte // nil: not sent
	CAFile      string
	CacheDir    string // "": no cache
}

// processCredentials is the credential_process output, in the field order
// the AWS SDKs document.
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// cmdCredentials is `iamgate credentials`. It prints its own errors, as
// "iamgate credentials: …", and returns the exit status: 0, 1 on failure,
// 2 on a usage error.
func cmdCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	req, err := parseCredentialsFlags(args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return reportUsage(stderr, ue)
	}
	if err != nil {
		fmt.Fprintf(stderr, "iamgate credentials: %s\n", oneLineError(err))
		return 1
	}
	creds, err := getCredentials(ctx, req, stderr, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "iamgate credentials: %s\n", oneLineError(err))
		return 1
	}
	out, _ := json.Marshal(creds)
	out = append(out, '\n')
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "iamgate credentials: writing the credentials: %s\n", oneLineError(err))
		return 1
	}
	return 0
}

// parseCredentialsFlags reads the flags and their environment defaults.
// It prints the help to stdout and returns errHelp for -h, a *usageError
// for a usage error, and a plain error when a file cannot be read.
func parseCredentialsFlags(args []string, stdout io.Writer) (*credentialsRequest, error) {
	c := &credentialsCmd
	fs := c.flagSet()
	endpoint := fs.String("endpoint", "", "iamgate's base `URL` (default $AWS_ENDPOINT_URL_STS, then $AWS_ENDPOINT_URL)")
	role := fs.String("role", "", "role to assume, a name or an ARN (default $AWS_ROLE_ARN)")
	sessionName := fs.String("session-name", "", "RoleSessionName (default iamgate-credentials-<user>)")
	duration := fs.Duration("duration", 0, "session length, e.g. 1h (default: the server's choice)")
	tokenFile := fs.String("token-file", "", "`file` holding the OIDC token (default $AWS_WEB_IDENTITY_TOKEN_FILE)")
	tokenEnv := fs.String("token-env", "", "environment variable holding the OIDC token")
	tokenCommand := fs.String("token-command", "", "command (run with sh -c, 30s timeout) that prints the OIDC token")
	policyFile := fs.String("policy-file", "", "inline session policy (JSON) that narrows the role")
	caFile := fs.String("ca-file", "", "PEM CA certificates to trust besides the system ones")
	cacheDir := fs.String("cache-dir", "", "where credentials are cached (default $XDG_CACHE_HOME/iamgate or ~/.cache/iamgate)")
	noCache := fs.Bool("no-cache", false, "neither read nor write the cache")
	if err := c.parse(fs, args, stdout); err != nil {
		return nil, err
	}
	if err := c.noArgs(fs); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	req := &credentialsRequest{CAFile: *caFile}
	var problems []string

	ep := *endpoint
	if !set["endpoint"] {
		ep = os.Getenv("AWS_ENDPOINT_URL_STS")
		if ep == "" {
			ep = os.Getenv("AWS_ENDPOINT_URL")
		}
	}
	if ep == "" {
		problems = append(problems, "--endpoint is required (or set AWS_ENDPOINT_URL_STS)")
	} else if u, err := parseEndpoint(ep); err != nil {
		problems = append(problems, err.Error())
	} else {
		req.Endpoint = u
	}

	req.Role = *role
	if !set["role"] {
		req.Role = os.Getenv("AWS_ROLE_ARN")
	}
	if req.Role == "" {
		problems = append(problems, "--role is required (or set AWS_ROLE_ARN)")
	}

	req.SessionName = *sessionName
	if !set["session-name"] {
		req.SessionName = defaultCredentialsSessionName()
	}
	if req.SessionName == "" {
		problems = append(problems, "--session-name must not be empty")
	}

	if set["duration"] {
		switch {
		case *duration < minSessionDuration:
			problems = append(problems, "--duration must be at least 15m")
		case *duration%time.Second != 0:
			problems = append(problems, "--duration must be a whole number of seconds")
		default:
			req.Duration = *duration
		}
	}

	var sources []tokenSource
	if set["token-file"] {
		sources = append(sources, tokenSource{"file", *tokenFile})
	}
	if set["token-env"] {
		sources = append(sources, tokenSource{"env", *tokenEnv})
	}
	if set["token-command"] {
		sources = append(sources, tokenSource{"command", *tokenCommand})
	}
	if len(sources) == 0 {
		if f := os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE"); f != "" {
			sources = append(sources, tokenSource{"file", f})
		}
	}
	switch {
	case len(sources) == 0:
		problems = append(problems, "a token source is required: --token-file (or AWS_WEB_IDENTITY_TOKEN_FILE), --token-env or --token-command")
	case len(sources) > 1:
		problems = append(problems, "give exactly one of --token-file, --token-env and --token-command")
	case sources[0].Value == "":
		problems = append(problems, "--token-"+sources[0].Kind+" must not be empty")
	default:
		req.Token = sources[0]
	}

	if *noCache && set["cache-dir"] {
		problems = append(problems, "give --cache-dir or --no-cache, not both")
	}
	if len(problems) > 0 {
		return nil, c.usagef("%s", strings.Join(problems, "; "))
	}

	if !*noCache {
		req.CacheDir = *cacheDir
		if req.CacheDir == "" {
			req.CacheDir = defaultCredentialsCacheDir()
		}
	}
	if *policyFile != "" {
		p, err := os.ReadFile(*policyFile)
		if err != nil {
			return nil, fmt.Errorf("reading the session policy: %w", err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return nil, fmt.Errorf("session policy %s is not valid JSON: %w", *policyFile, err)
		}
		req.Policy = buf.Bytes()
	}
	return req, nil
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q is not an http or https URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("--endpoint %q must be a plain base URL, without user, query or fragment", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// defaultCredentialsSessionName is "iamgate-credentials-<user>", cut to
// the 64 characters of [\w+=,.@-] that RoleSessionName allows.
func defaultCredentialsSessionName() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	b := []byte("iamgate-credentials-")
	for i := 0; i < len(name) && len(b) < 64; i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("_+=,.@-", c) >= 0:
		default:
			c = '-'
		}
		b = append(b, c)
	}
	return string(b)
}

func defaultCredentialsCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "iamgate")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "" // no cache rather than a cache in the working directory
	}
	return filepath.Join(home, ".cache", "iamgate")
}

// getCredentials returns cached credentials that are valid for more than
// credentialsRefreshMargin, or fresh ones from the STS, which it caches.
// Failures are never cached; a cache that cannot be written is reported
// on stderr and otherwise ignored.
func getCredentials(ctx context.Context, req *credentialsRequest, stderr io.Writer, now func() time.Time) (*processCredentials, error) {
	cachePath := ""
	if req.CacheDir != "" {
		cachePath = filepath.Join(req.CacheDir, req.cacheKey()+".json")
		if c, ok := readCachedCredentials(cachePath, now()); ok {
			return c, nil
		}
	}
	token, err := readToken(ctx, req.Token, stderr)
	if err != nil {
		return nil, err
	}
	creds, err := assumeRoleWithWebIdentity(ctx, req, token)
	if err != nil {
		return nil, err
	}
	if cachePath != "" {
		if err := writeCachedCredentials(cachePath, creds); err != nil {
			fmt.Fprintf(stderr, "iamgate credentials: warning: credentials not cached: %s\n", oneLineError(err))
		}
	}
	return creds, nil
}

// cacheKey names the cache file: a hash of everything that selects the
// credentials. The session policy and duration are part of it, so that
// credentials cached for a narrower or shorter request are never handed
// out for another one.
func (r *credentialsRequest) cacheKey() string {
	h := sha256.New()
	for _, s := range []string{
		"iamgate credentials cache v1",
		r.Endpoint.String(), r.Role, r.SessionName,
		r.Token.Kind, r.Token.Value,
		strconv.FormatInt(int64(r.Duration/time.Second), 10),
		string(r.Policy),
	} {
		fmt.Fprintf(h, "%d:%s\x00", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func readCachedCredentials(path string, now time.Time) (*processCredentials, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var c processCredentials
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 ||
		c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return nil, false
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || exp.Sub(now) <= credentialsRefreshMargin {
		return nil, false
	}
	return &c, true
}

// writeCachedCredentials writes the cache file atomically, readable by its
// owner only, in a directory only its owner may enter.
func writeCachedCredentials(path string, c *processCredentials) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// readToken reads the OIDC token. Errors never hold the token.
func readToken(ctx context.Context, src tokenSource, stderr io.Writer) (string, error) {
	var tok string
	switch src.Kind {
	case "file":
		b, err := os.ReadFile(src.Value)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	case "env":
		tok = strings.TrimSpace(os.Getenv(src.Value))
		if tok == "" {
			return "", fmt.Errorf("the token variable %s is empty or not set", src.Value)
		}
	case "command":
		ctx, cancel := context.WithTimeout(ctx, tokenCommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", src.Value)
		cmd.Stderr = stderr
		cmd.WaitDelay = time.Second
		out, err := cmd.Output()
		if ctx.Err() == context.DeadlineExceeded {
			return "", fmt.Errorf("the token command did not finish within %v", tokenCommandTimeout)
		}
		if err != nil {
			return "", fmt.Errorf("the token command failed: %w", err)
		}
		tok = strings.TrimSpace(string(out))
	default:
		return "", fmt.Errorf("unknown token source %q", src.Kind)
	}
	if tok == "" {
		return "", fmt.Errorf("the token (%s %s) is empty", src.Kind, src.Value)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("the token (%s %s) is not a single JWT: it contains whitespace", src.Kind, src.Value)
	}
	return tok, nil
}

// stsResponse and stsErrorResponse decode the STS answers.
type stsResponse struct {
	XMLName     xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// stsError is a refusal by the STS.
type stsError struct {
	Status        int
	Code, Message string
	RequestID     string
}

func (e *stsError) Error() string {
	s := "STS refused: " + e.Code + ": " + e.Message
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// assumeRoleWithWebIdentity calls the STS. Errors name the endpoint, never
// the token.
func assumeRoleWithWebIdentity(ctx context.Context, req *credentialsRequest, token string) (*processCredentials, error) {
	client, err := stsHTTPClient(req.CAFile)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {req.Role},
		"RoleSessionName":  {req.SessionName},
		"WebIdentityToken": {token},
	}
	if req.Duration > 0 {
		form.Set("DurationSeconds", strconv.FormatInt(int64(req.Duration/time.Second), 10))
	}
	if req.Policy != nil {
		form.Set("Policy", string(req.Policy))
	}
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	endpoint := req.Endpoint.String()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("STS endpoint %s: %w", endpoint, err)
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	hreq.Header.Set("Accept", "text/xml")
	hreq.Header.Set("User-Agent", "iamgate-credentials/"+currentBuild().Version)
	resp, err := client.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the STS at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSTSResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the STS at %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e stsErrorResponse
		if xml.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return nil, &stsError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RequestID: e.RequestID}
		}
		return nil, fmt.Errorf("the STS at %s answered %s, not an STS error document%s", endpoint, resp.Status, bodyHint(resp.Header.Get("Content-Type"), body))
	}
	var r stsResponse
	if err := xml.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("the STS at %s answered with an unexpected document (is it iamgate's base URL?)%s", endpoint, bodyHint(resp.Header.Get("Content-Type"), body))
	}
	c := r.Credentials
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || err != nil {
		return nil, fmt.Errorf("the STS at %s answered without complete credentials", endpoint)
	}
	return &processCredentials{
		Version:         1,
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Expiration:      exp.UTC().Format(time.RFC3339),
	}, nil
}

// bodyHint shows the start of a non-STS answer (an HTML error page, a
// proxy's message) to help find a wrong endpoint.
func bodyHint(contentType string, body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	if contentType != "" {
		return fmt.Sprintf(" (%s: %q)", contentType, s)
	}
	return fmt.Sprintf(" (%q)", s)
}

func stsHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		// The token goes in the body of a POST; a redirect would either
		// drop it or send it elsewhere. Refuse redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// oneLineError keeps an error message on one line.
func oneLineError(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
