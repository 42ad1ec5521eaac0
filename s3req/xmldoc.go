package s3req

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/iamgate/iamgate/s3err"
)

// xmlNode is one element of a small request document: either a leaf with
// text, or an element with child elements.
type xmlNode struct {
	name string
	text string // leaf text, as written (entities decoded)
	kids []*xmlNode
}

// child returns the only child named name, or nil; more than one is an
// error.
func (n *xmlNode) child(name string, doc string) (*xmlNode, *s3err.Error) {
	var found *xmlNode
	for _, k := range n.kids {
		if k.name == name {
			if found != nil {
				return nil, malformedDoc(doc, "<"+name+"> is given more than once.")
			}
			found = k
		}
	}
	return found, nil
}

// only fails when n has a child not in names, or text besides children.
func (n *xmlNode) only(doc string, names ...string) *s3err.Error {
	for _, k := range n.kids {
		ok := false
		for _, nm := range names {
			ok = ok || k.name == nm
		}
		if !ok {
			return malformedDoc(doc, "unexpected element <"+quoteElem(k.name)+"> inside <"+n.name+">.")
		}
	}
	return nil
}

// leafText returns the text of a leaf element; an element with children
// is an error.
func (n *xmlNode) leafText(doc string) (string, *s3err.Error) {
	if len(n.kids) > 0 {
		return "", malformedDoc(doc, "<"+n.name+"> may only contain text.")
	}
	return n.text, nil
}

// malformedDoc is S3's MalformedXML for the document doc ("Tagging", ...).
func malformedDoc(doc, msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "MalformedXML",
		"The XML you provided was not well-formed or did not validate against our published schema ("+doc+"): "+msg)
}

// Bounds of the documents parseXMLDoc reads.
const (
	maxXMLDepth = 6
	maxXMLNodes = 256
)

// parseXMLDoc strictly parses a small request document whose root element
// is root, with the rules of ParseDeleteObjects: the namespace
// "http://s3.amazonaws.com/doc/2006-03-01/" is optional; DOCTYPE and
// entity declarations, comments, CDATA sections, processing instructions
// other than a leading XML declaration, attributes other than the default
// namespace, mixed content, text outside the root, and characters XML 1.0
// does not allow are refused. It nests at most maxXMLDepth deep and has
// at most maxXMLNodes elements. The caller bounds the body size.
func parseXMLDoc(body []byte, root string) (*xmlNode, *s3err.Error) {
	if bytes.Contains(body, []byte("<!")) {
		return nil, malformedDoc(root, "DOCTYPE, ENTITY, comments and CDATA sections are not allowed.")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var stack []*xmlNode
	var top *xmlNode
	var text []byte
	nodes := 0
	first := true
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, malformedDoc(root, "line "+strconv.Itoa(se.Line)+": "+se.Msg+".")
			}
			return nil, malformedDoc(root, "the document could not be decoded.")
		}
		wasFirst := first
		first = false
		switch t := t.(type) {
		case xml.ProcInst:
			if !wasFirst || t.Target != "xml" {
				return nil, malformedDoc(root, "processing instructions are not allowed.")
			}
		case xml.Directive, xml.Comment:
			return nil, malformedDoc(root, "DOCTYPE, ENTITY and comments are not allowed.")
		case xml.StartElement:
			if t.Name.Space != "" && t.Name.Space != s3Namespace {
				return nil, malformedDoc(root, "element <"+quoteElem(t.Name.Local)+"> has an unexpected namespace.")
			}
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value == s3Namespace {
					continue
				}
				return nil, malformedDoc(root, "element <"+quoteElem(t.Name.Local)+"> has an unexpected attribute.")
			}
			if top != nil && len(stack) == 0 {
				return nil, malformedDoc(root, "content after the </"+root+"> element.")
			}
			if len(stack) == 0 && t.Name.Local != root {
				return nil, malformedDoc(root, "the root element is <"+quoteElem(t.Name.Local)+">, expected <"+root+">.")
			}
			if len(stack) == maxXMLDepth {
				return nil, malformedDoc(root, "elements are nested too deeply.")
			}
			if nodes++; nodes > maxXMLNodes {
				return nil, malformedDoc(root, "the document has too many elements.")
			}
			n := &xmlNode{name: t.Name.Local}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				if !isSpace(text) {
					return nil, malformedDoc(root, "<"+parent.name+"> mixes text and elements.")
				}
				parent.kids = append(parent.kids, n)
			} else {
				top = n
			}
			stack = append(stack, n)
			text = text[:0]
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(n.kids) == 0 {
				for _, r := range string(text) {
					if !xmlChar(r) {
						return nil, malformedDoc(root, "<"+n.name+"> contains a character XML 1.0 does not allow.")
					}
				}
				n.text = string(text)
			} else if !isSpace(text) {
				return nil, malformedDoc(root, "<"+n.name+"> mixes text and elements.")
			}
			text = text[:0]
		case xml.CharData:
			if len(stack) == 0 {
				if !isSpace(t) {
					return nil, malformedDoc(root, "text outside the <"+root+"> element.")
				}
				continue
			}
			if len(stack[len(stack)-1].kids) > 0 && !isSpace(t) {
				return nil, malformedDoc(root, "<"+stack[len(stack)-1].name+"> mixes text and elements.")
			}
			text = append(text, t...)
		}
	}
	if top == nil {
		return nil, malformedDoc(root, "the document has no <"+root+"> element.")
	}
	if len(stack) > 0 {
		return nil, malformedDoc(root, "the document ends inside <"+stack[len(stack)-1].name+">.")
	}
	return top, nil
}

// writeLeaf writes <name>text</name>, escaped.
func writeLeaf(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}

// xmlHeader starts every document iamgate forwards in place of a client's.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
