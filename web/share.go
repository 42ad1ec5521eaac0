package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/s3req"
)

// ShareLifetimes are the lifetimes a share link may be created with; the
// lifetime granted is also capped by the remaining session and the
// shortest max_session of the session's roles.
var ShareLifetimes = []time.Duration{15 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// minShareLifetime: a link that would live less is not created.
const minShareLifetime = time.Minute

// shareResponse is the JSON answer of POST /_iamgate/share.
type shareResponse struct {
	URL     string `json:"url,omitempty"`
	Expires string `json:"expires,omitempty"`
	// Lifetime is for people ("15 minutes"); LifetimeSeconds for programs.
	Lifetime        string `json:"lifetime,omitempty"`
	LifetimeSeconds int64  `json:"lifetime_seconds,omitempty"`
	Capped          bool   `json:"capped,omitempty"`
	Error           string `json:"error,omitempty"`
}

// serveShare creates a share link: a presigned GET URL for one object,
// signed with a new session of kind "share" for the same identity and
// roles, narrowed by a session policy to s3:GetObject on that object.
func (s *Service) serveShare(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, &shareResponse{Error: "Use POST."})
		return
	}
	sess, _, err := s.Session(w, r)
	if err != nil || sess == nil {
		status, msg := http.StatusUnauthorized, "Your session has ended; sign in again."
		if sessionUnavailable(err) {
			status, msg = http.StatusServiceUnavailable, "Your session cannot be checked right now; try again in a moment."
		}
		if ev := refusedEvent(audit.KindShareLink, "CreateShareLink", status, err); ev != nil {
			ev.Action = "s3:GetObject"
			s.logEvent(r, ev)
		}
		writeJSON(w, status, &shareResponse{Error: msg})
		return
	}
	ev := s.sessionEvent(audit.KindShareLink, "browser-session", sess)
	ev.Decision, ev.Operation, ev.Action = "deny", "CreateShareLink", "s3:GetObject"
	deny := func(status int, reason, msg string) {
		ev.Reason, ev.Message, ev.Status = reason, msg, status
		s.logEvent(r, ev)
		writeJSON(w, status, &shareResponse{Error: msg})
	}
	if !identity.CheckCSRFToken(sess, r.Header.Get("X-Iamgate-CSRF")) {
		deny(http.StatusForbidden, "csrf", "The request was refused: it does not come from the console (missing or wrong X-Iamgate-CSRF header).")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		deny(http.StatusBadRequest, "bad_request", "The form could not be read.")
		return
	}
	bucket, key := r.PostForm.Get("bucket"), r.PostForm.Get("key")
	ev.Bucket, ev.Key = bucket, key
	if !validBucket(bucket) || key == "" || s3req.ValidateKey(key) != nil {
		deny(http.StatusBadRequest, "bad_request", "Name an existing bucket and object key.")
		return
	}
	want, err := time.ParseDuration(r.PostForm.Get("ttl"))
	if err != nil || !allowedLifetime(want) {
		deny(http.StatusBadRequest, "bad_request", "Choose one of the offered link lifetimes.")
		return
	}
	ev.DurationSeconds = int64(want / time.Second)
	now := s.cfg.Now().UTC().Truncate(time.Second)
	life := want
	capped := false
	if rest := sess.Expiry.Sub(now); rest < life {
		life, capped = rest, true
	}
	if ms := s.maxSession(sess.Roles); ms < life {
		life, capped = ms, true
	}
	life = life.Truncate(time.Second)
	if life < minShareLifetime {
		deny(http.StatusForbidden, "session_ending", "Your session ends in less than a minute; sign in again to share.")
		return
	}
	p := s.principal(sess)
	if p == nil {
		deny(http.StatusForbidden, "no_role", "Your roles no longer trust your identity; sign in again.")
		return
	}
	ar := &authz.Request{Action: authz.Action("s3:GetObject"), Resource: "arn:aws:s3:::" + bucket + "/" + key,
		SourceIP: s.clientIP(r), SecureTransport: s.secure(r), Time: s.cfg.Now(), UserAgent: r.UserAgent()}
	if d := s.cfg.Engine.Authorize(p, ar); !d.Allowed {
		ev.Role, ev.Policy, ev.Sid = d.Role, d.Policy, d.Sid
		deny(http.StatusForbidden, string(d.Reason), fmt.Sprintf("You may not share %s: you are not allowed s3:GetObject on it yourself.", bucket+"/"+key))
		return
	}
	share := identity.NewSession()
	share.Kind = identity.KindShare
	share.Issuer, share.Subject, share.Roles, share.Claims = sess.Issuer, sess.Subject, sess.Roles, sess.Claims
	share.RoleSessionName = sess.RoleSessionName
	share.TokenFingerprint = sess.TokenFingerprint
	share.IssuedAt, share.Expiry = now, now.Add(life)
	share.SessionPolicy = sharePolicy(bucket, key)
	token, err := s.cfg.Keys.Seal(share)
	if err != nil {
		deny(http.StatusInternalServerError, "seal_failed", "The share link could not be created: "+err.Error())
		return
	}
	link, err := s.presign(r.Context(), s.base(r), bucket, key, share, token, life)
	if err != nil {
		deny(http.StatusInternalServerError, "sign_failed", "The share link could not be signed.")
		return
	}
	ev.Decision, ev.Reason, ev.Status = "allow", "issued", http.StatusOK
	ev.SessionID, ev.AccessKeyID = share.ID, share.AccessKeyID
	ev.Lifetime, ev.Expiry = life, share.Expiry
	ev.Message = fmt.Sprintf("share link valid for %s, until %s (requested %s; created in browser session %s)",
		life, share.Expiry.Format(time.RFC3339), want, sess.ID)
	s.logEvent(r, ev)
	writeJSON(w, http.StatusOK, &shareResponse{URL: link, Expires: share.Expiry.Format(time.RFC3339), Lifetime: humanDuration(life), LifetimeSeconds: int64(life / time.Second), Capped: capped})
}

