package s3req

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
)

// MaxDeleteObjects is the most keys one DeleteObjects request may name.
const MaxDeleteObjects = 1000

// s3Namespace is the optional namespace of S3 request documents.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// DeleteObjects is a parsed DeleteObjects (POST /bucket?delete) body.
type DeleteObjects struct {
	Quiet   bool
	Objects []ObjectRef // Bucket is empty; Key is validated like a path key
}

// Checks returns one check per object: s3:DeleteObject, or
// s3:DeleteObjectVersion when the object names a version.
func (d *DeleteObjects) Checks(bucket string) []Check {
	out := make([]Check, len(d.Objects))
	for i := range d.Objects {
		out[i] = d.ObjectChecks(bucket, i, false)[0]
	}
	return out
}

// ObjectChecks returns the checks of object i, all of which must be
// allowed for S3 to delete it: s3:DeleteObject, or s3:DeleteObjectVersion
// when the object names a version, and with bypassGovernance (see
// Request.BypassGovernance) s3:BypassGovernanceRetention, on the object.
func (d *DeleteObjects) ObjectChecks(bucket string, i int, bypassGovernance bool) []Check {
	o := d.Objects[i]
	a := authz.DeleteObject
	if o.VersionID != "" {
		a = authz.DeleteObjectVersion
	}
	res := objectARN(bucket, o.Key)
	if bypassGovernance {
		return []Check{{Action: a, Resource: res}, {Action: authz.BypassGovernanceRetention, Resource: res}}
	}
	return []Check{{Action: a, Resource: res}}
}

// MarshalObjects renders the objects at indexes idx (in that order) as a
// DeleteObjects document, with d's Quiet. The caller forwards these bytes
// (with a new Content-MD5) instead of the client's, so the storage service
// deletes exactly the objects that were authorized.
func (d *DeleteObjects) MarshalObjects(idx []int) []byte {
	sub := DeleteObjects{Quiet: d.Quiet, Objects: make([]ObjectRef, len(idx))}
	for j, i := range idx {
		sub.Objects[j] = d.Objects[i]
	}
	return sub.Marshal()
}

