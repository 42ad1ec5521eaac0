package s3req_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/iamgate/iamgate/s3req"
)

func ExampleClassify() {
	r := httptest.NewRequest(http.MethodPut, "/photos/2025/a%20b.jpg?x-id=PutObject", nil)
	r.Host = "photos.s3.example.com:8443"
	r.Header.Set("X-Amz-Copy-Source", "/inbox/a%2Bb.jpg?versionId=3")
	r.Header.Set("X-Amz-Tagging", "team=web")

	req, err := s3req.Classify(r, s3req.Config{VirtualHostDomains: []string{"s3.example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Op, req.Bucket, req.Key)
	for _, c := range req.Checks {
		fmt.Println(c.Action, c.Resource)
	}
	fmt.Println(s3req.UriEncodePath(req.UpstreamPath))
	fmt.Println(req.CopySourceHeader)
	// Output:
	// CopyObject photos photos/2025/a b.jpg
	// s3:PutObject arn:aws:s3:::photos/photos/2025/a b.jpg
	// s3:GetObjectVersion arn:aws:s3:::inbox/a+b.jpg
	// s3:PutObjectTagging arn:aws:s3:::photos/photos/2025/a b.jpg
	// /photos/photos/2025/a%20b.jpg
	// /inbox/a%2Bb.jpg?versionId=3
}

func ExampleParseDeleteObjects() {
	body := []byte(`<Delete><Object><Key>home/alice/a</Key></Object><Object><Key>home/alice/b</Key><VersionId>v2</VersionId></Object></Delete>`)
	d, err := s3req.ParseDeleteObjects(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range d.Checks("bkt") {
		fmt.Println(c.Action, c.Resource)
	}
	// Output:
	// s3:DeleteObject arn:aws:s3:::bkt/home/alice/a
	// s3:DeleteObjectVersion arn:aws:s3:::bkt/home/alice/b
}
