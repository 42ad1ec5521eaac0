// Package authz is iamgate's authorization engine: roles that trust token
// claims, and the AWS IAM policy language, compiled at load and evaluated per
// request without allocation.
package authz
