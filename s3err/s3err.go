// Package s3err is the one S3 error type of iamgate and its XML rendering.
package s3err

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
)

// Error is an S3 error as the caller sees it. Message is safe to show to
// the caller; Cause, if any, is only for logs.
type Error struct {
	Status   int    // HTTP status
	Code     string // S3 error code, e.g. "AccessDenied"
	Message  string // human-readable, shown to the caller
	Resource string // the bucket or object path, if known
	// Extra holds additional elements rendered inside <Error>, in order,
	// e.g. {"Region", "us-east-1"} for AuthorizationHeaderMalformed.
	Extra [][2]string
	Cause error // internal detail, never rendered
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error with the given status, code and message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// WithResource returns a copy of e naming resource.
func (e *Error) WithResource(resource string) *Error {
	c := *e
	c.Resource = resource
	return &c
}

// Common errors. Callers copy them with WithResource or build their own with
// a more precise message; they never mutate these.
var (
	ErrAccessDenied       = New(http.StatusForbidden, "AccessDenied", "Access Denied.")
	ErrInvalidRequest     = New(http.StatusBadRequest, "InvalidRequest", "Invalid Request.")
	ErrInvalidArgument    = New(http.StatusBadRequest, "InvalidArgument", "Invalid Argument.")
	ErrNotImplemented     = New(http.StatusNotImplemented, "NotImplemented", "A header or query you provided implies functionality that is not implemented.")
	ErrMethodNotAllowed   = New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	ErrInvalidBucketName  = New(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	ErrKeyTooLong         = New(http.StatusBadRequest, "KeyTooLongError", "Your key is too long.")
	ErrMalformedXML       = New(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	ErrEntityTooLarge     = New(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
	ErrInternal           = New(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	ErrServiceUnavailable = New(http.StatusServiceUnavailable, "ServiceUnavailable", "The storage service is unavailable. Please try again.")
	ErrGatewayTimeout     = New(http.StatusGatewayTimeout, "GatewayTimeout", "The storage service did not answer in time. Please try again.")
	ErrSlowDown           = New(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
)

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	Extra     []xmlExtra
}

type xmlExtra struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// Marshal renders e as the S3 error document.
func Marshal(e *Error, requestID string) []byte {
	doc := xmlError{Code: e.Code, Message: e.Message, Resource: e.Resource, RequestID: requestID}
	for _, kv := range e.Extra {
		doc.Extra = append(doc.Extra, xmlExtra{XMLName: xml.Name{Local: kv[0]}, Value: kv[1]})
	}
	out, err := xml.Marshal(doc)
	if err != nil { // cannot happen for these types
		out = []byte("<Error><Code>InternalError</Code></Error>")
	}
	return append([]byte(xml.Header), out...)
}

// Write renders e to w with its status. HEAD requests get the status and
// headers only, as S3 does.
func Write(w http.ResponseWriter, r *http.Request, e *Error, requestID string) {
	body := Marshal(e, requestID)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
