package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7/pkg/credentials"

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
// with the policy concerned.
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
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("MinIO did not come back with its OpenID settings: %v %s", err, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The store's content.
	for _, b := range []string{"data", "reports", "archive"} {
		m.MakeBucket(t, b)
	}
	m.PutObject(t, "data", "a.txt", []byte("a"))
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
	readData := who{name: "token policy=read-data", token: token("read-data")}
	reports := who{name: "token policy=reports-objects", token: token("reports-objects")}

	// differs names the quirk and the policy check --compat lists for a
	// request MinIO allows and iamgate denies; "" = they agree.
	cases := []struct {
		who            who
		method, target string
		hdr            []string
		allow          bool   // both allow (when they agree)
		differs        string // MinIO allows, iamgate denies: check --compat lists this
	}{
		{alice, "GET", "/data?list-type=2", nil, true, ""},
		{alice, "GET", "/data/a.txt", nil, true, ""},
		{alice, "HEAD", "/data/a.txt", nil, true, ""},
		{alice, "PUT", "/data/uploads/plain-%s", nil, true, ""},
		{alice, "PUT", "/data/a-%s.txt", nil, false, ""},
		{alice, "DELETE", "/data/a.txt", nil, false, ""},
		{alice, "GET", "/reports/r.txt", nil, true, ""},
		{alice, "GET", "/archive/v.txt", nil, false, ""},
		{alice, "PUT", "/data/uploads/tagged-%s", []string{"X-Amz-Tagging", "k=v"}, false, `putobject-tagging: PUT /data/key with x-amz-tagging`},
		{alice, "GET", "/reports?list-type=2", nil, false, `object-arn-on-bucket: GET /reports?list-type=2`},
		{alice, "GET", "/data?versions", nil, false, `listbucketversions: GET /data?versions`},
		{alice, "GET", "/", nil, false, `"read-data": statement 1: listbuckets-fallback`},
		{bob, "GET", "/archive/v.txt", nil, false, `getobjectversion: GET /archive/key without versionId`},
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
		{reports, "GET", "/reports?list-type=2", nil, false, `object-arn-on-bucket: GET /reports?list-type=2`},
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
				viaMinIO = doSigned(t, tc.method, m.Endpoint+target("minio"), cr, tc.hdr...)
				viaGate = do(t, tc.method, gate+target("gate"), tc.who.token, nil, tc.hdr...)
			} else {
				viaMinIO = doSigned(t, tc.method, m.Endpoint+target("minio"), tc.who.creds, tc.hdr...)
				viaGate = doSigned(t, tc.method, gate+target("gate"), tc.who.creds, tc.hdr...)
			}
			if tc.differs == "" {
				if allowed(viaMinIO.status) != tc.allow || allowed(viaGate.status) != tc.allow {
					t.Errorf("MinIO %d, iamgate %d (%s); want both to allow=%v", viaMinIO.status, viaGate.status, viaGate.body, tc.allow)
				}
				return
			}
			if !allowed(viaMinIO.status) || allowed(viaGate.status) {
				t.Errorf("MinIO %d, iamgate %d: want MinIO to allow and iamgate to deny (%s)", viaMinIO.status, viaGate.status, tc.differs)
			}
			if !strings.Contains(compat, tc.differs) {
				t.Errorf("check --compat minio does not list %q:\n%s", tc.differs, compat)
			}
		})
	}
	if t.Failed() {
		cfg, _ := os.ReadFile(out)
		t.Logf("imported configuration:\n%s\ncheck --compat minio:\n%s", cfg, compat)
	}
}
