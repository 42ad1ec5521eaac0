package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// Limits of a browser form upload (checklist §1.14, D8). The fields come
// before the file and are held in memory; the file is streamed.
const (
	postMaxFieldBytes = 64 << 10 // one field value
	postMaxFormBytes  = 1 << 20  // every field value together
	// postFormReadSlack is what the multipart parser may read ahead of the
	// values, on top of postMaxFormBytes: part headers and buffering.
	postFormReadSlack = 128 << 10
	// postPolicyTTL is the lifetime of the policy iamgate signs toward the
	// store; the store checks it when the upload starts.
	postPolicyTTL = 15 * time.Minute
	// postFileName names the file part toward the store. The client's
	// filename has already been substituted into the key; a fixed name
	// keeps header syntax the client chose out of the new form.
	postFileName = "upload"
)

// servePostObject handles a browser form upload (POST /bucket with
// multipart/form-data): the credentials and the signed policy document are
// form fields (SigV4, or Signature Version 2 when the generation accepts
// it). It reads the fields (they must precede the file), verifies
// the policy signature with the caller's secret, applies the policy,
// substitutes ${filename}, authorizes s3:PutObject (and the tagging, ACL
// and object-lock actions the fields ask for) on the final key, and then
// re-issues the form toward the store (checklist §2.12 a): the allowed
// fields, the final key and a policy signed with the store's credentials
// that binds them, followed by the file, streamed and held to the
// content-length-range.
func (h *Handler) servePostObject(ex *exchange, r *http.Request, req *s3req.Request) *s3err.Error {
	resource := resourcePath(r)
	ex.ev.AuthMethod = "sigv4-post"
	bad := func(reason string, e *s3err.Error) *s3err.Error {
		ex.ev.Reason = reason
		return e.WithResource(resource)
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return bad("bad_request", s3err.New(http.StatusBadRequest, "InvalidRequest",
			"Only one auth mechanism allowed: a browser form upload is authenticated by its policy fields, not by an Authorization header."))
	}
	if r.ContentLength <= 0 {
		return bad("bad_request", s3err.New(http.StatusLengthRequired, "MissingContentLength",
			"You must provide the Content-Length HTTP header."))
	}
	up, serr := readPostForm(r)
	if serr != nil {
		return bad("bad_request", serr)
	}

	pe, serr := h.postAuth(ex, up.form)
	if serr != nil {
		return serr.WithResource(resource)
	}
	h.fillIdentity(ex, pe)

	policy, serr := sigv4.ParsePostPolicy(up.form[sigv4.FieldPolicy])
	if serr != nil {
		return bad("bad_policy", serr)
	}
	key, serr := up.finalKey()
	if serr != nil {
		return bad("bad_request", serr)
	}
	up.form[sigv4.FieldKey] = key
	if serr := policy.Check(up.form, req.Bucket, ex.start); serr != nil {
		return bad("post_policy", serr)
	}
	// MinIO trims leading slashes from the form key (trimLeadingSlash);
	// authorize, and send, the key it will store.
	object := strings.TrimLeft(key, "/")
	if serr := s3req.ValidateKey(object); serr != nil {
		return bad("bad_request", serr)
	}
	ex.ev.Key = object
	fields, checks, s3ctx, serr := postForward(up.form, req.Bucket, object)
	if serr != nil {
		return bad("bad_request", serr)
	}
	if pe.principal == nil {
		ex.ev.Reason = "no_role"
		ex.ev.Message = pe.noRole
		return s3err.New(http.StatusForbidden, "AccessDenied", pe.noRole).WithResource(resource)
	}
	req.S3 = s3ctx
	ex.ev.Action = string(checks[0].Action)
	if d, c, denied := h.authorize(ex, pe, r, req, checks); denied {
		return denyError(pe, c, d).WithResource(resource)
	}
	if gerr := h.applyGuards(ex, r, pe, req, nil); gerr != nil {
		return gerr.WithResource(resource)
	}
	if lerr := h.admitLimits(ex, r, pe, req); lerr != nil {
		return lerr.WithResource(resource)
	}

	creds, region, transport, ok := h.formUpstream()
	if !ok {
		ex.ev.Reason = "not_configured"
		return s3err.New(http.StatusNotImplemented, "NotImplemented",
			"Browser form uploads need the store's credentials, which this iamgate was not given.").WithResource(resource)
	}
	if creds.AccessKeyID == "" || !creds.Expires.IsZero() && !h.cfg.Now().Before(creds.Expires) {
		ex.ev.Reason = "upstream_credentials"
		return errNoUpstreamCredentials
	}
	body, serr := up.reissue(fields, req.Bucket, policy, creds, region, ex.start, r.ContentLength)
	if serr != nil {
		return bad("bad_request", serr)
	}
	ex.ev.Decision = "allow"
	ex.ev.Reason = string(authz.ReasonAllowed)

	r.Header = http.Header{"Content-Type": {body.contentType}}
	r.Body = body
	r.ContentLength = body.length
	r.TransferEncoding = nil
	r.Trailer = nil
	ex.fwd = forward{path: req.UpstreamPath, header: r.Header}
	h.forward(ex, ex.w, r, transport) // the form transport as the last hop
	return nil
}

