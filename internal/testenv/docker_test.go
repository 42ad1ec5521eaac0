package testenv

import (
	"strings"
	"testing"
)

func TestRequireDocker(t *testing.T) {
	d := RequireDocker(t)
	if v := d.Run(t, "version", "--format", "{{.Server.Version}}"); strings.TrimSpace(v) == "" {
		t.Fatal("docker version printed no server version")
	}
	if _, err := d.Try("image", "inspect", "iamgate-testenv-no-such-image:none"); err == nil || !strings.Contains(err.Error(), "docker image inspect") {
		t.Fatalf("a failing docker command: %v", err)
	}
}
