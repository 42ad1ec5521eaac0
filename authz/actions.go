package authz

// Action is an IAM action name such as "s3:GetObject".
type Action string

// The S3 actions iamgate classifies requests into. Policies may name any
// action (with wildcards); these are the ones a request can ask for.
const (
	ListAllMyBuckets                 Action = "s3:ListAllMyBuckets"
	ListBucket                       Action = "s3:ListBucket"
	ListBucketVersions               Action = "s3:ListBucketVersions"
	ListBucketMultipartUploads       Action = "s3:ListBucketMultipartUploads"
	GetBucketLocation                Action = "s3:GetBucketLocation"
	CreateBucket                     Action = "s3:CreateBucket"
	DeleteBucket                     Action = "s3:DeleteBucket"
	GetBucketPolicy                  Action = "s3:GetBucketPolicy"
	PutBucketPolicy                  Action = "s3:PutBucketPolicy"
	DeleteBucketPolicy               Action = "s3:DeleteBucketPolicy"
	GetBucketPolicyStatus            Action = "s3:GetBucketPolicyStatus"
	GetLifecycleConfiguration        Action = "s3:GetLifecycleConfiguration"
	PutLifecycleConfiguration        Action = "s3:PutLifecycleConfiguration"
	GetBucketCORS                    Action = "s3:GetBucketCORS"
	PutBucketCORS                    Action = "s3:PutBucketCORS"
	GetBucketTagging                 Action = "s3:GetBucketTagging"
	PutBucketTagging                 Action = "s3:PutBucketTagging"
	GetBucketVersioning              Action = "s3:GetBucketVersioning"
	PutBucketVersioning              Action = "s3:PutBucketVersioning"
	GetEncryptionConfiguration       Action = "s3:GetEncryptionConfiguration"
	PutEncryptionConfiguration       Action = "s3:PutEncryptionConfiguration"
	GetBucketObjectLockConfiguration Action = "s3:GetBucketObjectLockConfiguration"
	PutBucketObjectLockConfiguration Action = "s3:PutBucketObjectLockConfiguration"
	GetReplicationConfiguration      Action = "s3:GetReplicationConfiguration"
	PutReplicationConfiguration      Action = "s3:PutReplicationConfiguration"
	GetBucketNotification            Action = "s3:GetBucketNotification"
	PutBucketNotification            Action = "s3:PutBucketNotification"
	GetBucketAcl                     Action = "s3:GetBucketAcl"
	PutBucketAcl                     Action = "s3:PutBucketAcl"
	GetBucketWebsite                 Action = "s3:GetBucketWebsite"
	PutBucketWebsite                 Action = "s3:PutBucketWebsite"
	DeleteBucketWebsite              Action = "s3:DeleteBucketWebsite"
	GetBucketLogging                 Action = "s3:GetBucketLogging"
	PutBucketLogging                 Action = "s3:PutBucketLogging"
	GetBucketOwnershipControls       Action = "s3:GetBucketOwnershipControls"
	PutBucketOwnershipControls       Action = "s3:PutBucketOwnershipControls"
	GetBucketRequestPayment          Action = "s3:GetBucketRequestPayment"
	GetAccelerateConfiguration       Action = "s3:GetAccelerateConfiguration"
	GetBucketPublicAccessBlock       Action = "s3:GetBucketPublicAccessBlock"
	PutBucketPublicAccessBlock       Action = "s3:PutBucketPublicAccessBlock"
	GetObject                        Action = "s3:GetObject"
	GetObjectVersion                 Action = "s3:GetObjectVersion"
	GetObjectAttributes              Action = "s3:GetObjectAttributes"
	GetObjectVersionAttributes       Action = "s3:GetObjectVersionAttributes"
	PutObject                        Action = "s3:PutObject"
	DeleteObject                     Action = "s3:DeleteObject"
	DeleteObjectVersion              Action = "s3:DeleteObjectVersion"
	AbortMultipartUpload             Action = "s3:AbortMultipartUpload"
	ListMultipartUploadParts         Action = "s3:ListMultipartUploadParts"
	GetObjectTagging                 Action = "s3:GetObjectTagging"
	GetObjectVersionTagging          Action = "s3:GetObjectVersionTagging"
	PutObjectTagging                 Action = "s3:PutObjectTagging"
	PutObjectVersionTagging          Action = "s3:PutObjectVersionTagging"
	DeleteObjectTagging              Action = "s3:DeleteObjectTagging"
	DeleteObjectVersionTagging       Action = "s3:DeleteObjectVersionTagging"
	GetObjectAcl                     Action = "s3:GetObjectAcl"
	GetObjectVersionAcl              Action = "s3:GetObjectVersionAcl"
	PutObjectAcl                     Action = "s3:PutObjectAcl"
	PutObjectVersionAcl              Action = "s3:PutObjectVersionAcl"
	GetObjectRetention               Action = "s3:GetObjectRetention"
	PutObjectRetention               Action = "s3:PutObjectRetention"
	GetObjectLegalHold               Action = "s3:GetObjectLegalHold"
	PutObjectLegalHold               Action = "s3:PutObjectLegalHold"
	BypassGovernanceRetention        Action = "s3:BypassGovernanceRetention"
	RestoreObject                    Action = "s3:RestoreObject"
)

// KnownActions lists every Action constant above. The policy compiler may
// precompute per-statement matches over this list.
var KnownActions = []Action{
	ListAllMyBuckets, ListBucket, ListBucketVersions, ListBucketMultipartUploads,
	GetBucketLocation, CreateBucket, DeleteBucket, GetBucketPolicy, PutBucketPolicy,
	DeleteBucketPolicy, GetBucketPolicyStatus, GetLifecycleConfiguration,
	PutLifecycleConfiguration, GetBucketCORS, PutBucketCORS, GetBucketTagging,
	PutBucketTagging, GetBucketVersioning, PutBucketVersioning,
	GetEncryptionConfiguration, PutEncryptionConfiguration,
	GetBucketObjectLockConfiguration, PutBucketObjectLockConfiguration,
	GetReplicationConfiguration, PutReplicationConfiguration, GetBucketNotification,
	PutBucketNotification, GetBucketAcl, PutBucketAcl, GetBucketWebsite,
	PutBucketWebsite, DeleteBucketWebsite, GetBucketLogging, PutBucketLogging,
	GetBucketOwnershipControls, PutBucketOwnershipControls, GetBucketRequestPayment,
	GetAccelerateConfiguration, GetBucketPublicAccessBlock, PutBucketPublicAccessBlock, GetObject, GetObjectVersion, GetObjectAttributes,
	GetObjectVersionAttributes, PutObject, DeleteObject, DeleteObjectVersion,
	AbortMultipartUpload, ListMultipartUploadParts, GetObjectTagging,
	GetObjectVersionTagging, PutObjectTagging, PutObjectVersionTagging,
	DeleteObjectTagging, DeleteObjectVersionTagging, GetObjectAcl, GetObjectVersionAcl,
	PutObjectAcl, PutObjectVersionAcl, GetObjectRetention, PutObjectRetention,
	GetObjectLegalHold, PutObjectLegalHold, BypassGovernanceRetention, RestoreObject,
}
