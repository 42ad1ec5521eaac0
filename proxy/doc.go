// Package proxy is iamgate's HTTP front: it authenticates each request,
// classifies and authorizes it, forwards what is allowed to the S3 store
// through a signing transport, renders S3 errors, and records one audit
// event and metrics per request.
package proxy
