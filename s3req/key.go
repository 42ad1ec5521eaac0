package s3req

import "github.com/iamgate/iamgate/s3err"

// ValidateKey checks an object key taken from somewhere other than the
// path (a form field, a request body) with the rules Classify applies to
// path keys (checklist §2.16): not empty, at most MaxKeyLength bytes,
// valid UTF-8, no leading '/', no NUL, no '\', no "//" and no "." or ".."
// segments. Callers that follow MinIO in trimming leading slashes must do
// so first.
func ValidateKey(key string) *s3err.Error { return checkKey(key) }
