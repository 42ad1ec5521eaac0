// Package s3req classifies an S3 request (method, path, query and headers)
// into the S3 operation, bucket and key it names and the IAM checks it needs.
//
// Classification mirrors MinIO's router (the component that executes the
// request) but follows AWS IAM semantics for which actions are required. It
// is an allowlist: a query parameter, subresource or method it does not know
// is an error, never a fallback to GetObject or PutObject. Keys are
// normalized exactly as MinIO will interpret them, and inputs MinIO would
// rewrite (dot segments, "//", "\") are rejected, so that what is authorized
// is what the storage service executes.
package s3req
