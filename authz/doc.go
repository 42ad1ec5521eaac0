// Package authz is iamgate's authorization engine: roles that trust token
// claims, and the AWS IAM policy language, compiled at load and evaluated per
// request without allocation.
//
// # Roles and trust rules
//
// A role trusts an identity if any of its trust rules matches. A rule
// matches when the identity's issuer name equals the rule's Issuer and every
// entry of Claims matches:
//
//   - The key is a claim path. A claim whose name is the whole path is used
//     if present; otherwise dots descend into nested objects, so
//     "realm_access.roles" reads the roles array inside realm_access.
//   - An expected string matches exactly, or as a glob if it contains '*'
//     (any sequence) or '?' (one character): "repo:acme/*:ref:refs/heads/main".
//   - An expected list matches if any of its entries matches.
//   - A claim that is an array matches if any of its elements matches (list
//     contains).
//   - Booleans and numbers, in the claim or the expectation, are compared by
//     their JSON text: true matches "true", 42 matches "42".
//   - A missing claim never matches.
//
// # Policies
//
// Policies are AWS IAM identity policies (JSON) and are evaluated with AWS
// semantics, at least as strictly as AWS: default deny; an explicit Deny in
// any role or the session policy wins; bucket requests match only
// "arn:aws:s3:::bucket", never "arn:aws:s3:::bucket/*"; '?' in a resource
// matches one Unicode character; action names are case-insensitive,
// resources are case-sensitive. Unknown keys, operators and condition keys,
// and Principal/NotPrincipal, are compile errors. So is an action no
// service iamgate knows defines, or a pattern that matches none, with the
// closest known action as a suggestion: a misspelt Deny must fail closed.
// Entries that compile but can never match (s3:ListBucket on
// "arn:aws:s3:::b/*", s3:GetObject on "arn:aws:s3:::b", MinIO's admin:
// actions) are reported by Engine.Warnings.
//
// Policy variables (${jwt:<claim>}, ${aws:username}, ${aws:userid},
// ${iamgate:role}, the single-valued request keys such as ${aws:SourceIp},
// ${aws:CurrentTime} or ${s3:prefix}, with an optional default
// ${jwt:team, 'none'}, and the escapes ${*}, ${?}, ${$}) may appear in
// Resource and in condition values of string and ARN operators; see
// NewPrincipal for where the principal's values come from, Request for the
// request's. A variable's value is always literal text: a '*' inside a
// claim is not a wildcard. A variable with several values (an array claim)
// matches if any of them does. A variable without a value matches nothing.
//
// # Object tags
//
// s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys are values of the
// request (S3Context.RequestTags). s3:ExistingObjectTag/<key> is the
// object's current tags, which the caller fetches only when asked: a
// condition on it is evaluated after the statement's action, resource and
// other conditions match, through Request.ExistingTags, and
// Principal.ReadsExistingObjectTags says, from the compiled policies,
// whether a request for an action can need them at all. When the tags
// cannot be obtained, a statement that reads them is undecided: an
// undecided Deny refuses the request unless another Deny applies or no
// Allow does, an undecided Allow allows nothing, and the Decision is
// ReasonUnavailable instead of a deny the policies may not mean.
package authz
