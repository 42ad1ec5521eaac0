package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/iamgate/iamgate/internal/devissuer"
	"github.com/iamgate/iamgate/internal/testenv"
)

// TestIntegrationImportMinIO sets up identities in a real MinIO (policies,
// users, a group, policy mappings, a service account, a disabled user and
// claim-based OpenID), exports them as an operator would, imports the
// export and the OpenID settings, runs iamgate with the result, and makes
// the same requests to MinIO directly and through iamgate, each with the
// MinIO user's own key (carried as a service credential) or with the same
// OpenID token. The decisions agree wherever MinIO follows AWS; every
// request they differ on is one that `iamgate check --compat minio` lists,
// with the policy concerned: one user per difference shows each of them.
func TestIntegrationImportMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := testenv.StartMinIO(t)
	iss := devissuer.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := madmin.NewWithOptions(strings.TrimPrefix(m.Endpoint, "http://"),
		&madmin.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}

	// MinIO's identities.
	policies := map[string]string{
		"read-data": `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::data"]},
			{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"]}]}`,
		"write-uploads":   `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::data/uploads/*"]}]}`,
		"reports-objects": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": ["arn:aws:s3:::reports/*"]}]}`,
		"versions-only":   `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObjectVersion"], "Resource": ["arn:aws:s3:::archive/*"]}]}`,
		// One difference each, for one user each.
		"q-bool": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"],
			"Condition": {"Bool": {"aws:SecureTransport": "FALSE"}}}]}`,
		"q-bucket-wildcard": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::team-?"]}]}`,
		"q-byte":            `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/caf?.txt"]}]}`,
		"q-source-ip": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"],
			"Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}`,
		"q-delete": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": ["arn:aws:s3:::data/del/*"]}]}`,
		"q-tag-on-write": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObjectTagging"], "Resource": ["arn:aws:s3:::data/tagged/*"],
			"Condition": {"StringEquals": {"s3:ExistingObjectTag/owner": "alice"}}}]}`,
		"q-headbucket": `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:HeadBucket"], "Resource": ["arn:aws:s3:::data"]}]}`,
		"q-referer": `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"]},
			{"Sid": "NoReferer", "Effect": "Deny", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"], "Condition": {"Null": {"aws:Referer": "true"}}}]}`,
	}
	for name, doc := range policies {
		if err := adm.AddCannedPolicy(ctx, name, []byte(doc)); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
	}
	users := map[string][2]string{ // access key → secret, policy
		"ALICEACCESSKEY01":  {"alice-secret-0123456789", "read-data"},
		"BOBACCESSKEY00001": {"bob-secret-0123456789", "versions-only"},
		"CAROLACCESSKEY001": {"carol-secret-0123456789", "read-data"},
		"QUIRKBOOL0000001":  {"quirk-secret-0123456789", "q-bool"},
		"QUIRKBUCKET00001":  {"quirk-secret-0123456789", "q-bucket-wildcard"},
		"QUIRKBYTE0000001":  {"quirk-secret-0123456789", "q-byte"},
		"QUIRKSOURCEIP001":  {"quirk-secret-0123456789", "q-source-ip"},
		"QUIRKHEADBUCKET1":  {"quirk-secret-0123456789", "q-headbucket"},
		"QUIRKREFERER0001":  {"quirk-secret-0123456789", "q-referer"},
		"QUIRKDELETE00001":  {"quirk-secret-0123456789", "q-delete"},
		"QUIRKTAGWRITE001":  {"quirk-secret-0123456789", "q-tag-on-write"},
	}
	for key, u := range users {
		if err := adm.AddUser(ctx, key, u[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{u[1]}, User: key}); err != nil {
			t.Fatal(err)
		}
	}
	if err := adm.SetUserStatus(ctx, "CAROLACCESSKEY001", madmin.AccountDisabled); err != nil {
		t.Fatal(err)
	}
	if err := adm.UpdateGroupMembers(ctx, madmin.GroupAddRemove{Group: "analysts", Members: []string{"ALICEACCESSKEY01"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{"reports-objects", "write-uploads"}, Group: "analysts"}); err != nil {
		t.Fatal(err)
	}
	const svcKey, svcSecret = "SVCALICE00000001", "svc-alice-secret-0123456789"
	if _, err := adm.AddServiceAccount(ctx, madmin.AddServiceAccountReq{TargetUser: "ALICEACCESSKEY01", AccessKey: svcKey, SecretKey: svcSecret}); err != nil {
		t.Fatal(err)
	}
	if restart, err := adm.SetConfigKV(ctx, "identity_openid config_url="+iss.URL()+"/.well-known/openid-configuration client_id=minio-app client_secret=minio-app-secret claim_name=policy"); err != nil {
		t.Fatalf("MinIO's OpenID settings: %v", err)
	} else if restart {
		// MinIO applies identity settings on restart (it re-executes itself).
		if err := adm.ServiceRestartV2(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			b, err := adm.GetConfigKV(ctx, "identity_openid")
			if err == nil && bytes.Contains(b, []byte("config_url=http")) {
				if _, err = m.Client(t).ListBuckets(ctx); err == nil {
					break // S3 serves again too
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("MinIO did not come back with its OpenID settings: %v %s", err, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The store's content.
	for _, b := range []string{"data", "reports", "archive", "team-a"} {
		m.MakeBucket(t, b)
	}
	m.PutObject(t, "data", "a.txt", []byte("a"))
	m.PutObject(t, "data", "café.txt", []byte("c"))
	bobTags, _ := tags.ParseObjectTags("owner=bob")
	for _, side := range []string{"minio", "gate"} {
		m.PutObject(t, "data", "del/"+side+".txt", []byte("d"))
		m.PutObject(t, "data", "tagged/"+side+".txt", []byte("t"))
		if err := m.Client(t).PutObjectTagging(ctx, "data", "tagged/"+side+".txt", bobTags, minio.PutObjectTaggingOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m.PutObject(t, "reports", "r.txt", []byte("r"))
	m.PutObject(t, "archive", "v.txt", []byte("v"))

	// Export, and the OpenID settings as mc admin config get prints them.
	dir := t.TempDir()
	rc, err := adm.ExportIAM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zipData, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "minio-iam-info.zip"), string(zipData))
	idp, err := adm.GetConfigKV(ctx, "identity_openid")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "idp.txt"), string(idp))

	// Import, and check.
	out := filepath.Join(dir, "iamgate", "iamgate.yaml")
	var stdout, stderr bytes.Buffer
	if err := importAt([]string{"minio", "--export", filepath.Join(dir, "minio-iam-info.zip"), "--idp-config", filepath.Join(dir, "idp.txt"),
		"--endpoint", m.Endpoint, "--service-credentials-expire", "720h", "-o", out}, time.Now(), &stdout, &stderr); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	report := stderr.String()
	t.Logf("import report:\n%s", report)
	for _, want := range []string{"user CAROLACCESSKEY001 (users.json): disabled in MinIO", "policy diagnostics (policies.json): it grants only MinIO admin"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	t.Setenv("IAMGATE_UPSTREAM_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("IAMGATE_UPSTREAM_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("IAMGATE_SESSION_KEY", strings.Repeat("k", 64))
	code, compat, cerr := runCLI(t, "check", "--config", out, "--compat", "minio")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, compat, cerr)
	}
	_, gate := startApp(t, out)

	// MinIO's own STS, for the OpenID token.
	minioSTS := func(tok string) [3]string {
		t.Helper()
		c := sts.New(sts.Options{Region: m.Region, BaseEndpoint: aws.String(m.Endpoint)})
		o, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:minio:iam:::role/idp"), RoleSessionName: aws.String("s"), WebIdentityToken: aws.String(tok)})
		if err != nil {
			t.Fatalf("MinIO AssumeRoleWithWebIdentity: %v", err)
		}
		return [3]string{*o.Credentials.AccessKeyId, *o.Credentials.SecretAccessKey, *o.Credentials.SessionToken}
	}
	token := func(policies ...string) string {
		tok, err := iss.Mint(map[string]any{"sub": "u-" + policies[0], "aud": []any{"minio-app"}, "policy": policies}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	type who struct {
		name  string
		creds [3]string // signed with these at both, unless token is set
		token string    // bearer at iamgate, MinIO STS credentials for MinIO
	}
	alice := who{name: "alice", creds: [3]string{"ALICEACCESSKEY01", users["ALICEACCESSKEY01"][0]}}
	bob := who{name: "bob", creds: [3]string{"BOBACCESSKEY00001", users["BOBACCESSKEY00001"][0]}}
	carol := who{name: "carol", creds: [3]string{"CAROLACCESSKEY001", users["CAROLACCESSKEY001"][0]}}
	svc := who{name: "alice's service account", creds: [3]string{svcKey, svcSecret}}
	quirk := func(key string) who { return who{name: key, creds: [3]string{key, users[key][0]}} }
	readData := who{name: "token policy=read-data", token: token("read-data")}
	reports := who{name: "token policy=reports-objects", token: token("reports-objects")}

	// differs names the quirk and the policy check --compat lists for a
	// request MinIO allows and iamgate denies; "" = they agree.
	cases := []struct {
		who            who
		method, target string
		hdr            []string
		allow          bool   // MinIO allows; iamgate too unless differs
		differs        string // iamgate decides the other way, and check --compat lists this
	}{
		{alice, "GET", "/data?list-type=2", nil, true, ""},
		{alice, "GET", "/data/a.txt", nil, true, ""},
		{alice, "HEAD", "/data/a.txt", nil, true, ""},
		{alice, "PUT", "/data/uploads/plain-%s", nil, true, ""},
		{alice, "PUT", "/data/a-%s.txt", nil, false, ""},
		{alice, "DELETE", "/data/a.txt", nil, false, ""},
		{alice, "GET", "/reports/r.txt", nil, true, ""},
		{alice, "GET", "/archive/v.txt", nil, false, ""},
		{alice, "PUT", "/data/uploads/tagged-%s", []string{"X-Amz-Tagging", "k=v"}, true, `putobject-tagging: PUT /data/key with x-amz-tagging`},
		{alice, "GET", "/reports?list-type=2", nil, true, `object-arn-on-bucket: GET /reports?list-type=2`},
		{alice, "GET", "/data?versions", nil, true, `listbucketversions: GET /data?versions`},
		{alice, "GET", "/", nil, true, `"read-data": statement 1: listbuckets-fallback`},
		{bob, "GET", "/archive/v.txt", nil, true, `getobjectversion: GET /archive/key without versionId`},
		{bob, "GET", "/data/a.txt", nil, false, ""},
		{carol, "GET", "/data/a.txt", nil, false, ""},
		{svc, "GET", "/data/a.txt", nil, true, ""},
		{svc, "GET", "/reports/r.txt", nil, true, ""},
		{svc, "PUT", "/data/b-%s.txt", nil, false, ""},
		{readData, "GET", "/data/a.txt", nil, true, ""},
		{readData, "GET", "/data?list-type=2", nil, true, ""},
		{readData, "GET", "/reports/r.txt", nil, false, ""},
		{reports, "GET", "/reports/r.txt", nil, true, ""},
		{reports, "GET", "/data/a.txt", nil, false, ""},
		{reports, "GET", "/reports?list-type=2", nil, true, `object-arn-on-bucket: GET /reports?list-type=2`},
		{quirk("QUIRKBOOL0000001"), "GET", "/data/a.txt", nil, false, `bool-spelling: a request whose aws:SecureTransport is false`},
		{quirk("QUIRKBUCKET00001"), "GET", "/team-a?list-type=2", nil, false, `bucket-wildcard: GET /team-x?list-type=2`},
		{quirk("QUIRKBYTE0000001"), "GET", "/data/caf%C3%A9.txt", nil, false, `wildcard-byte: a name with a multi-byte character where "arn:aws:s3:::data/caf?.txt"`},
		{quirk("QUIRKSOURCEIP001"), "GET", "/data/a.txt", []string{"X-Forwarded-For", "203.0.113.7"}, true, `x-forwarded-for: a request from a peer outside 203.0.113.0/24`},
		{quirk("QUIRKSOURCEIP001"), "GET", "/data/a.txt", nil, false, ""},
		{quirk("QUIRKHEADBUCKET1"), "HEAD", "/data", nil, true, `headbucket: HEAD /data (HeadBucket)`},
		{quirk("QUIRKREFERER0001"), "GET", "/data/a.txt", nil, true, `referer-null: a request without Referer`},
		{quirk("QUIRKREFERER0001"), "GET", "/data/a.txt", []string{"Referer", "https://app.example.com/"}, true, ""},
	}
	allowed := func(status int) bool { return status >= 200 && status < 300 }
	minioCreds := map[string][3]string{}
	for _, tc := range cases {
		t.Run(tc.who.name+" "+tc.method+" "+tc.target, func(t *testing.T) {
			target := func(side string) string {
				if strings.Contains(tc.target, "%s") {
					return strings.Replace(tc.target, "%s", side, 1)
				}
				return tc.target
			}
			var viaMinIO, viaGate resp
			if tc.who.token != "" {
				cr, ok := minioCreds[tc.who.name]
				if !ok {
					cr = minioSTS(tc.who.token)
					minioCreds[tc.who.name] = cr
				}
				viaMinIO = signedS3(t, tc.method, m.Endpoint+target("minio"), cr, tc.hdr...)
				viaGate = do(t, tc.method, gate+target("gate"), tc.who.token, nil, tc.hdr...)
			} else {
				viaMinIO = signedS3(t, tc.method, m.Endpoint+target("minio"), tc.who.creds, tc.hdr...)
				viaGate = signedS3(t, tc.method, gate+target("gate"), tc.who.creds, tc.hdr...)
			}
			if tc.differs == "" {
				if allowed(viaMinIO.status) != tc.allow || allowed(viaGate.status) != tc.allow {
					t.Errorf("MinIO %d, iamgate %d (%s); want both to allow=%v", viaMinIO.status, viaGate.status, viaGate.body, tc.allow)
				}
				return
			}
			if allowed(viaMinIO.status) != tc.allow || allowed(viaGate.status) == tc.allow {
				t.Errorf("MinIO %d, iamgate %d (%s): want MinIO to allow=%v and iamgate the opposite (%s)", viaMinIO.status, viaGate.status, viaGate.body, tc.allow, tc.differs)
			}
			if !strings.Contains(compat, tc.differs) {
				t.Errorf("check --compat minio does not list %q:\n%s", tc.differs, compat)
			}
		})
	}

	// The two differences that need a request body, with minio-go as the
	// client of both.
	client := func(endpoint, key string) *minio.Client {
		t.Helper()
		c, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(key, users[key][0], ""), Region: m.Region, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("deleteobjects-per-key", func(t *testing.T) {
		deleteErr := func(c *minio.Client, key string) error {
			ch := make(chan minio.ObjectInfo, 1)
			ch <- minio.ObjectInfo{Key: key}
			close(ch)
			for e := range c.RemoveObjects(ctx, "data", ch, minio.RemoveObjectsOptions{GovernanceBypass: true}) {
				return e.Err
			}
			return nil
		}
		errMinIO := deleteErr(client(m.Endpoint, "QUIRKDELETE00001"), "del/minio.txt")
		errGate := deleteErr(client(gate, "QUIRKDELETE00001"), "del/gate.txt")
		if errMinIO != nil || minio.ToErrorResponse(errGate).Code != "AccessDenied" {
			t.Errorf("DeleteObjects with x-amz-bypass-governance-retention: MinIO %v, iamgate %v", errMinIO, errGate)
		}
		if !strings.Contains(compat, `"q-delete": statement 1: deleteobjects-per-key: POST /data?delete with x-amz-bypass-governance-retention: true`) {
			t.Errorf("check --compat minio does not list it:\n%s", compat)
		}
	})
	t.Run("existing-tag-on-write", func(t *testing.T) {
		alice, _ := tags.ParseObjectTags("owner=alice")
		errMinIO := client(m.Endpoint, "QUIRKTAGWRITE001").PutObjectTagging(ctx, "data", "tagged/minio.txt", alice, minio.PutObjectTaggingOptions{})
		errGate := client(gate, "QUIRKTAGWRITE001").PutObjectTagging(ctx, "data", "tagged/gate.txt", alice, minio.PutObjectTaggingOptions{})
		if errMinIO != nil || minio.ToErrorResponse(errGate).Code != "AccessDenied" {
			t.Errorf("retagging bob's object as alice's: MinIO %v, iamgate %v", errMinIO, errGate)
		}
		if !strings.Contains(compat, `"q-tag-on-write": statement 1: existing-tag-on-write: PUT /data/key?tagging`) {
			t.Errorf("check --compat minio does not list it:\n%s", compat)
		}
	})
	if t.Failed() {
		cfg, _ := os.ReadFile(out)
		t.Logf("imported configuration:\n%s\ncheck --compat minio:\n%s", cfg, compat)
	}
}

// signedS3 makes a SigV4-signed request with an empty payload, the path
// escaped once as S3 signs it (target is already escaped).
func signedS3(t *testing.T, method, target string, creds [3]string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", empty)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), awsCreds(creds), req, empty, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return doReq(t, req)
}
