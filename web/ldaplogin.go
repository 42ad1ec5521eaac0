package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/identity"
	"github.com/iamgate/iamgate/identity/ldapdir"
)

// PasswordDirectory checks a user name and password; *ldapdir.Directory
// implements it.
type PasswordDirectory interface {
	Authenticate(ctx context.Context, a ldapdir.Attempt) (*ldapdir.Identity, error)
}

var _ PasswordDirectory = (*ldapdir.Directory)(nil)

// Directory is an LDAP directory people sign in to with a user name and
// password, on a form of the sign-in page.
type Directory struct {
	// Name is the directory's configured name: the Issuer of its
	// sessions, which trust rules match.
	Name string
	// Label is the title of its form.
	Label     string
	Directory PasswordDirectory
}

// LDAPLoginPath receives the sign-in form of a directory.
const LDAPLoginPath = "/_iamgate/login/ldap"

const (
	ldapFormPurpose = "ldap-login-form"
	// ldapFormCookie carries the sealed anti-forgery value of the sign-in
	// form, which the form repeats (double submit).
	ldapFormCookie = "iamgate_login_form"
	// ldapFormLifetime bounds how long a sign-in form may be filled in.
	ldapFormLifetime = LoginStateLifetime
	// ldapMethod is the audit authentication method of directory sign-ins.
	ldapMethod = "ldap"
	// maxFormBody bounds the sign-in form.
	maxFormBody = 16 << 10
)

// ldapForm is the sealed value of ldapFormCookie.
type ldapForm struct {
	Token  string `json:"t"`
	Expiry int64  `json:"e"`
}

// loginForm is one directory's form on the sign-in page.
type loginForm struct {
	Name, Label, Return, CSRF, Username, Error string
}

// formToken returns the anti-forgery value of the sign-in forms, from the
// browser's cookie when it is still good, else a new one set on w.
func (s *Service) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(ldapFormCookie); err == nil {
		if f := s.openForm(c.Value); f != nil && s.cfg.Now().Add(ldapFormLifetime/2).Unix() < f.Expiry {
			return f.Token
		}
	}
	f := ldapForm{Token: randomString(24), Expiry: s.cfg.Now().Add(ldapFormLifetime).Unix()}
	plain, _ := json.Marshal(&f)
	c := s.cookie(r, ldapFormCookie, s.cfg.Keys.SealData(ldapFormPurpose, plain), int(ldapFormLifetime/time.Second))
	c.Path = LDAPLoginPath
	c.SameSite = http.SameSiteStrictMode
	http.SetCookie(w, c)
	return f.Token
}

func (s *Service) openForm(sealed string) *ldapForm {
	plain, err := s.cfg.Keys.OpenData(ldapFormPurpose, sealed)
	if err != nil {
		return nil
	}
	var f ldapForm
	if json.Unmarshal(plain, &f) != nil || f.Token == "" {
		return nil
	}
	return &f
}

// loginPage shows the sign-in choices: a button per provider and a form
// per directory. only, if set, limits it to one directory.
func (s *Service) loginPage(w http.ResponseWriter, r *http.Request, rd string, only *Directory, status int, errMsg, username string) {
	w.Header().Set("Cache-Control", "no-store")
	var token string
	if len(s.cfg.Directories) > 0 {
		token = s.formToken(w, r)
	}
	d := &pageData{Title: "Sign in"}
	if only == nil {
		for _, n := range s.order {
			is := s.issuers[n]
			label := is.Label
			if label == "" {
				label = "Sign in with " + is.Name
			}
			d.Choices = append(d.Choices, loginChoice{Name: n, Label: label,
				Href: "/_iamgate/login?issuer=" + url.QueryEscape(n) + "&rd=" + url.QueryEscape(rd)})
		}
	}
	for i := range s.cfg.Directories {
		dir := &s.cfg.Directories[i]
		if only != nil && only.Name != dir.Name {
			continue
		}
		f := loginForm{Name: dir.Name, Label: dir.Label, Return: rd, CSRF: token}
		if only != nil {
			f.Error, f.Username = errMsg, username
		}
		d.Forms = append(d.Forms, f)
	}
	s.renderer.page(w, status, "login.html", d)
}

func (s *Service) directory(name string) *Directory {
	for i := range s.cfg.Directories {
		if s.cfg.Directories[i].Name == name {
			return &s.cfg.Directories[i]
		}
	}
	return nil
}

