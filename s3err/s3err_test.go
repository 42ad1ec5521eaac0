package s3err

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMarshalGolden(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
	}{
		{"access_denied", New(http.StatusForbidden, "AccessDenied",
			"User: arn:aws:sts::iamgate:assumed-role/member/alice is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no policy of its roles allows s3:GetObject.").WithResource("/b/k")},
		{"escaping", New(http.StatusBadRequest, "InvalidArgument", `key "<script>&'" is not valid`).WithResource("/b/<script>")},
		{"region", &Error{Status: 400, Code: "AuthorizationHeaderMalformed",
			Message: "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'.",
			Extra:   [][2]string{{"Region", "us-east-1"}}}},
		{"unavailable", ErrServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Marshal(tt.err, "0123456789ABCDEF")
			path := filepath.Join("testdata", tt.name+".xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	for _, method := range []string{"GET", "HEAD"} {
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequest(method, "/b/k", nil), ErrAccessDenied.WithResource("/b/k"), "RID")
		if rec.Code != 403 || rec.Header().Get("Content-Type") != "application/xml" {
			t.Fatalf("%s: %d %q", method, rec.Code, rec.Header().Get("Content-Type"))
		}
		if method == "HEAD" && rec.Body.Len() != 0 {
			t.Fatalf("HEAD got a body: %q", rec.Body.String())
		}
		if method == "GET" && rec.Body.Len() == 0 {
			t.Fatal("GET got no body")
		}
	}
}

func TestErrorWrapping(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	e := &Error{Status: 503, Code: "ServiceUnavailable", Message: "down", Cause: cause}
	if !errors.Is(e, cause) {
		t.Fatal("Cause is not unwrapped")
	}
	if got := string(Marshal(e, "x")); contains(got, "refused") {
		t.Fatalf("cause leaked into the document: %s", got)
	}
	if e.WithResource("/r") == e || ErrAccessDenied.WithResource("/x").Resource != "/x" || ErrAccessDenied.Resource != "" {
		t.Fatal("WithResource must copy")
	}
	_ = fmt.Sprint(e)
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
