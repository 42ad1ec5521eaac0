package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// sigEnv is MinIO + Hydra + iamgate over HTTP and over HTTPS.
type sigEnv struct {
	*itEnv
	httpsURL string
	pool     *x509.CertPool
	caFile   string // PEM of the certificate the HTTPS endpoint serves

	mu     sync.Mutex
	issued []aws.Credentials // every session handed out, to scan logs for
}

// endpoints returns the HTTP and the HTTPS endpoint, with a name each.
func (s *sigEnv) endpoints() [][2]string {
	return [][2]string{{"http", s.url}, {"https", s.httpsURL}}
}

func setupSigV4(t *testing.T) *sigEnv {
	e := setupIntegration(t)
	s := &sigEnv{itEnv: e}
	dir := t.TempDir()
	s.pool = writeCert(t, dir, "localhost", "127.0.0.1")
	s.caFile = filepath.Join(dir, "cert.pem")
	raw, _ := os.ReadFile(e.cfg)
	cfg := filepath.Join(dir, "iamgate.yaml")
	writeFile(t, cfg, fmt.Sprintf("tls: {cert_file: %s, key_file: %s}\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))+
		strings.Replace(string(raw), e.audit, filepath.Join(dir, "audit.log"), 1))
	_, s.httpsURL = startApp(t, cfg)
	s.httpsURL = strings.Replace(s.httpsURL, "127.0.0.1", "localhost", 1)
	return s
}

func (s *sigEnv) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}}}
}

