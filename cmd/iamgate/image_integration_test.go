package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/internal/testenv"
)

// imageTestVersion is the version the image test stamps.
const imageTestVersion = "v0.0.0-imagetest"

// TestIntegrationImage builds the container image the way `make image`
// does (scripts/image.sh: the binary built outside Docker, FROM scratch, no
// pull), then runs it as docs/deploy.md says — read-only root filesystem,
// user 65532, every capability dropped, no-new-privileges, host network —
// against the real MinIO and Hydra, and makes an authorized and a denied
// request. It also checks the stamped version, the labels, that the image
// has no shell, that a named volume for the audit file starts owned by the
// runtime user, and that SIGTERM stops the container cleanly.
func TestIntegrationImage(t *testing.T) {
	d := testenv.RequireDocker(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id := "iamgate-it-" + hex.EncodeToString(suffix)
	image := id + ":" + imageTestVersion

	// The image builds while MinIO and Hydra start.
	type built struct {
		out     string
		err     error
		elapsed time.Duration
	}
	buildDone := make(chan built, 1)
	go func() {
		start := time.Now()
		cmd := exec.Command("bash", "../../scripts/image.sh")
		cmd.Env = append(os.Environ(), "IMAGE="+id, "VERSION="+imageTestVersion, "DOCKER="+d.Client)
		out, err := cmd.CombinedOutput()
		buildDone <- built{string(out), err, time.Since(start)}
	}()
	t.Cleanup(func() {
		d.Try("rm", "-f", id)
		d.Try("volume", "rm", "-f", id)
		d.Try("rmi", image, id+":latest")
	})
	minio := testenv.StartMinIO(t)
	hydra := testenv.StartHydra(t)
	minio.MakeBucket(t, "data")
	b := <-buildDone
	if b.err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", b.err, b.out)
	}
	if !strings.Contains(b.out, image) {
		t.Fatalf("scripts/image.sh did not print %s:\n%s", image, b.out)
	}
	t.Logf("image built in %s (binary and docker build)", b.elapsed.Round(100*time.Millisecond))

	t.Run("image", func(t *testing.T) {
		var inspect []struct {
			Size   int64
			Config struct {
				User         string
				Entrypoint   []string
				Cmd          []string
				Env          []string
				ExposedPorts map[string]struct{}
				Labels       map[string]string
				Healthcheck  any
			}
		}
		if err := json.Unmarshal([]byte(d.Run(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
			t.Fatalf("image inspect: %v", err)
		}
		c := inspect[0].Config
		t.Logf("image size: %.1f MiB (%d bytes)", float64(inspect[0].Size)/(1<<20), inspect[0].Size)
		if c.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532", c.User)
		}
		if strings.Join(c.Entrypoint, " ") != "/iamgate" || strings.Join(c.Cmd, " ") != "serve --config /etc/iamgate/iamgate.yaml" {
			t.Errorf("entrypoint %q, cmd %q", c.Entrypoint, c.Cmd)
		}
		if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
			t.Errorf("exposed ports %v", c.ExposedPorts)
		}
		if c.Healthcheck != nil {
			t.Errorf("the image has a HEALTHCHECK: %v", c.Healthcheck)
		}
		if c.Labels["org.opencontainers.image.version"] != imageTestVersion ||
			c.Labels["org.opencontainers.image.source"] != "https://github.com/iamgate/iamgate" {
			t.Errorf("labels %v", c.Labels)
		}
		out := d.Run(t, "run", "--rm", "--network", "none", image, "version")
		rev := c.Labels["org.opencontainers.image.revision"]
		for _, want := range []string{"iamgate " + imageTestVersion + "\n", "\ncommit: " + rev, "\nbuilt:  ", "\ngo:     go1.", "linux/"} {
			if !strings.Contains(out+"\n", want) {
				t.Errorf("iamgate version in the image does not print %q:\n%s", want, out)
			}
		}
		if len(rev) != 40 {
			t.Errorf("revision label %q is not a commit hash", rev)
		}
		if out, err := d.Try("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", "true"); err == nil {
			t.Errorf("the image has a shell: %s", out)
		}
	})

	// What docs/deploy.md tells people to write: the configuration with
	// no secret in it, readable by the runtime user, mounted read-only;
	// the secrets in an environment file.
	cfgDir := filepath.Join(t.TempDir(), "etc-iamgate")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, mport := freeLocalPort(t), freeLocalPort(t)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
metrics_listen: 127.0.0.1:%d
upstream:
  endpoint: %s
  access_key_id: env:IAMGATE_UPSTREAM_ACCESS_KEY_ID
  secret_access_key: env:IAMGATE_UPSTREAM_SECRET_ACCESS_KEY
server:
  shutdown_grace: 5s
issuers:
  - name: hydra
    url: %s
    audiences: [iamgate]
roles:
  - name: member
    kind: human
    trust: {issuer: hydra, claims: {groups: members}}
    policies: [home]
policies:
  home: |
    {"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
       "Resource": "arn:aws:s3:::data/home/${jwt:preferred_username}/*"}]}
