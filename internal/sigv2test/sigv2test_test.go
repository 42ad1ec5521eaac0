package sigv2test

import (
	"net/http"
	"testing"
	"time"
)

// The signer reproduces the AWS documentation's examples (bucket
// johnsmith, the example key).
func TestAWSExamples(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	c := Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret}

	req, _ := http.NewRequest("PUT", "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg", nil)
	req.Header.Set("Content-Type", "image/jpeg")
	Sign(req, c, time.Date(2007, 3, 27, 21, 15, 45, 0, time.UTC), "johnsmith")
	// The documentation writes the date with +0000; Sign uses GMT.
	if got := StringToSign(req, "Tue, 27 Mar 2007 21:15:45 +0000", "johnsmith"); Signature(secret, got) != "MyyxeRY7whkBe+bq8fHCL/2kKUg=" {
		t.Fatalf("object PUT: %q", got)
	}
	req, _ = http.NewRequest("GET", "http://johnsmith.s3.amazonaws.com/?acl", nil)
	if got := StringToSign(req, "Tue, 27 Mar 2007 19:44:46 +0000", "johnsmith"); Signature(secret, got) != "c2WLPFtWHVgbEmeEG93a4cG37dM=" {
		t.Fatalf("fetch acl: %q", got)
	}
	req, _ = http.NewRequest("GET", "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg", nil)
	u := Presign(req, c, time.Unix(1175139620, 0), "johnsmith")
	if want := "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"; u != want {
		t.Fatalf("presigned %s", u)
	}
}
