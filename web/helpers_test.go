package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iamgate/iamgate/identity"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// presignForTest presigns req with a session's credentials.
func presignForTest(t *testing.T, req *http.Request, s *identity.Session, token string, now time.Time) {
	t.Helper()
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "600")
	req.URL.RawQuery = q.Encode()
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	u, _, err := signer.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: token},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	nr, _ := http.NewRequest(req.Method, u, nil)
	*req = *nr
}
