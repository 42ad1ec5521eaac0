package federation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// awsResponse is shaped like AWS STS's answer; minioResponse like MinIO's.
const awsResponse = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>iamgate</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/iamgate/iamgate</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:iamgate</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2027-03-01T13:00:00Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity>iamgate</SourceIdentity>
    <Provider>gate.example.com/_iamgate/oidc</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`

const minioResponse = `<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser><Credentials><AccessKeyId>Y4RJU1RNFGK48LGO9I2S</AccessKeyId><SecretAccessKey>sYLRKS1Z7hSjluf6gEbb9066hnx315wHTiACPAjg</SecretAccessKey><Expiration>2027-03-01T12:15:00+01:00</Expiration><SessionToken>eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3NLZXkiOiJZNFJKVTFSTkZHSzQ4TEdPOUkyUyJ9.sig</SessionToken></Credentials><SubjectFromWebIdentityToken>iamgate</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult><ResponseMetadata></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`

func TestParseAssumeRoleResponse(t *testing.T) {
	c, err := ParseAssumeRoleResponse([]byte(awsResponse))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "ASIAIOSFODNN7EXAMPLE" || c.SecretAccessKey != "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY" ||
		c.SessionToken != "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE" ||
		!c.Expiration.Equal(time.Date(2027, 3, 1, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", c)
	}
	c, err = ParseAssumeRoleResponse([]byte(minioResponse))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "Y4RJU1RNFGK48LGO9I2S" || !c.Expiration.Equal(time.Date(2027, 3, 1, 11, 15, 0, 0, time.UTC)) ||
		c.Expiration.Location() != time.UTC {
		t.Fatalf("%+v", c)
	}
	// Never printed with its secret or token.
	for _, s := range []string{c.String(), c.LogValue().String()} {
		if strings.Contains(s, c.SecretAccessKey) || strings.Contains(s, c.SessionToken) {
			t.Fatalf("secret in %q", s)
		}
	}
}

func TestParseAssumeRoleResponseRejects(t *testing.T) {
	creds := func(inner string) string {
		return `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>` + inner +
			`</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`
	}
	const good = `<AccessKeyId>AKIDEXAMPLE</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2027-03-01T13:00:00Z</Expiration>`
	if _, err := ParseAssumeRoleResponse([]byte(creds(good))); err != nil {
		t.Fatalf("the base case: %v", err)
	}
	for name, doc := range map[string]string{
		"empty":          "",
		"not xml":        "hello",
		"doctype":        `<!DOCTYPE x [<!ENTITY a "b">]>` + creds(good),
		"other root":     strings.ReplaceAll(creds(good), "AssumeRoleWithWebIdentityResponse", "AssumeRoleResponse"),
		"other ns":       strings.Replace(creds(good), "<AssumeRoleWithWebIdentityResponse>", `<AssumeRoleWithWebIdentityResponse xmlns="urn:evil">`, 1),
		"two results":    `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>` + good + `</Credentials></AssumeRoleWithWebIdentityResult><AssumeRoleWithWebIdentityResult/></AssumeRoleWithWebIdentityResponse>`,
		"two creds":      strings.Replace(creds(good), "</AssumeRoleWithWebIdentityResult>", "<Credentials/></AssumeRoleWithWebIdentityResult>", 1),
		"no creds":       `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult/></AssumeRoleWithWebIdentityResponse>`,
		"repeated key":   creds(good + `<AccessKeyId>OTHERKEY</AccessKeyId>`),
		"unknown field":  creds(good + `<Extra>x</Extra>`),
		"nested field":   creds(strings.Replace(good, "<SecretAccessKey>s3cr3t", "<SecretAccessKey><x/>s3cr3t", 1)),
		"no token":       creds(strings.Replace(good, "<SessionToken>tok</SessionToken>", "", 1)),
		"empty secret":   creds(strings.Replace(good, "s3cr3t", "", 1)),
		"space in key":   creds(strings.Replace(good, "AKIDEXAMPLE", "AKID EXAMPLE", 1)),
		"long key":       creds(strings.Replace(good, "AKIDEXAMPLE", strings.Repeat("A", 129), 1)),
		"bad expiration": creds(strings.Replace(good, "2027-03-01T13:00:00Z", "tomorrow", 1)),
		"text and elems": `<AssumeRoleWithWebIdentityResponse>text<AssumeRoleWithWebIdentityResult><Credentials>` + good + `</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
		"trailing root":  creds(good) + "<x/>",
		"unclosed":       strings.TrimSuffix(creds(good), "</AssumeRoleWithWebIdentityResponse>"),
		"mismatched end": strings.Replace(creds(good), "</Credentials>", "</Credential>", 1),
		"proc inst":      creds(good) + `<?php x?>`,
		"deep":           strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20),
		"many":           "<AssumeRoleWithWebIdentityResponse>" + strings.Repeat("<a/>", 300) + "</AssumeRoleWithWebIdentityResponse>",
		"huge":           creds(strings.Replace(good, "tok", strings.Repeat("t", 70<<10), 1)),
	} {
		if c, err := ParseAssumeRoleResponse([]byte(doc)); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
	}
}

