package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// helpCommands are every subcommand with its help.
var helpCommands = []*cliCommand{
	&serveCmd, &checkCmd, &explainCmd, &devCmd, &credentialsCmd,
	&auditVerifyCmd, &auditReportCmd, &auditReviewCmd, &auditPublicKeyCmd, &auditSchemaCmd, &versionCmd, &importCmd, &revokeCmd,
	&auditVerifyCmd, &auditReportCmd, &auditQueryCmd, &auditPublicKeyCmd, &auditSchemaCmd, &versionCmd, &importCmd, &revokeCmd,
}

// Every subcommand has one help style: -h prints the usage line, the
// flags with their defaults and examples to stdout and exits 0; a bad flag
// is one line on stderr and exit status 2.
func TestHelp(t *testing.T) {
	for _, c := range helpCommands {
		t.Run(c.Name, func(t *testing.T) {
			args := strings.Fields(c.Name)
			for _, h := range []string{"-h", "--help"} {
				code, stdout, stderr := runCLI(t, append(args, h)...)
				if code != 0 || stderr != "" {
					t.Fatalf("%s: exit %d, stderr %q", h, code, stderr)
				}
				if !strings.HasPrefix(stdout, "usage: iamgate "+c.Name) {
					t.Errorf("%s: no usage line:\n%s", h, stdout)
				}
				if len(c.Examples) == 0 || !strings.Contains(stdout, "\nexamples:\n  "+c.Examples[0]+"\n") {
					t.Errorf("%s: no example:\n%s", h, stdout)
				}
				if strings.Contains(stdout, "\nflags:\n") != (c != &auditSchemaCmd && c != &versionCmd) {
					t.Errorf("%s: flags section:\n%s", h, stdout)
				}
			}
			code, stdout, stderr := runCLI(t, append(args, "--no-such-flag")...)
			want := "iamgate " + c.Name + ": flag provided but not defined: -no-such-flag (see 'iamgate " + c.Name + " -h')\n"
			if code != 2 || stdout != "" || stderr != want {
				t.Errorf("bad flag: exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
			}
		})
	}
	t.Run("flags show defaults", func(t *testing.T) {
		_, stdout, _ := runCLI(t, "dev", "-h")
		for _, want := range []string{`-config file`, `(default ".demo/iamgate.yaml")`, `(default "127.0.0.1:8089")`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("dev -h lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("audit", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "audit", "-h")
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: iamgate audit verify") {
			t.Errorf("audit -h: exit %d\n%s%s", code, stdout, stderr)
		}
		for _, args := range [][]string{{"audit"}, {"audit", "nope"}, {"audit", "schema", "extra"}, {"version", "extra"}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
		}
	})
}

// The examples of every help that need no running server work when
// pasted into a shell, in a directory holding the files they name
// (testdata/examples, an audit log and its signing key).
func TestHelpExamples(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "iamgate"), ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	if err := os.CopyFS(work, os.DirFS("testdata/examples")); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(auditTestSeed))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "audit-signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	auditTestLog(t, filepath.Join(work, "audit.log"))

	// What each runnable example must do: its exit status and a piece of
	// its output. The others need servers: TestDemo runs the example of
	// credentials against the demo; serve and dev start servers.
	type result struct {
		code int
		want string
	}
	want := map[string]result{
		"iamgate check --config iamgate.yaml":                                                                                                          {0, "iamgate.yaml: OK (1 issuers, 2 roles, 2 policies)"},
		"iamgate check --config iamgate.yaml --compat minio":                                                                                           {0, `minio: iamgate.yaml:26:7: policy "own-home": statement 2 (Sid "ReadWriteOwnHome"): putobject-tagging`},
		"iamgate explain --config iamgate.yaml --claims claims.json GET /demo/home/bob/notes.txt":                                                      {1, "Decision: DENY (no_allow)"},
		"iamgate explain --config iamgate.yaml --claims claims.json GET '/demo?list-type=2&prefix=home/alice/'":                                        {0, `Decision: ALLOW: role "member" policy "own-home" statement "ListOwnHome"`},
		"iamgate explain --config iamgate.yaml --claims claims.json --op PutObject --bucket demo --key home/alice/notes.txt":                           {0, `Decision: ALLOW: role "member" policy "own-home" statement "ReadWriteOwnHome"`},
		"iamgate explain --config iamgate.yaml --claims claims.json --actor-claims agent.json GET /demo/home/alice/notes.txt":                          {0, `and the actor's roles allow it too`},
		"iamgate explain --config iamgate.yaml --claims claims.json --actor-claims agent.json --op PutObject --bucket demo --key home/alice/notes.txt": {1, "Decision: DENY (no_allow) by the actor's roles"},
		"iamgate audit verify --config iamgate.yaml audit.log":                                                                                         {0, "OK: 0 problems, 0 warnings; 9 events in 1 stream"},
		"iamgate audit public-key --config iamgate.yaml > audit.pub && iamgate audit verify --public-key audit.pub audit.log":                          {0, "OK: 0 problems"},
		"iamgate audit public-key --config iamgate.yaml":                                                                                               {0, "-----BEGIN PUBLIC KEY-----"},
		"iamgate audit report --config iamgate.yaml --since 2027-01-01 audit.log":                                                                      {0, "role member (human): nobody used it"},
		"iamgate audit report --by agent_run --since 2027-01-01 audit.log":                                                                             {0, "Activity by agent_run: "},
		"iamgate audit review --config iamgate.yaml --since 2027-01-01 -o review.html audit.log":                                                       {0, "review.html: access review of "},
		"iamgate audit review --config iamgate.yaml --since 2027-01-01 --json audit.log":                                                               {0, `"unused_trust_rules": [`},
		"iamgate audit query --bucket data --since 2027-01-01 audit.log":                                                                               {0, "data/home/alice/a.txt"},
		"iamgate audit query --decision deny --format csv audit.log":                                                                                   {0, "time,kind,decision,"},
		"iamgate audit query --prefix home/alice/ --format json audit.log":                                                                             {0, `"bucketName":"data"`},
		"iamgate audit schema": {0, `"$schema"`},
		"iamgate version":      {0, "iamgate "},
	}
	// import's examples export from a running MinIO with mc first;
	// TestIntegrationImportMinIO imports a real export.
	needsServer := map[string]bool{"serve": true, "dev": true, "credentials": true, "import minio": true, "revoke": true}
	seen := map[string]bool{}
	for _, c := range helpCommands {
		for _, ex := range c.Examples {
			if needsServer[c.Name] {
				continue
			}
			w, ok := want[ex]
			if !ok {
				t.Errorf("iamgate %s: example %q is not run by this test", c.Name, ex)
				continue
			}
			seen[ex] = true
			t.Run(ex, func(t *testing.T) {
				cmd := exec.Command("bash", "--noprofile", "--norc", "-c", ex)
				cmd.Dir = work
				cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir}
				out, err := cmd.CombinedOutput()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if code != w.code || !strings.Contains(string(out), w.want) {
					t.Errorf("exit %d, want %d and %q in:\n%s", code, w.code, w.want, out)
				}
			})
		}
	}
	for ex := range want {
		if !seen[ex] {
			t.Errorf("%q is no longer an example", ex)
		}
	}
}
