package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

func TestChromium(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if r.URL.Query().Get("set") != "" {
				http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("set"), Path: "/"})
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><title>t</title>
<p id="cookie"></p><p id="answer"></p>
<button id="ask" onclick="document.getElementById('answer').textContent = confirm('Delete it?') ? 'yes' : 'no'">ask</button>
<script>
document.getElementById('cookie').textContent = document.cookie;
console.log('hello', 42);
setTimeout(function () { throw new Error('boom'); }, 0);
</script>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	c := StartChromium(t)
	tab := c.NewTab(t)
	tab.Do("open page", chromedp.Navigate(srv.URL+"/?set=first"))
	tab.Do("confirm", chromedp.Click(chromedp.ID("ask")), chromedp.WaitVisible(chromedp.ID("answer")))
	deadline := time.Now().Add(5 * time.Second)
	for Run(tab, "answer", chromedp.Text(chromedp.ID("answer"))) != "yes" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := Run(tab, "answer", chromedp.Text(chromedp.ID("answer"))); got != "yes" {
		t.Errorf("confirm answer = %q, want yes (dialogs accepted)", got)
	}
	if d := tab.Dialogs(); len(d) != 1 || d[0].Type != page.DialogTypeConfirm || d[0].Message != "Delete it?" {
		t.Errorf("dialogs = %+v", d)
	}
	for len(tab.JSErrors()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if errs := tab.JSErrors(); len(errs) != 1 || !strings.Contains(errs[0].Text, "boom") {
		t.Errorf("JS errors = %v", errs)
	}
	var logged bool
	for _, m := range tab.Console() {
		logged = logged || (m.Type == chromedp.ConsoleLog && m.Text == "hello 42")
	}
	if !logged {
		t.Errorf("console.log not seen: %v", tab.Console())
	}

	path := filepath.Join(t.TempDir(), "shots", "page.png")
	tab.Screenshot(path)
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot is not a PNG (%v)", err)
	}

	// A second tab shares no cookies with the first.
	other := c.NewTab(t)
	other.Do("open page", chromedp.Navigate(srv.URL+"/"))
	if got := Run(other, "cookie", chromedp.Text(chromedp.ID("cookie"))); got != "" {
		t.Errorf("new tab sees cookies %q", got)
	}
	tab.Do("reload", chromedp.Navigate(srv.URL+"/"))
	if got := Run(tab, "cookie", chromedp.Text(chromedp.ID("cookie"))); got != "who=first" {
		t.Errorf("first tab cookies = %q, want who=first", got)
	}
}
