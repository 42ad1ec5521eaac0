// Package federation lets iamgate hold no long-lived key toward the store:
// iamgate is an OpenID provider of its own (discovery document, key set,
// short signed tokens about itself) and exchanges its tokens at the store's
// STS (AssumeRoleWithWebIdentity, as MinIO and AWS serve it) for temporary
// credentials, which a Refresher renews before they expire.
package federation