// postAuth verifies the signature of a form over its policy field, with
// the secret of the access key it names: SigV4 (x-amz-credential,
// x-amz-signature) or, when the generation accepts it, Signature Version 2
// (AWSAccessKeyId, signature).
func (h *Handler) postAuth(ex *exchange, form sigv4.PostForm) (*principalEntry, *s3err.Error) {
	_, v2key := form[sigv4.FieldV2AccessKey]
	_, v2sig := form[sigv4.FieldV2Signature]
	if v2key || v2sig {
		ex.ev.SignatureVersion = "SigV2"
		if !ex.gen.SigV2 {
			ex.ev.Reason = "unsupported_auth"
			return nil, errSigV2Off
		}
		ex.ev.AuthMethod = "sigv2-post"
		ex.v2 = v2Post
		a, serr := sigv4.ParseV2PostAuth(form)
		if serr != nil {
			return nil, h.sigFailure(ex, "malformed_signature", serr)
		}
		return h.formPrincipal(ex, a.AccessKeyID, a.SecurityToken, func(secret string) *s3err.Error {
			return sigv4.VerifyV2PostSignature(a, form[sigv4.FieldPolicy], secret)
		})
	}
	a, serr := sigv4.ParsePostAuth(form, h.cfg.Region)
	if serr != nil {
		return nil, h.sigFailure(ex, "malformed_signature", serr)
	}
	return h.formPrincipal(ex, a.AccessKeyID, a.SecurityToken, func(secret string) *s3err.Error {
		return sigv4.VerifyPostSignature(a, form[sigv4.FieldPolicy], secret)
	})
}

// formPrincipal resolves the credentials a form names and checks its
// signature with their secret.
func (h *Handler) formPrincipal(ex *exchange, accessKeyID, token string, verify func(secret string) *s3err.Error) (*principalEntry, *s3err.Error) {
	ex.ev.AccessKeyID = accessKeyID
	pe, serr := h.credentialPrincipal(ex, accessKeyID, token)
	if serr != nil {
		return nil, serr
	}
	if serr := verify(pe.secret); serr != nil {
		return nil, h.sigFailure(ex, "bad_signature", serr)
	}
	return pe, nil
}

// formUpstream is what re-issuing a browser form needs from the
// Transport (sigv4.Transport has it): the store's credentials, to sign the
// new policy, and a RoundTripper that sends the form without an
// Authorization header (the form authenticates itself).
type formUpstream interface {
	Credentials() sigv4.Credentials
	FormTransport() http.RoundTripper
}

// formUpstream returns the store's credentials and region for signing a
// POST policy, and the transport for the form.
func (h *Handler) formUpstream() (sigv4.Credentials, string, http.RoundTripper, bool) {
	fu, ok := h.cfg.Transport.(formUpstream)
	if !ok {
		return sigv4.Credentials{}, "", nil, false
	}
	region := h.cfg.Region
	if t, ok := h.cfg.Transport.(*sigv4.Transport); ok && t.Region != "" {
		region = t.Region
	}
	c := fu.Credentials()
	return c, region, fu.FormTransport(), true
}