// assume trades a Hydra token for iamgate session credentials with the
// AWS SDK's own STS client.
func (s *sigEnv) assume(t *testing.T, endpoint, token string, duration int32, policy string) aws.Credentials {
	t.Helper()
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: s.httpClient()})
	in := &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/member"),
		RoleSessionName: aws.String("matrix"), WebIdentityToken: aws.String(token)}
	if duration > 0 {
		in.DurationSeconds = aws.Int32(duration)
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := c.AssumeRoleWithWebIdentity(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	cr := out.Credentials
	creds := aws.Credentials{AccessKeyID: *cr.AccessKeyId, SecretAccessKey: *cr.SecretAccessKey, SessionToken: *cr.SessionToken,
		CanExpire: true, Expires: *cr.Expiration}
	s.mu.Lock()
	s.issued = append(s.issued, creds)
	s.mu.Unlock()
	return creds
}

func (s *sigEnv) s3(endpoint string, creds aws.Credentials) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient:  s.httpClient(), RetryMaxAttempts: 1})
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestIntegrationSigV4Clients(t *testing.T) {
	s := setupSigV4(t)
	ctx := context.Background()
	for _, endpoint := range []string{s.url, s.httpsURL} {
		scheme := endpoint[:strings.Index(endpoint, ":")]
		t.Run("aws-sdk-go-v2 over "+scheme, func(t *testing.T) {
			c := s.s3(endpoint, s.assume(t, endpoint, s.alice, 900, ""))
			key := "home/alice/sdk-" + scheme + ".txt"
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key),
				Body: strings.NewReader("from the go sdk")}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			// An unseekable body: over HTTPS the SDK sends a trailing checksum.
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".stream"),
				Body: io.MultiReader(strings.NewReader("unseekable ")), ContentLength: aws.Int64(11)}); err != nil && scheme == "https" {
				t.Fatalf("PutObject unseekable: %v", err)
			}
			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			b, _ := io.ReadAll(got.Body)
			if string(b) != "from the go sdk" {
				t.Fatalf("GetObject body %q", b)
			}
			list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data"), Prefix: aws.String("home/alice/")})
			if err != nil || len(list.Contents) == 0 {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("home/bob/x"), Body: strings.NewReader("no")})
			if errCode(err) != "AccessDenied" {
				t.Fatalf("PutObject outside home: %v", err)
			}
			_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data"), Prefix: aws.String("home/bob/")})
			if errCode(err) != "AccessDenied" {
				t.Fatalf("ListObjectsV2 outside home: %v", err)
			}
			// Copy from a readable source, then from a denied one.
			if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".copy"),
				CopySource: aws.String("data/" + key)}); err != nil {
				t.Fatalf("CopyObject: %v", err)
			}
			_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".stolen"),
				CopySource: aws.String("data/home/bob/private.txt")})
			if errCode(err) != "AccessDenied" {
				t.Fatalf("CopyObject from a denied source: %v", err)
			}
			// 24 MiB through the transfer manager: multipart with checksums.
			big := bytes.Repeat([]byte("0123456789abcdef"), 24<<16)
			//lint:ignore SA1019 the s3/manager uploader is what most aws-sdk-go-v2 programs in use today call
			up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 8 << 20 })
			//lint:ignore SA1019 as above
			_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".big"), Body: bytes.NewReader(big)})
			if err != nil {
				t.Fatalf("multipart upload: %v", err)
			}
			if !bytes.Equal(s.minio.GetObject(t, "data", key+".big"), big) {
				t.Fatal("multipart object differs in MinIO")
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".copy")}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			// Presigned GET and PUT used with plain HTTP.
			ps := s3.NewPresignClient(c)
			get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.httpClient().Get(get.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "from the go sdk" {
				t.Fatalf("presigned GET: %d %s", res.StatusCode, b)
			}
			put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".presigned")})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("PUT", put.URL, strings.NewReader("presigned body"))
			res, err = s.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || string(s.minio.GetObject(t, "data", key+".presigned")) != "presigned body" {
				t.Fatalf("presigned PUT: %d", res.StatusCode)
			}
			// The same presigned URLs work from curl.
			if _, err := exec.LookPath("curl"); err != nil {
				t.Fatal("curl is required")
			}
			curl := func(args ...string) string {
				out, err := exec.Command("curl", append([]string{"-sS", "--fail-with-body", "--cacert", s.caFile}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl %v: %v %s", args, err, out)
				}
				return string(out)
			}
			if got := curl(get.URL); got != "from the go sdk" {
				t.Fatalf("curl presigned GET: %q", got)
			}
			putCurl, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key + ".curl")})
			if err != nil {
				t.Fatal(err)
			}
			curl("-X", "PUT", "--data-binary", "uploaded by curl", putCurl.URL)
			if got := string(s.minio.GetObject(t, "data", key+".curl")); got != "uploaded by curl" {
				t.Fatalf("curl presigned PUT stored %q", got)
			}
			// Every flexible checksum: a header over HTTP, a trailer over HTTPS.
			for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
				types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
				k := key + ".checksum-" + string(alg)
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(k),
					Body: io.MultiReader(strings.NewReader("checksummed body")), ContentLength: aws.Int64(16),
					ChecksumAlgorithm: alg}); err != nil && scheme == "https" {
					t.Fatalf("PutObject with %s: %v", alg, err)
				} else if err == nil && string(s.minio.GetObject(t, "data", k)) != "checksummed body" {
					t.Fatalf("PutObject with %s stored the wrong bytes", alg)
				}
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(k + ".seekable"),
					Body: strings.NewReader("checksummed body"), ChecksumAlgorithm: alg}); err != nil {
					t.Fatalf("PutObject (seekable) with %s: %v", alg, err)
				}
			}
			// A presigned URL whose signature was altered is refused.
			i := strings.Index(get.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
			flipped := map[byte]byte{'0': '1'}[get.URL[i]]
			if flipped == 0 {
				flipped = '0'
			}
			res, _ = s.httpClient().Get(get.URL[:i] + string(flipped) + get.URL[i+1:])
			if res.StatusCode != 403 {
				t.Fatalf("altered presigned URL: %d", res.StatusCode)
			}
			res.Body.Close()
		})
	}

	for _, ep := range s.endpoints() {
		scheme, endpoint := ep[0], ep[1]
		t.Run("minio-go streaming upload over "+scheme, func(t *testing.T) {
			cr := s.assume(t, endpoint, s.alice, 900, "")
			mc, err := minio.New(strings.TrimPrefix(strings.TrimPrefix(endpoint, "http://"), "https://"), &minio.Options{
				Creds:     credentials.NewStaticV4(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken),
				Region:    "us-east-1",
				Secure:    scheme == "https",
				Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}},
			})
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("minio-go "), 300000)
			key := "home/alice/minio-go-" + scheme + ".bin"
			// Unknown size: minio-go streams (signed chunks over HTTP, a trailing checksum over HTTPS).
			if _, err := mc.PutObject(ctx, "data", key, bytes.NewReader(data), -1,
				minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if !bytes.Equal(s.minio.GetObject(t, "data", key), data) {
				t.Fatal("object differs in MinIO")
			}
			if _, err := mc.PutObject(ctx, "data", key+".small", bytes.NewReader([]byte("small")), 5,
				minio.PutObjectOptions{}); err != nil {
				t.Fatalf("PutObject small: %v", err)
			}
			if _, err := mc.StatObject(ctx, "data", "home/bob/private.txt", minio.StatObjectOptions{}); err == nil {
				t.Fatal("StatObject of a denied key succeeded")
			}
		})
	}

	for _, ep := range s.endpoints() {
		scheme, endpoint := ep[0], ep[1]
		t.Run("boto3 default checksums and when_required over "+scheme, func(t *testing.T) {
			if _, err := exec.LookPath("python3"); err != nil {
				t.Fatal("python3 is required")
			}
			cr := s.assume(t, endpoint, s.alice, 900, "")
			script := `
import boto3, botocore.config, os, sys
for mode in ("when_supported", "when_required"):
    c = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1", verify=os.environ["CA"] or None,
        aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"], aws_session_token=os.environ["ST"],
        config=botocore.config.Config(request_checksum_calculation=mode, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    key = "home/alice/boto3-" + os.environ["SCHEME"] + "-" + mode
    c.put_object(Bucket="data", Key=key, Body=b"boto3 " + mode.encode())
    assert c.get_object(Bucket="data", Key=key)["Body"].read() == b"boto3 " + mode.encode()
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="data", Prefix="home/alice/")["Contents"]]
    assert key in keys, keys
    c.upload_fileobj(__import__("io").BytesIO(b"m" * (12 << 20)), "data", key + ".multipart",
        Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    r = c.delete_objects(Bucket="data", Delete={"Objects": [{"Key": key + ".multipart"}]})
    assert not r.get("Errors"), r
    try:
        c.put_object(Bucket="data", Key="home/bob/boto3", Body=b"x")
        sys.exit("put outside home succeeded")
    except c.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
print("boto3 ok")
`
			cmd := exec.Command("python3", "-c", script)
			ca := ""
			if scheme == "https" {
				ca = s.caFile
			}
			cmd.Env = append(os.Environ(), "EP="+endpoint, "CA="+ca, "SCHEME="+scheme, "AK="+cr.AccessKeyID, "SK="+cr.SecretAccessKey, "ST="+cr.SessionToken)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "boto3 ok") {
				t.Fatalf("boto3: %v\n%s", err, out)
			}
		})
	}

	for _, cli := range awsCLIs(t) {
		how := "a web identity token file"
		if cli.old {
			how = "credential_process = iamgate credentials"
		}
		for _, ep := range s.endpoints() {
			t.Run("aws cli "+cli.version+" with "+how+" over "+ep[0], func(t *testing.T) {
				testAWSCLI(t, s, cli.path, cli.old, ep[1])
			})
		}
	}

	for _, ep := range s.endpoints() {
		scheme, endpoint := ep[0], ep[1]
		t.Run("rclone with session credentials over "+scheme, func(t *testing.T) {
			if _, err := exec.LookPath("rclone"); err != nil {
				t.Fatal("rclone is required (Debian package rclone)")
			}
			cr := s.assume(t, endpoint, s.alice, 900, "")
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			os.MkdirAll(src, 0o755)
			writeFile(t, filepath.Join(src, "small.txt"), "rclone small")
			writeFile(t, filepath.Join(src, "big.bin"), strings.Repeat("rclone multipart ", 800000)) // 13 MiB
			env := append(os.Environ(), "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_IG_TYPE=s3", "RCLONE_CONFIG_IG_PROVIDER=Other",
				"RCLONE_CONFIG_IG_ENDPOINT="+endpoint, "RCLONE_CONFIG_IG_REGION=us-east-1", "RCLONE_CONFIG_IG_ACCESS_KEY_ID="+cr.AccessKeyID,
				"RCLONE_CONFIG_IG_SECRET_ACCESS_KEY="+cr.SecretAccessKey, "RCLONE_CONFIG_IG_SESSION_TOKEN="+cr.SessionToken,
				"RCLONE_CONFIG_IG_FORCE_PATH_STYLE=true", "AWS_CA_BUNDLE=")
			rclone := func(args ...string) (string, error) {
				args = append(args, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1", "--low-level-retries", "1")
				if scheme == "https" {
					args = append(args, "--ca-cert", s.caFile)
				}
				cmd := exec.Command("rclone", args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := rclone("copy", src, "ig:data/home/alice/rclone-"+scheme); err != nil {
				t.Fatalf("rclone copy up: %v %s", err, out)
			}
			if out, err := rclone("lsf", "ig:data/home/alice/rclone-"+scheme); err != nil || !strings.Contains(out, "big.bin") || !strings.Contains(out, "small.txt") {
				t.Fatalf("rclone lsf: %v %s", err, out)
			}
			if out, err := rclone("cat", "ig:data/home/alice/rclone-"+scheme+"/small.txt"); err != nil || out != "rclone small" {
				t.Fatalf("rclone cat: %v %q", err, out)
			}
			want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
			if !bytes.Equal(s.minio.GetObject(t, "data", "home/alice/rclone-"+scheme+"/big.bin"), want) {
				t.Fatal("rclone multipart object differs in MinIO")
			}
			if out, err := rclone("copy", src, "ig:data/home/bob/rclone"); err == nil {
				t.Fatalf("rclone copy outside home succeeded: %s", out)
			}
			if out, err := rclone("delete", "ig:data/home/alice/rclone-"+scheme); err != nil {
				t.Fatalf("rclone delete: %v %s", err, out)
			}
			if s.minio.ObjectExists(t, "data", "home/alice/rclone-"+scheme+"/small.txt") {
				t.Fatal("rclone delete left the object")
			}
		})
	}

	t.Run("service credentials", func(t *testing.T) {
		valid := aws.Credentials{AccessKeyID: "IAMGATEBACKUP001", SecretAccessKey: "service-secret-0123456789"}
		c := s.s3(s.url, valid)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("backups/db.dump"),
			Body: strings.NewReader("dump")}); err != nil {
			t.Fatalf("PutObject with a service credential: %v", err)
		}
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("home/alice/x"), Body: strings.NewReader("x")})
		if errCode(err) != "AccessDenied" {
			t.Fatalf("outside the role: %v", err)
		}
		bad := s.s3(s.url, aws.Credentials{AccessKeyID: "IAMGATEBACKUP001", SecretAccessKey: "wrong-secret-0123456789"})
		if _, err := bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("backups/db.dump")}); errCode(err) != "SignatureDoesNotMatch" {
			t.Fatalf("wrong secret: %v", err)
		}
		retired := s.s3(s.url, aws.Credentials{AccessKeyID: "IAMGATERETIRED01", SecretAccessKey: "service-secret-0123456789"})
		_, err = retired.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("backups/db.dump")})
		if errCode(err) != "InvalidAccessKeyId" || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired service credential: %v", err)
		}
		unknown := s.s3(s.url, aws.Credentials{AccessKeyID: "IAMGATENOSUCHKEY", SecretAccessKey: "x"})
		if _, err := unknown.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("backups/db.dump")}); errCode(err) != "InvalidAccessKeyId" {
			t.Fatalf("unknown key: %v", err)
		}
		raw, _ := os.ReadFile(s.audit)
		marked := false
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatalf("audit line: %v", err)
			}
			marked = marked || ev.AuthMethod == "service-credential" && ev.Issuer == "service-credential" &&
				ev.Subject == "nightly-backup" && ev.RoleKind != ""
		}
		if !marked {
			t.Fatal("no audit event marks the service credential")
		}
	})

	t.Run("session policy narrows the role", func(t *testing.T) {
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/home/alice/*"}]}`
		c := s.s3(s.url, s.assume(t, s.url, s.alice, 900, policy))
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("home/alice/narrow"), Body: strings.NewReader("x")})
		if errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "session policy") {
			t.Fatalf("PutObject under a read-only session policy: %v", err)
		}
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("home/alice/sdk-http.txt")}); err != nil {
			t.Fatalf("GetObject allowed by both: %v", err)
		}
	})

	t.Run("request time skew", func(t *testing.T) {
		cr := s.assume(t, s.url, s.alice, 900, "")
		req, _ := http.NewRequest("GET", s.url+"/data/home/alice/sdk-http.txt", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, cr, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now().Add(-20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		r := doReq(t, req)
		expect(t, r, 403, "RequestTimeTooSkewed", "MaxAllowedSkewMilliseconds")
	})

	t.Run("expired session", func(t *testing.T) {
		short := s.hydra.TokenWithTTL(t, s.aliceClient, 3*time.Second, "iamgate")
		cr := s.assume(t, s.url, short, 0, "") // no DurationSeconds: the session ends with the token
		if cr.Expires.After(time.Now().Add(10 * time.Second)) {
			t.Fatalf("session outlives its token: expires %v", cr.Expires)
		}
		time.Sleep(time.Until(cr.Expires) + 1500*time.Millisecond)
		c := s.s3(s.url, cr)
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("home/alice/sdk-http.txt")})
		if errCode(err) != "ExpiredToken" {
			t.Fatalf("expired session: %v", err)
		}
	})

	t.Run("tampered signed streams leave no object", func(t *testing.T) {
		cr := s.assume(t, s.url, s.alice, 900, "")
		for _, size := range []int{200 << 10, 100 << 20} {
			chunks := (size + 65535) / 65536
			for _, at := range []int{0, chunks / 2, chunks - 1, chunks} { // the last index is the final empty chunk
				key := fmt.Sprintf("home/alice/tampered-%d-%d", size, at)
				status, body := putSignedStream(t, s.url, cr, "data", key, size, at)
				if status < 400 {
					t.Fatalf("size %d tampered at chunk %d: status %d %s", size, at, status, body)
				}
				if s.minio.ObjectExists(t, "data", key) {
					t.Fatalf("size %d tampered at chunk %d: the object exists in MinIO", size, at)
				}
			}
			key := fmt.Sprintf("home/alice/intact-%d", size)
			if status, body := putSignedStream(t, s.url, cr, "data", key, size, -1); status != 200 {
				t.Fatalf("intact stream of %d: %d %s", size, status, body)
			}
			if !s.minio.ObjectExists(t, "data", key) {
				t.Fatal("intact stream left no object")
			}
		}
	})

	t.Run("tampered trailers and checksums leave no object", func(t *testing.T) {
		cr := s.assume(t, s.url, s.alice, 900, "")
		for _, size := range []int{200 << 10, 100 << 20} {
			for _, mode := range []string{"signed", "unsigned"} {
				tampers := []string{"checksum"}
				if mode == "signed" {
					tampers = append(tampers, "trailer-signature", "chunk")
				}
				for _, tamper := range tampers {
					key := fmt.Sprintf("home/alice/trailer-%s-%s-%d", mode, tamper, size)
					status, body := putTrailerStream(t, s.url, cr, "data", key, size, mode == "signed", tamper)
					if status < 400 {
						t.Fatalf("%s trailer, %s tampered, %d bytes: status %d %s", mode, tamper, size, status, body)
					}
					if s.minio.ObjectExists(t, "data", key) {
						t.Fatalf("%s trailer, %s tampered, %d bytes: the object exists in MinIO", mode, tamper, size)
					}
				}
				key := fmt.Sprintf("home/alice/trailer-%s-intact-%d", mode, size)
				if status, body := putTrailerStream(t, s.url, cr, "data", key, size, mode == "signed", ""); status != 200 {
					t.Fatalf("intact %s trailer stream of %d: %d %s", mode, size, status, body)
				}
				if got := s.minio.GetObject(t, "data", key); len(got) != size {
					t.Fatalf("intact %s trailer stream: MinIO has %d bytes", mode, len(got))
				}
			}
		}
	})

	t.Run("no token, secret or session token in logs or audit", func(t *testing.T) {
		secrets := []string{s.alice, s.bob, s.outsider, s.minio.SecretKey, "service-secret-0123456789",
			"integration-session-key-0123456789abcdef"}
		s.mu.Lock()
		for _, c := range s.issued {
			secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
		}
		s.mu.Unlock()
		if len(secrets) < 20 {
			t.Fatalf("only %d secrets collected", len(secrets))
		}
		assertNoSecrets(t, secrets, s.audit)
	})

	t.Run("revocation voids sessions at once", func(t *testing.T) {
		s.minio.PutObject(t, "data", "home/bob/private.txt", []byte("bob"))
		cr := s.assume(t, s.url, s.bob, 900, "")
		c := s.s3(s.url, cr)
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("home/bob/private.txt")}); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
		good, _ := os.ReadFile(s.cfg)
		t.Cleanup(func() { os.WriteFile(s.cfg, good, 0o600); s.app.reload(ctx, "test") })
		rev := fmt.Sprintf("revocations:\n  - {role: member, issued_before: %q}\n", time.Now().Add(time.Second).UTC().Format(time.RFC3339))
		writeFile(t, s.cfg, string(good)+rev)
		if err := s.app.reload(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("home/bob/private.txt")})
		if errCode(err) != "ExpiredToken" || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("after revocation: %v", err)
		}
		raw, _ := os.ReadFile(s.audit)
		var recorded, refused bool
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			ev, err := audit.Decode(line)
			if err != nil {
				t.Fatalf("audit line: %v", err)
			}
			recorded = recorded || ev.Kind == audit.KindRevocation && ev.Reason == "added" && ev.Parameters["role"] == "member"
			refused = refused || ev.Kind == audit.KindAuthFailure && ev.Reason == "revoked" && ev.SessionID != ""
		}
		if !recorded || !refused {
			t.Errorf("audit: revocation recorded %v, revoked session refused %v", recorded, refused)
		}
		kinds, err := auditschema.File(s.audit)
		if err != nil {
			t.Fatalf("audit file does not match the schema: %v", err)
		}
		t.Logf("audit event kinds: %v", kinds)
	})
}

type awsCLI struct {
	path, version string
	old           bool // before 2.13 (v2) / 1.29 (v1): no AWS_ENDPOINT_URL_* support
}

// awsCLIs finds the AWS CLI v1 (pip) and v2 (Debian) on this machine; both
// are required, so a machine missing one fails instead of skipping.
func awsCLIs(t *testing.T) []awsCLI {
	t.Helper()
	var found []awsCLI
	seen := map[string]bool{}
	candidates := []string{"/usr/bin/aws"}
	if p, err := exec.LookPath("aws"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	for _, p := range candidates {
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err != nil {
			continue
		}
		v := strings.Fields(string(out))[0] // aws-cli/2.9.19
		major := "v" + strings.SplitN(strings.TrimPrefix(v, "aws-cli/"), ".", 2)[0]
		if !seen[major] {
			seen[major] = true
			var maj, min int
			fmt.Sscanf(strings.TrimPrefix(v, "aws-cli/"), "%d.%d", &maj, &min)
			old := maj == 2 && min < 13 || maj == 1 && min < 29
			found = append(found, awsCLI{path: p, version: major + " (" + v + ")", old: old})
		}
	}
	if !seen["v1"] || !seen["v2"] {
		t.Fatalf("need AWS CLI v1 (pip awscli) and v2 (Debian awscli); found %v", found)
	}
	return found
}

func testAWSCLI(t *testing.T, s *sigEnv, bin string, viaProcess bool, endpoint string) {
	ca := ""
	if strings.HasPrefix(endpoint, "https:") {
		ca = s.caFile
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, s.alice)
	src := filepath.Join(dir, "upload.bin")
	writeFile(t, src, strings.Repeat("aws cli multipart ", 1<<20)) // 18 MiB: multipart
	env := append(os.Environ(), "AWS_WEB_IDENTITY_TOKEN_FILE="+tokenFile, "AWS_ROLE_ARN=arn:aws:iam::iamgate:role/member",
		"AWS_ENDPOINT_URL_STS="+endpoint, "AWS_ENDPOINT_URL_S3="+endpoint, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
		"AWS_CA_BUNDLE="+ca, "HOME="+dir) // the cli caches session credentials under ~/.aws/cli/cache
	var extra []string
	if viaProcess {
		// CLI versions before 2.13 ignore AWS_ENDPOINT_URL_*: they get their
		// credentials from iamgate credentials and the endpoint as a flag.
		bin := filepath.Join(dir, "iamgate")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("build: %v %s", err, out)
		}
		cfg := filepath.Join(dir, "config")
		caFlag := ""
		if ca != "" {
			caFlag = " --ca-file " + ca
		}
		writeFile(t, cfg, fmt.Sprintf("[default]\nregion = us-east-1\ncredential_process = %s credentials --endpoint %s --role member --token-file %s --cache-dir %s%s\n",
			bin, endpoint, tokenFile, filepath.Join(dir, "cache"), caFlag))
		env = append(env, "AWS_CONFIG_FILE="+cfg, "AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_ROLE_ARN=")
		extra = []string{"--endpoint-url", endpoint}
	}
	aws := func(args ...string) (string, error) {
		if args[1] == "cp" {
			args = append(args, "--only-show-errors")
		}
		cmd := exec.Command(bin, append(args, extra...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	key := "home/alice/cli-" + filepath.Base(filepath.Dir(bin)) + "-" + endpoint[:strings.Index(endpoint, ":")] + ".bin"
	if out, err := aws("s3", "cp", src, "s3://data/"+key); err != nil {
		t.Fatalf("aws s3 cp up: %v %s", err, out)
	}
	if out, err := aws("s3", "ls", "s3://data/home/alice/"); err != nil || !strings.Contains(out, filepath.Base(key)) {
		t.Fatalf("aws s3 ls: %v %s", err, out)
	}
	dst := filepath.Join(dir, "download.bin")
	if out, err := aws("s3", "cp", "s3://data/"+key, dst); err != nil {
		t.Fatalf("aws s3 cp down: %v %s", err, out)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Fatal("downloaded file differs")
	}
	if out, err := aws("s3", "rm", "s3://data/"+key); err != nil {
		t.Fatalf("aws s3 rm: %v %s", err, out)
	}
	if out, err := aws("s3", "cp", src, "s3://data/home/bob/cli.bin"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("upload outside home: %v %s", err, out)
	}
}

func doReq(t *testing.T, req *http.Request) resp {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

// putSignedStream uploads size bytes with STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// in 64 KiB chunks, signing each chunk as a client does; with tamperAt >= 0
// that chunk's signature (or, at the final empty chunk, the final
// signature) is corrupted.
func putSignedStream(t *testing.T, base string, cr aws.Credentials, bucket, key string, size, tamperAt int) (int, string) {
	t.Helper()
	now := time.Now().UTC()
	date, stamp := now.Format("20060102"), now.Format("20060102T150405Z")
	scope := date + "/us-east-1/s3/aws4_request"
	const chunk = 65536
	chunks := (size + chunk - 1) / chunk
	encoded := 0
	for i := 0; i <= chunks; i++ {
		n := chunk
		if i == chunks {
			n = 0
		} else if i == chunks-1 {
			n = size - i*chunk
		}
		encoded += len(fmt.Sprintf("%x;chunk-signature=", n)) + 64 + 2 + n + 2
	}
	req, _ := http.NewRequest("PUT", base+"/"+bucket+"/"+key, nil)
	req.ContentLength = int64(encoded)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), cr, req, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	prev := auth[strings.Index(auth, "Signature=")+10:]
	key4 := signingKey(cr.SecretAccessKey, date)
	pr, pw := io.Pipe()
	go func() {
		data := make([]byte, chunk)
		for i := 0; i <= chunks; i++ {
			n := chunk
			if i == chunks {
				n = 0
			} else if i == chunks-1 {
				n = size - i*chunk
			}
			for j := 0; j < n; j++ {
				data[j] = byte(i + j)
			}
			h := sha256.Sum256(data[:n])
			sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + stamp + "\n" + scope + "\n" + prev + "\n" +
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" + hex.EncodeToString(h[:])
			sig := hex.EncodeToString(hmacSHA256(key4, sts))
			prev = sig
			if i == tamperAt {
				sig = strings.Repeat("0", 64)
			}
			if _, err := fmt.Fprintf(pw, "%x;chunk-signature=%s\r\n", n, sig); err != nil {
				return
			}
			if _, err := pw.Write(data[:n]); err != nil {
				return
			}
			if _, err := io.WriteString(pw, "\r\n"); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return sendStream(req, pr)
}

// putTrailerStream uploads size bytes as aws-chunked with a trailing
// CRC32: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (signed chunks and a
// signed trailer) or STREAMING-UNSIGNED-PAYLOAD-TRAILER. tamper is "",
// "checksum" (a wrong CRC32), "trailer-signature" or "chunk" (a middle
// chunk's bytes changed after signing).
func putTrailerStream(t *testing.T, base string, cr aws.Credentials, bucket, key string, size int, signed bool, tamper string) (int, string) {
	t.Helper()
	now := time.Now().UTC()
	date, stamp := now.Format("20060102"), now.Format("20060102T150405Z")
	scope := date + "/us-east-1/s3/aws4_request"
	const chunk = 65536
	chunks := (size + chunk - 1) / chunk
	data := func(i, n int, buf []byte) []byte {
		for j := 0; j < n; j++ {
			buf[j] = byte(i*7 + j)
		}
		return buf[:n]
	}
	crc := crc32.NewIEEE()
	buf := make([]byte, chunk)
	for i := 0; i < chunks; i++ {
		crc.Write(data(i, min(chunk, size-i*chunk), buf))
	}
	sum := crc.Sum(nil)
	if tamper == "checksum" {
		sum[0] ^= 1
	}
	trailer := "x-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString(sum)
	sigLen := 0
	payload := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	if signed {
		sigLen = len(";chunk-signature=") + 64
		payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	}
	encoded := 0
	for i := 0; i <= chunks; i++ {
		n := 0
		if i < chunks {
			n = min(chunk, size-i*chunk)
		}
		encoded += len(fmt.Sprintf("%x", n)) + sigLen + 2 + n
		if n > 0 {
			encoded += 2
		}
	}
	encoded += len(trailer) + 2
	if signed {
		encoded += len("x-amz-trailer-signature:") + 64 + 2
	}
	encoded += 2
	req, _ := http.NewRequest("PUT", base+"/"+bucket+"/"+key, nil)
	req.ContentLength = int64(encoded)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), cr, req, payload, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	prev := auth[strings.Index(auth, "Signature=")+10:]
	key4 := signingKey(cr.SecretAccessKey, date)
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, chunk)
		for i := 0; i <= chunks; i++ {
			n := 0
			if i < chunks {
				n = min(chunk, size-i*chunk)
			}
			b := data(i, n, buf)
			if signed {
				h := sha256.Sum256(b)
				sig := hex.EncodeToString(hmacSHA256(key4, "AWS4-HMAC-SHA256-PAYLOAD\n"+stamp+"\n"+scope+"\n"+prev+"\n"+
					"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"+hex.EncodeToString(h[:])))
				prev = sig
				fmt.Fprintf(pw, "%x;chunk-signature=%s\r\n", n, sig)
			} else {
				fmt.Fprintf(pw, "%x\r\n", n)
			}
			if tamper == "chunk" && i == chunks/2 && n > 0 {
				b[0] ^= 1
			}
			if n > 0 {
				if _, err := pw.Write(b); err != nil {
					return
				}
				io.WriteString(pw, "\r\n")
			}
		}
		io.WriteString(pw, trailer+"\r\n")
		if signed {
			h := sha256.Sum256([]byte(trailer + "\n"))
			sig := hex.EncodeToString(hmacSHA256(key4, "AWS4-HMAC-SHA256-TRAILER\n"+stamp+"\n"+scope+"\n"+prev+"\n"+hex.EncodeToString(h[:])))
			if tamper == "trailer-signature" {
				sig = strings.Repeat("1", 64)
			}
			io.WriteString(pw, "x-amz-trailer-signature:"+sig+"\r\n")
		}
		io.WriteString(pw, "\r\n")
		pw.Close()
	}()
	return sendStream(req, pr)
}

// signingKey derives the SigV4 signing key for us-east-1/s3 on date.
func signingKey(secret, date string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	for _, p := range []string{"us-east-1", "s3", "aws4_request"} {
		k = hmacSHA256(k, p)
	}
	return k
}

// sendStream sends req with the body its writer goroutine produces into pr
// and returns the status and body of the answer.
func sendStream(req *http.Request, pr *io.PipeReader) (int, string) {
	req.Body = pr
	res, err := http.DefaultClient.Do(req)
	pr.CloseWithError(errors.New("request finished"))
	if err != nil {
		return 599, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
