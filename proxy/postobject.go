package proxy

import (
	"net/http"

	"github.com/iamgate/iamgate/s3err"
	"github.com/iamgate/iamgate/s3req"
)

// servePostObject handles a browser form upload (POST /bucket with
// multipart/form-data): the credentials and the signed policy document are
// form fields.
func (h *Handler) servePostObject(ex *exchange, r *http.Request, req *s3req.Request) *s3err.Error {
	ex.ev.Reason = "not_implemented"
	return s3err.New(http.StatusNotImplemented, "NotImplemented",
		"Browser form uploads (POST Object) are not supported by this iamgate.").WithResource(r.URL.Path)
}
