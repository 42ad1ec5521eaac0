package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iamgate/iamgate/internal/devissuer"
)

// cmdDev runs iamgate together with a built-in development OIDC issuer that
// mints tokens for anyone who asks. It exists so a newcomer can try iamgate
// without an identity provider. It refuses any non-loopback address.
func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "deploy/demo/iamgate.yaml", "configuration file; its issuer for the development issuer must have url http://<issuer-listen>")
	issuerAddr := fs.String("issuer-listen", "127.0.0.1:8089", "loopback address of the development issuer")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := requireLoopback(*issuerAddr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	iss, err := devissuer.New(devissuer.Options{EnableTokenEndpoint: true})
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

	a, err := newApp(ctx, *path, appOptions{Stdout: stdout, Stderr: stderr})
	if err != nil {
		return err
	}
	if err := requireLoopback(a.Addr()); err != nil {
		return fmt.Errorf("iamgate dev serves on loopback only: %w", err)
	}
	a.log.Warn("DEVELOPMENT MODE: a built-in issuer mints tokens for anyone on this machine; never use iamgate dev in production",
		"issuer", iss.URL(), "token_endpoint", iss.URL()+"/token")
	return a.Run(ctx)
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