// ldapFormValues is a parsed sign-in form.
type ldapFormValues struct {
	Directory, Username, Password, Return, CSRF string
}

// parseLDAPForm reads the sign-in form: each field at most once, bounded.
// The message of an error is shown to the person.
func parseLDAPForm(body string) (*ldapFormValues, error) {
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, errors.New("the form is not valid URL encoding")
	}
	one := func(k string, max int) (string, error) {
		v := vals[k]
		switch {
		case len(v) > 1:
			return "", fmt.Errorf("the form field %s is given more than once", k)
		case len(v) == 0:
			return "", nil
		case len(v[0]) > max:
			return "", fmt.Errorf("the form field %s is too long", k)
		}
		return v[0], nil
	}
	var f ldapFormValues
	for _, fld := range []struct {
		dst *string
		key string
		max int
	}{{&f.Directory, "directory", 64}, {&f.Username, "username", ldapdir.MaxUsernameLength},
		{&f.Password, "password", ldapdir.MaxPasswordLength}, {&f.Return, "rd", 2048}, {&f.CSRF, "csrf", 64}} {
		if *fld.dst, err = one(fld.key, fld.max); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// serveLDAPLogin checks a directory sign-in form and, when the directory
// accepts the password and a role trusts the user, sets the session
// cookie as an OpenID Connect sign-in does.
func (s *Service) serveLDAPLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.renderer.errorPage(w, http.StatusMethodNotAllowed, "Sign-in failed", "Sign in from the sign-in page.")
		return
	}
	fail := func(name, reason string, status int, msg string) {
		ev := &audit.Event{Issuer: name}
		if name != "" {
			ev.IssuerURL = "ldap:" + name
		}
		ev.Kind, ev.Decision, ev.Reason, ev.Status = audit.KindLoginFailure, "deny", reason, status
		ev.Message, ev.AuthMethod, ev.ErrorCode = msg, ldapMethod, "LoginFailed"
		s.logEvent(r, ev)
		s.renderer.errorPage(w, status, "Sign-in failed", msg)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		fail("", "bad_request", http.StatusBadRequest, "Sign-in failed: the form was not sent as a form.")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.base(r).String() {
		fail("", "csrf", http.StatusForbidden, "Sign-in failed: the form was sent from another site.")
		return
	}
	body, err := readLimited(r, maxFormBody)
	if err != nil {
		fail("", "bad_request", http.StatusRequestEntityTooLarge, "Sign-in failed: the form is too large.")
		return
	}
	f, err := parseLDAPForm(body)
	if err != nil {
		fail("", "bad_request", http.StatusBadRequest, "Sign-in failed: "+err.Error()+".")
		return
	}
	dir := s.directory(f.Directory)
	if dir == nil {
		fail("", "bad_request", http.StatusBadRequest, fmt.Sprintf("Sign-in failed: there is no directory named %q.", clip(f.Directory, 64)))
		return
	}
	c, err := r.Cookie(ldapFormCookie)
	var form *ldapForm
	if err == nil {
		form = s.openForm(c.Value)
	}
	if form == nil || f.CSRF == "" || subtle.ConstantTimeCompare([]byte(form.Token), []byte(f.CSRF)) != 1 || s.cfg.Now().Unix() >= form.Expiry {
		fail(dir.Name, "csrf", http.StatusForbidden, "Sign-in failed: the form is not from this sign-in page, or it was open for more than 10 minutes. Load the page again.")
		return
	}
	rd, ok := SafeReturnPath(f.Return)
	if !ok {
		rd = DefaultReturnPath
	}
	id, err := dir.Directory.Authenticate(r.Context(), ldapdir.Attempt{Username: f.Username, Password: f.Password, Source: s.clientIP(r)})
	if err != nil {
		var le *ldapdir.Error
		reason, status, msg := "directory_error", http.StatusInternalServerError, "The sign-in could not be checked."
		if errors.As(err, &le) {
			reason = string(le.Reason)
			switch le.Reason {
			case ldapdir.ReasonUnavailable:
				status, msg = http.StatusServiceUnavailable, "The directory cannot be reached right now. Try again in a minute."
				s.log.Warn("directory sign-in failed: directory unavailable", "directory", dir.Name, "err", err)
			case ldapdir.ReasonThrottled:
				status, msg = http.StatusTooManyRequests, "Too many failed sign-in attempts. Wait a few minutes, then try again."
				if !le.RetryAfter.IsZero() {
					w.Header().Set("Retry-After", fmt.Sprint(max(int64(le.RetryAfter.Sub(s.cfg.Now())/time.Second)+1, 1)))
				}
			default:
				status, msg = http.StatusUnauthorized, "Invalid user name or password."
			}
		}
		ev := &audit.Event{Issuer: dir.Name, IssuerURL: "ldap:" + dir.Name, Username: clip(f.Username, 256)}
		ev.Kind, ev.Decision, ev.Reason, ev.Status = audit.KindLoginFailure, "deny", reason, status
		ev.Message, ev.AuthMethod, ev.ErrorCode = msg, ldapMethod, "LoginFailed"
		s.logEvent(r, ev)
		s.loginPage(w, r, rd, dir, status, msg, f.Username)
		return
	}
	sess, msg, reason := s.newDirectorySession(dir, id)
	if sess == nil {
		s.failLoginAs(w, r, s.directoryAttempt(dir, id), reason, http.StatusForbidden, msg)
		return
	}
	if err := s.issue(w, r, sess); err != nil {
		s.failLoginAs(w, r, s.directoryAttempt(dir, id), "session_too_large", http.StatusForbidden, err.Error())
		return
	}
	ev := s.sessionEvent(audit.KindLogin, ldapMethod, sess)
	ev.Reason, ev.Expiry = "signed_in", sess.Expiry
	s.logEvent(r, ev)
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// directoryAttempt is the identity of a directory sign-in refused after
// the password was accepted, for its login_failure event.
func (s *Service) directoryAttempt(dir *Directory, id *ldapdir.Identity) *audit.Event {
	claims := id.Claims()
	return &audit.Event{Issuer: dir.Name, IssuerURL: "ldap:" + dir.Name, Subject: id.DN,
		Username: authz.Username(claims, id.DN), Claims: audit.RecordedClaims(claims, s.cfg.AuditClaims), AuthMethod: ldapMethod}
}

// newDirectorySession makes the browser session of a directory user. It
// has no refresh token: it lasts Config.SessionRefresh (or less, as the
// roles allow), after which the person signs in again; nothing about the
// user is kept beyond that.
func (s *Service) newDirectorySession(dir *Directory, id *ldapdir.Identity) (*identity.Session, string, string) {
	claims := id.Claims()
	aid := &authz.Identity{Issuer: dir.Name, Subject: id.DN, Claims: claims}
	trusted, misses := s.cfg.Engine.Trust(aid)
	if len(trusted) == 0 {
		msg := fmt.Sprintf("You signed in as %s, but no role of this iamgate trusts that identity (directory %q).", id.Username, dir.Name)
		if len(misses) > 0 && len(misses) <= 3 {
			var parts []string
			for _, m := range misses {
				parts = append(parts, fmt.Sprintf("role %q: %s", m.Role, m.Reason))
			}
			msg += " " + strings.Join(parts, "; ") + "."
		}
		return nil, msg + " Ask an administrator for access.", "no_role"
	}
	sess := identity.NewSession()
	for _, t := range trusted {
		sess.Roles = append(sess.Roles, t.Name())
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	sess.Kind = identity.KindBrowser
	sess.Issuer, sess.Subject, sess.Claims = dir.Name, id.DN, claims
	sess.RoleSessionName = id.Username
	sess.IssuedAt, sess.RenewedAt = now, now
	sess.Expiry = now.Add(min(s.cfg.SessionRefresh, s.maxSession(sess.Roles)))
	if revoked, _, err := identity.CheckRevoked(sess, s.cfg.Revocations, s.cfg.RuntimeRevocations); err != nil {
		s.log.Error("the run-time revocations cannot be confirmed current; sign-in refused", "err", err)
		return nil, "Sign-in failed: the revocations in force cannot be confirmed current; try again in a minute.", "state_unavailable"
	} else if revoked {
		return nil, "Sign-in refused: sessions of this identity are revoked.", "revoked"
	}
	return sess, "", ""
}

// isDirectory reports whether name is a directory's.
func (s *Service) isDirectory(name string) bool { return s.directory(name) != nil }
