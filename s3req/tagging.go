package s3req

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iamgate/iamgate/authz"
	"github.com/iamgate/iamgate/s3err"
)

// Object tag limits (S3).
const (
	MaxObjectTags   = 10
	maxTagKeyLen    = 128 // characters
	maxTagValueLen  = 256 // characters
	maxStoredTagSet = 50  // what a store's answer may hold (bucket tags go up to 50)
)

func invalidTag(msg string) *s3err.Error {
	return s3err.New(http.StatusBadRequest, "InvalidTag", msg)
}

// tagChar reports whether r may appear in a tag key or value: letters,
// numbers, spaces representable in UTF-8, and + - = . _ : / @ (S3's rule).
func tagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Zs, r) || strings.ContainsRune("+-=._:/@", r)
}

func checkTag(k, v string) *s3err.Error {
	if k == "" || utf8.RuneCountInString(k) > maxTagKeyLen || !utf8.ValidString(k) || strings.IndexFunc(k, func(r rune) bool { return !tagChar(r) }) >= 0 {
		return invalidTag("The TagKey you have provided is invalid: " + strconv.Quote(quoteElem(k)) + " (1 to 128 letters, numbers, spaces and + - = . _ : / @).")
	}
	if utf8.RuneCountInString(v) > maxTagValueLen || !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return !tagChar(r) }) >= 0 {
		return invalidTag("The TagValue you have provided is invalid for key " + strconv.Quote(quoteElem(k)) + " (up to 256 letters, numbers, spaces and + - = . _ : / @).")
	}
	return nil
}

// addTag adds k=v to t, refusing a duplicate key and an eleventh tag.
func addTag(t *authz.TagSet, k, v string) *s3err.Error {
	if _, dup := t.Get(k); dup {
		return invalidTag("Cannot provide multiple Tags with the same key: " + strconv.Quote(quoteElem(k)) + ".")
	}
	if t.Len() == MaxObjectTags {
		return invalidTag("Object tags cannot be greater than " + strconv.Itoa(MaxObjectTags) + ".")
	}
	if e := checkTag(k, v); e != nil {
		return e
	}
	t.Add(k, v)
	return nil
}

// ParseTaggingHeader parses an x-amz-tagging header (PutObject, CopyObject
// with x-amz-tagging-directive REPLACE, CreateMultipartUpload): tags
// encoded as a URL query, "k1=v1&k2=v2". It reads the header as MinIO
// does — pieces split on '&', empty pieces skipped, each split on its
// first '=', key and value query-unescaped ('+' is a space) — and refuses
// what the store would refuse: bad escapes, duplicate keys, more than ten
// tags, invalid keys and values. Forward TaggingHeader of the result, so
// the store reads the tags that were authorized.
func ParseTaggingHeader(v string) (authz.TagSet, *s3err.Error) {
	var t authz.TagSet
	for v != "" {
		var piece string
		piece, v, _ = strings.Cut(v, "&")
		if piece == "" {
			continue
		}
		rk, rv, _ := strings.Cut(piece, "=")
		k, err1 := url.QueryUnescape(rk)
		val, err2 := url.QueryUnescape(rv)
		if err1 != nil || err2 != nil {
			return authz.TagSet{}, s3err.New(http.StatusBadRequest, "InvalidArgument",
				"The x-amz-tagging header must be URL query encoded (key1=value1&key2=value2).")
		}
		if e := addTag(&t, k, val); e != nil {
			return authz.TagSet{}, e
		}
	}
	return t, nil
}

// TaggingHeader renders t as an x-amz-tagging header value, in order:
// ParseTaggingHeader(TaggingHeader(t)) is t.
func TaggingHeader(t authz.TagSet) string {
	var b strings.Builder
	for i, k := range t.Keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(t.Values[i]))
	}
	return b.String()
}

// ParseTagging strictly parses a PutObjectTagging body (the rules of
// parseXMLDoc):
//
//	<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>{0,10}</TagSet></Tagging>
//
// A missing <Value> is the empty value; <Tagging/> without a <TagSet>
// has no tags. Structural problems are S3's
// MalformedXML; invalid, duplicate or too many tags are InvalidTag.
// Forward MarshalTagging of the result.
func ParseTagging(body []byte) (authz.TagSet, *s3err.Error) {
	return parseTagging(body, true)
}

// ParseStoredTagging parses the store's GetObjectTagging answer with the
// structure of ParseTagging, but without judging the tags themselves: the
// store has them, whatever it accepted. It still refuses duplicate keys
// (which value would count?) and more than 50 tags.
func ParseStoredTagging(body []byte) (authz.TagSet, *s3err.Error) {
	return parseTagging(body, false)
}

func parseTagging(body []byte, request bool) (authz.TagSet, *s3err.Error) {
	const doc = "Tagging"
	var t authz.TagSet
	root, e := parseXMLDoc(body, doc)
	if e != nil {
		return t, e
	}
	if e := root.only(doc, "TagSet"); e != nil {
		return t, e
	}
	set, e := root.child("TagSet", doc)
	if e != nil {
		return t, e
	}
	if set == nil {
		return t, nil // <Tagging/>: no tags, as the store reads it
	}
	if e := set.only(doc, "Tag"); e != nil {
		return t, e
	}
	if set.text != "" && !isSpace([]byte(set.text)) {
		return t, malformedDoc(doc, "<TagSet> may only contain <Tag> elements.")
	}
	for i, tag := range set.kids {
		where := "tag " + strconv.Itoa(i+1) + ": "
		if e := tag.only(doc, "Key", "Value"); e != nil {
			return authz.TagSet{}, e
		}
		kn, e := tag.child("Key", doc)
		if e != nil {
			return authz.TagSet{}, e
		}
		if kn == nil {
			return authz.TagSet{}, malformedDoc(doc, where+"<Key> is missing.")
		}
		k, e := kn.leafText(doc)
		if e != nil {
			return authz.TagSet{}, e
		}
		var v string
		if vn, e := tag.child("Value", doc); e != nil {
			return authz.TagSet{}, e
		} else if vn != nil {
			if v, e = vn.leafText(doc); e != nil {
				return authz.TagSet{}, e
			}
		}
		if !request {
			if _, dup := t.Get(k); dup || t.Len() == maxStoredTagSet {
				return authz.TagSet{}, malformedDoc(doc, where+"duplicate key or too many tags in the store's answer.")
			}
			t.Add(k, v)
			continue
		}
		if e := addTag(&t, k, v); e != nil {
			return authz.TagSet{}, e
		}
	}
	return t, nil
}

// MarshalTagging renders t as a Tagging document, in order.
func MarshalTagging(t authz.TagSet) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(`<Tagging xmlns="` + s3Namespace + `"><TagSet>`)
	for i, k := range t.Keys {
		b.WriteString("<Tag>")
		writeLeaf(&b, "Key", k)
		writeLeaf(&b, "Value", t.Values[i])
		b.WriteString("</Tag>")
	}
	b.WriteString("</TagSet></Tagging>")
	return b.Bytes()
}
