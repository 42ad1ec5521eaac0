package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iamgate/iamgate/audit"
	"github.com/iamgate/iamgate/internal/auditschema"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC)

// kindSamples holds one event of every kind, filled as producers fill them.
func kindSamples() map[string]*audit.Event {
	claims := map[string]any{"email": "alice@example.com", "groups": []any{"eng", "data"}}
	return map[string]*audit.Event{
		"s3-allow": {Time: t0, Kind: audit.KindS3, EventID: "0f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC11",
			SourceIP: "192.0.2.10", UserAgent: "aws-cli/2.9.19", AuthMethod: "sigv4", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-1", Username: "alice", ARN: "arn:aws:sts::iamgate:assumed-role/analyst/alice", Roles: []string{"analyst"}, RoleKind: "human",
			Fingerprint: "3ee04636498b00da8f67310c", Claims: claims, SessionID: "k3v5e7ts2m", AccessKeyID: "ASIAABCDEFGHIJKLMNOP",
			Operation: "GetObject", Action: "s3:GetObject", Bucket: "reports", Key: "2026/q3 <final>.pdf",
			Decision: "allow", Reason: "allowed", Role: "analyst", Policy: "read-reports", Sid: "ReadAll",
			Status: 200, BytesOut: 48213, DurationMS: 3.2, UpstreamMS: 2.7, UpstreamRequestID: "187A1C2B3D4E5F60"},
		"s3-deny": {Time: t0, Kind: audit.KindS3, EventID: "1f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC12",
			SourceIP: "192.0.2.11", UserAgent: "python-requests/2.31", AuthMethod: "bearer", Issuer: "ci", IssuerURL: "https://token.actions.githubusercontent.com",
			Subject: "repo:acme/app:ref:refs/heads/main", Username: "repo:acme/app:ref:refs/heads/main", Roles: []string{"deployer"}, RoleKind: "machine",
			Fingerprint: "0a1b2c3d4e5f60718293a4b5", Operation: "PutObject", Action: "s3:PutObject", Bucket: "prod", Key: "app/v2.tar.gz",
			Decision: "deny", Reason: "explicit_deny", Role: "deployer", Policy: "guard", Sid: "NoProd",
			Message: "User: … is not authorized to perform: s3:PutObject", Status: 403, ErrorCode: "AccessDenied", DurationMS: 0.4},
		"s3-delete-objects": {Time: t0, Kind: audit.KindS3, EventID: "2f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC13",
			SourceIP: "192.0.2.12", AuthMethod: "service-credential", Issuer: "service-credential", Subject: "backup", Username: "backup",
			ARN: "arn:aws:iam::iamgate:user/service/backup", AccessKeyID: "AKIAIAMGATEBACKUP01", Roles: []string{"backup"}, RoleKind: "machine",
			Operation: "DeleteObjects", Action: "s3:DeleteObject", Bucket: "logs", Keys: []string{"2026/11/01.log", "2026/11/02.log"},
			Decision: "allow", Reason: "allowed", Role: "backup", Policy: "rotate", Status: 200, BytesIn: 210, BytesOut: 180, DurationMS: 5},
		"s3-delete-objects-partial": {Time: t0, Kind: audit.KindS3, EventID: "2a8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1E",
			SourceIP: "192.0.2.12", UserAgent: "mc (linux; amd64)", AuthMethod: "sigv4", Issuer: "corp", Subject: "u-1", Username: "alice",
			ARN: "arn:aws:sts::iamgate:assumed-role/analyst/alice", Roles: []string{"analyst"}, RoleKind: "human",
			SessionID: "k3v5e7ts2m", AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Operation: "DeleteObjects", Action: "s3:DeleteObject", Bucket: "reports",
			Keys: []string{"2026/a.pdf", "2026/locked/b.pdf", "2026/c.pdf"},
			DeniedKeys: []audit.DeniedKey{{Key: "2026/locked/b.pdf", VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", Action: "s3:DeleteObjectVersion",
				Reason: "explicit_deny", Role: "analyst", Policy: "guard", Sid: "KeepLocked"}},
			Decision: "allow", Reason: "partially_allowed", Role: "analyst", Policy: "read-reports", Sid: "Own",
			Status: 200, BytesIn: 310, BytesOut: 402, DurationMS: 6.5, UpstreamMS: 5.1, UpstreamRequestID: "187A1C2B3D4E5F61"},
		"s3-list-agent": {Time: t0, Kind: audit.KindS3, EventID: "3f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC14",
			SourceIP: "192.0.2.13", AuthMethod: "bearer", Issuer: "corp", Subject: "agent-7", Username: "summarizer", Roles: []string{"assistant"},
			RoleKind: "agent", Actor: &audit.Actor{Subject: "agent-7", ClientID: "summarizer", Act: &audit.Actor{Subject: "u-1", Issuer: "https://idp.example.com/"}},
			Operation: "ListObjectsV2", Action: "s3:ListBucket", Bucket: "reports", Prefix: "2026/",
			Decision: "allow", Reason: "allowed", Role: "assistant", Policy: "read-reports", Status: 200, BytesOut: 912, DurationMS: 1.5},
		"s3-post-form": {Time: t0, Kind: audit.KindS3, EventID: "3a8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1C",
			SourceIP: "192.0.2.14", UserAgent: "Mozilla/5.0", AuthMethod: "sigv4-post", Issuer: "corp", Subject: "u-1", Username: "alice",
			ARN: "arn:aws:sts::iamgate:assumed-role/analyst/alice", Roles: []string{"analyst"}, RoleKind: "human",
			SessionID: "k3v5e7ts2m", AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Operation: "PostObject", Action: "s3:PutObject",
			Bucket: "uploads", Key: "alice/photo.jpg", Decision: "allow", Reason: "allowed", Role: "analyst", Policy: "uploads", Sid: "Own",
			Status: 204, BytesIn: 20480, DurationMS: 12.5, UpstreamMS: 11},
		"s3-sigv2-presigned": {Time: t0, Kind: audit.KindS3, EventID: "3c8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1E",
			SourceIP: "192.0.2.16", UserAgent: "curl/8.5.0", AuthMethod: "sigv2-presigned", Issuer: "corp", Subject: "u-1", Username: "alice",
			ARN: "arn:aws:sts::iamgate:assumed-role/analyst/alice", Roles: []string{"analyst"}, RoleKind: "human",
			SessionID: "k3v5e7ts2m", AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Operation: "GetObject", Action: "s3:GetObject",
			Bucket: "reports", Key: "2026/q3.pdf", Decision: "allow", Reason: "allowed", Role: "analyst", Policy: "read-reports",
			Status: 200, BytesOut: 48213, DurationMS: 3.1, UpstreamMS: 2.6},
		"s3-sigv2-service-credential": {Time: t0, Kind: audit.KindS3, EventID: "3d8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1F",
			SourceIP: "192.0.2.17", UserAgent: "s3cmd/2.3.0", AuthMethod: "service-credential", SignatureVersion: "SigV2",
			Issuer: "service-credential", Subject: "backup", Username: "backup", ARN: "arn:aws:iam::iamgate:user/service/backup",
			AccessKeyID: "IAMGATEBACKUP001", Roles: []string{"backup"}, RoleKind: "machine", Operation: "PutObject", Action: "s3:PutObject",
			Bucket: "logs", Key: "2026/11/27.log", Decision: "allow", Reason: "allowed", Role: "backup", Policy: "rotate",
			Status: 200, BytesIn: 4096, DurationMS: 4, UpstreamMS: 3.5},
		"s3-audit-unavailable": {Time: t0, Kind: audit.KindS3, EventID: "3b8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1D",
			SourceIP: "192.0.2.15", UserAgent: "aws-cli/2.9.19", Operation: "GetObject", Bucket: "reports", Key: "x",
			Decision: "error", Reason: "audit_unavailable", Status: 503, ErrorCode: "ServiceUnavailable",
			Message: "audit: webhook spool full", DurationMS: 0.1},
		"auth-failure": {Time: t0, Kind: audit.KindAuthFailure, EventID: "4f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC15",
			SourceIP: "198.51.100.7", UserAgent: "curl/8.5.0", AuthMethod: "bearer", Issuer: "corp", Operation: "GetObject",
			Bucket: "reports", Key: "x", Decision: "deny", Reason: "expired", Status: 401, ErrorCode: "ExpiredToken",
			Message: "The bearer token was rejected: token expired", DurationMS: 0.1},
		"sts-issued": {Time: t0, Kind: audit.KindSTS, EventID: "5f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC16",
			SourceIP: "192.0.2.10", UserAgent: "aws-cli/2.9.19", AuthMethod: "web_identity", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-1", Roles: []string{"analyst"}, RoleKind: "human", Fingerprint: "3ee04636498b00da8f67310c", SessionID: "k3v5e7ts2m",
			AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Expiry: t0.Add(time.Hour).Truncate(time.Second), RoleSessionName: "alice", DurationSeconds: 3600,
			Operation: "AssumeRoleWithWebIdentity", Decision: "allow", Reason: "issued", Role: "analyst", Status: 200, BytesOut: 1400, DurationMS: 0.9},
		"sts-token-exchange": {Time: t0, Kind: audit.KindSTS, EventID: "5c8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1C",
			SourceIP: "192.0.2.10", UserAgent: "curl/8.5.0", AuthMethod: "web_identity", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-1", Roles: []string{"analyst"}, RoleKind: "human", SessionID: "k3v5e7ts2p",
			AccessKeyID: "ASIAABCDEFGHIJKLMNOR", Expiry: t0.Add(time.Hour).Truncate(time.Second), RoleSessionName: "nightly", DurationSeconds: 3600,
			Actor: &audit.Actor{Subject: "report-bot", Issuer: "https://idp.example.com/", ClientID: "report-bot", Role: "report-agent",
				Act: &audit.Actor{Subject: "orchestrator"}},
			Operation: "TokenExchange", Decision: "allow", Reason: "issued", Role: "analyst", Status: 200, BytesOut: 1800, DurationMS: 1.1},
		"sts-refused": {Time: t0, Kind: audit.KindSTS, EventID: "6f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC17",
			SourceIP: "192.0.2.10", AuthMethod: "web_identity", Issuer: "corp", Subject: "u-2", Roles: []string{"admin"},
			Operation: "AssumeRoleWithWebIdentity", Decision: "deny", Reason: "sts_refused", Status: 403, ErrorCode: "AccessDenied",
			Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity", DurationMS: 0.5},
		"sts-ldap-issued": {Time: t0, Kind: audit.KindSTS, EventID: "5a8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1A",
			SourceIP: "192.0.2.10", UserAgent: "minio-go/7.4.1", AuthMethod: "ldap", Issuer: "corp", IssuerURL: "ldap:corp",
			Subject: "uid=alice,ou=people,dc=example,dc=org", Username: "alice", Roles: []string{"analysts"}, RoleKind: "human",
			Claims: map[string]any{"groups": []any{"cn=analysts,ou=groups,dc=example,dc=org"}}, SessionID: "k3v5e7ts2n",
			AccessKeyID: "ASIAABCDEFGHIJKLMNOQ", Expiry: t0.Add(time.Hour).Truncate(time.Second), RoleSessionName: "alice", DurationSeconds: 3600,
			Operation: "AssumeRoleWithLDAPIdentity", Decision: "allow", Reason: "issued", Role: "analysts", Status: 200, BytesOut: 1300, DurationMS: 4.2},
		"sts-ldap-refused": {Time: t0, Kind: audit.KindSTS, EventID: "5b8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1B",
			SourceIP: "192.0.2.10", AuthMethod: "ldap", Issuer: "corp", IssuerURL: "ldap:corp", Username: "carol",
			Operation: "AssumeRoleWithLDAPIdentity", Decision: "deny", Reason: "account_locked", Status: 403, ErrorCode: "AccessDenied",
			Message: "Not authorized to perform sts:AssumeRoleWithLDAPIdentity: invalid user name or password", DurationMS: 3.1},
		"login-ldap-throttled": {Time: t0, Kind: audit.KindLoginFailure, EventID: "8b8fad5b-d9cb-469f-a165-70867728950e",
			SourceIP: "192.0.2.21", UserAgent: "Mozilla/5.0", AuthMethod: "ldap", Issuer: "corp", IssuerURL: "ldap:corp", Username: "alice",
			Decision: "deny", Reason: "throttled", Status: 429, ErrorCode: "LoginFailed",
			Message: "Too many failed sign-in attempts. Wait a few minutes, then try again."},
		"login": {Time: t0, Kind: audit.KindLogin, EventID: "7f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC18",
			SourceIP: "192.0.2.20", UserAgent: "Mozilla/5.0", AuthMethod: "oidc-code", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-1", Username: "alice", Roles: []string{"analyst"}, RoleKind: "human", SessionID: "b7q2", Expiry: t0.Add(8 * time.Hour),
			Decision: "allow", Reason: "signed_in"},
		"login-renewed": {Time: t0, Kind: audit.KindLogin, EventID: "7a8fad5b-d9cb-469f-a165-70867728950e",
			SourceIP: "192.0.2.20", UserAgent: "Mozilla/5.0", AuthMethod: "refresh-token", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-1", Username: "alice", Roles: []string{"analyst"}, RoleKind: "human", SessionID: "b7q2", Expiry: t0.Add(9 * time.Hour),
			Operation: "RenewSession", Decision: "allow", Reason: "renewed"},
		"login-failure": {Time: t0, Kind: audit.KindLoginFailure, EventID: "8f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC19",
			SourceIP: "192.0.2.21", UserAgent: "Mozilla/5.0", AuthMethod: "oidc-code", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Decision: "deny", Reason: "state_mismatch", Status: 400,
			ErrorCode: "LoginFailed", Message: "The sign-in response does not match a sign-in this browser started."},
		"login-failure-identified": {Time: t0, Kind: audit.KindLoginFailure, EventID: "8a8fad5b-d9cb-469f-a165-70867728950e",
			SourceIP: "192.0.2.21", UserAgent: "Mozilla/5.0", AuthMethod: "oidc-code", Issuer: "corp", IssuerURL: "https://idp.example.com/",
			Subject: "u-7", Username: "mallory", Fingerprint: "5d41402abc4b2a76b9719d91", Claims: map[string]any{"groups": []any{"guests"}},
			Decision: "deny", Reason: "no_role", Status: 403, ErrorCode: "LoginFailed",
			Message: "You signed in as mallory, but no role of this iamgate trusts that identity (issuer \"corp\")."},
		"logout": {Time: t0, Kind: audit.KindLogout, EventID: "9f8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1A",
			SourceIP: "192.0.2.20", AuthMethod: "browser-session", Issuer: "corp", Subject: "u-1", Username: "alice", SessionID: "b7q2", Decision: "allow"},
		"share-link": {Time: t0, Kind: audit.KindShareLink, EventID: "af8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC1B",
			SourceIP: "192.0.2.20", AuthMethod: "browser-session", Issuer: "corp", Subject: "u-1", Username: "alice", Roles: []string{"analyst"},
			SessionID: "s9x1", AccessKeyID: "ASIAQRSTUVWXYZ234567", Expiry: t0.Truncate(time.Second).Add(45 * time.Minute), Lifetime: 45 * time.Minute,
			DurationSeconds: 3600, Operation: "CreateShareLink", Action: "s3:GetObject", Bucket: "reports", Key: "2026/q3.pdf",
			Decision: "allow", Reason: "issued", Status: 200,
			Message: "share link valid for 45m0s, until 2026-11-27T10:15:00Z (requested 1h0m0s; created in browser session b7q2)"},
		"config-reload": {Time: t0, Kind: audit.KindConfigReload, EventID: "bf8fad5b-d9cb-469f-a165-70867728950e", Decision: "allow",
			Reason: "signal", ConfigDigest: strings.Repeat("ab", 32)},
		"config-reload-rejected": {Time: t0, Kind: audit.KindConfigReload, EventID: "cf8fad5b-d9cb-469f-a165-70867728950e", Decision: "deny",
			Reason: "file_change", Message: "iamgate.yaml:12:3: unknown key \"rol\""},
		"revocation": {Time: t0, Kind: audit.KindRevocation, EventID: "df8fad5b-d9cb-469f-a165-70867728950e", Decision: "allow", Reason: "in_effect",
			Issuer: "corp", Subject: "u-9", Parameters: map[string]string{"issuedBefore": "2026-11-27T09:00:00Z"}, ConfigDigest: strings.Repeat("cd", 32)},
		"escalation": {Time: t0, Kind: audit.KindEscalation, EventID: "0f8fad5b-d9cb-469f-a165-70867728950e", Decision: "deny", Reason: "revoke_identity",
			Issuer: "platform", Subject: "agent-7", Roles: []string{"agents"}, RoleKind: "agent", Role: "agents", Claims: map[string]any{"agent_run": "r-42"},
			Parameters: map[string]string{"limit": "bytes_downloaded", "hits": "25", "windowSeconds": "3600", "session": "jti:platform/5b0e",
				"identity": "r-42", "usage": "bytes_downloaded 100 of 100 per session", "revocationId": "rv-4f3yxs3pdzaj2wqe"},
			Message: "Revoked after 25 limit hits."},
		"s3-through-grant": {Time: t0, Kind: audit.KindS3, EventID: "4b8fad5b-d9cb-469f-a165-70867728950e", RequestID: "18EBC15ED0FCBC20",
			SourceIP: "192.0.2.15", AuthMethod: "browser-session", Issuer: "corp", Subject: "u-1", Username: "alice",
			ARN: "arn:aws:sts::iamgate:assumed-role/analyst+prod-admin/alice", Roles: []string{"analyst", "prod-admin"}, RoleKind: "human",
			SessionID: "k3v5e7ts2m", Operation: "GetObject", Action: "s3:GetObject", Bucket: "prod", Key: "db/dump.sql",
			Decision: "allow", Reason: "allowed", Role: "prod-admin", Policy: "prod-read",
			Grant:  &audit.Grant{ID: "ar-4f3yxs3pdzaj2wqe", Role: "prod-admin", End: t0.Add(time.Hour)},
			Status: 200, BytesOut: 4096, DurationMS: 2.5, UpstreamMS: 2},
		"access-request": {Time: t0, Kind: audit.KindAccessRequest, EventID: "5b8fad5b-d9cb-469f-a165-70867728950e", SourceIP: "192.0.2.15",
			UserAgent: "Mozilla/5.0", AuthMethod: "browser-session", Issuer: "corp", IssuerURL: "https://idp.example.com/", Subject: "u-1",
			Username: "alice", Roles: []string{"analyst"}, RoleKind: "human", SessionID: "k3v5e7ts2m", Operation: audit.OpRequestAccess,
			Decision: "allow", Reason: "requested", Status: 303, Grant: &audit.Grant{ID: "ar-4f3yxs3pdzaj2wqe", Role: "prod-admin",
				RequesterIssuer: "corp", RequesterSubject: "u-1", Reason: "incident 4711", DurationSeconds: 3600, Status: "pending"}},
		"access-approve": {Time: t0, Kind: audit.KindAccessRequest, EventID: "6b8fad5b-d9cb-469f-a165-70867728950e", SourceIP: "192.0.2.16",
			AuthMethod: "browser-session", Issuer: "corp", Subject: "u-2", Username: "bob", Roles: []string{"security"}, RoleKind: "human",
			SessionID: "m4v5e7ts2q", Operation: audit.OpApproveAccessRequest, Decision: "allow", Reason: "approved", Status: 303,
			Grant: &audit.Grant{ID: "ar-4f3yxs3pdzaj2wqe", Role: "prod-admin", RequesterIssuer: "corp", RequesterSubject: "u-1",
				Reason: "incident 4711", DurationSeconds: 3600, Start: t0, End: t0.Add(time.Hour), Status: "approved"}},
		"access-self-approval": {Time: t0, Kind: audit.KindAccessRequest, EventID: "7b8fad5b-d9cb-469f-a165-70867728950e", SourceIP: "192.0.2.15",
			AuthMethod: "browser-session", Issuer: "corp", Subject: "u-1", Username: "alice", Roles: []string{"security"}, RoleKind: "human",
			Operation: audit.OpApproveAccessRequest, Decision: "deny", Reason: "self_approval", Status: 403,
			Message: "You cannot decide your own request.", Grant: &audit.Grant{ID: "ar-4f3yxs3pdzaj2wqe", Role: "prod-admin",
				RequesterIssuer: "corp", RequesterSubject: "u-1", Status: "pending"}},
		"access-expire": {Time: t0, Kind: audit.KindAccessRequest, EventID: "8b8fad5b-d9cb-469f-a165-70867728950e",
			Operation: audit.OpExpireAccessGrant, Decision: "allow", Reason: "expired",
			Grant: &audit.Grant{ID: "ar-4f3yxs3pdzaj2wqe", Role: "prod-admin", RequesterIssuer: "corp", RequesterSubject: "u-1",
				Start: t0.Add(-time.Hour), End: t0, Status: "expired"}},
		"start": {Time: t0, Kind: audit.KindStart, EventID: "ef8fad5b-d9cb-469f-a165-70867728950e", Decision: "allow", ConfigDigest: strings.Repeat("ef", 32)},
		"stop":  {Time: t0, Kind: audit.KindStop, EventID: "ff8fad5b-d9cb-469f-a165-70867728950e", Decision: "allow"},
	}
}

// TestEventGoldens pins the serialized form of every kind of event and
// validates it against the schema.
func TestEventGoldens(t *testing.T) {
	for name, e := range kindSamples() {
		t.Run(name, func(t *testing.T) {
			line := e.AppendJSON(nil)
			if err := auditschema.Line(line); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "events", name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				os.WriteFile(path, append(line, '\n'), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(line) + "\n"; got != string(want) {
				t.Errorf("serialized event changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestEventRoundTrip checks that Decode reads back what AppendJSON wrote.
func TestEventRoundTrip(t *testing.T) {
	for name, e := range kindSamples() {
		t.Run(name, func(t *testing.T) {
			got, err := audit.Decode(e.AppendJSON(nil))
			if err != nil {
				t.Fatal(err)
			}
			want := *e
			if want.Kind == audit.KindSTS && want.Decision != "allow" {
				want.Expiry = time.Time{}
			}
			if want.Operation == "" && got.Operation == want.Name() {
				want.Operation = got.Operation // the default eventName of sign-in events
			}
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
			}
		})
	}
}

// TestSchemaRejects makes sure the validator is not vacuous.
func TestSchemaRejects(t *testing.T) {
	good := string(kindSamples()["s3-allow"].AppendJSON(nil))
	bad := map[string]string{
		"no eventName":    strings.Replace(good, `"eventName":"GetObject",`, "", 1),
		"unknown member":  strings.Replace(good, `{"eventVersion"`, `{"token":"x","eventVersion"`, 1),
		"bad decision":    strings.Replace(good, `"decision":"allow"`, `"decision":"maybe"`, 1),
		"old version":     strings.Replace(good, `"eventVersion":"2.0"`, `"eventVersion":"1"`, 1),
		"raw token field": strings.Replace(good, `"iamgate":{`, `"iamgate":{"token":"eyJ",`, 1),
	}
	samples := kindSamples()
	share := string(samples["share-link"].AppendJSON(nil))
	unavailable := string(samples["s3-audit-unavailable"].AppendJSON(nil))
	denied := string(samples["s3-deny"].AppendJSON(nil))
	partial := string(samples["s3-delete-objects-partial"].AppendJSON(nil))
	for _, c := range []struct{ name, base, old, new string }{
		// Only a request refused before authentication may lack the method.
		{"allowed without a method", good, `,"AuthenticationMethod":"sigv4"`, ""},
		{"denied without a method", denied, `,"AuthenticationMethod":"bearer"`, ""},
		{"unknown method", good, `"AuthenticationMethod":"sigv4"`, `"AuthenticationMethod":"sigv3"`},
		{"unknown signature version", good, `"SignatureVersion":"SigV4"`, `"SignatureVersion":"SigV3"`},
		{"unavailable allowed", unavailable, `"decision":"error"`, `"decision":"allow"`},
		{"share without lifetime", share, `"lifetimeSeconds":2700,`, ""},
		{"share without expiry", share, `"sessionExpiry":"2026-11-27T10:15:00Z",`, ""},
		{"share without requested lifetime", share, `,"durationSeconds":3600`, ""},
		{"denied key without reason", partial, `"reason":"explicit_deny",`, ""},
		{"denied key with unknown member", partial, `"key":"2026/locked/b.pdf",`, `"key":"2026/locked/b.pdf","token":"x",`},
		{"empty denied keys", partial, `"deniedKeys":[{"key":"2026/locked/b.pdf","versionId":"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY","action":"s3:DeleteObjectVersion","reason":"explicit_deny","matchedRole":"analyst","matchedPolicy":"guard","matchedSid":"KeepLocked"}]`, `"deniedKeys":[]`},
	} {
		line := strings.Replace(c.base, c.old, c.new, 1)
		if line == c.base {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		bad[c.name] = line
	}
	for name, line := range bad {
		if line == good {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if err := auditschema.Line([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
}

// TestChainedLinesValidate validates what a chained, signed Logger writes,
// checkpoints included.
func TestChainedLinesValidate(t *testing.T) {
	var buf bytes.Buffer
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	l, err := audit.NewChainedLogger(audit.ChainConfig{SigningKey: key, CheckpointInterval: 3}, audit.WriterSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range kindSamples() {
		if err := l.Log(e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, buf.Bytes(), 0o600)
	kinds, err := auditschema.File(path)
	if err != nil {
		t.Fatal(err)
	}
	if kinds[audit.KindCheckpoint] < 5 || kinds[audit.KindS3] != 10 || kinds[audit.KindAccessRequest] != 4 {
		t.Fatalf("kinds %v", kinds)
	}
}
