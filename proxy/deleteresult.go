package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/iamgate/iamgate/s3req"
)

// s3Namespace is the namespace of S3 documents.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// deleteResult is a DeleteObjects answer: what was deleted and the
// per-key errors, each entry's elements in the order they came.
type deleteResult struct {
	deleted []resultEntry
	errors  []resultEntry
}

// resultEntry is one <Deleted> or <Error>: its leaf elements in order.
type resultEntry [][2]string

func (e resultEntry) get(name string) string {
	for _, kv := range e {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// The leaf elements each entry may hold (S3's DeletedObject and Error).
var (
	deletedLeaves = []string{"Key", "VersionId", "DeleteMarker", "DeleteMarkerVersionId"}
	errorLeaves   = []string{"Key", "VersionId", "Code", "Message"}
)

// parseDeleteResult strictly parses the store's DeleteObjects answer:
//
//	<DeleteResult>(<Deleted>…</Deleted>|<Error>…</Error>)*</DeleteResult>
//
// with the namespace optional, each entry's leaves (deletedLeaves,
// errorLeaves) at most once, and at most maxEntries entries (one per key
// that was sent). It refuses DOCTYPE and entity declarations, comments,
// CDATA, unknown elements and attributes, and text outside the leaves: the
// store is trusted more than a client, but what it says is merged into an
// answer iamgate writes, so it is read as carefully.
func parseDeleteResult(body []byte, maxEntries int) (*deleteResult, error) {
	if bytes.Contains(body, []byte("<!")) {
		return nil, errors.New("markup declarations, comments or CDATA in the DeleteResult")
	}
	p := resultParser{d: xml.NewDecoder(bytes.NewReader(body))}
	p.d.Strict = true
	// Prolog and root element.
	for {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, errors.New("no <DeleteResult> element")
		}
		if cd, ok := t.(xml.CharData); ok {
			if !isSpaceXML(cd) {
				return nil, errors.New("text before <DeleteResult>")
			}
			continue
		}
		if _, ok := t.(xml.ProcInst); ok {
			continue
		}
		se, ok := t.(xml.StartElement)
		if !ok || !plainElement(se, "DeleteResult") {
			return nil, errors.New("the document is not a <DeleteResult>")
		}
		break
	}
	res := &deleteResult{}
	for done := false; !done; {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case nil:
			return nil, errors.New("the document ends inside <DeleteResult>")
		case xml.CharData:
			if !isSpaceXML(t) {
				return nil, errors.New("text inside <DeleteResult>")
			}
		case xml.EndElement:
			done = true
		case xml.StartElement:
			if len(res.deleted)+len(res.errors) == maxEntries {
				return nil, fmt.Errorf("more than %d entries for %d keys", maxEntries, maxEntries)
			}
			switch {
			case plainElement(t, "Deleted"):
				e, err := p.entry("Deleted", deletedLeaves)
				if err != nil {
					return nil, err
				}
				res.deleted = append(res.deleted, e)
			case plainElement(t, "Error"):
				e, err := p.entry("Error", errorLeaves)
				if err != nil {
					return nil, err
				}
				res.errors = append(res.errors, e)
			default:
				return nil, fmt.Errorf("unexpected element <%.64s> in <DeleteResult>", t.Name.Local)
			}
		default:
			return nil, errors.New("unexpected markup inside <DeleteResult>")
		}
	}
	for {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		if t == nil {
			return res, nil
		}
		if cd, ok := t.(xml.CharData); !ok || !isSpaceXML(cd) {
			return nil, errors.New("content after </DeleteResult>")
		}
	}
}

type resultParser struct {
	d     *xml.Decoder
	first bool
}

// next returns the next token, nil at the end of the document.
func (p *resultParser) next() (xml.Token, error) {
	t, err := p.d.Token()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the DeleteResult is not well-formed XML: %w", err)
	}
	wasFirst := !p.first
	p.first = true
	switch t := t.(type) {
	case xml.ProcInst:
		if !wasFirst || t.Target != "xml" {
			return nil, errors.New("a processing instruction in the DeleteResult")
		}
	case xml.Directive, xml.Comment:
		return nil, errors.New("a declaration or comment in the DeleteResult")
	}
	return t, nil
}

