// Package sigv4 signs requests toward the S3 store with AWS Signature
// Version 4: Transport is the last http.RoundTripper before the wire, so no
// header can change after it signed.
package sigv4