audit:
  stdout: true
  file: /var/lib/iamgate/audit.log
`, port, mport, minio.Endpoint, hydra.IssuerURL)
	if err := os.WriteFile(filepath.Join(cfgDir, "iamgate.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "iamgate.env")
	writeFile(t, envFile, "IAMGATE_UPSTREAM_ACCESS_KEY_ID="+minio.AccessKey+"\nIAMGATE_UPSTREAM_SECRET_ACCESS_KEY="+minio.SecretKey+"\n")

	// The commands of docs/deploy.md ("Docker"), with this test's paths
	// and names: check the configuration with the image, then run it.
	subst := map[string]string{
		"iamgate":                      id, // --name
		"/etc/iamgate:/etc/iamgate:ro": cfgDir + ":/etc/iamgate:ro",
		"iamgate:/var/lib/iamgate":     id + ":/var/lib/iamgate",
		"/etc/iamgate/iamgate.env":     envFile,
		"iamgate:v1.2.0":               image,
	}
	if out := d.Run(t, docCommand(t, "docker run --rm --network none -v ", subst)...); !strings.Contains(out, "OK") {
		t.Fatalf("iamgate check in the image: %s", out)
	}
	d.Run(t, docCommand(t, "docker run -d --name iamgate ", subst)...)
	logs := func() string {
		out, _ := d.Command(context.Background(), "logs", id).CombinedOutput()
		return string(out)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := http.Get(base + "/_iamgate/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz did not answer 200 within 60s (last: %v)\ncontainer log:\n%s", err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	alice := hydra.Token(t, hydra.Client(t, map[string]any{"preferred_username": "alice", "groups": []any{"members"}}, "iamgate"), "iamgate")
	expect(t, do(t, "PUT", base+"/data/home/alice/hello.txt", alice, strings.NewReader("hello from the image")), 200)
	expect(t, do(t, "GET", base+"/data/home/alice/hello.txt", alice, nil), 200, "hello from the image")
	if got := string(minio.GetObject(t, "data", "home/alice/hello.txt")); got != "hello from the image" {
		t.Fatalf("MinIO has %q", got)
	}
	expect(t, do(t, "PUT", base+"/data/home/bob/x.txt", alice, strings.NewReader("no")), 403, "<Code>AccessDenied</Code>", "assumed-role/member/")
	if minio.ObjectExists(t, "data", "home/bob/x.txt") {
		t.Fatal("a denied PUT wrote an object")
	}
	expect(t, do(t, "GET", "http://127.0.0.1:"+strconv.Itoa(mport)+"/metrics", "", nil), 200, "iamgate_requests_total")

	// docker stop sends SIGTERM to iamgate, PID 1 in the container: it
	// drains and exits 0 (no restart), the stop event written.
	d.Run(t, "stop", "-t", "30", id)
	if code := d.Run(t, "inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		t.Fatalf("exit code %s after docker stop\ncontainer log:\n%s", code, logs())
	}
	out := logs()
	for _, want := range []string{`"home/alice/hello.txt"`, `"kind":"stop"`, "iamgate shutting down"} {
		if !strings.Contains(out, want) {
			t.Errorf("container log lacks %s:\n%s", want, out)
		}
	}
	assertNoSecrets(t, []string{minio.SecretKey, alice})
	if strings.Contains(out, minio.SecretKey) || strings.Contains(out, alice) {
		t.Error("a secret reached the container log")
	}
	// The audit file on the named volume (created owned by 65532 from the
	// image's /var/lib/iamgate), verified with the image's own binary.
	verify, err := d.Try("run", "--rm", "--read-only", "--network", "none", "-v", id+":/var/lib/iamgate:ro", image,
		"audit", "verify", "/var/lib/iamgate/audit.log")
	if err != nil || !strings.Contains(verify, "OK") {
		t.Errorf("audit verify of the volume's audit.log: %v\n%s", err, verify)
	}
}

// freeLocalPort is a TCP port on 127.0.0.1 that was free a moment ago.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// docCommand is the docker command of docs/deploy.md whose first line
// starts with prefix, continuation lines joined, as arguments of the docker
// client (without "docker"), each argument that is a key of subst replaced
// by its value. The command must name the image iamgate:v1.2.0, so that a
// rewritten command fails here rather than running something else.
func docCommand(t *testing.T, prefix string, subst map[string]string) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], prefix) {
			continue
		}
		for cmd = lines[i]; strings.HasSuffix(cmd, "\\") && i+1 < len(lines); i++ {
			cmd = strings.TrimSuffix(cmd, "\\") + " " + lines[i+1]
		}
		break
	}
	if cmd == "" {
		t.Fatalf("docs/deploy.md has no command starting %q", prefix)
	}
	args := strings.Fields(cmd)[1:]
	usedImage := false
	for i, a := range args {
		if r, ok := subst[a]; ok {
			args[i] = r
			usedImage = usedImage || a == "iamgate:v1.2.0"
		}
	}
	if !usedImage {
		t.Fatalf("the command of docs/deploy.md does not run iamgate:v1.2.0: %s", cmd)
	}
	return args
}