// entry reads the leaves of one <Deleted> or <Error>.
func (p *resultParser) entry(name string, leaves []string) (resultEntry, error) {
	var e resultEntry
	for {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case nil:
			return nil, fmt.Errorf("the document ends inside <%s>", name)
		case xml.CharData:
			if !isSpaceXML(t) {
				return nil, fmt.Errorf("text directly inside <%s>", name)
			}
		case xml.EndElement:
			return e, nil
		case xml.StartElement:
			leaf := ""
			for _, l := range leaves {
				if plainElement(t, l) {
					leaf = l
				}
			}
			if leaf == "" {
				return nil, fmt.Errorf("unexpected element <%.64s> in <%s>", t.Name.Local, name)
			}
			for _, kv := range e {
				if kv[0] == leaf {
					return nil, fmt.Errorf("<%s> given twice in <%s>", leaf, name)
				}
			}
			v, err := p.text(leaf)
			if err != nil {
				return nil, err
			}
			e = append(e, [2]string{leaf, v})
		default:
			return nil, fmt.Errorf("unexpected markup inside <%s>", name)
		}
	}
}

// text reads a leaf's text up to its end tag.
func (p *resultParser) text(name string) (string, error) {
	var b []byte
	for {
		t, err := p.next()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			b = append(b, t...)
		case xml.EndElement:
			return string(b), nil
		default:
			return "", fmt.Errorf("<%s> may only hold text", name)
		}
	}
}

// plainElement reports whether se is the element name, in no namespace or
// S3's, with no attribute but that default namespace.
func plainElement(se xml.StartElement, name string) bool {
	if se.Name.Local != name || se.Name.Space != "" && se.Name.Space != s3Namespace {
		return false
	}
	for _, a := range se.Attr {
		if a.Name.Space != "" || a.Name.Local != "xmlns" || a.Value != s3Namespace {
			return false
		}
	}
	return true
}

func isSpaceXML(b []byte) bool { return len(bytes.Trim(b, " \t\r\n")) == 0 }

// mergeDeleteResult is the answer to a DeleteObjects request of which the
// objects marked in denied were not forwarded: the store's <Deleted>
// entries (res may be nil: nothing was forwarded), then the errors in the
// order of the request, an AccessDenied for each denied object and the
// store's errors for the others, as S3 and MinIO list them.
func mergeDeleteResult(del *s3req.DeleteObjects, denied []bool, res *deleteResult) *deleteResult {
	out := &deleteResult{}
	var storeErrs []resultEntry
	if res != nil {
		out.deleted = res.deleted
		storeErrs = res.errors
	}
	j := 0
	for i, o := range del.Objects {
		if denied[i] {
			e := resultEntry{{"Key", o.Key}}
			if o.VersionID != "" {
				e = append(e, [2]string{"VersionId", o.VersionID})
			}
			out.errors = append(out.errors, append(e, [2]string{"Code", "AccessDenied"}, [2]string{"Message", "Access Denied"}))
			continue
		}
		if j < len(storeErrs) && storeErrs[j].get("Key") == o.Key && storeErrs[j].get("VersionId") == o.VersionID {
			out.errors = append(out.errors, storeErrs[j])
			j++
		}
	}
	out.errors = append(out.errors, storeErrs[j:]...)
	return out
}

// marshal renders r as a DeleteResult document.
func (r *deleteResult) marshal() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<DeleteResult xmlns="` + s3Namespace + `">`)
	for _, list := range [...]struct {
		name    string
		entries []resultEntry
	}{{"Deleted", r.deleted}, {"Error", r.errors}} {
		for _, e := range list.entries {
			b.WriteString("<" + list.name + ">")
			for _, kv := range e {
				b.WriteString("<" + kv[0] + ">")
				_ = xml.EscapeText(&b, []byte(kv[1]))
				b.WriteString("</" + kv[0] + ">")
			}
			b.WriteString("</" + list.name + ">")
		}
	}
	b.WriteString("</DeleteResult>")
	return b.Bytes()
}

// writeDeleteResult sends r as a 200 answer.
func writeDeleteResult(w http.ResponseWriter, r *deleteResult) {
	body := r.marshal()
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