// postUpload is a form whose fields have been read, stopped at the file.
type postUpload struct {
	form     sigv4.PostForm
	file     io.Reader
	filename string // the file part's filename, as MinIO reads it (its base name)
	// before is a lower bound of the bytes of the request body before the
	// file's content: it bounds the file's size from above.
	before   int64
	boundary string
}

var errFormTooLarge = errors.New("proxy: form fields too large")

func errMalformedPost(detail string, cause error) *s3err.Error {
	e := s3err.New(http.StatusBadRequest, "MalformedPOSTRequest",
		"The body of your POST request is not well-formed multipart/form-data: "+detail)
	e.Cause = cause
	return e
}

func errFieldsTooLarge() *s3err.Error {
	return s3err.New(http.StatusBadRequest, "MaxPostPreDataLengthExceededError",
		"Your POST request fields preceding the upload file were too large.")
}

// readPostForm reads the form fields up to the file part, with bounded
// sizes: postMaxFieldBytes a value, postMaxFormBytes together. Parts are
// read raw (no Content-Transfer-Encoding decoding), as MinIO reads them.
func readPostForm(r *http.Request) (*postUpload, *s3err.Error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, errMalformedPost("the Content-Type must be multipart/form-data with a boundary.", err)
	}
	up := &postUpload{form: sigv4.PostForm{}, boundary: params["boundary"]}
	lim := &formLimit{r: r.Body, left: postMaxFormBytes + postFormReadSlack}
	mr := multipart.NewReader(lim, up.boundary)
	dash := int64(len(up.boundary) + 2)
	var values int64
	for {
		part, err := mr.NextRawPart()
		switch {
		case err == io.EOF:
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument", "POST requires exactly one file upload per request.")
		case errors.Is(err, errFormTooLarge):
			return nil, errFieldsTooLarge()
		case err != nil:
			return nil, errMalformedPost("a part could not be read.", err)
		}
		name := part.FormName()
		if strings.EqualFold(name, sigv4.FieldFile) {
			up.file = part
			up.filename = part.FileName()
			// Each field took at least its boundary, its name and its
			// value; the file part at least its boundary and "file".
			up.before += dash + int64(len(name))
			lim.lift()
			return up, nil
		}
		v, err := io.ReadAll(io.LimitReader(part, postMaxFieldBytes+1))
		switch {
		case errors.Is(err, errFormTooLarge):
			return nil, errFieldsTooLarge()
		case err != nil:
			return nil, errMalformedPost("a field could not be read.", err)
		case len(v) > postMaxFieldBytes:
			return nil, errFieldsTooLarge()
		}
		if name == "" { // MinIO skips parts without a name
			continue
		}
		values += int64(len(v))
		if values > postMaxFormBytes {
			return nil, errFieldsTooLarge()
		}
		up.before += dash + int64(len(name)) + int64(len(v))
		k := strings.ToLower(name)
		if _, dup := up.form[k]; dup {
			return nil, s3err.New(http.StatusBadRequest, "InvalidArgument",
				fmt.Sprintf("The form field %q is given more than once.", k))
		}
		up.form[k] = string(v)
	}
}

// finalKey returns the key field with ${filename} replaced by the file
// part's filename, as MinIO and S3 do.
func (up *postUpload) finalKey() (string, *s3err.Error) {
	key, ok := up.form[sigv4.FieldKey]
	if !ok {
		return "", s3err.New(http.StatusBadRequest, "InvalidArgument",
			"Bucket POST must contain a field named 'key'. If it is specified, please check the order of the fields.")
	}
	const variable = "${filename}"
	if !strings.Contains(key, variable) {
		return key, nil
	}
	if up.filename == "" {
		return "", s3err.New(http.StatusBadRequest, "InvalidArgument",
			"The key uses ${filename}, but the file part has no filename.")
	}
	key = strings.ReplaceAll(key, variable, up.filename)
	if strings.Contains(key, variable) {
		// The store would substitute again.
		return "", s3err.New(http.StatusBadRequest, "InvalidArgument",
			"The key, after ${filename} is replaced, still contains ${filename}.")
	}
	return key, nil
}

