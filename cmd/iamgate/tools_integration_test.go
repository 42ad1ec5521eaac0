package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/iamgate/iamgate/internal/testenv"
)

// keepPolicy is added to role member for the recursive delete tests:
// objects named keep-* can never be deleted, so a prefix holds keys a
// caller may delete and keys it may not.
const keepPolicy = `
  keep: |
    {"Version": "2012-10-17", "Statement": [
      {"Sid": "KeepMarked", "Effect": "Deny", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": "arn:aws:s3:::data/*/keep-*"},
      {"Sid": "PublicAccessBlock", "Effect": "Allow", "Action": ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"], "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::pab-*"]}]}
`

// referencePolicy is the same rules as a MinIO policy, for a MinIO user
// working under ref/: the tools run against MinIO with it show how they
// report per-key denials when the store itself decides.
const referencePolicy = `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::data"], "Condition": {"StringLike": {"s3:prefix": ["ref/*"]}}},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::data/ref/*"]},
  {"Effect": "Deny", "Action": ["s3:DeleteObject"], "Resource": ["arn:aws:s3:::data/*/keep-*"]}]}`

// toolsEnv is iamgate (role member with keepPolicy) in front of MinIO, the
// session credentials of alice, and a MinIO user with the same rules.
type toolsEnv struct {
	*sigEnv
	audit     string
	creds     aws.Credentials
	mc        string
	refKey    string
	refSecret string
}

func setupTools(t *testing.T) *toolsEnv {
	e := setupIntegration(t)
	dir := t.TempDir()
	te := &toolsEnv{audit: filepath.Join(dir, "audit.log"), refKey: "reference", refSecret: "reference-secret-0123"}
	cfg := strings.Replace(configYAML(e, "", itPolicies+keepPolicy), "policies: [home, teams, shared]", "policies: [home, teams, shared, keep]", 1)
	cfg = strings.Replace(cfg, e.audit, te.audit, 1)
	path := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, path, cfg)
	_, url := startApp(t, path)
	te.sigEnv = &sigEnv{itEnv: e}
	te.url = url
	te.creds = te.assume(t, url, e.alice, 1800, "")

	mc, err := testenv.ToolPath("mc")
	if err != nil {
		t.Fatalf("%v\nrun scripts/install-tools.sh mc", err)
	}
	te.mc = mc
	// The reference user, made with mc's admin commands.
	writeFile(t, filepath.Join(dir, "ref.json"), referencePolicy)
	root := "MC_HOST_root=" + hostURL(e.minio.Endpoint, e.minio.AccessKey, e.minio.SecretKey, "")
	for _, args := range [][]string{
		{"admin", "policy", "create", "root", "reference", filepath.Join(dir, "ref.json")},
		{"admin", "user", "add", "root", te.refKey, te.refSecret},
		{"admin", "policy", "attach", "root", "reference", "--user", te.refKey},
	} {
		if out, err := te.runMC(t, []string{root}, args...); err != nil {
			t.Fatalf("mc %v: %v\n%s", args, err, out)
		}
	}
	return te
}

// hostURL is an mc MC_HOST_<alias> value: scheme://KEY:SECRET[:TOKEN]@host,
// the credentials as they are (mc does not unescape them).
func hostURL(endpoint, key, secret, token string) string {
	u, _ := url.Parse(endpoint)
	cred := key + ":" + secret
	if token != "" {
		cred += ":" + token
	}
	return u.Scheme + "://" + cred + "@" + u.Host
}

