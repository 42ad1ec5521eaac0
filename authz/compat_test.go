package authz

import (
	"strings"
	"testing"
)

// Which resource patterns MinIO's "bucket/" matching changes.
func TestResourceBucketShape(t *testing.T) {
	tests := []struct {
		res  string
		want bucketShape
	}{
		{"arn:aws:s3:::b/*", shapeObjectsOnly},
		{"arn:aws:s3:::b/**", shapeObjectsOnly},
		{"arn:aws:s3:::*/*", shapeObjectsOnly},
		{"arn:aws:s3:::b-*/*", shapeObjectsOnly},
		{"arn:aws:s3:::b/x*", shapeOther},
		{"arn:aws:s3:::b/?", shapeOther},
		{"arn:aws:s3:::b", shapeOther},
		{"arn:aws:s3:::b*", shapeOther},
		{"arn:aws:s3:::*", shapeOther},
		{"*", shapeOther},
		{"arn:aws:s3:::b-?", shapeWildcardBucket},
		{"arn:aws:s3:::b*x", shapeWildcardBucket},
		{"arn:aws:s3:::home/${aws:username}/*", shapeOther},
		{"arn:aws:s3:::${aws:username}", shapeOther},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.res, patternOpts{glob: true, vars: newVarTable()})
		if err != nil {
			t.Fatal(err)
		}
		if got := resourceBucketShape(&p); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.res, got, tt.want)
		}
	}
}

// Statements MinIO decides like AWS have no finding; a finding names the
// statement's place through Locate.
func TestCompatMinIO(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListAllMyBuckets"], "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::*"]},
  {"Effect": "Allow", "Action": "s3:GetObject*", "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
  {"Sid": "Upload", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/in/*"}]}`
	locate := func(line, col int) string { return "p.json:" + string(rune('0'+line)) }
	got, err := CompatMinIO([]PolicyDoc{{Name: "p", JSON: []byte(doc), Locate: locate}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Quirk != QuirkPutObjectTagging || got[0].Source != "p.json:4" || got[0].Statement != `statement 3 (Sid "Upload")` ||
		!strings.HasPrefix(got[0].String(), `p.json:4: policy "p": statement 3 (Sid "Upload"): putobject-tagging: PUT /b/key with x-amz-tagging`) {
		t.Errorf("got %+v", got)
	}
	if _, err := CompatMinIO([]PolicyDoc{{Name: "bad", JSON: []byte(`{"Statement": []}`), Source: "x.yaml:3"}}); err == nil ||
		!strings.HasPrefix(err.Error(), `x.yaml:3: policy "bad"`) {
		t.Errorf("invalid policy: %v", err)
	}
}
