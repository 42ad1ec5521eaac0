// Command netfloor is one of the benchmark's floor targets: net/http's
// server with iamgate's own upstream client (internal/upstream) in front of
// the store, and nothing else — no authentication, authorization, signing
// or audit. It is what iamgate's request path costs at the least while
// net/http is its server: the same server, the same client, the same way
// of copying a response, none of the security work.
//
//	netfloor -listen 127.0.0.1:9101 -upstream http://127.0.0.1:9000 [-cpuprofile FILE]
//
// The request goes out as iamgate sends one (a new request with the
// incoming path, query and end-to-end headers, on the caller's goroutine);
// the response head is copied without its hop-by-hop fields and the body
// streamed with a pooled 64 KiB buffer (256 KiB from 1 MiB on), as
// iamgate does. iamgate's one-write path for small responses (its
// connection wrapper holds a response head back until the body is
// written) lives inside package proxy and is not used here: a 4 KiB
// response leaves in two write(2)s, head with most of the body and then
// the rest. GOMAXPROCS is the runtime's, from the environment.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iamgate/iamgate/internal/upstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	up := flag.String("upstream", "", "the store's base URL, e.g. http://127.0.0.1:9000")
	idle := flag.Int("idle-conns", 512, "upstream keep-alive connections kept idle")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGINT or SIGTERM")
	flag.Parse()
	if err := run(*listen, *up, *idle, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "netfloor:", err)
		os.Exit(1)
	}
}

func run(listen, up string, idle int, cpuProfile string) error {
	u, err := url.Parse(up)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("-upstream %q: want a URL such as http://127.0.0.1:9000", up)
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
	// The upstream client as iamgate configures it (cmd/iamgate/build.go),
	// with the keep-alive pool of the reference proxy.
	c := upstream.New(upstream.Config{
		DialTimeout:           10 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          idle,
		MaxResponseHeaderSize: 1 << 20,
		ReadBufferSize:        64 << 10,
	})
	srv := &http.Server{Handler: &floor{scheme: u.Scheme, host: u.Host, client: c}, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// floor forwards every request to one store.
type floor struct {
	scheme, host string
	client       *upstream.Client
}

// hopHeaders are the fields of one connection, not forwarded (RFC 9110
// §7.6.1), besides those the Connection field names.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var (
	copyBufPool      = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	largeCopyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
)

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := make(http.Header, len(r.Header))
	for k, vv := range r.Header {
		hdr[k] = vv
	}
	dropHop(hdr)
	out := &http.Request{
		Method: r.Method,
		URL: &url.URL{Scheme: f.scheme, Host: f.host, Path: r.URL.Path,
			RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:           hdr,
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Host:             r.Host, // as the reference proxy and nginx's $http_host
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		out.Body = io.NopCloser(r.Body) // the client closes what it is given
	}
	out = out.WithContext(r.Context())
	res, err := f.client.RoundTrip(out)
	if err != nil {
		http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	dropHop(res.Header)
	wh := w.Header()
	for k, vv := range res.Header {
		wh[k] = vv
	}
	w.WriteHeader(res.StatusCode)
	pool := &copyBufPool
	if res.ContentLength >= 1<<20 {
		pool = &largeCopyBufPool
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	if _, err := io.CopyBuffer(writerOnly{w}, res.Body, *bp); err != nil {
		panic(http.ErrAbortHandler) // the response is incomplete
	}
}

// dropHop deletes the hop-by-hop fields of h.
func dropHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// writerOnly hides the ResponseWriter's ReadFrom, so the body is copied
// through the pooled buffer as in iamgate.
type writerOnly struct{ io.Writer }