// Marshal renders exactly what was parsed as a DeleteObjects document. The
// caller forwards these bytes (with a new Content-MD5/checksum) instead of
// the client's, so the storage service deletes what was authorized.
func (d *DeleteObjects) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<Delete xmlns="` + s3Namespace + `">`)
	if d.Quiet {
		b.WriteString("<Quiet>true</Quiet>")
	}
	for _, o := range d.Objects {
		b.WriteString("<Object><Key>")
		_ = xml.EscapeText(&b, []byte(o.Key))
		b.WriteString("</Key>")
		if o.VersionID != "" {
			b.WriteString("<VersionId>")
			_ = xml.EscapeText(&b, []byte(o.VersionID))
			b.WriteString("</VersionId>")
		}
		b.WriteString("</Object>")
	}
	b.WriteString("</Delete>")
	return b.Bytes()
}

func malformed(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "MalformedXML", "The DeleteObjects XML is not valid: "+msg)
}

// ParseDeleteObjects strictly parses a DeleteObjects body:
//
//	<Delete><Quiet>true</Quiet>?<Object><Key>k</Key><VersionId>v</VersionId>?</Object>{1,1000}</Delete>
//
// The namespace "http://s3.amazonaws.com/doc/2006-03-01/" is optional. It
// refuses DOCTYPE and entity declarations, comments, CDATA sections,
// processing instructions other than the leading XML declaration,
// attributes other than the default namespace, unknown or repeated
// elements, text outside the leaf elements, and keys that MinIO would
// normalize (see checkKey; a key starting with '/' is refused). The caller
// bounds the body size.
func ParseDeleteObjects(body []byte) (*DeleteObjects, *s3err.Error) {
	// encoding/xml reports a CDATA section as ordinary text, so refuse
	// every markup declaration ("<!DOCTYPE", "<!ENTITY", "<!--",
	// "<![CDATA[") before decoding. Well-formed text and attribute values
	// cannot contain "<".
	if bytes.Contains(body, []byte("<!")) {
		return nil, malformed("DOCTYPE, ENTITY, comments and CDATA sections are not allowed.")
	}
	p := deleteParser{d: xml.NewDecoder(bytes.NewReader(body))}
	p.d.Strict = true
	out, err := p.parse()
	if err != nil {
		return nil, err
	}
	return out, nil
}

type deleteParser struct {
	d     *xml.Decoder
	first bool // a token has been read
}

// next returns the next token; io.EOF is returned as is.
func (p *deleteParser) next() (xml.Token, *s3err.Error, bool) {
	t, err := p.d.Token()
	if err == io.EOF {
		return nil, nil, false
	}
	if err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, malformed("line " + strconv.Itoa(se.Line) + ": " + se.Msg + "."), false
		}
		return nil, malformed("the document could not be decoded."), false
	}
	wasFirst := !p.first
	p.first = true
	switch t := t.(type) {
	case xml.ProcInst:
		if !wasFirst || t.Target != "xml" {
			return nil, malformed("processing instructions are not allowed."), false
		}
	case xml.Directive, xml.Comment:
		return nil, malformed("DOCTYPE, ENTITY and comments are not allowed."), false
	}
	return t, nil, true
}

func isSpace(b []byte) bool {
	return len(bytes.Trim(b, " \t\r\n")) == 0
}

// element checks a start element's name and attributes.
func element(t xml.StartElement, want ...string) (string, *s3err.Error) {
	if t.Name.Space != "" && t.Name.Space != s3Namespace {
		return "", malformed("element <" + t.Name.Local + "> has an unexpected namespace.")
	}
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value == s3Namespace {
			continue
		}
		return "", malformed("element <" + t.Name.Local + "> has an unexpected attribute.")
	}
	for _, w := range want {
		if t.Name.Local == w {
			return w, nil
		}
	}
	return "", malformed("unexpected element <" + quoteElem(t.Name.Local) + ">; expected one of <" + strings.Join(want, ">, <") + ">.")
}

func quoteElem(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (p *deleteParser) parse() (*DeleteObjects, *s3err.Error) {
	out := &DeleteObjects{}
	// Prolog, root element.
	for {
		t, err, ok := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, malformed("the document has no <Delete> element.")
		}
		switch t := t.(type) {
		case xml.CharData:
			if !isSpace(t) {
				return nil, malformed("text outside the <Delete> element.")
			}
			continue
		case xml.ProcInst:
			continue
		case xml.StartElement:
			if _, err := element(t, "Delete"); err != nil {
				return nil, err
			}
		default:
			return nil, malformed("unexpected markup before <Delete>.")
		}
		break
	}
	sawQuiet := false
	for done := false; !done; {
		t, err, ok := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, malformed("the document ends inside <Delete>.")
		}
		switch t := t.(type) {
		case xml.CharData:
			if !isSpace(t) {
				return nil, malformed("text directly inside <Delete>.")
			}
		case xml.EndElement:
			done = true
		case xml.StartElement:
			name, err := element(t, "Object", "Quiet")
			if err != nil {
				return nil, err
			}
			if name == "Quiet" {
				if sawQuiet {
					return nil, malformed("<Quiet> is given more than once.")
				}
				sawQuiet = true
				v, err := p.leaf("Quiet")
				if err != nil {
					return nil, err
				}
				q, perr := strconv.ParseBool(strings.TrimSpace(v))
				if perr != nil {
					return nil, malformed("<Quiet> must be true or false.")
				}
				out.Quiet = q
				continue
			}
			if len(out.Objects) == MaxDeleteObjects {
				return nil, malformed("more than " + strconv.Itoa(MaxDeleteObjects) + " objects.")
			}
			o, err := p.object(len(out.Objects) + 1)
			if err != nil {
				return nil, err
			}
			out.Objects = append(out.Objects, o)
		default:
			return nil, malformed("unexpected markup inside <Delete>.")
		}
	}
	// Epilog: whitespace only.
	for {
		t, err, ok := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if cd, isText := t.(xml.CharData); !isText || !isSpace(cd) {
			return nil, malformed("content after the </Delete> element.")
		}
	}
	if len(out.Objects) == 0 {
		return nil, malformed("no <Object> elements.")
	}
	return out, nil
}

// object parses the children of one <Object>; n numbers it for messages.
func (p *deleteParser) object(n int) (ObjectRef, *s3err.Error) {
	var o ObjectRef
	where := "object " + strconv.Itoa(n) + ": "
	sawKey, sawVersion := false, false
	for {
		t, err, ok := p.next()
		if err != nil {
			return o, err
		}
		if !ok {
			return o, malformed(where + "the document ends inside <Object>.")
		}
		switch t := t.(type) {
		case xml.CharData:
			if !isSpace(t) {
				return o, malformed(where + "text directly inside <Object>.")
			}
		case xml.EndElement:
			if !sawKey {
				return o, malformed(where + "<Key> is missing.")
			}
			return o, nil
		case xml.StartElement:
			name, err := element(t, "Key", "VersionId")
			if err != nil {
				return o, malformed(where + strings.TrimPrefix(err.Message, "The DeleteObjects XML is not valid: "))
			}
			v, err := p.leaf(name)
			if err != nil {
				return o, err
			}
			if name == "Key" {
				if sawKey {
					return o, malformed(where + "<Key> is given more than once.")
				}
				sawKey = true
				if kerr := checkKey(v); kerr != nil {
					return o, malformed(where + "<Key>: " + kerr.Message)
				}
				o.Key = v
			} else {
				if sawVersion {
					return o, malformed(where + "<VersionId> is given more than once.")
				}
				sawVersion = true
				if strings.TrimSpace(v) == "" {
					return o, malformed(where + "<VersionId> is empty.")
				}
				o.VersionID = v
			}
		default:
			return o, malformed(where + "unexpected markup inside <Object>.")
		}
	}
}

// leaf reads the text of a leaf element up to its end tag.
func (p *deleteParser) leaf(name string) (string, *s3err.Error) {
	var text []byte
	for {
		t, err, ok := p.next()
		if err != nil {
			return "", err
		}
		if !ok {
			return "", malformed("the document ends inside <" + name + ">.")
		}
		switch t := t.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			for _, r := range string(text) {
				if !xmlChar(r) {
					return "", malformed("<" + name + "> contains a character XML 1.0 does not allow.")
				}
			}
			return string(text), nil
		default:
			return "", malformed("<" + name + "> may only contain text.")
		}
	}
}

// xmlChar reports whether r is a Char of XML 1.0, so that Marshal can
// render it unchanged.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
