package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
)

// boto3 runs a Python script with boto3 configured for endpoint (path
// style, SigV4, one attempt) as client c; key, secret and token are the
// credentials. It returns the script's output.
func boto3(t *testing.T, endpoint, key, secret, token, script string) string {
	t.Helper()
	prelude := `
import boto3, botocore.config, json, os, sys
c = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"], aws_session_token=os.environ["ST"] or None,
    config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
def code(f):
    try:
        f()
        return "OK"
    except c.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
`
	cmd := exec.Command("python3", "-c", prelude+script)
	cmd.Env = append(os.Environ(), "EP="+endpoint, "AK="+key, "SK="+secret, "ST="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// What the store answers reaches the client as the store sent it:
// metadata names in lower case, error documents naming the request as
// its x-amz-request-id header does; iamgate's own answers use S3's codes;
// CORS preflights and public access block reads get the store's answer.
func TestIntegrationResponses(t *testing.T) {
	te := setupTools(t)
	root := [3]string{te.minio.AccessKey, te.minio.SecretKey, ""}
	alice := [3]string{te.creds.AccessKeyID, te.creds.SecretAccessKey, te.creds.SessionToken}

	t.Run("metadata names as S3 sends them", func(t *testing.T) {
		put := `c.put_object(Bucket="data", Key="home/alice/meta.txt", Body=b"m", Metadata={"key1": "v1", "MixedCase": "m"})`
		read := `
print(json.dumps([c.head_object(Bucket="data", Key="home/alice/meta.txt")["Metadata"],
    c.get_object(Bucket="data", Key="home/alice/meta.txt")["Metadata"]], sort_keys=True))`
		boto3(t, te.url, alice[0], alice[1], alice[2], put)
		got := boto3(t, te.url, alice[0], alice[1], alice[2], read+`
assert c.head_object(Bucket="data", Key="home/alice/meta.txt")["Metadata"]["key1"] == "v1"`)
		want := boto3(t, te.minio.Endpoint, root[0], root[1], root[2], read)
		if got != want || !strings.Contains(got, `"key1": "v1"`) {
			t.Fatalf("boto3 Metadata through iamgate %s, from MinIO %s", got, want)
		}
		if _, err := exec.LookPath("curl"); err != nil {
			t.Fatal("curl is required")
		}
		out, err := exec.Command("curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", "Authorization: Bearer "+te.alice,
			te.url+"/data/home/alice/meta.txt").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("\r\nx-amz-meta-key1: v1\r\n")) || !bytes.Contains(out, []byte("\r\nx-amz-meta-mixedcase: m\r\n")) {
			t.Fatalf("curl: %v\n%s", err, out)
		}
	})

	t.Run("error documents name iamgate's request ID", func(t *testing.T) {
		r := do(t, "GET", te.url+"/data/home/alice/missing.txt", te.alice, nil)
		rid := r.header.Get("X-Amz-Request-Id")
		m := regexp.MustCompile(`<RequestId>([^<]*)</RequestId>`).FindStringSubmatch(r.body)
		if r.status != 404 || !strings.Contains(r.body, "<Code>NoSuchKey</Code>") || m == nil || m[1] != rid || rid == "" {
			t.Fatalf("%d, header %q, body %s", r.status, rid, r.body)
		}
		ev := findEvent(t, te.audit, rid)
		if ev.UpstreamRequestID == "" || ev.UpstreamRequestID == rid || ev.Status != 404 {
			t.Fatalf("event %+v", ev)
		}
		// boto3 reports the same ID from the header and the body.
		got := boto3(t, te.url, alice[0], alice[1], alice[2], `
try:
    c.get_object(Bucket="data", Key="home/alice/missing.txt")
except c.exceptions.ClientError as e:
    print(e.response["ResponseMetadata"]["RequestId"], e.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"], e.response["Error"]["Code"])`)
		if f := strings.Fields(got); len(f) != 3 || f[0] != f[1] || f[2] != "NoSuchKey" {
			t.Fatalf("boto3: %s", got)
		}
	})

	t.Run("presigned URL with X-Amz-Expires=0", func(t *testing.T) {
		req, _ := http.NewRequest("GET", te.url+"/data/home/alice/meta.txt?X-Amz-Expires=0", nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), te.creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := do(t, "GET", u, "", nil)
		expect(t, r, 403, "<Code>AccessDenied</Code>", "<Message>Request has expired</Message>")
		url := boto3(t, te.url, alice[0], alice[1], alice[2],
			`print(c.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "home/alice/meta.txt"}, ExpiresIn=0))`)
		expect(t, do(t, "GET", url, "", nil), 403, "<Code>AccessDenied</Code>", "Request has expired")
	})

	t.Run("public access block", func(t *testing.T) {
		te.minio.MakeBucket(t, "pab-empty")
		script := `print(json.dumps([code(lambda: c.get_public_access_block(Bucket="data")),
    code(lambda: c.put_public_access_block(Bucket="pab-new", PublicAccessBlockConfiguration={"BlockPublicAcls": True})),
    code(lambda: c.delete_public_access_block(Bucket="pab-empty"))]))`
		got := boto3(t, te.url, alice[0], alice[1], alice[2], script)
		var codes []string
		json.Unmarshal([]byte(got), &codes)
		// MinIO does not implement the public access block: iamgate
		// passes its answer to the read, and never forwards the writes,
		// which MinIO would run as CreateBucket and DeleteBucket.
		direct := boto3(t, te.minio.Endpoint, root[0], root[1], root[2], `print(code(lambda: c.get_public_access_block(Bucket="data")))`)
		if len(codes) != 3 || codes[0] != direct || codes[1] != "NotImplemented" || codes[2] != "NotImplemented" {
			t.Fatalf("codes %s, MinIO answers the read with %s", got, direct)
		}
		ctx := context.Background()
		if ok, _ := te.minio.Client(t).BucketExists(ctx, "pab-empty"); !ok {
			t.Fatal("DeletePublicAccessBlock deleted the bucket")
		}
		if ok, _ := te.minio.Client(t).BucketExists(ctx, "pab-new"); ok {
			t.Fatal("PutPublicAccessBlock created a bucket")
		}
		// Without the permission, the read is denied before the store.
		if got := boto3(t, te.url, alice[0], alice[1], alice[2], `print(code(lambda: c.get_public_access_block(Bucket="other")))`); got != "AccessDenied" {
			t.Fatalf("unauthorized read: %s", got)
		}
	})

	t.Run("CORS", func(t *testing.T) {
		te.minio.PutObject(t, "data", "home/alice/cors.txt", []byte("cors"))
		te.minio.PutObject(t, "data", "ref/cors.txt", []byte("cors"))
		presign := func(path string, creds [3]string, endpoint string) string {
			req, _ := http.NewRequest("PUT", endpoint+path+"?X-Amz-Expires=300", nil)
			cr := te.creds
			cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken = creds[0], creds[1], creds[2]
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), cr, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimPrefix(u, endpoint)
		}
		cors := func(h http.Header) string {
			var b strings.Builder
			for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
				"Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Access-Control-Max-Age", "Vary"} {
				b.WriteString(k + ": " + strings.Join(h.Values(k), ", ") + "\n")
			}
			return b.String()
		}
		for _, tc := range []struct{ name, via, direct string }{
			{"object", "/data/home/alice/cors.txt", "/data/ref/cors.txt"},
			{"bucket", "/data", "/data"},
			{"presigned URL", presign("/data/home/alice/upload.txt", alice, te.url), presign("/data/ref/upload.txt", root, te.minio.Endpoint)},
		} {
			hdr := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "PUT",
				"Access-Control-Request-Headers", "content-type,x-amz-date"}
			via := do(t, "OPTIONS", te.url+tc.via, "", nil, hdr...)
			direct := do(t, "OPTIONS", te.minio.Endpoint+tc.direct, "", nil, hdr...)
			if via.status != direct.status || cors(via.header) != cors(direct.header) || via.header.Get("Access-Control-Allow-Origin") == "" {
				t.Fatalf("%s: preflight through iamgate %d\n%s\nMinIO %d\n%s", tc.name, via.status, cors(via.header), direct.status, cors(direct.header))
			}
		}
		// The request that follows carries its credentials and gets the
		// store's grant for its origin.
		via := do(t, "GET", te.url+"/data/home/alice/cors.txt", te.alice, nil, "Origin", "https://app.example")
		direct := doSigned(t, "GET", te.minio.Endpoint+"/data/ref/cors.txt", root, "Origin", "https://app.example")
		if via.status != 200 || direct.status != 200 || cors(via.header) != cors(direct.header) || via.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("GET through iamgate %d\n%s\nMinIO %d\n%s", via.status, cors(via.header), direct.status, cors(direct.header))
		}
		ev := findEvent(t, te.audit, do(t, "OPTIONS", te.url+"/data/home/alice/cors.txt", "", nil,
			"Origin", "https://app.example", "Access-Control-Request-Method", "GET").header.Get("X-Amz-Request-Id"))
		if ev.Operation != "PreflightRequest" || ev.Decision != "allow" || ev.Reason != "preflight" || ev.AuthMethod != "none" || ev.Key != "home/alice/cors.txt" {
			t.Fatalf("event %+v", ev)
		}
	})

	if _, err := auditschema.File(te.audit); err != nil {
		t.Fatal(err)
	}
}

// doSigned sends a SigV4-signed request with creds (key, secret, token).
func doSigned(t *testing.T, method, url string, creds [3]string, hdr ...string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cr := awsCreds(creds)
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err := v4.NewSigner().SignHTTP(context.Background(), cr, req, req.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return doReq(t, req)
}

// findEvent returns the audit event of request id rid, waiting briefly
// for it to be written.
func findEvent(t *testing.T, path, rid string) *audit.Event {
	t.Helper()
	for range 50 {
		raw, _ := os.ReadFile(path)
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			if !bytes.Contains(line, []byte(`"requestID":"`+rid+`"`)) {
				continue
			}
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no audit event for request %s", rid)
	return nil
}

func awsCreds(c [3]string) aws.Credentials {
	return aws.Credentials{AccessKeyID: c[0], SecretAccessKey: c[1], SessionToken: c[2]}
}
