package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
)

var errNotInstalled = errors.New("not installed (run bash bench/install-peers.sh)")

// nginxConf is a plain proxy_pass in front of MinIO: keep-alive to the
// upstream, nothing buffered, no body limit, an access log like iamgate's
// audit log. Everything it writes stays in dir.
const nginxConf = `worker_processes auto;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
	access_log {{dir}}/access.log;
	client_body_temp_path {{dir}}/client_body;
	proxy_temp_path {{dir}}/proxy;
	fastcgi_temp_path {{dir}}/fastcgi;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	upstream minio {
		server {{upstream}};
		keepalive 64;
		keepalive_requests 100000;
	}
	server {
		listen {{listen}};
		keepalive_requests 100000;
		client_max_body_size 0;
		proxy_buffering off;
		proxy_request_buffering off;
		location / {
			proxy_pass http://minio;
			proxy_http_version 1.1;
			proxy_set_header Host $http_host;
			proxy_set_header Connection "";
		}
	}
}
`

func nginxPath() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errNotInstalled
}

// startNginx runs Debian's nginx with a generated configuration, in the
// foreground, never the system service.
func (e *env) startNginx() error {
	bin, err := nginxPath()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.dir, "nginx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{upstream}}", e.minioAddr, "{{listen}}", addr).Replace(nginxConf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	if err := e.startProc("nginx", cmd); err != nil {
		return err
	}
	if err := waitHTTP("http://"+addr+"/"+bucket+"/"+smallKey, 15*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Errorf("did not start: %w\n%s\n%s", err, e.logTail("nginx"), b)
	}
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	e.versions["nginx"] = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
	e.nginx = &endpoint{name: "nginx proxy_pass (anonymous)", addr: addr, pid: cmd.Process.Pid}
	return nil
}

// startOAuth2Proxy runs oauth2-proxy as a bearer-JWT gate in front of
// MinIO: requests with a valid JWT from the development issuer pass
// (--skip-jwt-bearer-tokens), MinIO sees them anonymous.
func (e *env) startOAuth2Proxy() error {
	bin, err := testenv.ToolPath("oauth2-proxy")
	if err != nil {
		return errNotInstalled
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin,
		"--http-address=127.0.0.1:"+addr[strings.LastIndexByte(addr, ':')+1:],
		"--upstream=http://"+e.minioAddr+"/",
		"--provider=oidc",
		"--oidc-issuer-url="+e.issuerURL,
		"--client-id=iamgate",
		"--client-secret=x",
		"--cookie-secret="+randomHex(16),
		"--cookie-secure=false",
		"--email-domain=*",
		"--skip-jwt-bearer-tokens",
		"--extra-jwt-issuers="+e.issuerURL+"=iamgate",
		"--bearer-token-login-fallback=false",
		"--pass-authorization-header=false",
		"--pass-basic-auth=false",
		"--pass-access-token=false",
		"--reverse-proxy",
		"--skip-provider-button",
	)
	if err := e.startProc("oauth2-proxy", cmd); err != nil {
		return err
	}
	if err := waitHTTP("http://"+addr+"/ping", 15*time.Second); err != nil {
		return fmt.Errorf("did not start: %w\n%s", err, e.logTail("oauth2-proxy"))
	}
	e.versions["oauth2-proxy"] = toolVersion("oauth2-proxy")
	e.oauth2 = &endpoint{name: "oauth2-proxy, bearer JWT", addr: addr, auth: authBearer, token: e.token, pid: cmd.Process.Pid}
	return nil
}
