package proxy

import (
	"bytes"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/iamgate/iamgate/s3err"
)

// wantsErrorPage reports whether iamgate's error for r should be an HTML
// page rather than the S3 XML document: a person's browser opening an S3
// URL (a GET or HEAD top-level navigation whose Accept prefers HTML to
// XML), not a request an S3 client signed or presigned, which always gets
// XML.
func wantsErrorPage(r *http.Request) bool {
	if !isNavigation(r) || !prefersHTML(r.Header.Get("Accept")) || r.Header.Get("Authorization") != "" {
		return false
	}
	q := r.URL.Query()
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "AWSAccessKeyId", "Signature"} {
		if q.Has(k) {
			return false
		}
	}
	return true
}

// prefersHTML reports whether an Accept header ranks text/html (or XHTML)
// above XML: a higher quality, or the same quality listed first.
func prefersHTML(accept string) bool {
	htmlQ, xmlQ := -1.0, -1.0
	htmlAt, xmlAt := -1, -1
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v <= 1 {
				q = v
			}
		}
		switch mt {
		case "text/html", "application/xhtml+xml":
			if q > htmlQ {
				htmlQ, htmlAt = q, i
			}
		case "application/xml", "text/xml":
			if q > xmlQ {
				xmlQ, xmlAt = q, i
			}
		}
	}
	if htmlQ <= 0 {
		return false
	}
	return htmlQ > xmlQ || htmlQ == xmlQ && htmlAt < xmlAt
}

// errorPageData is what the error page shows; html/template escapes all of
// it, so the message, the resource and the login path (which hold parts of
// the request) cannot add markup.
type errorPageData struct {
	Title, Code, Message, Resource, RequestID string
	SignIn                                    string // the sign-in path, for a person who is not signed in
	Console                                   bool
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · iamgate</title>
{{if .Console}}<link rel="stylesheet" href="/_iamgate/assets/console.css">{{end}}
</head>
<body>
<main id="main">
<h1>{{.Title}}</h1>
<p class="denied" role="alert" id="error-message">{{.Message}}</p>
<dl>
<dt>Error</dt><dd id="error-code">{{.Code}}</dd>
{{if .Resource}}<dt>Resource</dt><dd id="error-resource">{{.Resource}}</dd>{{end}}
<dt>Request ID</dt><dd id="request-id">{{.RequestID}}</dd>
</dl>
<p>{{if .SignIn}}<a id="sign-in" class="button" href="{{.SignIn}}">Sign in</a>{{end}}{{if .Console}} <a href="/_iamgate/ui/">Console</a>{{end}}</p>
</main>
</body>
</html>
`))

// writeErrorPage renders serr as an HTML page for a browser navigation,
// with the request id, and a sign-in link that returns to the same URL
// when no usable browser session authenticated the request (and the
// console is configured).
func (h *Handler) writeErrorPage(ex *exchange, r *http.Request, serr *s3err.Error) {
	d := errorPageData{Title: serr.Code, Code: serr.Code, Message: serr.Message, Resource: serr.Resource, RequestID: ex.rid}
	switch serr.Status {
	case http.StatusForbidden:
		d.Title = "Access denied"
	case http.StatusNotFound:
		d.Title = "Not found"
	}
	if b := ex.gen.Browser; b != nil {
		d.Console = true
		if !ex.signedIn {
			rd := r.URL.EscapedPath()
			if r.URL.RawQuery != "" {
				rd += "?" + r.URL.RawQuery
			}
			d.SignIn = b.LoginPath(rd)
		}
	}
	var buf bytes.Buffer
	if err := errorPage.Execute(&buf, &d); err != nil {
		s3err.Write(ex.w, r, serr, ex.rid)
		return
	}
	hdr := ex.w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("Vary", "Accept")
	ex.w.WriteHeader(serr.Status)
	if r.Method != http.MethodHead {
		_, _ = ex.w.Write(buf.Bytes())
	}
}
