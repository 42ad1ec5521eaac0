package main

import (
	"bufio"
	"bytes"
	"fmt"
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

// TestDemo runs the README's first command as a person would, once for
// each AWS CLI on the machine (the script prints different aws commands
// for a CLI that reads AWS_ENDPOINT_URL_* and for one that does not): it
// starts MinIO and `iamgate dev`, and every block of commands it prints is
// pasted into a new shell (bash --noprofile --norc, only PATH and an empty
// HOME, so no AWS configuration or cache helps), where each command's exit
// status and output are checked. Then, with the demo still running, it
// signs in to the web console at the printed URL as a browser would,
// through the development issuer's sign-in page, as alice.
func TestDemo(t *testing.T) {
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
	for i, cli := range awsCLIs(t) {
		t.Run("aws "+cli.version, func(t *testing.T) {
			// The CLI's directory first, so the demo and the shells find it.
			path := filepath.Dir(cli.path) + ":/usr/bin:/bin"
			runDemo(t, bin, path, cli.old, i == 0)
		})
	}
}

// demoCommand is what a command the demo prints must do when pasted:
// match selects the command, code is its exit status (-1: any failure),
// want a piece of its output.
type demoCommand struct {
	match string
	code  int
	want  string
}

var demoCommands = []demoCommand{
	{`^TOKEN=\$\(cat \S+/alice\.token\)$`, 0, ""},
	{`^echo hello \| curl -sS -X PUT .* http://\S+/demo/home/alice/hello\.txt$`, 0, ""},
	{`^curl -sS -H "Authorization: Bearer \$TOKEN" http://\S+/demo/home/alice/hello\.txt$`, 0, "hello"},
	{`^curl -sS -H "Authorization: Bearer \$TOKEN" "http://\S+/demo\?list-type=2&prefix=home/alice/"$`, 0, "<Key>home/alice/hello.txt</Key>"},
	{`^curl -sS -H "Authorization: Bearer \$TOKEN" http://\S+/demo/shared/report\.txt$`, 0, "Quarterly numbers"},
	{`^curl -sS -H "Authorization: Bearer \$TOKEN" http://\S+/demo/home/bob/notes\.txt$`, 0, "because no policy of its roles allows s3:GetObject"},
	{`^export AWS_`, 0, ""},
	{`^aws (--endpoint-url \S+ )?s3 cp /\S+/README\.md s3://demo/home/alice/README\.md$`, 0, "upload: "},
	{`^aws (--endpoint-url \S+ )?s3 ls s3://demo/home/alice/$`, 0, "README.md"},
	{`^aws (--endpoint-url \S+ )?s3 cp s3://demo/home/bob/notes\.txt - +# denied$`, -1, "(403)"},
	{`^curl -sS -X POST http://\S+/token -d sub=carol .*`, 0, `"access_token":"`},
	{`^tail -n 3 /\S+/audit\.log$`, 0, `"eventName":"`},
	{`^curl -sS http://\S+/metrics \| grep '\^iamgate_requests_total'$`, 0, `iamgate_requests_total{`},
	{`^set -a; \. /\S+/env; set \+a$`, 0, ""},
	{`^/\S+/iamgate explain --config /\S+/iamgate\.yaml --token-file /\S+/alice\.token GET /demo/home/bob/notes\.txt$`, 1, "Decision: DENY (no_allow)"},
}

// runDemo runs scripts/demo.sh with the given PATH, pastes what it prints
// and, with console, signs in to the console.
func runDemo(t *testing.T, bin, path string, oldAWS, console bool) {
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "PATH="+path, "IAMGATE_BIN="+bin, "IAMGATE_DEMO_DIR="+filepath.Join(dir, "demo"), "IAMGATE_DEMO_HOLD=stdin",
		"IAMGATE_PORT="+port, "METRICS_PORT="+freePort(t), "MINIO_PORT="+freePort(t),
		"MINIO_CONSOLE_PORT="+freePort(t), "ISSUER_PORT="+freePort(t))
	// The script holds MinIO and iamgate until its standard input closes.
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
			if strings.Contains(sc.Text(), "Press Ctrl-C to stop") {
				close(ready)
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	defer func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo failed: %v\n%s", err, output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("demo did not start:\n%s", output())
	}

	printed := output()
	if strings.Contains(printed, "ignores AWS_ENDPOINT_URL_STS") != oldAWS {
		t.Errorf("the demo misjudges the aws cli (old: %v):\n%s", oldAWS, printed)
	}
	blocks := demoBlocks(printed)
	seen := map[string]bool{}
	home := t.TempDir()
	for _, block := range blocks {
		for i, res := range pasteBlock(t, block, path, home) {
			line := block[i]
			var exp *demoCommand
			for j := range demoCommands {
				if regexp.MustCompile(demoCommands[j].match).MatchString(line) {
					exp = &demoCommands[j]
					break
				}
			}
			if exp == nil {
				t.Errorf("the demo prints a command this test does not know: %s", line)
				continue
			}
			seen[exp.match] = true
			if exp.code == -1 && res.code == 0 || exp.code >= 0 && res.code != exp.code || !strings.Contains(res.out, exp.want) {
				t.Errorf("pasted %s\nexit %d, output:\n%s\nwant exit %d and %q", line, res.code, res.out, exp.code, exp.want)
			}
		}
	}
	for _, c := range demoCommands {
		if !seen[c.match] {
			t.Errorf("the demo no longer prints a command matching %s:\n%s", c.match, printed)
		}
	}

	if console {
		t.Run("docs/clients.md snippets", func(t *testing.T) {
			runClientSnippets(t, filepath.Dir(bin), filepath.Join(dir, "demo"), "127.0.0.1:"+port, path)
		})
		url := "http://127.0.0.1:" + port + "/_iamgate/ui/"
		if !strings.Contains(printed, url) {
			t.Errorf("the demo does not print the console URL %s:\n%s", url, printed)
		}
		t.Run("console sign-in", func(t *testing.T) { consoleSignIn(t, url, output) })
	}
}

