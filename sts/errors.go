package sts

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

// Error codes, as AWS STS (and, for InvalidClientGrantsToken, MinIO) spell
// them on the wire. SDKs map these codes to typed exceptions.
const (
	codeAccessDenied             = "AccessDenied"
	codeExpiredToken             = "ExpiredTokenException"
	codeIDPCommunicationError    = "IDPCommunicationError"
	codeIDPRejectedClaim         = "IDPRejectedClaim"
	codeInvalidIdentityToken     = "InvalidIdentityToken"
	codeInvalidClientGrantsToken = "InvalidClientGrantsToken"
	codeMalformedPolicyDocument  = "MalformedPolicyDocument"
	codePackedPolicyTooLarge     = "PackedPolicyTooLarge"
	codeMissingParameter         = "MissingParameter"
	codeInvalidParameterValue    = "InvalidParameterValue"
	codeValidationError          = "ValidationError"
	codeInvalidAction            = "InvalidAction"
	codeMalformedQueryString     = "MalformedQueryString"
	codeRequestEntityTooLarge    = "RequestEntityTooLarge"
	codeMethodNotAllowed         = "MethodNotAllowed"
	codeInternalError            = "InternalError"
	// codeServiceUnavailable: the directory cannot be reached (503).
	codeServiceUnavailable = "ServiceUnavailable"
	// codeThrottling: too many failed sign-ins (429), as AWS names its
	// throttling errors.
	codeThrottling = "Throttling"
)

// apiError is an STS error as the caller sees it. Message is safe to show
// to the caller: it never holds a token, a secret or a session token.
// Cause, if any, is for the event hook only.
type apiError struct {
	Status  int
	Code    string
	Message string
	Cause   error
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter time.Time
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) Unwrap() error { return e.Cause }

func errorf(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

func badRequest(code, message string) *apiError {
	return errorf(http.StatusBadRequest, code, message)
}

// errorType is "Sender" for client errors and "Receiver" for server errors,
// as in AWS query-protocol error documents.
func (e *apiError) errorType() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

type xmlErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// writeError renders e as the STS error document; it is the only place
// errors are rendered.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError, requestID string) {
	var doc xmlErrorResponse
	doc.Error.Type = e.errorType()
	doc.Error.Code = e.Code
	doc.Error.Message = e.Message
	doc.RequestID = requestID
	writeXML(w, r, e.Status, &doc)
}

func writeXML(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil { // cannot happen for these types
		status = http.StatusInternalServerError
		body = []byte(`<ErrorResponse xmlns="` + Namespace + `"><Error><Type>Receiver</Type><Code>InternalError</Code><Message>internal error</Message></Error></ErrorResponse>`)
	}
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// revocationsUnavailable answers an issuance whose revocation check could
// not be done: the run-time revocations are not known to be current.
func revocationsUnavailable(err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: codeServiceUnavailable,
		Message: "the revocations in force cannot be confirmed current; try again shortly", Cause: err}
}
