package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iamgate/iamgate/config"
	"github.com/iamgate/iamgate/internal/devissuer"
)

// cmdDev runs iamgate together with a built-in development OIDC issuer that
// mints tokens for anyone who asks. It exists so a newcomer can try iamgate
// without an identity provider. It refuses any non-loopback address.
//
// When the configuration's issuer for the development issuer has a
// client_id, the development issuer also offers browser sign-in (a page
// where anyone picks a user, no password) to that client: its
// client_secret, and the redirect URI <console.public_url>/_iamgate/callback
// (without public_url: http://<listen address>/_iamgate/callback and its
// localhost twin), as they are at start.
var devCmd = cliCommand{
	Name:  "dev",
	Usage: "[flags]",
	About: `Runs iamgate together with a built-in development OIDC issuer that mints
tokens for anyone who asks (POST /token) and signs browsers in as any user
without a password. For trying iamgate on one machine, never for production:
every address must be loopback. The default configuration is the one
'make demo' writes (scripts/demo.sh renders deploy/demo/iamgate.yaml.tmpl);
its secrets are in .demo/env.`,
	Examples: []string{"set -a; . .demo/env; set +a; iamgate dev --config .demo/iamgate.yaml --issuer-listen 127.0.0.1:8089"},
}

// devDefaultConfig is the configuration `make demo` writes.
const devDefaultConfig = ".demo/iamgate.yaml"

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &devCmd
	fs := c.flagSet()
	path := fs.String("config", devDefaultConfig, "configuration `file`; its issuer for the development issuer must have url http://<issuer-listen>")
	issuerAddr := fs.String("issuer-listen", "127.0.0.1:8089", "loopback `address` of the development issuer")
	usersFlag := fs.String("users", "alice:demo-users,bob:demo-users,admin:demo-admins", "preset users of the sign-in page: name:group+group,... (anyone may still type any name)")
	if err := c.parse(fs, args, stdout); err != nil {
		return err
	}
	if err := c.noArgs(fs); err != nil {
		return err
	}
	users, err := parseDevUsers(*usersFlag)
	if err != nil {
		return c.usagef("%s", err.Error())
	}
	if err := requireLoopback(*issuerAddr); err != nil {
		return err
	}
	if *path == devDefaultConfig {
		if _, err := os.Stat(*path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist: run 'make demo' (it writes it), or give --config", *path)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	iss, err := devissuer.New(devissuer.Options{EnableTokenEndpoint: true, EnableAuthorizeEndpoint: true, Users: users})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *issuerAddr)
	if err != nil {
		return fmt.Errorf("development issuer: %w", err)
	}
	iss.SetURL("http://" + ln.Addr().String())
	isrv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go isrv.Serve(ln)
	defer isrv.Close()

	// One process on a laptop: no load balancer to warn before stopping.
	a, err := newApp(ctx, *path, appOptions{Stdout: stdout, Stderr: stderr, DrainDelay: new(time.Duration)})
	if err != nil {
		return err
	}
	if err := requireLoopback(a.Addr()); err != nil {
		return fmt.Errorf("iamgate dev serves on loopback only: %w", err)
	}
	a.log.Warn("DEVELOPMENT MODE: a built-in issuer mints tokens for anyone on this machine; never use iamgate dev in production",
		"issuer", iss.URL(), "token_endpoint", iss.URL()+"/token")
	if c, ok := devClient(a.file, iss.URL(), a.Addr()); ok {
		iss.AddClient(c)
		a.log.Warn("DEVELOPMENT MODE: the built-in issuer signs browsers in as any user, without a password",
			"client_id", c.ID, "redirect_uris", c.RedirectURIs, "console", consoleURL(a.file, a.Addr()))
	}
	return a.Run(ctx)
}

// devClient is the OAuth client of the configuration's issuer whose url is
// the development issuer's, if it has a client_id.
func devClient(f *config.File, issuerURL, listen string) (devissuer.Client, bool) {
	for _, is := range f.Issuers {
		if is.URL != issuerURL || is.ClientID == "" {
			continue
		}
		c := devissuer.Client{ID: is.ClientID}
		if is.ClientSecret != nil {
			c.Secret = is.ClientSecret.Reveal()
		}
		if f.Console != nil && f.Console.PublicURL != "" {
			c.RedirectURIs = []string{f.Console.PublicURL + "/_iamgate/callback"}
		} else {
			_, port, _ := net.SplitHostPort(listen)
			c.RedirectURIs = []string{"http://" + listen + "/_iamgate/callback", "http://localhost:" + port + "/_iamgate/callback"}
		}
		return c, true
	}
	return devissuer.Client{}, false
}

// consoleURL is where people open the console.
func consoleURL(f *config.File, listen string) string {
	if f.Console != nil && f.Console.PublicURL != "" {
		return f.Console.PublicURL + "/_iamgate/ui/"
	}
	return "http://" + listen + "/_iamgate/ui/"
}

// parseDevUsers parses "alice:g1+g2,bob:g1".
func parseDevUsers(s string) ([]devissuer.User, error) {
	var out []devissuer.User
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, groups, _ := strings.Cut(item, ":")
		u := devissuer.User{Name: name}
		for _, g := range strings.Split(groups, "+") {
			if g != "" {
				u.Groups = append(u.Groups, g)
			}
		}
		if name == "" {
			return nil, fmt.Errorf("-users: %q has no name", item)
		}
		out = append(out, u)
	}
	return out, nil
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("address " + addr + " is not a loopback address")
	}
	return nil
}
