// Package sigv4 is AWS Signature Version 4 for iamgate, both ways.
//
// Inbound, it verifies what S3 clients send with their own canonicalizer
// (ParseRequest, VerifySignature): header authorization and presigned URLs,
// aws-chunked streaming uploads with chunk signatures and trailing
// checksums (ChunkedReader, which holds back the last bytes until
// everything verified), and POST policy form uploads. Signature Version 2
// is verified inbound too (ParseV2Request, VerifyV2Signature, the form's
// ParseV2PostAuth and VerifyV2PostSignature); it is never used outbound.
//
// Outbound, Transport signs each request toward the store as the last
// http.RoundTripper before the wire, so no header can change after it
// signed; EncodeUnsignedTrailer re-frames a verified stream so the store
// still checks its checksum.
package sigv4
