package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageData is what every template may show.
type pageData struct {
	Title     string
	Who       *whoami
	CSRF      string
	Denied    string
	Message   string
	Choices   []loginChoice
	Forms     []loginForm
	Buckets   []bucketRow
	Hidden    int
	Bucket    string
	Prefix    string
	Crumbs    []crumb
	Prefixes  []prefixRow
	Objects   []objectRow
	Next      string
	Empty     bool
	Lifetimes []lifetimeChoice
	// Delegations are the delegated sessions acting for the person.
	Delegations []delegationRow
	// Access is the page of access requests.
	Access *accessData
}

type whoami struct {
	Subject, Issuer, Username, Email, Roles, Expiry, ExpiryText string
}

type loginChoice struct{ Name, Label, Href string }
type bucketRow struct{ Name, Href, Created string }
type crumb struct {
	Name, Href string
	Current    bool
}
type prefixRow struct{ Name, Href string }
type objectRow struct {
	Key, Name, Href, Size, Modified string
	Bytes                           int64
}
type lifetimeChoice struct {
	Value, Label string
	Selected     bool
}

type renderer struct {
	pages map[string]*template.Template
}

func newRenderer() *renderer {
	r := &renderer{pages: map[string]*template.Template{}}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		r.pages[base] = template.Must(template.ParseFS(templateFS, "templates/layout.html", n))
	}
	return r
}

// page renders the named page in the layout.
func (r *renderer) page(w http.ResponseWriter, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := r.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (r *renderer) errorPage(w http.ResponseWriter, status int, title, msg string) {
	r.page(w, status, "error.html", &pageData{Title: title, Denied: msg})
}

// readLimited reads a request body of at most max bytes.
func readLimited(r *http.Request, max int64) (string, error) {
	if r.Body == nil {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > max {
		return "", errors.New("the body is too large")
	}
	return string(b), nil
}

// serveAsset serves the embedded CSS and JavaScript.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	data, err := assetFS.ReadFile("assets/" + name)
	if err != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(data)
}

func itoa(n int64) string    { return strconv.FormatInt(n, 10) }
func ftoa1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