// humanDuration says d in words, in its two largest units, rounded down to
// the second: "15 minutes", "1 hour", "7 days", "44 minutes 59 seconds".
func humanDuration(d time.Duration) string {
	if d < time.Second {
		return "less than a second"
	}
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if n := d / u.d; n > 0 && len(parts) < 2 {
			name := u.name
			if n != 1 {
				name += "s"
			}
			parts = append(parts, strconv.FormatInt(int64(n), 10)+" "+name)
			d -= n * u.d
		} else if len(parts) > 0 {
			// Only adjacent units: "1 day 5 minutes" would hide the hours.
			break
		}
	}
	return strings.Join(parts, " ")
}

func allowedLifetime(d time.Duration) bool {
	for _, l := range ShareLifetimes {
		if d == l {
			return true
		}
	}
	return false
}

// sharePolicy allows s3:GetObject on exactly bucket/key: the wildcard
// characters of IAM resources are escaped.
func sharePolicy(bucket, key string) []byte {
	esc := strings.NewReplacer("$", "${$}", "*", "${*}", "?", "${?}")
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": "ShareLink", "Effect": "Allow", "Action": "s3:GetObject",
			"Resource": "arn:aws:s3:::" + esc.Replace(bucket) + "/" + esc.Replace(key),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// presign returns a SigV4 presigned GET URL for bucket/key at base,
// signed with the share session's credentials.
func (s *Service) presign(ctx context.Context, base *url.URL, bucket, key string, share *identity.Session, token string, life time.Duration) (string, error) {
	u := *base
	u.Path = "/" + bucket + "/" + key
	u.RawPath = s3req.UriEncodePath(u.Path)
	u.RawQuery = "X-Amz-Expires=" + strconv.Itoa(int(life/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.URL.RawPath = u.RawPath
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: share.AccessKeyID, SecretAccessKey: share.SecretAccessKey, SessionToken: token}
	signed, _, err := signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", s.cfg.Region, s.cfg.Now().UTC())
	return signed, err
}

// validBucket is a loose check of an S3 bucket name; the proxy checks it
// strictly when the link is used.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
