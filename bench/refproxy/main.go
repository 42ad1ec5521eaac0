// Command refproxy is the benchmark's reference target: a bare
// httputil.ReverseProxy in front of the store, doing no security work (no
// authentication, authorization, signing or audit). It shows what a Go
// reverse proxy built on net/http costs before it does anything, on the
// same machine in the same run as iamgate.
//
//	refproxy -listen 127.0.0.1:9100 -upstream http://127.0.0.1:9000
//
// Everything is net/http's default but the upstream keep-alive pool, which
// is sized for the benchmark's connections (the default keeps 2 idle
// connections per host, which would make most requests dial).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "the store's base URL, e.g. http://127.0.0.1:9000")
	idle := flag.Int("idle-conns", 512, "upstream keep-alive connections kept idle")
	flag.Parse()
	if err := run(*listen, *upstream, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "refproxy:", err)
		os.Exit(1)
	}
}

func run(listen, upstream string, idle int) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("-upstream %q: want a URL such as http://127.0.0.1:9000", upstream)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = idle, idle
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // as nginx's proxy_set_header Host $http_host
		},
		Transport: tr,
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
