package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity"
)

const chromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		chromeAccept: true,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true, // Firefox
		"application/xml, text/html":                                      false,
		"text/html, application/xml":                                      true,
		"text/html;q=0.5, application/xml":                                false,
		"text/html;q=0":                                                   false,
		"*/*":                                                             false,
		"":                                                                false,
		"text/html;q=bogus, text/xml;q=0.9":                               true,
	} {
		if got := prefersHTML(accept); got != want {
			t.Errorf("prefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

// A person's browser that opens an S3 URL and is refused gets an HTML page
// with the reason and the request id; S3 clients, and anything signed or
// presigned, get the S3 XML error as before.
func TestErrorPage(t *testing.T) {
	f := newFixture(t, nil, nil)
	nav := []string{"Accept", chromeAccept, "Sec-Fetch-Mode", "navigate"}
	withBrowser := func(b Browser) {
		gen := *f.h.Current()
		gen.principals = nil
		gen.Browser = b
		if err := f.h.Swap(&gen); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("no console: anonymous navigation", func(t *testing.T) {
		res, body := f.do(t, "GET", "/bkt/home/bob/x", "", nil, nav...)
		rid := res.Header.Get("X-Amz-Request-Id")
		if res.StatusCode != 403 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || rid == "" ||
			!strings.Contains(body, `<dd id="request-id">`+rid+`</dd>`) || !strings.Contains(body, "Anonymous access is not allowed") ||
			!strings.Contains(body, "<h1>Access denied</h1>") || strings.Contains(body, "sign-in") || strings.Contains(body, "<?xml") {
			t.Fatalf("%d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		res, body = f.do(t, "HEAD", "/bkt/home/bob/x", "", nil, nav...)
		if res.StatusCode != 403 || body != "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("HEAD: %d %q", res.StatusCode, body)
		}
	})

	// S3 clients keep the XML: an Accept without HTML, one that prefers XML,
	// a fetch() from a page, a signed (bearer) or presigned request, and
	// anything but GET and HEAD.
	for _, tc := range []struct {
		name, method, path, token string
		hdr                       []string
	}{
		{"no Accept", "GET", "/bkt/home/bob/x", "", nil},
		{"XML preferred", "GET", "/bkt/home/bob/x", "", []string{"Accept", "application/xml, text/html"}},
		{"fetch", "GET", "/bkt/home/bob/x", "", []string{"Accept", chromeAccept, "Sec-Fetch-Mode", "cors"}},
		{"bearer", "GET", "/bkt/home/bob/x", f.token(t, "alice", "staff"), nav},
		{"presigned", "GET", "/bkt/home/bob/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "", nav},
		{"sigv2 presigned", "GET", "/bkt/home/bob/x?AWSAccessKeyId=AKIA&Signature=x&Expires=1", "", nav},
		{"PUT", "PUT", "/bkt/home/bob/x", "", nav},
	} {
		t.Run("xml: "+tc.name, func(t *testing.T) {
			res, body := f.do(t, tc.method, tc.path, tc.token, nil, tc.hdr...)
			if res.StatusCode < 400 || res.Header.Get("Content-Type") != "application/xml" || !strings.Contains(body, "<Error><Code>") {
				t.Fatalf("%d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
		})
	}

	t.Run("console: signed in and denied", func(t *testing.T) {
		withBrowser(fakeBrowser{s: &identity.Session{ID: "s1", Issuer: "dev", Subject: "id-alice", Roles: []string{"member"},
			Claims: map[string]any{"groups": "staff", "preferred_username": "alice"}, Expiry: time.Now().Add(time.Hour)}})
		res, body := f.do(t, "GET", "/bkt/home/bob/x", "", nil, append(nav, "Cookie", "iamgate_session=x")...)
		if res.StatusCode != 403 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::bkt/home/bob/x") ||
			!strings.Contains(body, `<dd id="request-id">`+res.Header.Get("X-Amz-Request-Id")+`</dd>`) ||
			strings.Contains(body, `id="sign-in"`) || !strings.Contains(body, `href="/_iamgate/ui/"`) {
			t.Fatalf("%d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if ev := f.lastEvent(t); ev.Decision != "deny" || ev.AuthMethod != "browser-session" || ev.ErrorCode != "AccessDenied" {
			t.Errorf("event %+v", ev)
		}
	})

	// A person whose session was revoked is not signed in: the page has a
	// sign-in link that returns to the same URL, and nothing of the
	// request reaches the page unescaped.
	t.Run("console: revoked session, hostile path", func(t *testing.T) {
		withBrowser(fakeBrowser{s: &identity.Session{ID: "s-revoked", Issuer: "dev", Subject: "id-alice", Roles: []string{"member"},
			Claims: map[string]any{"groups": "staff", "preferred_username": "alice"}, Expiry: time.Now().Add(time.Hour)}})
		gen := *f.h.Current()
		gen.Revocations = []identity.Revocation{{SessionID: "s-revoked"}}
		if err := f.h.Swap(&gen); err != nil {
			t.Fatal(err)
		}
		path := `/bkt/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E?a=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E`
		res, body := f.do(t, "GET", path, "", nil, append(nav, "Cookie", "iamgate_session=x")...)
		if res.StatusCode != 403 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `id="sign-in"`) {
			t.Fatalf("%d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if !strings.Contains(body, `<dd id="error-resource">/bkt/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</dd>`) {
			t.Errorf("the resource is not shown escaped:\n%s", body)
		}
		for _, bad := range []string{"<script", "<img", `"><`} {
			if strings.Contains(body, bad) {
				t.Fatalf("the page holds %q unescaped:\n%s", bad, body)
			}
		}
		if !strings.Contains(body, `href="/_iamgate/login?rd=/bkt/%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E?a=%22%3E%3Cimg`) {
			t.Errorf("the sign-in link does not return to the URL:\n%s", body)
		}
	})
}

// FuzzErrorPage: any Accept header is read without panic, and whatever the
// path and message hold, the page has no markup from them.
func FuzzErrorPage(f *testing.F) {
	f.Add(chromeAccept, "/bkt/k", "Access Denied.")
	f.Add("text/html;q=0.5, application/xml;q=0.5", `/b/"><script>`, `<img src=x onerror=alert(1)>`)
	f.Add("text/html;q=1e400,,;;=", "/\x00", "\xff")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, accept, resource, msg string) {
		_ = prefersHTML(accept)
		var buf strings.Builder
		if err := errorPage.Execute(&buf, &errorPageData{Title: "x", Code: "AccessDenied", Message: msg, Resource: resource, RequestID: "1"}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(buf.String(), "<"); n != strings.Count(errorPageSkeleton(t, resource != ""), "<") {
			t.Fatalf("the page has %d tags for message %q and resource %q", n, msg, resource)
		}
	})
}

// errorPageSkeleton is the page for plain values, with or without a resource.
func errorPageSkeleton(t *testing.T, withResource bool) string {
	d := errorPageData{Title: "x", Code: "AccessDenied", Message: "m", RequestID: "1"}
	if withResource {
		d.Resource = "r"
	}
	var buf strings.Builder
	if err := errorPage.Execute(&buf, &d); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
