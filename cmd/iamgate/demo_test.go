package main

import (
	"bufio"
	"bytes"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
)

// TestDemoSmoke runs the README's first command in its --smoke mode: it
// starts MinIO and `iamgate dev`, runs the curl commands it prints and
// checks their results (allowed, listed, denied with a reason, audited,
// explained). Then, with the demo still running, it signs in to the web
// console at the printed URL as a browser would, through the development
// issuer's sign-in page, as alice.
func TestDemoSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs MinIO")
	}
	testenv.RequireMinIO(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required by the demo")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "iamgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command("bash", "scripts/demo.sh", "--smoke")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "IAMGATE_BIN="+bin, "IAMGATE_DEMO_DIR="+filepath.Join(dir, "demo"), "IAMGATE_DEMO_HOLD=1",
		"IAMGATE_PORT="+port, "METRICS_PORT="+freePort(t), "MINIO_PORT="+freePort(t),
		"MINIO_CONSOLE_PORT="+freePort(t), "ISSUER_PORT="+freePort(t))
	// The script holds MinIO and iamgate after its checks until its standard
	// input closes.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var mu sync.Mutex
	var out bytes.Buffer
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if sc.Text() == "demo smoke: OK" {
				close(ready)
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	stop := func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}

	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo smoke failed: %v\n%s", err, output())
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("demo did not finish:\n%s", output())
	}
	defer stop()

	console := "http://127.0.0.1:" + port + "/_iamgate/ui/"
	if !strings.Contains(output(), console) {
		t.Errorf("the demo does not print the console URL %s:\n%s", console, output())
	}
	t.Run("console sign-in", func(t *testing.T) { consoleSignIn(t, console, output) })
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consoleSignIn signs in to the console as alice with a cookie jar and
// checks what she sees.
func consoleSignIn(t *testing.T, console string, output func() string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", u, err, output())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// The console sends an anonymous browser through iamgate's login to the
	// development issuer's sign-in page.
	resp, page := get(console)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/authorize" || !strings.Contains(page, "never use in production") {
		t.Fatalf("GET %s ended at %s with %d:\n%s", console, resp.Request.URL, resp.StatusCode, page)
	}
	// Its first form offers the preset users; submit it as alice.
	first, _, _ := strings.Cut(page, "</form>")
	form := url.Values{"preset": {"alice"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(first, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if !strings.Contains(first, `name="preset" value="alice"`) || form.Get("code_challenge") == "" {
		t.Fatalf("no preset form for alice on the sign-in page:\n%s", page)
	}
	authorize := resp.Request.URL.ResolveReference(&url.URL{Path: "/authorize"}).String()
	resp, err := c.PostForm(authorize, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page = string(b)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != console {
		t.Fatalf("sign-in ended at %s with %d:\n%s\n%s", resp.Request.URL, resp.StatusCode, page, output())
	}
	// Alice is signed in and sees the demo bucket.
	for _, want := range []string{`id="whoami-subject"`, ">alice<", `href="/_iamgate/ui/b/demo/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the console lacks %q:\n%s", want, page)
		}
	}
	// Her home folder lists what the smoke test put there; bob's is denied
	// with the reason.
	if resp, page := get(console + "b/demo/home/alice/"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "hello.txt") {
		t.Errorf("alice's home: %d\n%s", resp.StatusCode, page)
	}
	if resp, page := get(console + "b/demo/home/bob/"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(page, `class="denied"`) || strings.Contains(page, "notes.txt") {
		t.Errorf("bob's home is not denied to alice: %d\n%s", resp.StatusCode, page)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
