package proxy

import (
	"net/http"
	"strings"

	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
	"github.com/iamgate/iamgate/sigv4"
)

// servePreflight answers a CORS preflight (OPTIONS on a bucket or an
// object, a presigned URL's included) as the store answers it for the
// bucket's CORS rules. A browser sends a preflight without credentials,
// and it asks for nothing but those rules, so it is not authenticated or
// authorized; to keep it from being anything else, the store gets OPTIONS
// on the classified path with no query, no body and only the three
// preflight headers (Origin, Access-Control-Request-Method and
// Access-Control-Request-Headers), and it is not signed: iamgate's key
// never vouches for an unauthenticated request. The audit event records it
// as PreflightRequest, decision allow, reason preflight.
func (h *Handler) servePreflight(ex *exchange, r *http.Request, req *s3req.Request) *s3err.Error {
	resource := resourcePath(r)
	ex.ev.AuthMethod = "none"
	bad := func(msg string) *s3err.Error {
		ex.ev.Reason = "bad_request"
		return s3err.New(http.StatusBadRequest, "BadRequest", msg).WithResource(resource)
	}
	// As received, not from the forwardable set: these headers are
	// forwarded only here.
	origin := r.Header.Values("Origin")
	method := r.Header.Values("Access-Control-Request-Method")
	reqHeaders := r.Header.Values("Access-Control-Request-Headers")
	switch {
	case len(origin) != 1 || origin[0] == "":
		return bad("Insufficient information. Origin request header needed.")
	case len(method) != 1 || !validToken(method[0]):
		return bad("Invalid Access-Control-Request-Method.")
	case len(reqHeaders) > 1:
		return bad("Access-Control-Request-Headers is given more than once.")
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		return bad("A CORS preflight request has no body.")
	}
	base := h.cfg.Transport
	if st, ok := base.(*sigv4.Transport); ok {
		base = st.Base
	} else {
		// Only a signing transport's base is known not to sign.
		ex.ev.Reason = "not_implemented"
		return s3err.New(http.StatusNotImplemented, "NotImplemented", "CORS preflight requests are not forwarded by this configuration.").WithResource(resource)
	}
	ex.ev.Decision = "allow"
	ex.ev.Reason = "preflight"
	ex.ev.Parameters = map[string]string{"origin": origin[0], "accessControlRequestMethod": method[0]}
	hdr := http.Header{"Origin": origin, "Access-Control-Request-Method": method}
	if len(reqHeaders) == 1 {
		hdr["Access-Control-Request-Headers"] = reqHeaders
	}
	ex.fwd = forward{path: req.UpstreamPath, header: hdr}
	h.forward(ex, ex.w, r, base)
	return nil
}

// validToken reports whether s is an HTTP token (RFC 9110 section 5.6.2),
// such as a method name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