func TestSTSClient(t *testing.T) {
	var got *http.Request
	answer, status := awsResponse, 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = r
		w.WriteHeader(status)
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	c := &STSClient{Endpoint: srv.URL}
	creds, err := c.AssumeRoleWithWebIdentity(context.Background(), "the.jwt.token",
		AssumeRoleRequest{RoleARN: "arn:aws:iam::123456789012:role/iamgate", Duration: 15 * time.Minute})
	if err != nil || creds.AccessKeyID != "ASIAIOSFODNN7EXAMPLE" {
		t.Fatalf("%+v %v", creds, err)
	}
	if got.Method != "POST" || got.URL.Path != "/" || got.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("%s %s %s", got.Method, got.URL, got.Header)
	}
	for k, want := range map[string]string{"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
		"WebIdentityToken": "the.jwt.token", "RoleArn": "arn:aws:iam::123456789012:role/iamgate",
		"DurationSeconds": "900", "RoleSessionName": "iamgate"} {
		if g := got.PostForm.Get(k); g != want {
			t.Errorf("%s = %q, want %q", k, g, want)
		}
	}
	if got.URL.RawQuery != "" {
		t.Error("the token travelled in the URL")
	}

	// No role ARN (MinIO's claim_name mode): no RoleArn parameter.
	if _, err := c.AssumeRoleWithWebIdentity(context.Background(), "t", AssumeRoleRequest{SessionName: "replica-1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.PostForm["RoleArn"]; ok || got.PostForm.Get("RoleSessionName") != "replica-1" || got.PostForm.Has("DurationSeconds") {
		t.Fatalf("form %v", got.PostForm)
	}

	// An error document.
	answer, status = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found in your account for https://gate.example.com/_iamgate/oidc</Message></Error><RequestId>x</RequestId></ErrorResponse>`, 400
	_, err = c.AssumeRoleWithWebIdentity(context.Background(), "t", AssumeRoleRequest{})
	var se *STSError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.Code != "InvalidIdentityToken" || !strings.Contains(se.Message, "No OpenIDConnect provider") {
		t.Fatalf("%v", err)
	}
	// Not an error document: the status still.
	answer, status = "<html>bad gateway</html>", 502
	if _, err = c.AssumeRoleWithWebIdentity(context.Background(), "t", AssumeRoleRequest{}); !errors.As(err, &se) || se.StatusCode != 502 || se.Code != "" {
		t.Fatalf("%v", err)
	}
	// A 200 that is not a response.
	answer, status = "<nope/>", 200
	if _, err = c.AssumeRoleWithWebIdentity(context.Background(), "t", AssumeRoleRequest{}); !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("%v", err)
	}
}

// FuzzParseAssumeRoleResponse holds that no answer from an STS makes the
// parser panic, and that what it accepts is within bounds.
func FuzzParseAssumeRoleResponse(f *testing.F) {
	f.Add([]byte(awsResponse))
	f.Add([]byte(minioResponse))
	f.Add([]byte(`<ErrorResponse><Error><Code>X</Code><Message>y</Message></Error></ErrorResponse>`))
	f.Add([]byte(`<!DOCTYPE a><a/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseAssumeRoleResponse(data)
		_ = parseSTSError(400, data)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error not wrapping ErrMalformedResponse: %v", err)
			}
			return
		}
		if c.AccessKeyID == "" || len(c.AccessKeyID) > maxAccessKeyID || c.SecretAccessKey == "" ||
			len(c.SecretAccessKey) > maxSecretKey || c.SessionToken == "" || len(c.SessionToken) > maxSessionToken ||
			!printable(c.AccessKeyID+c.SecretAccessKey+c.SessionToken) || c.Expiration.IsZero() {
			t.Fatalf("accepted out of bounds: %+v", c)
		}
	})
}