// postFields are the form fields forwarded to the store by exact name; a
// field outside these and postFieldPrefixes is not forwarded (S3 ignores
// fields it does not know; forwarding only known ones keeps store-specific
// fields, such as MinIO's x-minio-fanout-list, from reaching it).
var postFields = map[string]bool{
	"acl":                             true,
	"cache-control":                   true,
	"content-type":                    true,
	"content-disposition":             true,
	"content-encoding":                true,
	"content-language":                true,
	"content-md5":                     true,
	"expires":                         true,
	"success_action_redirect":         true,
	"redirect":                        true,
	"success_action_status":           true,
	"tagging":                         true,
	"x-amz-storage-class":             true,
	"x-amz-website-redirect-location": true,
}

var postFieldPrefixes = []string{
	"x-amz-meta-",
	"x-amz-server-side-encryption",
	"x-amz-checksum-",
	"x-amz-object-lock-",
	"x-amz-grant-",
}

func forwardedField(name string) bool {
	if postFields[name] {
		return true
	}
	for _, p := range postFieldPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// postForward picks the fields to forward and the checks they need: always
// s3:PutObject on the object; s3:PutObjectTagging for tagging;
// s3:PutObjectAcl for acl and x-amz-grant-*; the object-lock actions for
// retention and legal-hold fields (as for PutObject headers).
func postForward(form sigv4.PostForm, bucket, object string) (sigv4.PostForm, []s3req.Check, authz.S3Context, *s3err.Error) {
	res := "arn:aws:s3:::" + bucket + "/" + object
	checks := []s3req.Check{{Action: authz.PutObject, Resource: res}}
	var s3ctx authz.S3Context
	fields := sigv4.PostForm{sigv4.FieldKey: object}
	var tagging, acl, retention, hold bool
	for name, v := range form {
		if !forwardedField(name) {
			continue
		}
		if !validFieldName(name) || !utf8.ValidString(v) {
			return nil, nil, s3ctx, s3err.New(http.StatusBadRequest, "InvalidArgument",
				fmt.Sprintf("The form field %q has an invalid name or a value that is not UTF-8.", name))
		}
		fields[name] = v
		switch {
		case name == "tagging":
			// An XML Tagging document: authorized, and forwarded, as parsed.
			tags, e := s3req.ParseTagging([]byte(v))
			if e != nil {
				return nil, nil, s3ctx, e
			}
			s3ctx.RequestTags = tags
			fields[name] = string(s3req.MarshalTagging(tags))
			tagging = true
		case name == "acl", strings.HasPrefix(name, "x-amz-grant-"):
			acl = true
		case name == "x-amz-object-lock-mode", name == "x-amz-object-lock-retain-until-date":
			retention = true
		case name == "x-amz-object-lock-legal-hold":
			hold = true
		case name == "x-amz-server-side-encryption":
			s3ctx.ServerSideEncryption = authz.V(v)
		}
	}
	// The fields that stand for headers give the same condition values.
	asHeaders := http.Header{}
	for name, v := range fields {
		if name == "acl" {
			name = "x-amz-acl"
		}
		asHeaders.Set(name, v)
	}
	if e := s3req.ObjectLockConditions(asHeaders, &s3ctx); e != nil {
		return nil, nil, s3ctx, e
	}
	s3req.HeaderConditions(s3req.OpPutObject, asHeaders, &s3ctx)
	for _, c := range []struct {
		on  bool
		act authz.Action
	}{{tagging, authz.PutObjectTagging}, {acl, authz.PutObjectAcl}, {retention, authz.PutObjectRetention}, {hold, authz.PutObjectLegalHold}} {
		if c.on {
			checks = append(checks, s3req.Check{Action: c.act, Resource: res})
		}
	}
	return fields, checks, s3ctx, nil
}

// validFieldName reports whether n is a lower-case HTTP token: forwarded
// fields become headers in the store.
func validFieldName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// reissue builds the body toward the store: the forwarded fields, a policy
// signed with the store's credentials binding them, the file part
// streamed from the client, and the closing boundary.
//
// The store needs a Content-Length (MinIO refuses a form without one), but
// the file's size is only known once it has been read. The client's
// Content-Length bounds it: the file has at most clientLength - before -
// len("\n--boundary") bytes. The body declares that bound (or the policy's
// maximum, if smaller) and fills what the file leaves unused with spaces
// after the closing boundary, in the epilogue, which multipart readers
// ignore. The slack is the size of the client's part headers and anything
// it sent after the file.
func (up *postUpload) reissue(fields sigv4.PostForm, bucket string, policy *sigv4.PostPolicy,
	creds sigv4.Credentials, region string, now time.Time, clientLength int64) (*postBody, *s3err.Error) {
	upper := clientLength - up.before - int64(len(up.boundary)+3)
	if upper < 0 {
		return nil, errMalformedPost("the body is shorter than its fields.", nil)
	}
	upper = min(upper, policy.MaxLength)
	auth := sigv4.SignPostPolicy(fields, bucket, policy.MinLength, policy.MaxLength,
		now.Add(postPolicyTTL), creds, region, now)

	var head, tail bytes.Buffer
	sw := &switchWriter{w: &head}
	mw := multipart.NewWriter(sw)
	for _, set := range []sigv4.PostForm{fields, auth} {
		names := make([]string, 0, len(set))
		for k := range set {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := mw.WriteField(k, set[k]); err != nil {
				return nil, errMalformedPost("a field could not be written.", err)
			}
		}
	}
	if _, err := mw.CreateFormFile(sigv4.FieldFile, postFileName); err != nil {
		return nil, errMalformedPost("the file part could not be written.", err)
	}
	sw.w = &tail
	_ = mw.Close()
	return &postBody{
		head:        bytes.NewReader(head.Bytes()),
		tail:        bytes.NewReader(tail.Bytes()),
		file:        up.file,
		policy:      policy,
		upper:       upper,
		length:      int64(head.Len()) + upper + int64(tail.Len()),
		contentType: mw.FormDataContentType(),
	}, nil
}

// switchWriter lets the multipart writer's output go to a new buffer.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// postBody is the re-issued form: head (fields and the file part's
// header), the file, tail (closing boundary), then padding up to length.
// It enforces the content-length-range on the file as it streams: past the
// maximum it fails before passing the excess on, and a short file fails
// before the closing boundary, so the store never completes the upload.
type postBody struct {
	head, tail  *bytes.Reader
	file        io.Reader
	policy      *sigv4.PostPolicy
	n, upper    int64
	fileDone    bool
	pad         int64
	length      int64
	contentType string
	err         error
}

func (b *postBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.head.Len() > 0 {
		return b.head.Read(p)
	}
	if !b.fileDone {
		n, err := b.file.Read(p)
		b.n += int64(n)
		if e := b.policy.CheckLength(b.n, false); e != nil {
			b.err = e
			return 0, e
		}
		if b.n > b.upper {
			e := s3err.New(http.StatusBadRequest, "IncompleteBody", "The file is longer than the request body allows.")
			b.err = e
			return 0, e
		}
		switch {
		case err == io.EOF:
			if e := b.policy.CheckLength(b.n, true); e != nil {
				b.err = e
				return 0, e
			}
			b.fileDone = true
			b.pad = b.upper - b.n
		case err != nil:
			e := s3err.New(http.StatusBadRequest, "IncompleteBody", "The request body ended before the end of the file part.")
			e.Cause = err
			b.err = e
			return 0, e
		}
		if n > 0 || !b.fileDone {
			return n, nil
		}
	}
	if b.tail.Len() > 0 {
		return b.tail.Read(p)
	}
	if b.pad > 0 {
		k := int(min(int64(len(p)), b.pad))
		for i := range p[:k] {
			p[i] = ' '
		}
		b.pad -= int64(k)
		return k, nil
	}
	return 0, io.EOF
}

// Close does nothing: the server owns the client's body.
func (b *postBody) Close() error { return nil }

// formLimit fails reads past left bytes until lifted, bounding what the
// multipart parser reads before the file.
type formLimit struct {
	r      io.Reader
	left   int64
	lifted bool
}

func (l *formLimit) Read(p []byte) (int, error) {
	if l.lifted {
		return l.r.Read(p)
	}
	if l.left <= 0 {
		return 0, errFormTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *formLimit) lift() { l.lifted = true }
