package s3req

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/authz"
)

var testCfg = Config{VirtualHostDomains: []string{"s3.local", "S3.Example.COM."}}

// newReq builds a server-side request as net/http would hand it over:
// Path decoded, RawQuery raw, headers canonical.
func newReq(method, host, path, rawQuery string, hdr ...string) *http.Request {
	r := &http.Request{
		Method: method,
		Host:   host,
		URL:    &url.URL{Path: path, RawQuery: rawQuery},
		Header: http.Header{},
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func ck(a authz.Action, res string) Check { return Check{Action: a, Resource: res} }

const (
	bARN = "arn:aws:s3:::bkt"
	kARN = "arn:aws:s3:::bkt/k"
)

type classifyCase struct {
	name             string
	method, host     string
	path, query      string
	hdr              []string
	op               Operation
	bucket, key      string
	vhost            bool
	checks           []Check
	s3               authz.S3Context
	upstream         string
	copySource       *ObjectRef
	copySourceHeader string
	needsBody        bool
	bypass           bool
	errCode          string
	errStatus        int
}

func TestClassify(t *testing.T) {
	cases := []classifyCase{
		// Service root.
		{name: "ListBuckets", method: "GET", path: "/", op: OpListBuckets,
			checks: []Check{ck(authz.ListAllMyBuckets, "*")}, upstream: "/"},
		{name: "ListBuckets double slash", method: "GET", path: "//", op: OpListBuckets,
			checks: []Check{ck(authz.ListAllMyBuckets, "*")}, upstream: "/"},
		{name: "ListBuckets empty path", method: "GET", path: "", op: OpListBuckets,
			checks: []Check{ck(authz.ListAllMyBuckets, "*")}, upstream: "/"},
		{name: "ListBuckets with x-id and presign params", method: "GET", path: "/",
			query: "x-id=ListBuckets&X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-date=20250101T000000Z&max-buckets=10",
			op:    OpListBuckets, checks: []Check{ck(authz.ListAllMyBuckets, "*")}, upstream: "/"},
		{name: "PUT root", method: "PUT", path: "/", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "HEAD root", method: "HEAD", path: "/", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "root with subresource", method: "GET", path: "/", query: "acl", errCode: "InvalidArgument"},
		{name: "root with prefix", method: "GET", path: "/", query: "prefix=a", errCode: "InvalidArgument"},
		{name: "root unknown param", method: "GET", path: "/", query: "foo=1", errCode: "NotImplemented", errStatus: 501},
		{name: "STS POST query", method: "POST", path: "/", query: "Action=AssumeRole&Version=2011-06-15", op: OpSTS, upstream: "/"},
		{name: "STS GET query", method: "GET", path: "/", query: "Action=AssumeRoleWithWebIdentity&WebIdentityToken=x", op: OpSTS, upstream: "/"},
		{name: "STS POST form", method: "POST", path: "/", hdr: []string{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, op: OpSTS, upstream: "/"},
		{name: "POST root without Action", method: "POST", path: "/", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "Action on a bucket", method: "GET", path: "/bkt", query: "Action=AssumeRole", errCode: "NotImplemented", errStatus: 501},

		// Reserved paths.
		{name: "minio admin", method: "GET", path: "/minio/admin/v3/info", errCode: "AccessDenied", errStatus: 403},
		{name: "minio health", method: "GET", path: "/minio/health/live", errCode: "AccessDenied", errStatus: 403},
		{name: "minio bucket", method: "GET", path: "/minio", errCode: "AccessDenied", errStatus: 403},
		{name: "minio vhost", method: "GET", host: "minio.s3.local", path: "/", errCode: "AccessDenied", errStatus: 403},
		{name: "prometheus metrics", method: "GET", path: "/prometheus/metrics", errCode: "AccessDenied", errStatus: 403},
		{name: "prometheus other key", method: "GET", path: "/prometheus/data", op: OpGetObject, bucket: "prometheus", key: "data",
			checks: []Check{ck(authz.GetObject, "arn:aws:s3:::prometheus/data")}, upstream: "/prometheus/data"},

		// Bucket operations (checklist §2.13).
		{name: "HeadBucket", method: "HEAD", path: "/bkt", op: OpHeadBucket, bucket: "bkt",
			checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt"},
		{name: "ListObjectsV2", method: "GET", path: "/bkt", query: "list-type=2&prefix=home%2Falice%2F&delimiter=%2F&max-keys=100&start-after=x&continuation-token=abc&fetch-owner=true&encoding-type=url",
			op: OpListObjectsV2, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Prefix: authz.V("home/alice/"), Delimiter: authz.V("/"), MaxKeys: authz.V("100")}},
		{name: "ListObjectsV2 no prefix", method: "GET", path: "/bkt/", query: "list-type=2",
			op: OpListObjectsV2, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt"},
		{name: "ListObjectsV2 empty prefix", method: "GET", path: "/bkt", query: "list-type=2&prefix=",
			op: OpListObjectsV2, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Prefix: authz.V("")}},
		{name: "ListObjectsV2 bad list-type", method: "GET", path: "/bkt", query: "list-type=3", errCode: "InvalidArgument"},
		{name: "ListObjects v1", method: "GET", path: "/bkt", query: "prefix=p&marker=m&delimiter=",
			op: OpListObjects, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Prefix: authz.V("p"), Delimiter: authz.V("")}},
		{name: "ListObjects v1 plain", method: "GET", path: "/bkt",
			op: OpListObjects, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt"},
		{name: "ListObjectVersions", method: "GET", path: "/bkt", query: "versions&prefix=a/&key-marker=k&version-id-marker=v",
			op: OpListObjectVersions, bucket: "bkt", checks: []Check{ck(authz.ListBucketVersions, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Prefix: authz.V("a/")}},
		{name: "ListMultipartUploads", method: "GET", path: "/bkt", query: "uploads=&prefix=a/&upload-id-marker=u&max-uploads=5",
			op: OpListMultipartUploads, bucket: "bkt", checks: []Check{ck(authz.ListBucketMultipartUploads, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Prefix: authz.V("a/")}},
		{name: "GetBucketLocation", method: "GET", path: "/bkt", query: "location",
			op: OpGetBucketLocation, bucket: "bkt", checks: []Check{ck(authz.GetBucketLocation, bARN)}, upstream: "/bkt"},
		{name: "CreateBucket", method: "PUT", path: "/bkt",
			op: OpCreateBucket, bucket: "bkt", checks: []Check{ck(authz.CreateBucket, bARN)}, upstream: "/bkt"},
		{name: "CreateBucket object lock", method: "PUT", path: "/bkt", hdr: []string{"x-amz-bucket-object-lock-enabled", "True"},
			op: OpCreateBucket, bucket: "bkt", upstream: "/bkt",
			checks: []Check{ck(authz.CreateBucket, bARN), ck(authz.PutBucketObjectLockConfiguration, bARN), ck(authz.PutBucketVersioning, bARN)}},
		{name: "CreateBucket acl", method: "PUT", path: "/bkt", hdr: []string{"x-amz-acl", "public-read", "x-amz-object-ownership", "BucketOwnerEnforced"},
			op: OpCreateBucket, bucket: "bkt", upstream: "/bkt",
			checks: []Check{ck(authz.CreateBucket, bARN), ck(authz.PutBucketAcl, bARN), ck(authz.PutBucketOwnershipControls, bARN)},
			s3:     authz.S3Context{ACL: authz.V("public-read"), ObjectOwnership: authz.V("BucketOwnerEnforced")}},
		{name: "DeleteBucket", method: "DELETE", path: "/bkt",
			op: OpDeleteBucket, bucket: "bkt", checks: []Check{ck(authz.DeleteBucket, bARN)}, upstream: "/bkt"},
		{name: "DeleteObjects", method: "POST", path: "/bkt", query: "delete", op: OpDeleteObjects, bucket: "bkt",
			upstream: "/bkt", needsBody: true},
		{name: "DeleteObjects x-id", method: "POST", path: "/bkt", query: "delete=&x-id=DeleteObjects", op: OpDeleteObjects, bucket: "bkt",
			upstream: "/bkt", needsBody: true},
		{name: "DeleteObjects bypass", method: "POST", path: "/bkt", query: "delete", hdr: []string{"x-amz-bypass-governance-retention", "true"},
			op: OpDeleteObjects, bucket: "bkt", upstream: "/bkt", needsBody: true, bypass: true},
		{name: "preflight bucket", method: "OPTIONS", path: "/bkt", op: OpPreflightRequest, bucket: "bkt", upstream: "/bkt"},
		{name: "preflight object", method: "OPTIONS", path: "/bkt//a b", op: OpPreflightRequest, bucket: "bkt", key: "a b", upstream: "/bkt/a b"},
		{name: "preflight presigned", method: "OPTIONS", path: "/bkt/k", query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x&uploadId=u&torrent",
			op: OpPreflightRequest, bucket: "bkt", key: "k", upstream: "/bkt/k"},
		{name: "preflight virtual host", method: "OPTIONS", host: "bkt.s3.example.com", path: "/k", op: OpPreflightRequest, bucket: "bkt", key: "k", vhost: true, upstream: "/bkt/k"},
		{name: "preflight dot segment", method: "OPTIONS", path: "/bkt/a/../b", errCode: "XMinioInvalidObjectName"},
		{name: "preflight minio", method: "OPTIONS", path: "/minio/admin/v3/info", errCode: "AccessDenied", errStatus: 403},
		{name: "preflight root", method: "OPTIONS", path: "/", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "PostObject", method: "POST", path: "/bkt", hdr: []string{"Content-Type", "multipart/form-data; boundary=xyz"},
			op: OpPostObject, bucket: "bkt", checks: []Check{ck(authz.PutObject, bARN)}, upstream: "/bkt", needsBody: true},
		{name: "PostObject with delete", method: "POST", path: "/bkt", query: "delete", hdr: []string{"Content-Type", "multipart/form-data; boundary=xyz"},
			errCode: "InvalidArgument"},
		{name: "POST bucket plain", method: "POST", path: "/bkt", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "PATCH bucket", method: "PATCH", path: "/bkt", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "unknown bucket subresource", method: "GET", path: "/bkt", query: "foo", errCode: "NotImplemented", errStatus: 501},
		{name: "ListenNotification denied", method: "GET", path: "/bkt", query: "events=s3:ObjectCreated:*", errCode: "NotImplemented", errStatus: 501},
		{name: "metadata extension denied", method: "GET", path: "/bkt", query: "list-type=2&metadata=true", errCode: "NotImplemented", errStatus: 501},
		{name: "object-only subresource on bucket", method: "GET", path: "/bkt", query: "retention", errCode: "InvalidArgument"},
		{name: "two subresources", method: "GET", path: "/bkt", query: "policy&acl", errCode: "InvalidArgument"},
		{name: "versionId on bucket", method: "GET", path: "/bkt", query: "versionId=1", errCode: "InvalidArgument"},
		{name: "HEAD bucket with subresource", method: "HEAD", path: "/bkt", query: "location", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "PUT versions", method: "PUT", path: "/bkt", query: "versions", errCode: "MethodNotAllowed", errStatus: 405},

		// Virtual-hosted style (§2.3).
		{name: "vhost GetObject", method: "GET", host: "my.dotted.bkt.s3.local:8443", path: "/a/b.txt",
			op: OpGetObject, bucket: "my.dotted.bkt", key: "a/b.txt", vhost: true,
			checks: []Check{ck(authz.GetObject, "arn:aws:s3:::my.dotted.bkt/a/b.txt")}, upstream: "/my.dotted.bkt/a/b.txt"},
		{name: "vhost list", method: "GET", host: "MyBkt.S3.Local", path: "/", query: "list-type=2&prefix=x/",
			op: OpListObjectsV2, bucket: "mybkt", vhost: true, checks: []Check{ck(authz.ListBucket, "arn:aws:s3:::mybkt")},
			upstream: "/mybkt", s3: authz.S3Context{Prefix: authz.V("x/")}},
		{name: "vhost second domain", method: "HEAD", host: "bkt.s3.example.com", path: "/k",
			op: OpHeadObject, bucket: "bkt", key: "k", vhost: true,
			checks: []Check{ck(authz.GetObject, "arn:aws:s3:::bkt/k")}, upstream: "/bkt/k"},
		{name: "vhost suffix not anchored", method: "GET", host: "x.s3.local.evil.com", path: "/bkt/k",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "vhost label not anchored", method: "GET", host: "xs3.local", path: "/bkt/k",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "domain itself is path style", method: "GET", host: "s3.local:9000", path: "/bkt/k",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "vhost invalid bucket", method: "GET", host: "a..b.s3.local", path: "/k", errCode: "InvalidBucketName"},
		{name: "vhost leading slashes collapsed", method: "GET", host: "bkt.s3.local", path: "//k",
			op: OpGetObject, bucket: "bkt", key: "k", vhost: true,
			checks: []Check{ck(authz.GetObject, "arn:aws:s3:::bkt/k")}, upstream: "/bkt/k"},
		{name: "vhost root is bucket", method: "DELETE", host: "bkt.s3.local", path: "/",
			op: OpDeleteBucket, bucket: "bkt", vhost: true, checks: []Check{ck(authz.DeleteBucket, "arn:aws:s3:::bkt")}, upstream: "/bkt"},

		// Object operations.
		{name: "GetObject", method: "GET", path: "/bkt/k", op: OpGetObject, bucket: "bkt", key: "k",
			checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "GetObject x-id and response-*", method: "GET", path: "/bkt/k",
			query: "x-id=GetObject&response-content-type=text%2Fplain&response-content-disposition=attachment&partNumber=2",
			op:    OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "GetObject presigned", method: "GET", path: "/bkt/k",
			query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=abc",
			op:    OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "GetObject version", method: "GET", path: "/bkt/k", query: "versionId=v1",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectVersion, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v1")}},
		{name: "HeadObject", method: "HEAD", path: "/bkt/k", op: OpHeadObject, bucket: "bkt", key: "k",
			checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "HeadObject version", method: "HEAD", path: "/bkt/k", query: "versionId=null", op: OpHeadObject, bucket: "bkt", key: "k",
			checks: []Check{ck(authz.GetObjectVersion, kARN)}, upstream: "/bkt/k", s3: authz.S3Context{VersionID: authz.V("null")}},
		{name: "HEAD object subresource", method: "HEAD", path: "/bkt/k", query: "tagging", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "GetObjectAttributes", method: "GET", path: "/bkt/k", query: "attributes",
			op: OpGetObjectAttributes, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectAttributes, kARN)}, upstream: "/bkt/k"},
		{name: "GetObjectAttributes version", method: "GET", path: "/bkt/k", query: "attributes&versionId=3",
			op: OpGetObjectAttributes, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectVersionAttributes, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("3")}},
		{name: "PutObject", method: "PUT", path: "/bkt/k", query: "x-id=PutObject", hdr: []string{"x-amz-server-side-encryption", "aws:kms"},
			op: OpPutObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObject, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{ServerSideEncryption: authz.V("aws:kms")}},
		{name: "PutObject hidden permissions", method: "PUT", path: "/bkt/k", hdr: []string{
			"x-amz-tagging", "a=b", "x-amz-grant-read", "id=x", "x-amz-object-lock-mode", "GOVERNANCE",
			"x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z", "x-amz-object-lock-legal-hold", "ON"},
			op: OpPutObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks: []Check{ck(authz.PutObject, kARN), ck(authz.PutObjectTagging, kARN), ck(authz.PutObjectAcl, kARN),
				ck(authz.PutObjectRetention, kARN), ck(authz.PutObjectLegalHold, kARN)},
			s3: authz.S3Context{RequestTags: authz.TagSet{Keys: []string{"a"}, Values: []string{"b"}},
				ObjectLockMode: authz.V("GOVERNANCE"), ObjectLockRetainUntilDate: authz.V("2030-01-01T00:00:00Z"), ObjectLockLegalHold: authz.V("ON"),
				GrantRead: authz.V("id=x")}},
		{name: "PutObject private ACL needs no ACL permission", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-acl", "Private"},
			op: OpPutObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObject, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{ACL: authz.V("Private")}},
		{name: "PutObject private ACL plus a grant", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-acl", "private", "x-amz-grant-read", "id=x"},
			op: OpPutObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObject, kARN), ck(authz.PutObjectAcl, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{ACL: authz.V("private"), GrantRead: authz.V("id=x")}},
		// x-amz-* parameters are header aliases: the caller moves them into
		// headers before Classify, which neither reads nor forwards them.
		{name: "PutObject presigned hoisted tagging", method: "PUT", path: "/bkt/k", query: "X-Amz-Signature=x&x-amz-tagging=a%3Db&X-Amz-Acl=public-read&x-amz-server-side-encryption=AES256",
			op: OpPutObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks: []Check{ck(authz.PutObject, kARN)}},
		{name: "PutObject versionId", method: "PUT", path: "/bkt/k", query: "versionId=1", errCode: "InvalidArgument"},
		{name: "PutObject prefix", method: "PUT", path: "/bkt/k", query: "prefix=x", errCode: "InvalidArgument"},
		{name: "PutObject stray partNumber", method: "PUT", path: "/bkt/k", query: "partNumber=1", errCode: "InvalidArgument"},
		{name: "PutObject bucket subresource", method: "PUT", path: "/bkt/k", query: "versioning", errCode: "InvalidArgument"},
		{name: "PutObject unknown subresource", method: "PUT", path: "/bkt/k", query: "torrent", errCode: "NotImplemented", errStatus: 501},
		{name: "CopyObject", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "/src/dir/a%2Bb.txt", "x-amz-tagging", "t=1", "x-amz-server-side-encryption", "AES256"},
			op: OpCopyObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks:     []Check{ck(authz.PutObject, kARN), ck(authz.GetObject, "arn:aws:s3:::src/dir/a+b.txt"), ck(authz.PutObjectTagging, kARN)},
			s3:         authz.S3Context{CopySource: authz.V("src/dir/a+b.txt"), ServerSideEncryption: authz.V("AES256")},
			copySource: &ObjectRef{Bucket: "src", Key: "dir/a+b.txt"}, copySourceHeader: "/src/dir/a%2Bb.txt"},
		{name: "CopyObject version", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "src/a%20b?versionId=v%2F1"},
			op: OpCopyObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks:     []Check{ck(authz.PutObject, kARN), ck(authz.GetObjectVersion, "arn:aws:s3:::src/a b")},
			s3:         authz.S3Context{CopySource: authz.V("src/a b")},
			copySource: &ObjectRef{Bucket: "src", Key: "a b", VersionID: "v/1"}, copySourceHeader: "/src/a%20b?versionId=v%2F1"},
		{name: "CopyObject source key ?versionId", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "src/%3FversionId"},
			op: OpCopyObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks:     []Check{ck(authz.PutObject, kARN), ck(authz.GetObject, "arn:aws:s3:::src/?versionId")},
			s3:         authz.S3Context{CopySource: authz.V("src/?versionId")},
			copySource: &ObjectRef{Bucket: "src", Key: "?versionId"}, copySourceHeader: "/src/%3FversionId"},
		{name: "CopyObject path traversal attack", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt//home/alice/../bob/secret"}, errCode: "InvalidArgument"},
		{name: "CopyObject dot segment", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/home/alice/../bob/secret"}, errCode: "InvalidArgument"},
		{name: "CopyObject encoded dot segment", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/home/alice/%2E%2E/bob"}, errCode: "InvalidArgument"},
		{name: "CopyObject backslash", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/a\\b"}, errCode: "InvalidArgument"},
		{name: "CopyObject NUL", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/a%00b"}, errCode: "InvalidArgument"},
		{name: "CopyObject ARN", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/k"}, errCode: "InvalidArgument"},
		{name: "CopyObject host form", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "//bkt/key"}, errCode: "InvalidArgument"},
		{name: "CopyObject fragment", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/a#b"}, errCode: "InvalidArgument"},
		{name: "CopyObject no key", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt"}, errCode: "InvalidArgument"},
		{name: "CopyObject empty", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", ""}, errCode: "InvalidArgument"},
		{name: "CopyObject extra query", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/k?versionId=1&x=2"}, errCode: "InvalidArgument"},
		{name: "CopyObject duplicate versionId", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/k?versionId=1&versionId=2"}, errCode: "InvalidArgument"},
		{name: "CopyObject two headers", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/a", "x-amz-copy-source", "bkt/b"}, errCode: "InvalidArgument"},
		{name: "CopyObject bad source bucket", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "B/k"}, errCode: "InvalidBucketName"},
		{name: "CopyObject range", method: "PUT", path: "/bkt/k", hdr: []string{"x-amz-copy-source", "bkt/a", "x-amz-copy-source-range", "bytes=0-9"}, errCode: "InvalidArgument"},
		{name: "copy source in query", method: "PUT", path: "/bkt/k", query: "x-amz-copy-source=bkt%2Fa", errCode: "InvalidArgument"},
		{name: "copy source with tagging subresource", method: "PUT", path: "/bkt/k", query: "retention", hdr: []string{"x-amz-copy-source", "bkt/a"}, errCode: "InvalidArgument"},
		{name: "DeleteObject", method: "DELETE", path: "/bkt/k", op: OpDeleteObject, bucket: "bkt", key: "k",
			checks: []Check{ck(authz.DeleteObject, kARN)}, upstream: "/bkt/k"},
		{name: "DeleteObject version bypass", method: "DELETE", path: "/bkt/k", query: "versionId=v", hdr: []string{"x-amz-bypass-governance-retention", "TRUE"},
			op: OpDeleteObject, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks: []Check{ck(authz.DeleteObjectVersion, kARN), ck(authz.BypassGovernanceRetention, kARN)},
			s3:     authz.S3Context{VersionID: authz.V("v")}},
		{name: "DeleteObject bypass false", method: "DELETE", path: "/bkt/k", hdr: []string{"x-amz-bypass-governance-retention", "false"},
			op: OpDeleteObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.DeleteObject, kARN)}, upstream: "/bkt/k"},
		{name: "empty versionId", method: "DELETE", path: "/bkt/k", query: "versionId=", errCode: "InvalidArgument"},

		// Multipart (§2.15).
		{name: "CreateMultipartUpload", method: "POST", path: "/bkt/k", query: "uploads", hdr: []string{"x-amz-acl", "public-read", "x-amz-server-side-encryption", "AES256"},
			op: OpCreateMultipartUpload, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks: []Check{ck(authz.PutObject, kARN), ck(authz.PutObjectAcl, kARN)},
			s3:     authz.S3Context{ServerSideEncryption: authz.V("AES256"), ACL: authz.V("public-read")}},
		{name: "UploadPart", method: "PUT", path: "/bkt/k", query: "partNumber=1&uploadId=U&x-id=UploadPart",
			op: OpUploadPart, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObject, kARN)}, upstream: "/bkt/k"},
		{name: "UploadPart no partNumber", method: "PUT", path: "/bkt/k", query: "uploadId=U", errCode: "InvalidArgument"},
		{name: "UploadPart bad partNumber", method: "PUT", path: "/bkt/k", query: "uploadId=U&partNumber=10001", errCode: "InvalidArgument"},
		{name: "UploadPart partNumber sign", method: "PUT", path: "/bkt/k", query: "uploadId=U&partNumber=%2B1", errCode: "InvalidArgument"},
		{name: "UploadPart empty uploadId", method: "PUT", path: "/bkt/k", query: "uploadId=&partNumber=1", errCode: "InvalidArgument"},
		{name: "UploadPartCopy", method: "PUT", path: "/bkt/k", query: "partNumber=2&uploadId=U",
			hdr: []string{"x-amz-copy-source", "/src/s", "x-amz-copy-source-range", "bytes=0-99"},
			op:  OpUploadPartCopy, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks:     []Check{ck(authz.PutObject, kARN), ck(authz.GetObject, "arn:aws:s3:::src/s")},
			s3:         authz.S3Context{CopySource: authz.V("src/s")},
			copySource: &ObjectRef{Bucket: "src", Key: "s"}, copySourceHeader: "/src/s"},
		{name: "CompleteMultipartUpload", method: "POST", path: "/bkt/k", query: "uploadId=U",
			op: OpCompleteMultipartUpload, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObject, kARN)}, upstream: "/bkt/k"},
		{name: "AbortMultipartUpload", method: "DELETE", path: "/bkt/k", query: "uploadId=U",
			op: OpAbortMultipartUpload, bucket: "bkt", key: "k", checks: []Check{ck(authz.AbortMultipartUpload, kARN)}, upstream: "/bkt/k"},
		{name: "ListParts", method: "GET", path: "/bkt/k", query: "uploadId=U&max-parts=10&part-number-marker=2",
			op: OpListParts, bucket: "bkt", key: "k", checks: []Check{ck(authz.ListMultipartUploadParts, kARN)}, upstream: "/bkt/k"},
		{name: "GET object uploads", method: "GET", path: "/bkt/k", query: "uploads", errCode: "MethodNotAllowed", errStatus: 405},

		// Tagging, ACL, lock, select, restore.
		{name: "GetObjectTagging", method: "GET", path: "/bkt/k", query: "tagging",
			op: OpGetObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectTagging, kARN)}, upstream: "/bkt/k"},
		{name: "GetObjectTagging version", method: "GET", path: "/bkt/k", query: "tagging&versionId=v",
			op: OpGetObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectVersionTagging, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v")}},
		{name: "PutObjectTagging", method: "PUT", path: "/bkt/k", query: "tagging",
			op: OpPutObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObjectTagging, kARN)}, upstream: "/bkt/k"},
		{name: "PutObjectTagging version", method: "PUT", path: "/bkt/k", query: "tagging=&versionId=v",
			op: OpPutObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObjectVersionTagging, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v")}},
		{name: "DeleteObjectTagging", method: "DELETE", path: "/bkt/k", query: "tagging",
			op: OpDeleteObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.DeleteObjectTagging, kARN)}, upstream: "/bkt/k"},
		{name: "DeleteObjectTagging version", method: "DELETE", path: "/bkt/k", query: "tagging&versionId=v",
			op: OpDeleteObjectTagging, bucket: "bkt", key: "k", checks: []Check{ck(authz.DeleteObjectVersionTagging, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v")}},
		{name: "GetObjectAcl", method: "GET", path: "/bkt/k", query: "acl",
			op: OpGetObjectAcl, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectAcl, kARN)}, upstream: "/bkt/k"},
		{name: "GetObjectAcl version", method: "GET", path: "/bkt/k", query: "acl&versionId=v",
			op: OpGetObjectAcl, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectVersionAcl, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v")}},
		{name: "PutObjectAcl", method: "PUT", path: "/bkt/k", query: "acl",
			op: OpPutObjectAcl, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObjectAcl, kARN)}, upstream: "/bkt/k"},
		{name: "PutObjectAcl version", method: "PUT", path: "/bkt/k", query: "acl&versionId=v",
			op: OpPutObjectAcl, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObjectVersionAcl, kARN)}, upstream: "/bkt/k",
			s3: authz.S3Context{VersionID: authz.V("v")}},
		{name: "DELETE object acl", method: "DELETE", path: "/bkt/k", query: "acl", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "GetObjectRetention", method: "GET", path: "/bkt/k", query: "retention",
			op: OpGetObjectRetention, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectRetention, kARN)}, upstream: "/bkt/k"},
		{name: "PutObjectRetention bypass", method: "PUT", path: "/bkt/k", query: "retention", hdr: []string{"x-amz-bypass-governance-retention", "true"},
			op: OpPutObjectRetention, bucket: "bkt", key: "k", upstream: "/bkt/k",
			checks: []Check{ck(authz.PutObjectRetention, kARN), ck(authz.BypassGovernanceRetention, kARN)}},
		{name: "GetObjectLegalHold", method: "GET", path: "/bkt/k", query: "legal-hold",
			op: OpGetObjectLegalHold, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObjectLegalHold, kARN)}, upstream: "/bkt/k"},
		{name: "PutObjectLegalHold", method: "PUT", path: "/bkt/k", query: "legal-hold",
			op: OpPutObjectLegalHold, bucket: "bkt", key: "k", checks: []Check{ck(authz.PutObjectLegalHold, kARN)}, upstream: "/bkt/k"},
		{name: "SelectObjectContent", method: "POST", path: "/bkt/k", query: "select&select-type=2",
			op: OpSelectObjectContent, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "Select without type", method: "POST", path: "/bkt/k", query: "select", errCode: "InvalidArgument"},
		{name: "RestoreObject", method: "POST", path: "/bkt/k", query: "restore",
			op: OpRestoreObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.RestoreObject, kARN)}, upstream: "/bkt/k"},
		{name: "POST object plain", method: "POST", path: "/bkt/k", errCode: "MethodNotAllowed", errStatus: 405},
		{name: "unknown object subresource", method: "GET", path: "/bkt/k", query: "torrent", errCode: "NotImplemented", errStatus: 501},
		{name: "GetObject with prefix", method: "GET", path: "/bkt/k", query: "prefix=a", errCode: "InvalidArgument"},

		// Query syntax (§1.5).
		{name: "semicolon", method: "GET", path: "/bkt", query: "a=1;b=2", errCode: "InvalidArgument"},
		{name: "bad escape", method: "GET", path: "/bkt", query: "prefix=%zz", errCode: "InvalidArgument"},
		{name: "dup prefix", method: "GET", path: "/bkt", query: "list-type=2&prefix=home/alice/&prefix=home/bob/", errCode: "InvalidArgument"},
		{name: "dup delimiter", method: "GET", path: "/bkt", query: "delimiter=/&delimiter=", errCode: "InvalidArgument"},
		{name: "dup versionId", method: "GET", path: "/bkt/k", query: "versionId=1&versionId=2", errCode: "InvalidArgument"},
		{name: "dup uploadId", method: "DELETE", path: "/bkt/k", query: "uploadId=1&uploadId=2", errCode: "InvalidArgument"},
		{name: "dup partNumber", method: "PUT", path: "/bkt/k", query: "uploadId=1&partNumber=1&partNumber=2", errCode: "InvalidArgument"},
		{name: "dup list-type", method: "GET", path: "/bkt", query: "list-type=2&list-type=2", errCode: "InvalidArgument"},
		{name: "dup max-keys", method: "GET", path: "/bkt", query: "max-keys=1&max-keys=2", errCode: "InvalidArgument"},
		{name: "dup subresource", method: "GET", path: "/bkt/k", query: "tagging&tagging=", errCode: "InvalidArgument"},
		{name: "dup auth param", method: "GET", path: "/bkt/k", query: "X-Amz-Signature=a&x-amz-signature=b", errCode: "InvalidArgument"},
		{name: "prefix dot segment", method: "GET", path: "/bkt", query: "list-type=2&prefix=home/alice/../bob/", errCode: "InvalidArgument"},
		{name: "prefix dot", method: "GET", path: "/bkt", query: "prefix=.", errCode: "InvalidArgument"},
		{name: "delimiter dots allowed", method: "GET", path: "/bkt", query: "delimiter=..",
			op: OpListObjects, bucket: "bkt", checks: []Check{ck(authz.ListBucket, bARN)}, upstream: "/bkt",
			s3: authz.S3Context{Delimiter: authz.V("..")}},
		{name: "subresource with value", method: "GET", path: "/bkt", query: "versions=foo",
			op: OpListObjectVersions, bucket: "bkt", checks: []Check{ck(authz.ListBucketVersions, bARN)}, upstream: "/bkt"},
		{name: "empty segments ignored", method: "GET", path: "/bkt/k", query: "&&x-id=GetObject&",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},

		// Key normalization (§2.16).
		{name: "leading slashes collapsed", method: "PUT", path: "/bkt//home/alice/x",
			op: OpPutObject, bucket: "bkt", key: "home/alice/x", checks: []Check{ck(authz.PutObject, "arn:aws:s3:::bkt/home/alice/x")}, upstream: "/bkt/home/alice/x"},
		{name: "many leading slashes", method: "GET", path: "/bkt////k",
			op: OpGetObject, bucket: "bkt", key: "k", checks: []Check{ck(authz.GetObject, kARN)}, upstream: "/bkt/k"},
		{name: "dotdot segment", method: "GET", path: "/bkt/home/alice/../bob/x", errCode: "XMinioInvalidObjectName"},
		{name: "dot segment", method: "GET", path: "/bkt/./x", errCode: "XMinioInvalidObjectName"},
		{name: "trailing dotdot", method: "GET", path: "/bkt/a/..", errCode: "XMinioInvalidObjectName"},
		{name: "spaced dotdot", method: "GET", path: "/bkt/a/ .. /x", errCode: "XMinioInvalidObjectName"},
		{name: "backslash", method: "GET", path: "/bkt/home\\alice\\..\\bob", errCode: "XMinioInvalidObjectName"},
		{name: "inner double slash", method: "GET", path: "/bkt/a//b", errCode: "XMinioInvalidObjectName"},
		{name: "NUL", method: "GET", path: "/bkt/a\x00b", errCode: "XMinioInvalidObjectName"},
		{name: "invalid UTF-8", method: "GET", path: "/bkt/a\xffb", errCode: "XMinioInvalidObjectName"},
		{name: "only slashes", method: "GET", path: "/bkt//", errCode: "XMinioInvalidObjectName"},
		{name: "key too long", method: "PUT", path: "/bkt/" + strings.Repeat("a", 1025), errCode: "KeyTooLongError"},
		{name: "key 1024 ok", method: "PUT", path: "/bkt/" + strings.Repeat("a", 1024), op: OpPutObject, bucket: "bkt", key: strings.Repeat("a", 1024),
			checks: []Check{ck(authz.PutObject, "arn:aws:s3:::bkt/"+strings.Repeat("a", 1024))}, upstream: "/bkt/" + strings.Repeat("a", 1024)},
		{name: "key ?versionId", method: "GET", path: "/bkt/?versionId",
			op: OpGetObject, bucket: "bkt", key: "?versionId", checks: []Check{ck(authz.GetObject, "arn:aws:s3:::bkt/?versionId")}, upstream: "/bkt/?versionId"},
		{name: "key trailing slash", method: "PUT", path: "/bkt/dir/",
			op: OpPutObject, bucket: "bkt", key: "dir/", checks: []Check{ck(authz.PutObject, "arn:aws:s3:::bkt/dir/")}, upstream: "/bkt/dir/"},
		{name: "key dots in names", method: "GET", path: "/bkt/a..b/.c/...",
			op: OpGetObject, bucket: "bkt", key: "a..b/.c/...", checks: []Check{ck(authz.GetObject, "arn:aws:s3:::bkt/a..b/.c/...")}, upstream: "/bkt/a..b/.c/..."},
		{name: "relative path", method: "GET", path: "b/k", errCode: "InvalidURI"},

		// Bucket names.
		{name: "bucket upper case", method: "GET", path: "/Bkt", errCode: "InvalidBucketName"},
		{name: "bucket short", method: "GET", path: "/ab", errCode: "InvalidBucketName"},
		{name: "bucket ip", method: "GET", path: "/192.168.1.1", errCode: "InvalidBucketName"},
		{name: "bucket dotdot", method: "GET", path: "/a..b", errCode: "InvalidBucketName"},
		{name: "bucket dash dot", method: "GET", path: "/a-.b", errCode: "InvalidBucketName"},
		{name: "bucket trailing dash", method: "GET", path: "/ab-", errCode: "InvalidBucketName"},
		{name: "bucket underscore", method: "GET", path: "/a_b", errCode: "InvalidBucketName"},
		{name: "bucket empty", method: "GET", path: "//k", errCode: "InvalidBucketName"},
		{name: "bucket 63", method: "HEAD", path: "/" + strings.Repeat("a", 63), op: OpHeadBucket, bucket: strings.Repeat("a", 63),
			checks: []Check{ck(authz.ListBucket, "arn:aws:s3:::"+strings.Repeat("a", 63))}, upstream: "/" + strings.Repeat("a", 63)},
		{name: "bucket 64", method: "HEAD", path: "/" + strings.Repeat("a", 64), errCode: "InvalidBucketName"},
	}

	// Bucket configuration subresources.
	type cfgRow struct {
		sub    string
		method string
		op     Operation
		act    authz.Action
	}
	cfgRows := []cfgRow{
		{"policy", "GET", OpGetBucketPolicy, authz.GetBucketPolicy},
		{"policy", "PUT", OpPutBucketPolicy, authz.PutBucketPolicy},
		{"policy", "DELETE", OpDeleteBucketPolicy, authz.DeleteBucketPolicy},
		{"policyStatus", "GET", OpGetBucketPolicyStatus, authz.GetBucketPolicyStatus},
		{"lifecycle", "GET", OpGetBucketLifecycleConfiguration, authz.GetLifecycleConfiguration},
		{"lifecycle", "PUT", OpPutBucketLifecycleConfiguration, authz.PutLifecycleConfiguration},
		{"lifecycle", "DELETE", OpDeleteBucketLifecycle, authz.PutLifecycleConfiguration},
		{"cors", "GET", OpGetBucketCors, authz.GetBucketCORS},
		{"cors", "PUT", OpPutBucketCors, authz.PutBucketCORS},
		{"cors", "DELETE", OpDeleteBucketCors, authz.PutBucketCORS},
		{"tagging", "GET", OpGetBucketTagging, authz.GetBucketTagging},
		{"tagging", "PUT", OpPutBucketTagging, authz.PutBucketTagging},
		{"tagging", "DELETE", OpDeleteBucketTagging, authz.PutBucketTagging},
		{"versioning", "GET", OpGetBucketVersioning, authz.GetBucketVersioning},
		{"versioning", "PUT", OpPutBucketVersioning, authz.PutBucketVersioning},
		{"encryption", "GET", OpGetBucketEncryption, authz.GetEncryptionConfiguration},
		{"encryption", "PUT", OpPutBucketEncryption, authz.PutEncryptionConfiguration},
		{"encryption", "DELETE", OpDeleteBucketEncryption, authz.PutEncryptionConfiguration},
		{"object-lock", "GET", OpGetObjectLockConfiguration, authz.GetBucketObjectLockConfiguration},
		{"object-lock", "PUT", OpPutObjectLockConfiguration, authz.PutBucketObjectLockConfiguration},
		{"replication", "GET", OpGetBucketReplication, authz.GetReplicationConfiguration},
		{"replication", "PUT", OpPutBucketReplication, authz.PutReplicationConfiguration},
		{"replication", "DELETE", OpDeleteBucketReplication, authz.PutReplicationConfiguration},
		{"notification", "GET", OpGetBucketNotificationConfiguration, authz.GetBucketNotification},
		{"notification", "PUT", OpPutBucketNotificationConfiguration, authz.PutBucketNotification},
		{"acl", "GET", OpGetBucketAcl, authz.GetBucketAcl},
		{"acl", "PUT", OpPutBucketAcl, authz.PutBucketAcl},
		{"website", "GET", OpGetBucketWebsite, authz.GetBucketWebsite},
		{"website", "DELETE", OpDeleteBucketWebsite, authz.DeleteBucketWebsite},
		{"logging", "GET", OpGetBucketLogging, authz.GetBucketLogging},
		{"ownershipControls", "GET", OpGetBucketOwnershipControls, authz.GetBucketOwnershipControls},
		{"requestPayment", "GET", OpGetBucketRequestPayment, authz.GetBucketRequestPayment},
		{"accelerate", "GET", OpGetBucketAccelerateConfiguration, authz.GetAccelerateConfiguration},
		{"publicAccessBlock", "GET", OpGetPublicAccessBlock, authz.GetBucketPublicAccessBlock},
	}
	supported := map[string]bool{}
	// MinIO runs these as CreateBucket (PUT) and DeleteBucket (DELETE):
	// never forwarded.
	for _, c := range []struct{ sub, method, op string }{
		{"website", "PUT", "PutBucketWebsite"}, {"logging", "PUT", "PutBucketLogging"},
		{"ownershipControls", "PUT", "PutBucketOwnershipControls"}, {"ownershipControls", "DELETE", "DeleteBucketOwnershipControls"},
		{"publicAccessBlock", "PUT", "PutPublicAccessBlock"}, {"publicAccessBlock", "DELETE", "DeletePublicAccessBlock"},
	} {
		supported[c.sub+" "+c.method] = true
		cases = append(cases, classifyCase{name: c.method + " ?" + c.sub + " run as a bucket operation", method: c.method, path: "/bkt", query: c.sub,
			errCode: "NotImplemented", errStatus: 501})
	}
	for _, c := range cfgRows {
		supported[c.sub+" "+c.method] = true
		cases = append(cases, classifyCase{
			name: c.method + " ?" + c.sub, method: c.method, path: "/bkt", query: c.sub,
			op: c.op, bucket: "bkt", checks: []Check{ck(c.act, bARN)}, upstream: "/bkt",
		})
	}
	for _, c := range cfgRows {
		for _, m := range []string{"GET", "PUT", "DELETE", "HEAD", "POST"} {
			if supported[c.sub+" "+m] {
				continue
			}
			supported[c.sub+" "+m] = true
			cases = append(cases, classifyCase{name: m + " ?" + c.sub + " unsupported", method: m, path: "/bkt", query: c.sub,
				errCode: "MethodNotAllowed", errStatus: 405})
		}
		if c.sub != "tagging" && c.sub != "acl" {
			cases = append(cases, classifyCase{name: c.method + " object ?" + c.sub, method: c.method, path: "/bkt/k", query: c.sub,
				errCode: "InvalidArgument"})
		}
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			host := tc.host
			if host == "" {
				host = "s3.local"
			}
			got, err := Classify(newReq(tc.method, host, tc.path, tc.query, tc.hdr...), testCfg)
			if tc.errCode != "" {
				if err == nil {
					t.Fatalf("Classify = %+v, want error %s", got, tc.errCode)
				}
				if err.Code != tc.errCode {
					t.Fatalf("error %v, want code %s", err, tc.errCode)
				}
				want := tc.errStatus
				if want == 0 {
					want = 400
				}
				if err.Status != want {
					t.Fatalf("error status %d, want %d (%v)", err.Status, want, err)
				}
				if err.Message == "" {
					t.Fatalf("error without message")
				}
				if got != nil {
					t.Fatalf("non-nil request with error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if got.Op != tc.op || got.Bucket != tc.bucket || got.Key != tc.key || got.VirtualHost != tc.vhost {
				t.Errorf("got op=%q bucket=%q key=%q vhost=%v, want op=%q bucket=%q key=%q vhost=%v",
					got.Op, got.Bucket, got.Key, got.VirtualHost, tc.op, tc.bucket, tc.key, tc.vhost)
			}
			if len(got.Checks) != len(tc.checks) || len(tc.checks) > 0 && !reflect.DeepEqual(got.Checks, tc.checks) {
				t.Errorf("checks = %v, want %v", got.Checks, tc.checks)
			}
			if !reflect.DeepEqual(got.S3, tc.s3) {
				t.Errorf("S3 = %+v, want %+v", got.S3, tc.s3)
			}
			if got.UpstreamPath != tc.upstream {
				t.Errorf("UpstreamPath = %q, want %q", got.UpstreamPath, tc.upstream)
			}
			if !reflect.DeepEqual(got.CopySource, tc.copySource) {
				t.Errorf("CopySource = %+v, want %+v", got.CopySource, tc.copySource)
			}
			if got.CopySourceHeader != tc.copySourceHeader {
				t.Errorf("CopySourceHeader = %q, want %q", got.CopySourceHeader, tc.copySourceHeader)
			}
			if got.BypassGovernance != tc.bypass {
				t.Errorf("BypassGovernance = %v, want %v", got.BypassGovernance, tc.bypass)
			}
			if got.NeedsBody != tc.needsBody {
				t.Errorf("NeedsBody = %v, want %v", got.NeedsBody, tc.needsBody)
			}
			if msg := checkInvariants(got); msg != "" {
				t.Error(msg)
			}
			if msg := checkUpstreamQuery(got.UpstreamQuery, tc.query); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// checkUpstreamQuery reports how up is not a subset of the client's query
// raw (same names, same decoded values), or holds an x-amz-* parameter.
func checkUpstreamQuery(up, raw string) string {
	sent, err := url.ParseQuery(raw)
	if err != nil {
		return "client query does not parse: " + err.Error()
	}
	got, err := url.ParseQuery(up)
	if err != nil {
		return "upstream query does not parse: " + err.Error()
	}
	if strings.Contains(up, "+") {
		return "upstream query encodes a space as '+'"
	}
	for k, vv := range got {
		if len(k) >= 6 && strings.EqualFold(k[:6], "x-amz-") {
			return "upstream query holds " + k
		}
		if k == "x-id" {
			return "upstream query holds x-id"
		}
		if len(vv) != 1 || len(sent[k]) != 1 || sent[k][0] != vv[0] {
			return fmt.Sprintf("upstream %s=%q, client sent %q", k, vv, sent[k])
		}
	}
	return ""
}

// The store gets only the parameters it reads for the operation, with the
// values that were classified.
func TestUpstreamQuery(t *testing.T) {
	for _, tc := range []struct{ method, path, query, want string }{
		{"GET", "/bkt", "list-type=2&prefix=a b&max-keys=5&x-id=ListObjectsV2&fetch-owner=true&encoding-type=url&marker=m",
			"encoding-type=url&fetch-owner=true&list-type=2&max-keys=5&prefix=a%20b"},
		{"GET", "/bkt", "prefix=p&marker=m&start-after=s", "marker=m&prefix=p"},
		{"GET", "/bkt/k", "versionId=v&response-content-type=text/plain&response-foo=x&x-amz-checksum-mode=ENABLED&partNumber=1",
			"partNumber=1&response-content-type=text%2Fplain&versionId=v"},
		{"HEAD", "/bkt/k", "response-cache-control=no-cache", "response-cache-control=no-cache"},
		{"PUT", "/bkt/k", "x-amz-server-side-encryption=AES256&response-content-type=x&X-Amz-Signature=s", ""},
		{"PUT", "/bkt/k", "uploadId=u%2B1&partNumber=3&x-id=UploadPart&max-parts=4", "partNumber=3&uploadId=u%2B1"},
		{"GET", "/bkt/k", "uploadId=u&max-parts=4&part-number-marker=2&max-keys=3", "max-parts=4&part-number-marker=2&uploadId=u"},
		{"POST", "/bkt", "delete&x-id=DeleteObjects", "delete="},
		{"GET", "/", "max-buckets=10&bucket-region=us&x-id=ListBuckets", "bucket-region=us&max-buckets=10"},
		{"PUT", "/bkt/k", "tagging&versionId=3", "tagging=&versionId=3"},
		{"GET", "/bkt", "location&max-keys=1", "location="},
		{"GET", "/bkt", "versions&key-marker=a&version-id-marker=b&upload-id-marker=c", "key-marker=a&version-id-marker=b&versions="},
	} {
		r, err := Classify(newReq(tc.method, "s3.local", tc.path, tc.query), testCfg)
		if err != nil {
			t.Errorf("%s %s?%s: %v", tc.method, tc.path, tc.query, err)
			continue
		}
		if r.UpstreamQuery != tc.want {
			t.Errorf("%s %s?%s: upstream query %q, want %q", tc.method, tc.path, tc.query, r.UpstreamQuery, tc.want)
		}
	}
}

func TestUriEncodePath(t *testing.T) {
	for in, want := range map[string]string{
		"/bkt/a b+c":             "/bkt/a%20b%2Bc",
		"/bkt/日本/ü.txt":          "/bkt/%E6%97%A5%E6%9C%AC/%C3%BC.txt",
		"/bkt/~user/x":           "/bkt/~user/x",
		"/bkt/a//b":              "/bkt/a//b",
		"/bkt/test%2F.txt":       "/bkt/test%252F.txt",
		"/bkt/_$folder$":         "/bkt/_%24folder%24",
		"/bkt/(1).jpg":           "/bkt/%281%29.jpg",
		"/bkt/a(1)!$&'*,;=:@.tx": "/bkt/a%281%29%21%24%26%27%2A%2C%3B%3D%3A%40.tx",
		"/bkt/?versionId":        "/bkt/%3FversionId",
		"/bkt/A-Z_a.z~0":         "/bkt/A-Z_a.z~0",
	} {
		if got := UriEncodePath(in); got != want {
			t.Errorf("UriEncodePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVirtualBucket(t *testing.T) {
	domains := []string{"s3.local", "local", "S3.Example.com"}
	for host, want := range map[string]string{
		"b.s3.local":             "b",
		"b.s3.local:8443":        "b",
		"my.dotted.bkt.s3.local": "my.dotted.bkt",
		"b.s3.local.":            "b",
		"x.y.local":              "x.y",
		"B.S3.EXAMPLE.COM":       "b",
		"s3.local":               "",
		"x.s3.local.evil.com":    "",
		"evils3.local.com":       "",
		"[::1]:9000":             "",
		"":                       "",
		".s3.local":              "",
	} {
		got, ok := virtualBucket(host, domains)
		if want == "" {
			if ok && host != ".s3.local" {
				t.Errorf("virtualBucket(%q) = %q, want none", host, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("virtualBucket(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

// checkInvariants returns a description of what is wrong with a successful
// classification, or "".
func checkInvariants(r *Request) string {
	if r.Op == "" {
		return "empty Op"
	}
	if r.Op == OpSTS {
		if len(r.Checks) != 0 || r.Bucket != "" {
			return "STS with checks or bucket"
		}
		return ""
	}
	if r.Bucket == "" {
		if r.Op != OpListBuckets || r.UpstreamPath != "/" || len(r.Checks) != 1 || r.Checks[0].Resource != "*" {
			return "request without bucket is not ListBuckets"
		}
		return ""
	}
	if !validBucketName(r.Bucket) {
		return "invalid bucket " + r.Bucket
	}
	want := "/" + r.Bucket
	if r.Key != "" {
		if checkKey(r.Key) != nil {
			return "invalid key " + r.Key
		}
		want += "/" + r.Key
	}
	if r.UpstreamPath != want {
		return "UpstreamPath " + r.UpstreamPath + " != " + want
	}
	if r.Op == OpPreflightRequest {
		if len(r.Checks) != 0 || r.UpstreamQuery != "" || r.NeedsBody {
			return "a preflight with checks, a query or a body"
		}
		return ""
	}
	if len(r.Checks) == 0 && !r.NeedsBody {
		return "no checks"
	}
	for _, c := range r.Checks {
		if !strings.HasPrefix(string(c.Action), "s3:") {
			return "bad action " + string(c.Action)
		}
		if !wellFormedResource(c.Resource) {
			return "bad resource " + c.Resource
		}
	}
	if (r.Op == OpCopyObject || r.Op == OpUploadPartCopy) != (r.CopySource != nil) {
		return "CopySource set on the wrong operation"
	}
	if r.CopySource != nil {
		ref, err := parseCopySource(r.CopySourceHeader)
		if err != nil || ref != *r.CopySource {
			return "CopySourceHeader does not round-trip: " + r.CopySourceHeader
		}
	}
	return ""
}

func wellFormedResource(res string) bool {
	rest, ok := strings.CutPrefix(res, arnPrefix)
	if !ok {
		return false
	}
	b, k, hasKey := strings.Cut(rest, "/")
	if !validBucketName(b) {
		return false
	}
	return !hasKey || checkKey(k) == nil
}