// clientSnippets is what each tested snippet of docs/clients.md must
// print (every line of want, in order); needs names a device it needs.
var clientSnippets = map[string]struct {
	want  []string
	needs string
}{
	"mc-web-identity": {want: []string{"mc.txt", "hello from mc"}},
	"mc-session":      {want: []string{"old/notes.txt", "Removed `iamgate/demo/home/alice/old/notes.txt`"}},
	"s3cmd": {want: []string{"upload: 'hello.txt' -> 's3://demo/home/alice/s3cmd/hello.txt'",
		"s3://demo/home/alice/s3cmd/hello.txt", "hello from s3cmd", "delete: 's3://demo/home/alice/s3cmd/hello.txt'"}},
	"s3fs": {want: []string{"hello from s3fs", "s3fs.txt"}, needs: "/dev/fuse"},
}

var snippetMarker = regexp.MustCompile("(?m)^<!-- tested: ([a-z0-9-]+) -->\n```sh\n((?s:.*?))```\n")

// runClientSnippets runs every tested snippet of docs/clients.md against
// the demo as written, but for the port: in a new shell, in a directory
// whose .demo is the demo's, with iamgate and mc on the PATH.
func runClientSnippets(t *testing.T, binDir, demoDir, hostPort, path string) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := testenv.ToolPath("mc")
	if err != nil {
		t.Fatalf("%v\nrun scripts/install-tools.sh mc", err)
	}
	path = binDir + ":" + filepath.Dir(mc) + ":" + path
	ran := map[string]bool{}
	for _, m := range snippetMarker.FindAllStringSubmatch(string(doc), -1) {
		name, snippet := m[1], m[2]
		exp, ok := clientSnippets[name]
		if !ok {
			t.Errorf("docs/clients.md: snippet %q is not known to this test", name)
			continue
		}
		ran[name] = true
		t.Run(name, func(t *testing.T) {
			if exp.needs != "" {
				if _, err := os.Stat(exp.needs); err != nil {
					t.Skipf("%s is missing here: %v", exp.needs, err)
				}
			}
			work := t.TempDir()
			if err := os.Symlink(demoDir, filepath.Join(work, ".demo")); err != nil {
				t.Fatal(err)
			}
			if name == "s3fs" {
				// Unmount even when the snippet stops early.
				t.Cleanup(func() { exec.Command("fusermount", "-u", filepath.Join(work, "alice")).Run() })
			}
			script := strings.ReplaceAll(snippet, "127.0.0.1:8080", hostPort)
			cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script)
			cmd.Dir = work
			cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the snippet did not finish:\n%s", out)
			}
			if err != nil {
				t.Fatalf("%v\n%s\noutput:\n%s", err, script, out)
			}
			rest := string(out)
			for _, w := range exp.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("the output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if name == "s3fs" {
				// What was written through the mount is in the store.
				tok, _ := os.ReadFile(filepath.Join(demoDir, "alice.token"))
				req, _ := http.NewRequest(http.MethodGet, "http://"+hostPort+"/demo/home/alice/s3fs.txt", nil)
				req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "hello from s3fs\n" {
					t.Errorf("GET home/alice/s3fs.txt after the mount: %d %q", resp.StatusCode, b)
				}
			}
		})
	}
	// The example of `iamgate credentials -h` is the same command.
	t.Run("iamgate credentials -h example", func(t *testing.T) {
		work := t.TempDir()
		if err := os.Symlink(demoDir, filepath.Join(work, ".demo")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-c", strings.ReplaceAll(credentialsCmd.Examples[0], "127.0.0.1:8080", hostPort))
		cmd.Dir = work
		cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), `{"Version":1,"AccessKeyId":"`) {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	for name := range clientSnippets {
		if !ran[name] {
			t.Errorf("docs/clients.md has no tested snippet %q", name)
		}
	}
}

// demoBlocks returns the blocks of commands in the demo's output: runs of
// lines indented by four spaces.
func demoBlocks(out string) [][]string {
	var blocks [][]string
	var cur []string
	for _, line := range strings.Split(out, "\n") {
		if cmd, ok := strings.CutPrefix(line, "    "); ok && cmd != "" && cmd[0] != ' ' {
			cur = append(cur, cmd)
			continue
		}
		if cur != nil {
			blocks = append(blocks, cur)
			cur = nil
		}
	}
	return blocks
}

type pasteResult struct {
	code int
	out  string
}

// pasteBlock runs the lines of a block one after the other in one new
// shell, as a terminal runs pasted lines, and returns each one's exit
// status and output (stdout and stderr).
func pasteBlock(t *testing.T, block []string, path, home string) []pasteResult {
	t.Helper()
	var script strings.Builder
	for i, line := range block {
		fmt.Fprintf(&script, "printf '@@begin %d\\n'\n%s\nprintf '\\n@@end %d %%d\\n' \"$?\"\n", i, line, i)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", script.String())
	cmd.Env = []string{"PATH=" + path, "HOME=" + home}
	cmd.Dir = home
	raw, _ := cmd.CombinedOutput()
	res := make([]pasteResult, len(block))
	for i := range res {
		res[i].code = -2 // not run
	}
	text := string(raw)
	for i := range block {
		begin := fmt.Sprintf("@@begin %d\n", i)
		b := strings.Index(text, begin)
		if b < 0 {
			break
		}
		rest := text[b+len(begin):]
		e := strings.Index(rest, fmt.Sprintf("\n@@end %d ", i))
		if e < 0 {
			res[i].out = rest
			break
		}
		res[i].out = rest[:e]
		fmt.Sscanf(rest[e+len(fmt.Sprintf("\n@@end %d ", i)):], "%d", &res[i].code)
		text = rest[e:]
	}
	return res
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
	// Her home folder lists what the pasted commands put there; bob's is denied
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
