package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// TestIntegrationTagPolicies runs the realistic MinIO tag policies of
// testdata/minio-policies in iamgate in front of a real MinIO, with objects
// tagged in the store, and compares every decision with MinIO's own for
// the same request made directly to MinIO by a MinIO user holding the same
// policies. The requests are those where MinIO and AWS agree:
// s3:ExistingObjectTag on GetObject, HeadObject, Get/DeleteObjectTagging
// (MinIO reads the object's tags), s3:RequestObjectTag and
// s3:RequestObjectTagKeys on PutObject. (MinIO also reads the request's
// tags as s3:ExistingObjectTag on PutObject and PutObjectTagging, where
// AWS has no such key or the object's current tags; those are left out.)
// Every policy file loads into MinIO too: they are policies MinIO accepts.
func TestIntegrationTagPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := testenv.StartMinIO(t)
	iss := devissuer.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// MinIO: the same policies for a MinIO user "alice".
	adm, err := madmin.NewWithOptions(strings.TrimPrefix(m.Endpoint, "http://"),
		&madmin.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/minio-policies/*.json")
	if err != nil || len(files) < 5 {
		t.Fatalf("policy files %v %v", files, err)
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := adm.AddCannedPolicy(ctx, strings.TrimSuffix(filepath.Base(f), ".json"), doc); err != nil {
			t.Fatalf("MinIO refuses %s: %v", f, err)
		}
	}
	const aliceSecret = "alice-minio-secret-0123456789"
	if err := adm.AddUser(ctx, "alice", aliceSecret); err != nil {
		t.Fatal(err)
	}
	analyst := []string{"classified-read", "tagged-uploads", "owner-tag"}
	if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: analyst, User: "alice"}); err != nil {
		t.Fatal(err)
	}

	// iamgate: role analyst with the same policies, for alice's token.
	dir := t.TempDir()
	abs, _ := filepath.Abs("testdata/minio-policies")
	t.Setenv("IT_MINIO_USER", m.AccessKey)
	t.Setenv("IT_MINIO_PASSWORD", m.SecretKey)
	t.Setenv("IT_SERVICE_SECRET", "analyst-secret-0123456789")
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`
listen: 127.0.0.1:0
upstream: {endpoint: %q, access_key_id: env:IT_MINIO_USER, secret_access_key: env:IT_MINIO_PASSWORD}
issuers: [{name: dev, url: %q, audiences: [iamgate]}]
roles: [{name: analyst, kind: human, trust: {issuer: dev, claims: {groups: analysts}}, policies: [%s]}]
policies:
  classified-read: {file: %s/classified-read.json}
  tagged-uploads: {file: %s/tagged-uploads.json}
  owner-tag: {file: %s/owner-tag.json}
service_credentials:
  - {name: analyst-job, access_key_id: IAMGATEANALYST01, secret_access_key: env:IT_SERVICE_SECRET, role: analyst, expires: %s}
audit: {file: %q}
`, m.Endpoint, iss.URL(), strings.Join(analyst, ", "), abs, abs, abs, itExpiry(24*time.Hour), filepath.Join(dir, "audit.log")))
	_, gate := startApp(t, cfg)
	tok, err := iss.Mint(map[string]any{"sub": "u-alice", "preferred_username": "alice", "groups": []any{"analysts"}, "aud": "iamgate"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// The store's objects, tagged by the administrator.
	root := m.Client(t)
	m.MakeBucket(t, "projects")
	// Each object has a twin, key.direct, for the requests made directly
	// to MinIO: a request one side runs cannot change what the other
	// decides on.
	put := func(key, tagging string) {
		t.Helper()
		for _, k := range []string{key, key + ".direct"} {
			m.PutObject(t, "projects", k, []byte("content of "+key))
			if tagging == "" {
				continue
			}
			tg, err := tags.ParseObjectTags(tagging)
			if err != nil {
				t.Fatal(err)
			}
			if err := root.PutObjectTagging(ctx, "projects", k, tg, minio.PutObjectTaggingOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("internal.txt", "classification=internal&owner=bob")
	put("public.txt", "classification=public")
	put("restricted.txt", "classification=restricted&owner=alice")
	put("restricted-bob.txt", "classification=restricted&owner=bob")
	put("mine.txt", "owner=alice")
	put("untagged.txt", "")

	direct := func(method, target string, body []byte, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, m.Endpoint+target, bytes.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "alice", SecretAccessKey: aliceSecret},
			req, hash, "s3", m.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	viaGate := func(method, target string, body []byte, hdr ...string) resp {
		t.Helper()
		return do(t, method, gate+target, tok, bytes.NewReader(body), hdr...)
	}
	tagging := func(kv ...string) []byte {
		var b strings.Builder
		for i := 0; i+1 < len(kv); i += 2 {
			b.WriteString("<Tag><Key>" + kv[i] + "</Key><Value>" + kv[i+1] + "</Value></Tag>")
		}
		return []byte(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>` + b.String() + `</TagSet></Tagging>`)
	}
	allowed := func(status int) bool { return status >= 200 && status < 300 }

	cases := []struct {
		name    string
		method  string
		target  string
		body    []byte
		hdr     []string
		allowed bool
	}{
		{"read an internal object", "GET", "/projects/internal.txt", nil, nil, true},
		{"read a public object", "HEAD", "/projects/public.txt", nil, nil, true},
		{"read a restricted object, even one's own", "GET", "/projects/restricted.txt", nil, nil, false},
		{"head a restricted object", "HEAD", "/projects/restricted-bob.txt", nil, nil, false},
		{"read an untagged object", "GET", "/projects/untagged.txt", nil, nil, false},
		{"read one's own object", "GET", "/projects/mine.txt", nil, nil, true},
		{"read an object that does not exist", "GET", "/projects/nothing.txt", nil, nil, false},
		{"read the tags of an internal object", "GET", "/projects/internal.txt?tagging", nil, nil, true},
		{"read the tags of one's own restricted object", "GET", "/projects/restricted.txt?tagging", nil, nil, true},
		{"read the tags of someone's restricted object", "GET", "/projects/restricted-bob.txt?tagging", nil, nil, false},
		{"untag a restricted object", "DELETE", "/projects/restricted.txt?tagging", nil, nil, false},
		{"upload with the required tags", "PUT", "/projects/up-1.csv", []byte("a,b"),
			[]string{"X-Amz-Tagging", "classification=internal&owner=alice&project=apollo"}, true},
		{"upload tagged secret", "PUT", "/projects/up-2.csv", []byte("a,b"), []string{"X-Amz-Tagging", "classification=secret&owner=alice"}, false},
		{"upload for someone else", "PUT", "/projects/up-3.csv", []byte("a,b"), []string{"X-Amz-Tagging", "classification=public&owner=bob"}, false},
		{"upload with an unknown tag key", "PUT", "/projects/up-4.csv", []byte("a,b"),
			[]string{"X-Amz-Tagging", "classification=public&owner=alice&cost=7"}, false},
		{"upload without tags", "PUT", "/projects/up-5.csv", []byte("a,b"), nil, false},
		{"untag one's own object", "DELETE", "/projects/mine.txt?tagging", nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := viaGate(tc.method, tc.target, tc.body, tc.hdr...)
			if allowed(g.status) != tc.allowed {
				t.Errorf("iamgate: %d %s, want allowed=%v", g.status, g.body, tc.allowed)
			}
			// The same request, made to MinIO by its own user "alice", on
			// the object's twin.
			path, query, _ := strings.Cut(tc.target, "?")
			target := path + ".direct"
			if query != "" {
				target += "?" + query
			}
			if d := direct(tc.method, target, tc.body, tc.hdr...); allowed(d) != tc.allowed && !(d == 404 && !tc.allowed) {
				t.Errorf("MinIO's own decision: %d, want allowed=%v", d, tc.allowed)
			}
		})
	}

	// What iamgate allowed reached the store with exactly the authorized
	// tags, and the stored tags then decide: a retag by the administrator
	// is seen by the next request (tags are never cached).
	stored, err := root.GetObjectTagging(ctx, "projects", "up-1.csv", minio.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.ToMap(); len(got) != 3 || got["classification"] != "internal" || got["owner"] != "alice" || got["project"] != "apollo" {
		t.Fatalf("stored tags %v", got)
	}
	expect(t, viaGate("GET", "/projects/up-1.csv", nil), 200, "a,b")
	restricted, _ := tags.ParseObjectTags("classification=restricted&owner=alice")
	if err := root.PutObjectTagging(ctx, "projects", "up-1.csv", restricted, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, viaGate("GET", "/projects/up-1.csv", nil), 403, "<Code>AccessDenied</Code>")

	// PutObjectTagging through iamgate: the document is authorized and
	// stored as parsed; a refused one changes nothing.
	expect(t, viaGate("PUT", "/projects/public.txt?tagging", tagging("owner", "alice", "classification", "internal")), 200)
	stored, err = root.GetObjectTagging(ctx, "projects", "public.txt", minio.GetObjectTaggingOptions{})
	if got := stored.ToMap(); err != nil || len(got) != 2 || got["classification"] != "internal" || got["owner"] != "alice" {
		t.Fatalf("stored tags %v %v", stored, err)
	}
	expect(t, viaGate("PUT", "/projects/restricted-bob.txt?tagging", tagging("owner", "alice", "classification", "public")), 403,
		"<Code>AccessDenied</Code>", "KeepClassification")
	expect(t, viaGate("PUT", "/projects/public.txt?tagging", tagging("owner", "alice", "owner", "bob")), 400, "<Code>InvalidTag</Code>")
	if got, _ := root.GetObjectTagging(ctx, "projects", "restricted-bob.txt", minio.GetObjectTaggingOptions{}); got.ToMap()["classification"] != "restricted" {
		t.Fatalf("a refused PutObjectTagging changed the tags: %v", got)
	}
	if got, _ := root.GetObjectTagging(ctx, "projects", "public.txt", minio.GetObjectTaggingOptions{}); got.ToMap()["owner"] != "alice" {
		t.Fatalf("a refused PutObjectTagging changed the tags: %v", got)
	}

	// Real clients tag objects through iamgate with a service credential
	// (its ${aws:username} is "analyst-job"): their PutObjectTagging
	// documents, checksums and x-amz-tagging headers are read, authorized
	// and forwarded as parsed.
	t.Run("aws-sdk-go-v2", func(t *testing.T) {
		c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(gate), UsePathStyle: true,
			RetryMaxAttempts: 1, Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "IAMGATEANALYST01", SecretAccessKey: "analyst-secret-0123456789"}, nil
			})})
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("projects"), Key: aws.String("sdk.csv"),
			Body: strings.NewReader("sdk"), Tagging: aws.String("classification=internal&owner=analyst-job")}); err != nil {
			t.Fatalf("PutObject with tags: %v", err)
		}
		if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("projects"), Key: aws.String("sdk.csv"),
			Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("classification"), Value: aws.String("public")},
				{Key: aws.String("owner"), Value: aws.String("analyst-job")}}}}); err != nil {
			t.Fatalf("PutObjectTagging: %v", err)
		}
		got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("projects"), Key: aws.String("sdk.csv")})
		if err != nil || len(got.TagSet) != 2 {
			t.Fatalf("GetObjectTagging: %v %v", got, err)
		}
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("projects"), Key: aws.String("sdk.csv")}); err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("projects"), Key: aws.String("restricted-bob.txt"),
			Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("classification"), Value: aws.String("public")}}}})
		if errCode(err) != "AccessDenied" {
			t.Fatalf("PutObjectTagging of a restricted object: %v", err)
		}
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("projects"), Key: aws.String("restricted-bob.txt")}); errCode(err) != "AccessDenied" {
			t.Fatalf("GetObject of a restricted object: %v", err)
		}
	})
	t.Run("boto3", func(t *testing.T) {
		script := `
import boto3, botocore.config, os, sys
for mode in ("when_supported", "when_required"):
    c = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
        aws_access_key_id="IAMGATEANALYST01", aws_secret_access_key="analyst-secret-0123456789",
        config=botocore.config.Config(request_checksum_calculation=mode, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    key = "boto3-" + mode + ".csv"
    c.put_object(Bucket="projects", Key=key, Body=b"x", Tagging="classification=internal&owner=analyst-job")
    c.put_object_tagging(Bucket="projects", Key=key, Tagging={"TagSet": [
        {"Key": "classification", "Value": "public"}, {"Key": "owner", "Value": "analyst-job"}, {"Key": "project", "Value": "a b+c"}]})
    tags = {t["Key"]: t["Value"] for t in c.get_object_tagging(Bucket="projects", Key=key)["TagSet"]}
    assert tags == {"classification": "public", "owner": "analyst-job", "project": "a b+c"}, tags
    try:
        c.put_object(Bucket="projects", Key=key + ".secret", Body=b"x", Tagging="classification=secret&owner=analyst-job")
        sys.exit("a secret upload succeeded")
    except c.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
print("boto3 ok")
`
		cmd := exec.Command("python3", "-c", script)
		cmd.Env = append(os.Environ(), "EP="+gate)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "boto3 ok") {
			t.Fatalf("boto3: %v\n%s", err, out)
		}
	})
	for _, cli := range awsCLIs(t) {
		t.Run("aws cli "+cli.version, func(t *testing.T) {
			run := func(args ...string) (string, error) {
				cmd := exec.Command(cli.path, append(args, "--endpoint-url", gate, "--region", "us-east-1")...)
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=IAMGATEANALYST01", "AWS_SECRET_ACCESS_KEY=analyst-secret-0123456789",
					"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			key := "cli-" + strings.Fields(cli.version)[0] + ".csv"
			if out, err := run("s3api", "put-object", "--bucket", "projects", "--key", key, "--tagging", "classification=internal&owner=analyst-job"); err != nil {
				t.Fatalf("put-object: %v\n%s", err, out)
			}
			if out, err := run("s3api", "put-object-tagging", "--bucket", "projects", "--key", key,
				"--tagging", "TagSet=[{Key=classification,Value=public},{Key=owner,Value=analyst-job}]"); err != nil {
				t.Fatalf("put-object-tagging: %v\n%s", err, out)
			}
			out, err := run("s3api", "get-object-tagging", "--bucket", "projects", "--key", key)
			if err != nil || !strings.Contains(out, `"public"`) {
				t.Fatalf("get-object-tagging: %v\n%s", err, out)
			}
			if out, err := run("s3api", "put-object-tagging", "--bucket", "projects", "--key", "restricted-bob.txt",
				"--tagging", "TagSet=[{Key=classification,Value=public}]"); err == nil || !strings.Contains(out, "AccessDenied") {
				t.Fatalf("put-object-tagging of a restricted object: %v\n%s", err, out)
			}
		})
	}
}