func (te *toolsEnv) runMC(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(te.mc, append([]string{"--config-dir", t.TempDir(), "--no-color", "--disable-pager"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// target is where a tool runs: through iamgate as alice (prefix under
// home/alice/), or directly against MinIO as the reference user (ref/).
type target struct {
	name, endpoint, prefix string
	key, secret, token     string
}

func (te *toolsEnv) targets(tool string) []target {
	return []target{
		{"iamgate", te.url, "home/alice/" + tool + "/", te.creds.AccessKeyID, te.creds.SecretAccessKey, te.creds.SessionToken},
		{"minio", te.minio.Endpoint, "ref/" + tool + "/", te.refKey, te.refSecret, ""},
	}
}

// mixedKeys are the keys a recursive delete meets: the keep-* ones may
// not be deleted.
var mixedKeys = []string{"a.txt", "keep-c.txt", "sub/d.txt", "sub/keep-e.txt", "z z+%.txt"}

func (te *toolsEnv) seed(t *testing.T, prefix string) {
	t.Helper()
	for _, k := range mixedKeys {
		te.minio.PutObject(t, "data", prefix+k, []byte(k))
	}
}

// left returns the keys under prefix that MinIO still holds.
func (te *toolsEnv) left(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, k := range mixedKeys {
		if te.minio.ObjectExists(t, "data", prefix+k) {
			out = append(out, k)
		}
	}
	return out
}

// normalize makes a tool's output through iamgate comparable with its
// output against MinIO: prefixes, endpoints, and MinIO's message for a
// denied key ("Access Denied.", where S3 and iamgate say "Access Denied").
func normalize(out, prefix, endpoint string) []string {
	out = strings.ReplaceAll(out, "Access Denied.", "Access Denied")
	out = strings.ReplaceAll(out, prefix, "PREFIX/")
	out = strings.ReplaceAll(out, strings.TrimPrefix(endpoint, "http://"), "ENDPOINT")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// The recursive deletes of mc, s3cmd, the AWS CLI and boto3 on a prefix
// where some keys are denied delete exactly the allowed keys through
// iamgate, and the tools report the rest as they do when MinIO itself
// denies them.
func TestIntegrationRecursiveDeleteTools(t *testing.T) {
	te := setupTools(t)
	wantLeft := []string{"keep-c.txt", "sub/keep-e.txt"}

	t.Run("mc rm --recursive --force", func(t *testing.T) {
		outs := map[string][]string{}
		codes := map[string]int{}
		for _, tg := range te.targets("mc") {
			te.seed(t, tg.prefix)
			out, err := te.runMC(t, []string{"MC_HOST_s3=" + hostURL(tg.endpoint, tg.key, tg.secret, tg.token)},
				"rm", "--recursive", "--force", "s3/data/"+tg.prefix)
			codes[tg.name] = exitCode(err)
			outs[tg.name] = normalize(out, tg.prefix, tg.endpoint)
			if got := te.left(t, tg.prefix); !slices.Equal(got, wantLeft) {
				t.Fatalf("%s: MinIO still holds %v, want %v\n%s", tg.name, got, wantLeft, out)
			}
		}
		if codes["iamgate"] != codes["minio"] || codes["iamgate"] == 0 || !slices.Equal(outs["iamgate"], outs["minio"]) {
			t.Fatalf("mc through iamgate (exit %d):\n%s\nagainst MinIO (exit %d):\n%s", codes["iamgate"],
				strings.Join(outs["iamgate"], "\n"), codes["minio"], strings.Join(outs["minio"], "\n"))
		}
		t.Logf("mc reports: %s", strings.Join(outs["iamgate"], " | "))
	})

	t.Run("s3cmd del --recursive", func(t *testing.T) {
		s3cmd, err := exec.LookPath("s3cmd")
		if err != nil {
			t.Fatal("s3cmd is required (Debian package s3cmd; scripts/install-tools.sh clients)")
		}
		outs := map[string][]string{}
		codes := map[string]int{}
		for _, tg := range te.targets("s3cmd") {
			te.seed(t, tg.prefix)
			host := strings.TrimPrefix(tg.endpoint, "http://")
			cfg := filepath.Join(t.TempDir(), "s3cfg")
			writeFile(t, cfg, fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"+
				"use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n", tg.key, tg.secret, host, host))
			args := []string{"-c", cfg}
			if tg.token != "" {
				// On the command line: a token from the file makes s3cmd
				// try to refresh it from the EC2 instance metadata.
				args = append(args, "--access_token="+tg.token)
			}
			cmd := exec.Command(s3cmd, append(args, "del", "--recursive", "--force", "s3://data/"+tg.prefix)...)
			out, err := cmd.CombinedOutput()
			codes[tg.name] = exitCode(err)
			outs[tg.name] = normalize(string(out), tg.prefix, tg.endpoint)
			if got := te.left(t, tg.prefix); !slices.Equal(got, wantLeft) {
				t.Fatalf("%s: MinIO still holds %v, want %v\n%s", tg.name, got, wantLeft, out)
			}
		}
		if codes["iamgate"] != codes["minio"] || !slices.Equal(outs["iamgate"], outs["minio"]) {
			t.Fatalf("s3cmd through iamgate (exit %d):\n%s\nagainst MinIO (exit %d):\n%s", codes["iamgate"],
				strings.Join(outs["iamgate"], "\n"), codes["minio"], strings.Join(outs["minio"], "\n"))
		}
	})

	for _, cli := range awsCLIs(t) {
		t.Run("aws s3 rm --recursive "+cli.version, func(t *testing.T) {
			outs := map[string][]string{}
			codes := map[string]int{}
			tool := "cli-" + strings.Fields(cli.version)[0]
			for _, tg := range te.targets(tool) {
				te.seed(t, tg.prefix)
				dir := t.TempDir()
				cmd := exec.Command(cli.path, "s3", "rm", "--recursive", "s3://data/"+tg.prefix, "--endpoint-url", tg.endpoint)
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+tg.key, "AWS_SECRET_ACCESS_KEY="+tg.secret,
					"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+dir)
				if tg.token != "" {
					cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+tg.token)
				}
				out, err := cmd.CombinedOutput()
				codes[tg.name] = exitCode(err)
				// The messages differ (iamgate names the policy that
				// denied); the keys and error codes must not.
				lines := normalize(string(out), tg.prefix, tg.endpoint)
				for i, l := range lines {
					if j := strings.Index(l, "(AccessDenied)"); j >= 0 {
						lines[i] = l[:j+len("(AccessDenied)")]
					}
				}
				outs[tg.name] = lines
				if got := te.left(t, tg.prefix); !slices.Equal(got, wantLeft) {
					t.Fatalf("%s: MinIO still holds %v, want %v\n%s", tg.name, got, wantLeft, out)
				}
			}
			if codes["iamgate"] != codes["minio"] || codes["iamgate"] == 0 || !slices.Equal(outs["iamgate"], outs["minio"]) {
				t.Fatalf("%s through iamgate (exit %d):\n%s\nagainst MinIO (exit %d):\n%s", cli.version, codes["iamgate"],
					strings.Join(outs["iamgate"], "\n"), codes["minio"], strings.Join(outs["minio"], "\n"))
			}
		})
	}

	t.Run("boto3 delete_objects", func(t *testing.T) {
		script := `
import boto3, botocore.config, json, os
out = {}
for mode in ("when_supported", "when_required"):
    c = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
        aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"], aws_session_token=os.environ["ST"] or None,
        config=botocore.config.Config(request_checksum_calculation=mode, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    p = os.environ["PREFIX"]
    for quiet in (False, True):
        keys = json.loads(os.environ["KEYS"])
        for k in keys:
            c.put_object(Bucket="data", Key=p + k, Body=b"x")
        r = c.delete_objects(Bucket="data", Delete={"Quiet": quiet, "Objects": [{"Key": p + k} for k in keys]})
        out["%s quiet=%s" % (mode, quiet)] = {
            "status": r["ResponseMetadata"]["HTTPStatusCode"],
            "deleted": sorted(d["Key"][len(p):] for d in r.get("Deleted", [])),
            "errors": sorted((e["Key"][len(p):], e["Code"], e["Message"]) for e in r.get("Errors", [])),
        }
    # Every key denied: 200 and an error each, as S3 answers.
    r = c.delete_objects(Bucket="data", Delete={"Objects": [{"Key": p + "keep-c.txt"}, {"Key": p + "sub/keep-e.txt"}]})
    out[mode + " all denied"] = {"status": r["ResponseMetadata"]["HTTPStatusCode"], "deleted": r.get("Deleted", []),
        "errors": sorted((e["Key"][len(p):], e["Code"]) for e in r.get("Errors", []))}
print(json.dumps(out, sort_keys=True))
`
		results := map[string]map[string]any{}
		for _, tg := range te.targets("boto3") {
			keys, _ := json.Marshal(mixedKeys)
			cmd := exec.Command("python3", "-c", script)
			cmd.Env = append(os.Environ(), "EP="+tg.endpoint, "AK="+tg.key, "SK="+tg.secret, "ST="+tg.token,
				"PREFIX="+tg.prefix, "KEYS="+string(keys))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: boto3: %v\n%s", tg.name, err, out)
			}
			var r map[string]any
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%s: %s", tg.name, out)
			}
			results[tg.name] = r
			if got := te.left(t, tg.prefix); !slices.Equal(got, wantLeft) {
				t.Fatalf("%s: MinIO still holds %v, want %v", tg.name, got, wantLeft)
			}
		}
		a, _ := json.MarshalIndent(results["iamgate"], "", " ")
		b, _ := json.MarshalIndent(results["minio"], "", " ")
		// MinIO's message for a denied key is "Access Denied.", S3's and
		// iamgate's "Access Denied".
		if string(a) != strings.ReplaceAll(string(b), `"Access Denied."`, `"Access Denied"`) {
			t.Fatalf("boto3 through iamgate:\n%s\nagainst MinIO:\n%s", a, b)
		}
		if !strings.Contains(string(a), `"keep-c.txt",`) || !strings.Contains(string(a), `"AccessDenied"`) {
			t.Fatalf("no per-key denial in %s", a)
		}
	})

	t.Run("audit", func(t *testing.T) {
		if _, err := auditschema.File(te.audit); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(te.audit)
		partial, denied := 0, 0
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Operation != "DeleteObjects" {
				continue
			}
			for _, d := range ev.DeniedKeys {
				if !regexp.MustCompile(`/keep-[ce]\.txt$`).MatchString(d.Key) || d.Reason != "explicit_deny" || d.Sid != "KeepMarked" {
					t.Fatalf("denied key %+v", d)
				}
			}
			switch {
			case ev.Decision == "allow" && ev.Reason == "partially_allowed":
				partial++
			case ev.Decision == "deny" && len(ev.DeniedKeys) == len(ev.Keys) && ev.Status == 200:
				denied++
			}
		}
		// mc, s3cmd and boto3 (four mixed requests) use DeleteObjects.
		if partial < 6 || denied < 2 {
			t.Fatalf("%d partially allowed and %d denied DeleteObjects events", partial, denied)
		}
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
