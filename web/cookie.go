package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Cookie size limits. Browsers keep cookies up to 4096 bytes (name, value
// and attributes); a sealed session larger than one cookie is split over
// numbered cookies <name>.0, <name>.1, … of at most cookieChunk bytes.
const (
	cookieChunk     = 3800
	maxCookieChunks = 4
)

// ErrSessionTooLarge means a sealed session does not fit in the cookies a
// browser keeps.
var ErrSessionTooLarge = errors.New("web: the session does not fit in the browser's cookies")

func chunkName(base string, i int) string { return base + "." + strconv.Itoa(i) }

// readSessionCookie returns the sealed session of r, joined from its
// chunks, or "".
func (s *Service) readSessionCookie(r *http.Request) string {
	name := s.cfg.CookieName
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return c.Value
	}
	var b strings.Builder
	for i := range maxCookieChunks {
		c, err := r.Cookie(chunkName(name, i))
		if err != nil || c.Value == "" {
			break
		}
		b.WriteString(c.Value)
	}
	return b.String()
}

// setSessionCookie stores token in one cookie, or in numbered chunks, and
// deletes whatever cookies of an older session are left over.
func (s *Service) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) error {
	name := s.cfg.CookieName
	var parts []string
	if len(token) <= cookieChunk {
		parts = []string{token}
	} else {
		for t := token; t != ""; {
			n := min(cookieChunk, len(t))
			parts = append(parts, t[:n])
			t = t[n:]
		}
		if len(parts) > maxCookieChunks {
			return ErrSessionTooLarge
		}
	}
	used := map[string]bool{}
	if len(parts) == 1 {
		used[name] = true
		http.SetCookie(w, s.cookie(r, name, parts[0], maxAge))
	} else {
		for i, p := range parts {
			used[chunkName(name, i)] = true
			http.SetCookie(w, s.cookie(r, chunkName(name, i), p, maxAge))
		}
	}
	for _, n := range s.sessionCookieNames() {
		if !used[n] {
			if _, err := r.Cookie(n); err == nil {
				http.SetCookie(w, s.cookie(r, n, "", -1))
			}
		}
	}
	return nil
}

// clearSessionCookie deletes every session cookie r carries.
func (s *Service) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	for _, n := range s.sessionCookieNames() {
		if _, err := r.Cookie(n); err == nil {
			http.SetCookie(w, s.cookie(r, n, "", -1))
		}
	}
}

func (s *Service) sessionCookieNames() []string {
	names := []string{s.cfg.CookieName}
	for i := range maxCookieChunks {
		names = append(names, chunkName(s.cfg.CookieName, i))
	}
	return names
}

// cookie is a host-only, HttpOnly, SameSite=Lax cookie for path /, Secure
// when iamgate is reached over HTTPS.
func (s *Service) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure(r),
		SameSite: http.SameSiteLaxMode,
	}
}
