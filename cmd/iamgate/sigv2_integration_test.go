package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
)

// sigv2Script drives boto3 with Signature Version 2: presigned URLs (the
// default of generate_presigned_url against a custom endpoint, and
// signature_version="s3"), the header signer for ordinary calls
// (including a multipart upload, a copy and DeleteObjects), a service
// credential, and a browser form from generate_presigned_post.
const sigv2Script = `
import boto3, botocore.config, os, sys, uuid, urllib.request, urllib.error

ep = os.environ["EP"]
sess = dict(aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"], aws_session_token=os.environ["ST"])
svc = dict(aws_access_key_id="IAMGATEBACKUP001", aws_secret_access_key="service-secret-0123456789")

def client(sig=None, **creds):
    kw = {"signature_version": sig} if sig else {}
    cfg = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **kw)
    return boto3.client("s3", endpoint_url=ep, region_name="us-east-1", config=cfg, **creds)

def fetch(url, method="GET", data=None, headers={}):
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers

def check(cond, *what):
    if not cond:
        sys.exit("FAILED: " + " ".join(str(w) for w in what))

# Presigned URLs: what botocore does against a custom endpoint by default,
# and with signature_version="s3" asked for.
for name, c in (("default", client(**sess)), ("s3", client("s3", **sess))):
    key = "home/alice/presigned-" + name + " ü+&=.txt"
    body = b"presigned " + name.encode()
    url = c.generate_presigned_url("put_object", Params={"Bucket": "data", "Key": key, "ContentType": "text/plain",
        "Metadata": {"via": name}}, ExpiresIn=300)
    check("AWSAccessKeyId=" in url and "Expires=" in url and "X-Amz-Algorithm" not in url, "not SigV2:", url)
    st, out, _ = fetch(url, "PUT", body, {"Content-Type": "text/plain"})
    check(st == 200, "presigned PUT", name, st, out)
    url = c.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": key, "ResponseContentType": "application/x-test"}, ExpiresIn=300)
    st, out, hdr = fetch(url)
    check(st == 200 and out == body and hdr["Content-Type"] == "application/x-test", "presigned GET", name, st, out, hdr)
    st, out, _ = fetch(url.replace("presigned-", "presigneX-", 1))
    check(st == 403 and b"SignatureDoesNotMatch" in out, "tampered URL", st, out)
    st, out, _ = fetch(c.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "home/bob/x"}, ExpiresIn=300))
    check(st == 403 and b"AccessDenied" in out, "presigned GET of another home", st, out)
    st, out, _ = fetch(c.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": key}, ExpiresIn=-10))
    check(st == 403 and b"Request has expired" in out, "expired URL", st, out)

# Ordinary calls signed with Signature Version 2 in the header.
c = client("s3", **sess)
c.put_object(Bucket="data", Key="home/alice/v2.txt", Body=b"v2 header", Metadata={"note": "n"}, ContentType="text/plain")
check(c.get_object(Bucket="data", Key="home/alice/v2.txt")["Body"].read() == b"v2 header", "get_object")
meta = {k.lower(): v for k, v in c.head_object(Bucket="data", Key="home/alice/v2.txt")["Metadata"].items()}
check(meta.get("note") == "n", "head_object metadata", meta)
keys = [o["Key"] for o in c.list_objects_v2(Bucket="data", Prefix="home/alice/")["Contents"]]
check("home/alice/v2.txt" in keys, "list", keys)
c.copy_object(Bucket="data", Key="home/alice/v2-copy.txt", CopySource={"Bucket": "data", "Key": "home/alice/v2.txt"})
c.upload_fileobj(__import__("io").BytesIO(b"m" * (12 << 20)), "data", "home/alice/v2-multipart.bin",
    Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
r = c.delete_objects(Bucket="data", Delete={"Objects": [{"Key": "home/alice/v2-copy.txt"}]})
check(not r.get("Errors"), "delete_objects", r)
try:
    c.put_object(Bucket="data", Key="home/bob/v2.txt", Body=b"x")
    check(False, "put outside home succeeded")
except c.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "AccessDenied", e.response)

# A service credential (role backup: data/backups/*).
b = client("s3", **svc)
b.put_object(Bucket="data", Key="backups/v2.txt", Body=b"backup v2")
check(b.get_object(Bucket="data", Key="backups/v2.txt")["Body"].read() == b"backup v2", "service get")
st, out, _ = fetch(client(**svc).generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "backups/v2.txt"}, ExpiresIn=300))
check(st == 200 and out == b"backup v2", "service presigned GET", st, out)

# A browser form: generate_presigned_post signs with Signature Version 2.
post = client(**sess).generate_presigned_post("data", "home/alice/form-v2.txt", Fields={"Content-Type": "text/plain"},
    Conditions=[{"Content-Type": "text/plain"}, ["content-length-range", 1, 1024]], ExpiresIn=300)
check("AWSAccessKeyId" in post["fields"] and "signature" in post["fields"], "not a SigV2 form", post["fields"])
def form(fields, data):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k, v)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\n" % boundary).encode())
    parts.append(data + ("\r\n--%s--\r\n" % boundary).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary
data, ct = form(post["fields"], b"posted with a SigV2 form")
st, out, _ = fetch(post["url"], "POST", data, {"Content-Type": ct})
check(st == 204, "SigV2 form", st, out)
check(c.get_object(Bucket="data", Key="home/alice/form-v2.txt")["Body"].read() == b"posted with a SigV2 form", "form object")
fields = dict(post["fields"], key="home/bob/form-v2.txt")
data, ct = form(fields, b"x")
st, out, _ = fetch(post["url"], "POST", data, {"Content-Type": ct})
check(st == 403 and b"Invalid according to Policy" in out, "form with another key", st, out)
print("sigv2 ok")
`

