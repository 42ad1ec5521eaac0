// Command fastfloor is one of the benchmark's floor targets: fasthttp's
// server with a fasthttp HostClient in front of the store, and nothing
// else — no authentication, authorization, signing or audit. Set beside
// bench/netfloor (net/http's server with iamgate's upstream client), it
// shows what a different HTTP/1.1 server side would cost for the same
// pass-through on the same machine.
//
//	fastfloor -listen 127.0.0.1:9102 -upstream http://127.0.0.1:9000 [-cpuprofile FILE]
//
// It is a module of its own so that iamgate's module does not depend on
// fasthttp; the benchmark builds it with `go build` in this directory.
// The handler is fasthttp's usual proxy: the server's request goes to the
// HostClient as it is, without its Connection field, and the response
// comes back whole (fasthttp reads a response body into memory unless
// told to stream it), so it is a target of the 4 KiB GETs only. The
// upstream keep-alive pool allows as many connections as the reference
// proxy keeps idle (512). GOMAXPROCS is the runtime's, from the
// environment.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	up := flag.String("upstream", "", "the store's base URL, e.g. http://127.0.0.1:9000")
	conns := flag.Int("idle-conns", 512, "upstream connections the pool may hold")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGINT or SIGTERM")
	flag.Parse()
	if err := run(*listen, *up, *conns, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "fastfloor:", err)
		os.Exit(1)
	}
}

func run(listen, up string, conns int, cpuProfile string) error {
	u, err := url.Parse(up)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-upstream %q: want a URL such as http://127.0.0.1:9000", up)
	}
	if u.Scheme != "http" {
		return errors.New("-upstream: only http:// is supported")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-stop
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	hc := &fasthttp.HostClient{
		Addr:     u.Host,
		MaxConns: conns,
		// A proxy passes the path on as it got it (an object key may hold
		// "//" or "/../").
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			req, res := &ctx.Request, &ctx.Response
			req.Header.Del("Connection")
			if err := hc.Do(req, res); err != nil {
				ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
				return
			}
			res.Header.Del("Connection")
		},
		// The nearest to the reference proxy's ReadHeaderTimeout: fasthttp
		// bounds the whole request read (and, without IdleTimeout, the
		// wait for the next request).
		ReadTimeout:           10 * time.Second,
		NoDefaultServerHeader: true,
	}
	return srv.Serve(ln)
}
