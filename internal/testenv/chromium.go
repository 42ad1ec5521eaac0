package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumNames are the executables StartChromium looks for, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// RequireChromium returns the path of a Chromium (or Chrome) executable.
// Chromium is a system package (Debian: apt-get install chromium), not a
// pinned tool, so the rule differs from RequireMinIO: under -short the test
// is skipped; when Chromium is missing the test is skipped on a developer
// machine but fails in CI (the CI environment variable is set), where
// scripts/install-tools.sh must have installed it.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s needs a real Chromium; skipped in -short mode", t.Name())
	}
	var errs []error
	for _, name := range chromiumNames {
		p, err := ToolPath(name)
		if err == nil {
			return p
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%v\nCI must install Chromium: scripts/install-tools.sh browser (Debian: apt-get install chromium)", err)
	}
	t.Skipf("testenv: %s needs Chromium, which is not installed (Debian: apt-get install chromium): %v", t.Name(), err)
	return ""
}

// Chromium is a headless Chromium started for one test, with a fresh
// profile. Each Tab runs in its own browser context, so tabs share no
// cookies or storage: a new tab is a new user agent as far as servers can
// tell.
type Chromium struct {
	// ctx is the context of the browser's first tab; tabs are its children.
	ctx     context.Context
	logPath string
}

// ActionTimeout bounds each Tab.Do and Tab.Run call.
const ActionTimeout = 20 * time.Second

// StartChromium starts headless Chromium (see RequireChromium for when it
// skips) with --headless --no-sandbox --disable-gpu --disable-quic and the
// flags that stop background traffic, in a temporary --user-data-dir. The
// browser is closed when the test ends; its output is printed if the test
// failed.
func StartChromium(t testing.TB) *Chromium {
	t.Helper()
	bin := RequireChromium(t)
	base := t.TempDir()
	c := &Chromium{logPath: filepath.Join(base, "chromium.log")}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(base, "profile")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(logf),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		fmt.Fprintf(logf, "chromedp: "+format+"\n", args...)
	}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
		logf.Close()
		if t.Failed() {
			t.Logf("testenv: last lines of chromium log (%s):\n%s", c.logPath, chromiumLogTail(c.logPath, 4000))
		}
	})
	// The first action starts the browser. Its context must not have a
	// deadline, since it bounds the life of the browser.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("testenv: start chromium (%s): %v", bin, err)
	}
	t.Logf("testenv: chromium %s started in %s", bin, time.Since(start).Round(time.Millisecond))
	c.ctx = ctx
	return c
}

// Dialog is a JavaScript dialog (alert, confirm, prompt, beforeunload) a
// page opened. Tabs accept every dialog and record it.
type Dialog struct {
	Type    page.DialogType
	Message string
	URL     string
}

// Tab is a browser tab in its own browser context (cookies, storage and
// cache of its own). Everything the page writes to the console is copied to
// the test log as it happens, with uncaught exceptions kept for JSErrors;
// JavaScript dialogs are accepted and kept for Dialogs.
type Tab struct {
	// Ctx is the chromedp context of the tab, for chromedp.Do, Run, Events.
	// Bound a single action with context.WithTimeout(Ctx, ...), never Ctx
	// itself.
	Ctx context.Context

	t  testing.TB
	wg sync.WaitGroup

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	dialogs  []Dialog
}

// NewTab opens a tab in a fresh browser context. It is closed when the test
// that opened it ends; if that test failed, the tab's address, text and a
// screenshot (in the temporary directory) are logged first.
func (c *Chromium) NewTab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	tab := &Tab{Ctx: ctx, t: t}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("testenv: open tab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			tab.dumpState()
		}
		cancel()
		tab.wg.Wait()
	})

	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	tab.wg.Add(2)
	go func() {
		defer tab.wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.messages = append(tab.messages, m)
			tab.mu.Unlock()
			where := m.URL
			if where != "" {
				where = fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			t.Logf("browser console %s%s", m, where)
		}
	}()
	go func() {
		defer tab.wg.Done()
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.dialogs = append(tab.dialogs, Dialog{Type: ev.Type, Message: ev.Message, URL: ev.URL})
			tab.mu.Unlock()
			t.Logf("browser dialog %s %q at %s: accepted", ev.Type, ev.Message, ev.URL)
			_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			if err != nil && ctx.Err() == nil {
				t.Logf("browser dialog: accept: %v", err)
			}
		}
	}()
	return tab
}

// Do runs actions in order within ActionTimeout, failing the test on the
// first error. what names the step in the failure message.
func (tab *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Run runs one action within ActionTimeout and returns its value, failing
// the test on error.
func Run[T any](tab *Tab, what string, action chromedp.Action[T]) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		tab.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Location returns the address of the page.
func (tab *Tab) Location() string {
	tab.t.Helper()
	return Run(tab, "location", chromedp.Location())
}

// Screenshot writes a PNG of the whole page (beyond the viewport) to path,
// creating its directory.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	png := Run(tab, "screenshot", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tab.t.Fatalf("testenv: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatalf("testenv: screenshot: %v", err)
	}
}

// Console returns the console messages so far (calls of the console API,
// uncaught exceptions, browser log entries such as failed requests).
func (tab *Tab) Console() []chromedp.ConsoleMessage {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), tab.messages...)
}

// JSErrors returns the uncaught exceptions and unhandled promise rejections
// so far.
func (tab *Tab) JSErrors() []chromedp.ConsoleMessage {
	var out []chromedp.ConsoleMessage
	for _, m := range tab.Console() {
		if m.IsException() {
			out = append(out, m)
		}
	}
	return out
}

// Dialogs returns the JavaScript dialogs opened so far (all were accepted).
func (tab *Tab) Dialogs() []Dialog {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]Dialog(nil), tab.dialogs...)
}

// dumpState logs the tab's address and text and saves a screenshot, for a
// failed test. It uses a short deadline of its own and never fails the test.
func (tab *Tab) dumpState() {
	ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 3000 {
		text = text[:3000] + "…"
	}
	msg := fmt.Sprintf("testenv: browser tab at %s shows:\n%s", loc, text)
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(tab.t.Name())
		if f, err := os.CreateTemp("", "iamgate-browser-"+name+"-*.png"); err == nil {
			_, _ = f.Write(png)
			f.Close()
			msg += "\nscreenshot: " + f.Name()
		}
	}
	tab.t.Log(msg)
}

// chromiumLogTail returns the end of the browser's log, without the lines
// about the D-Bus it cannot reach in a container (they say nothing about a
// failure and crowd out what does).
func chromiumLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	s := strings.Join(keep, "\n")
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