// TestIntegrationSigV2Clients runs the clients that sign with Signature
// Version 2 against iamgate in front of MinIO: boto3 (presigned URLs, the
// "s3" signer, presigned posts), the AWS CLI v1's presign (and v2's, which
// signs with SigV4), and s3cmd (signurl, and put/get/ls/del with
// signature_v2), with STS session credentials and a service credential.
func TestIntegrationSigV2Clients(t *testing.T) {
	e := setupIntegration(t)
	s := &sigEnv{itEnv: e}
	cr := s.assume(t, e.url, e.alice, 900, "")
	secrets := []string{cr.SecretAccessKey, cr.SessionToken, "service-secret-0123456789"}

	t.Run("boto3", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Fatal("python3 with boto3 is required")
		}
		cmd := exec.Command("python3", "-c", sigv2Script)
		cmd.Env = append(os.Environ(), "EP="+e.url, "AK="+cr.AccessKeyID, "SK="+cr.SecretAccessKey, "ST="+cr.SessionToken)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "sigv2 ok") {
			t.Fatalf("boto3: %v\n%s", err, out)
		}
		if got := string(e.minio.GetObject(t, "data", "home/alice/presigned-default ü+&=.txt")); got != "presigned default" {
			t.Fatalf("stored %q", got)
		}
		if got := len(e.minio.GetObject(t, "data", "home/alice/v2-multipart.bin")); got != 12<<20 {
			t.Fatalf("multipart object of %d bytes", got)
		}
		if e.minio.ObjectExists(t, "data", "home/alice/v2-copy.txt") || e.minio.ObjectExists(t, "data", "home/bob/v2.txt") {
			t.Fatal("DeleteObjects or the denied put did not do what was asked")
		}
	})

	t.Run("aws cli presign", func(t *testing.T) {
		for _, cli := range awsCLIs(t) {
			dir := t.TempDir()
			cmd := exec.Command(cli.path, "s3", "presign", "s3://data/home/alice/v2.txt", "--expires-in", "300",
				"--endpoint-url", e.url, "--region", "us-east-1")
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+cr.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+cr.SecretAccessKey,
				"AWS_SESSION_TOKEN="+cr.SessionToken, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+dir)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s presign: %v", cli.version, err)
			}
			u := strings.TrimSpace(string(out))
			// The CLI v1 presigns with Signature Version 2 against a custom
			// endpoint, the v2 with SigV4.
			if v2 := strings.Contains(u, "AWSAccessKeyId="); v2 != strings.HasPrefix(cli.version, "v1") {
				t.Fatalf("%s presigned %s", cli.version, u)
			}
			r := do(t, "GET", u, "", nil)
			expect(t, r, 200)
			if r.body != "v2 header" {
				t.Fatalf("%s: %q", cli.version, r.body)
			}
		}
	})

	t.Run("s3cmd", func(t *testing.T) {
		bin, err := exec.LookPath("s3cmd")
		if err != nil {
			t.Fatal("s3cmd is required (scripts/install-tools.sh clients; Debian: apt-get install s3cmd)")
		}
		host := strings.TrimPrefix(e.url, "http://")
		dir := t.TempDir()
		config := func(name, ak, sk, token string) string {
			p := filepath.Join(dir, name)
			writeFile(t, p, fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\naccess_token = %s\nhost_base = %s\nhost_bucket = %s\n"+
				"use_https = False\nsignature_v2 = True\nbucket_location = us-east-1\nmultipart_chunk_size_mb = 5\n", ak, sk, token, host, host))
			return p
		}
		session := config("session.cfg", cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken)
		service := config("service.cfg", "IAMGATEBACKUP001", "service-secret-0123456789", "")
		s3cmd := func(cfg string, args ...string) (string, error) {
			cmd := exec.Command(bin, append([]string{"-c", cfg}, args...)...)
			cmd.Env = append(os.Environ(), "HOME="+dir)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		small := filepath.Join(dir, "small.txt")
		writeFile(t, small, "put by s3cmd")
		large := filepath.Join(dir, "large.bin")
		writeFile(t, large, strings.Repeat("s3cmd multipart ", 12<<16)) // 12 MiB: three parts
		for _, f := range []string{small, large} {
			if out, err := s3cmd(session, "put", f, "s3://data/home/alice/s3cmd/"+filepath.Base(f)); err != nil {
				t.Fatalf("s3cmd put: %v\n%s", err, out)
			}
		}
		got := filepath.Join(dir, "got.bin")
		if out, err := s3cmd(session, "get", "--force", "s3://data/home/alice/s3cmd/large.bin", got); err != nil {
			t.Fatalf("s3cmd get: %v\n%s", err, out)
		}
		a, _ := os.ReadFile(large)
		b, _ := os.ReadFile(got)
		if !bytes.Equal(a, b) {
			t.Fatal("s3cmd get: the file differs")
		}
		if out, err := s3cmd(session, "ls", "s3://data/home/alice/s3cmd/"); err != nil || !strings.Contains(out, "small.txt") {
			t.Fatalf("s3cmd ls: %v\n%s", err, out)
		}
		if out, err := s3cmd(session, "del", "s3://data/home/alice/s3cmd/small.txt"); err != nil {
			t.Fatalf("s3cmd del: %v\n%s", err, out)
		}
		if e.minio.ObjectExists(t, "data", "home/alice/s3cmd/small.txt") {
			t.Fatal("s3cmd del left the object")
		}
		if out, err := s3cmd(session, "put", small, "s3://data/home/bob/s3cmd.txt"); err == nil || !strings.Contains(out, "AccessDenied") {
			t.Fatalf("s3cmd put outside home: %v\n%s", err, out)
		}

		// signurl has no session token: a service credential signs it.
		if out, err := s3cmd(service, "put", small, "s3://data/backups/s3cmd.txt"); err != nil {
			t.Fatalf("s3cmd put (service credential): %v\n%s", err, out)
		}
		out, err := s3cmd(service, "signurl", "s3://data/backups/s3cmd.txt", "+300")
		if err != nil {
			t.Fatalf("s3cmd signurl: %v\n%s", err, out)
		}
		u := strings.TrimSpace(out)
		if !strings.Contains(u, "AWSAccessKeyId=IAMGATEBACKUP001") {
			t.Fatalf("signurl %s", u)
		}
		r := do(t, "GET", u, "", nil)
		expect(t, r, 200)
		if r.body != "put by s3cmd" {
			t.Fatalf("signed URL: %q", r.body)
		}
		expect(t, do(t, "GET", strings.Replace(u, "s3cmd.txt", "other.txt", 1), "", nil), 403, "SignatureDoesNotMatch")
	})

	// Every request above is audited as Signature Version 2 (or SigV4 for
	// the CLI v2's URL and the STS call), and no credential reached a log.
	if _, err := auditschema.File(e.audit); err != nil {
		t.Fatalf("audit file does not match the schema: %v", err)
	}
	raw, err := os.ReadFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		ev, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if ev.SignatureVersion == "SigV2" || strings.HasPrefix(ev.AuthMethod, "sigv2") {
			methods[ev.AuthMethod+" "+ev.Decision]++
		}
	}
	for _, want := range []string{"sigv2 allow", "sigv2-presigned allow", "sigv2-post allow", "service-credential allow", "sigv2 deny", "sigv2-presigned deny"} {
		if methods[want] == 0 {
			t.Errorf("no SigV2 event %q; got %v", want, methods)
		}
	}
	assertNoSecrets(t, secrets, e.audit)
}
