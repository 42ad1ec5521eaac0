package authz

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/iamgate/iamgate/internal/editdist"
)

// The action vocabulary a policy may use. An Action or NotAction entry that
// names no action in it, or a pattern that matches none, is a compile error:
// a misspelt Deny must never be silently ignored, and a misspelt NotAction
// in an Allow would grant what it meant to leave out.
//
//   - s3: every action of Amazon S3 (AWS's Service Authorization Reference,
//     "Actions, resources, and condition keys for Amazon S3"), and MinIO's
//     S3 extensions (s3:HeadBucket, s3:ListenBucketNotification, ...), so
//     that policies written for AWS or MinIO load unchanged. Only the
//     actions in KnownActions are ever asked for; the others are valid
//     names that match no request.
//   - admin, kms, sts: the other services of MinIO's policy language.
//     iamgate authorizes only S3 requests, so these entries are accepted
//     with a warning and have no effect; their action names are not checked.
//   - any other service is an error.
//
// Service and action names are case-insensitive, as in AWS.

// actionScope is the kind of resource an action is decided on.
type actionScope uint8

const (
	scopeOther   actionScope = iota // access points, jobs, Storage Lens, several kinds: never warned about
	scopeAccount                    // no resource: the request's resource is "*" (s3:ListAllMyBuckets)
	scopeBucket                     // "arn:aws:s3:::bucket"
	scopeObject                     // "arn:aws:s3:::bucket/key"
)

// actionInfo describes one S3 action name.
type actionInfo struct {
	name  string // as AWS (or MinIO) spells it
	scope actionScope
	// minio is set for MinIO's extensions, which S3 does not have; note says
	// what iamgate asks for instead, if anything.
	minio bool
	note  string
}

// s3Actions is every S3 action name a policy may use, sorted case-insensitively.
var s3Actions = sortActions([]actionInfo{
	// Classified by iamgate (KnownActions); scopes as s3req decides them.
	{name: string(ListAllMyBuckets), scope: scopeAccount},
	{name: string(ListBucket), scope: scopeBucket},
	{name: string(ListBucketVersions), scope: scopeBucket},
	{name: string(ListBucketMultipartUploads), scope: scopeBucket},
	{name: string(GetBucketLocation), scope: scopeBucket},
	{name: string(CreateBucket), scope: scopeBucket},
	{name: string(DeleteBucket), scope: scopeBucket},
	{name: string(GetBucketPolicy), scope: scopeBucket},
	{name: string(PutBucketPolicy), scope: scopeBucket},
	{name: string(DeleteBucketPolicy), scope: scopeBucket},
	{name: string(GetBucketPolicyStatus), scope: scopeBucket},
	{name: string(GetLifecycleConfiguration), scope: scopeBucket},
	{name: string(PutLifecycleConfiguration), scope: scopeBucket},
	{name: string(GetBucketCORS), scope: scopeBucket},
	{name: string(PutBucketCORS), scope: scopeBucket},
	{name: string(GetBucketTagging), scope: scopeBucket},
	{name: string(PutBucketTagging), scope: scopeBucket},
	{name: string(GetBucketVersioning), scope: scopeBucket},
	{name: string(PutBucketVersioning), scope: scopeBucket},
	{name: string(GetEncryptionConfiguration), scope: scopeBucket},
	{name: string(PutEncryptionConfiguration), scope: scopeBucket},
	{name: string(GetBucketObjectLockConfiguration), scope: scopeBucket},
	{name: string(PutBucketObjectLockConfiguration), scope: scopeBucket},
	{name: string(GetReplicationConfiguration), scope: scopeBucket},
	{name: string(PutReplicationConfiguration), scope: scopeBucket},
	{name: string(GetBucketNotification), scope: scopeBucket},
	{name: string(PutBucketNotification), scope: scopeBucket},
	{name: string(GetBucketAcl), scope: scopeBucket},
	{name: string(PutBucketAcl), scope: scopeBucket},
	{name: string(GetBucketWebsite), scope: scopeBucket},
	{name: string(PutBucketWebsite), scope: scopeBucket},
	{name: string(DeleteBucketWebsite), scope: scopeBucket},
	{name: string(GetBucketLogging), scope: scopeBucket},
	{name: string(PutBucketLogging), scope: scopeBucket},
	{name: string(GetBucketOwnershipControls), scope: scopeBucket},
	{name: string(PutBucketOwnershipControls), scope: scopeBucket},
	{name: string(GetBucketRequestPayment), scope: scopeBucket},
	{name: string(GetAccelerateConfiguration), scope: scopeBucket},
	{name: string(GetObject), scope: scopeObject},
	{name: string(GetObjectVersion), scope: scopeObject},
	{name: string(GetObjectAttributes), scope: scopeObject},
	{name: string(GetObjectVersionAttributes), scope: scopeObject},
	{name: string(PutObject), scope: scopeObject},
	{name: string(DeleteObject), scope: scopeObject},
	{name: string(DeleteObjectVersion), scope: scopeObject},
	{name: string(AbortMultipartUpload), scope: scopeObject},
	{name: string(ListMultipartUploadParts), scope: scopeObject},
	{name: string(GetObjectTagging), scope: scopeObject},
	{name: string(GetObjectVersionTagging), scope: scopeObject},
	{name: string(PutObjectTagging), scope: scopeObject},
	{name: string(PutObjectVersionTagging), scope: scopeObject},
	{name: string(DeleteObjectTagging), scope: scopeObject},
	{name: string(DeleteObjectVersionTagging), scope: scopeObject},
	{name: string(GetObjectAcl), scope: scopeObject},
	{name: string(GetObjectVersionAcl), scope: scopeObject},
	{name: string(PutObjectAcl), scope: scopeObject},
	{name: string(PutObjectVersionAcl), scope: scopeObject},
	{name: string(GetObjectRetention), scope: scopeObject},
	{name: string(PutObjectRetention), scope: scopeObject},
	{name: string(GetObjectLegalHold), scope: scopeObject},
	{name: string(PutObjectLegalHold), scope: scopeObject},
	{name: string(BypassGovernanceRetention), scope: scopeObject},
	{name: string(RestoreObject), scope: scopeObject},

	// The rest of Amazon S3's actions: valid in a policy, never asked for.
	{name: "s3:AllowVendedLogDeliveryForResource", scope: scopeBucket},
	{name: "s3:AssociateAccessGrantsIdentityCenter"},
	{name: "s3:CreateAccessGrant"},
	{name: "s3:CreateAccessGrantsInstance"},
	{name: "s3:CreateAccessGrantsLocation"},
	{name: "s3:CreateAccessPoint"},
	{name: "s3:CreateAccessPointForObjectLambda"},
	{name: "s3:CreateBucketMetadataTableConfiguration", scope: scopeBucket},
	{name: "s3:CreateJob", scope: scopeAccount},
	{name: "s3:CreateMultiRegionAccessPoint"},
	{name: "s3:CreateStorageLensGroup", scope: scopeAccount},
	{name: "s3:DeleteAccessGrant"},
	{name: "s3:DeleteAccessGrantsInstance"},
	{name: "s3:DeleteAccessGrantsInstanceResourcePolicy"},
	{name: "s3:DeleteAccessGrantsLocation"},
	{name: "s3:DeleteAccessPoint"},
	{name: "s3:DeleteAccessPointForObjectLambda"},
	{name: "s3:DeleteAccessPointPolicy"},
	{name: "s3:DeleteAccessPointPolicyForObjectLambda"},
	{name: "s3:DeleteBucketMetadataTableConfiguration", scope: scopeBucket},
	{name: "s3:DeleteJobTagging"},
	{name: "s3:DeleteMultiRegionAccessPoint"},
	{name: "s3:DeleteObjectAnnotation", scope: scopeObject},
	{name: "s3:DeleteObjectVersionAnnotation", scope: scopeObject},
	{name: "s3:DeleteStorageLensConfiguration"},
	{name: "s3:DeleteStorageLensConfigurationTagging"},
	{name: "s3:DeleteStorageLensGroup"},
	{name: "s3:DescribeJob"},
	{name: "s3:DescribeMultiRegionAccessPointOperation"},
	{name: "s3:DissociateAccessGrantsIdentityCenter"},
	{name: "s3:GetAccessGrant"},
	{name: "s3:GetAccessGrantsInstance"},
	{name: "s3:GetAccessGrantsInstanceForPrefix"},
	{name: "s3:GetAccessGrantsInstanceResourcePolicy"},
	{name: "s3:GetAccessGrantsLocation"},
	{name: "s3:GetAccessPoint", scope: scopeAccount},
	{name: "s3:GetAccessPointConfigurationForObjectLambda"},
	{name: "s3:GetAccessPointForObjectLambda"},
	{name: "s3:GetAccessPointPolicy"},
	{name: "s3:GetAccessPointPolicyForObjectLambda"},
	{name: "s3:GetAccessPointPolicyStatus"},
	{name: "s3:GetAccessPointPolicyStatusForObjectLambda"},
	{name: "s3:GetAccountPublicAccessBlock", scope: scopeAccount},
	{name: "s3:GetAnalyticsConfiguration", scope: scopeBucket},
	{name: "s3:GetBucketAbac", scope: scopeBucket},
	{name: "s3:GetBucketMetadataTableConfiguration", scope: scopeBucket},
	{name: "s3:GetBucketPublicAccessBlock", scope: scopeBucket},
	{name: "s3:GetDataAccess"},
	{name: "s3:GetIntelligentTieringConfiguration", scope: scopeBucket},
	{name: "s3:GetInventoryConfiguration", scope: scopeBucket},
	{name: "s3:GetJobTagging"},
	{name: "s3:GetMetricsConfiguration", scope: scopeBucket},
	{name: "s3:GetMultiRegionAccessPoint"},
	{name: "s3:GetMultiRegionAccessPointPolicy"},
	{name: "s3:GetMultiRegionAccessPointPolicyStatus"},
	{name: "s3:GetMultiRegionAccessPointRoutes"},
	{name: "s3:GetObjectAnnotation", scope: scopeObject},
	{name: "s3:GetObjectTorrent", scope: scopeObject},
	{name: "s3:GetObjectVersionAnnotation", scope: scopeObject},
	{name: "s3:GetObjectVersionAnnotationForReplication", scope: scopeObject},
	{name: "s3:GetObjectVersionForReplication", scope: scopeObject},
	{name: "s3:GetObjectVersionTorrent", scope: scopeObject},
	{name: "s3:GetStorageLensConfiguration"},
	{name: "s3:GetStorageLensConfigurationTagging"},
	{name: "s3:GetStorageLensDashboard"},
	{name: "s3:GetStorageLensGroup"},
	{name: "s3:InitiateReplication", scope: scopeObject},
	{name: "s3:ListAccessGrants"},
	{name: "s3:ListAccessGrantsInstances", scope: scopeAccount},
	{name: "s3:ListAccessGrantsLocations"},
	{name: "s3:ListAccessPoints", scope: scopeAccount},
	{name: "s3:ListAccessPointsForObjectLambda", scope: scopeAccount},
	{name: "s3:ListCallerAccessGrants"},
	{name: "s3:ListJobs", scope: scopeAccount},
	{name: "s3:ListMultiRegionAccessPoints", scope: scopeAccount},
	{name: "s3:ListObjectAnnotations", scope: scopeObject},
	{name: "s3:ListObjectVersionAnnotations", scope: scopeObject},
	{name: "s3:ListStorageLensConfigurations", scope: scopeAccount},
	{name: "s3:ListStorageLensGroups", scope: scopeAccount},
	{name: "s3:ListTagsForResource"},
	{name: "s3:ObjectOwnerOverrideToBucketOwner", scope: scopeObject},
	{name: "s3:PauseReplication", scope: scopeBucket},
	{name: "s3:PutAccelerateConfiguration", scope: scopeBucket},
	{name: "s3:PutAccessGrantsInstanceResourcePolicy"},
	{name: "s3:PutAccessPointConfigurationForObjectLambda"},
	{name: "s3:PutAccessPointPolicy"},
	{name: "s3:PutAccessPointPolicyForObjectLambda"},
	{name: "s3:PutAccessPointPublicAccessBlock", scope: scopeAccount},
	{name: "s3:PutAccountPublicAccessBlock", scope: scopeAccount},
	{name: "s3:PutAnalyticsConfiguration", scope: scopeBucket},
	{name: "s3:PutBucketAbac", scope: scopeBucket},
	{name: "s3:PutBucketPublicAccessBlock", scope: scopeBucket},
	{name: "s3:PutBucketRequestPayment", scope: scopeBucket},
	{name: "s3:PutIntelligentTieringConfiguration", scope: scopeBucket},
	{name: "s3:PutInventoryConfiguration", scope: scopeBucket},
	{name: "s3:PutJobTagging"},
	{name: "s3:PutMetricsConfiguration", scope: scopeBucket},
	{name: "s3:PutMultiRegionAccessPointPolicy"},
	{name: "s3:PutObjectAnnotation", scope: scopeObject},
	{name: "s3:PutObjectVersionAnnotation", scope: scopeObject},
	{name: "s3:PutStorageLensConfiguration", scope: scopeAccount},
	{name: "s3:PutStorageLensConfigurationTagging"},
	{name: "s3:ReplicateDelete", scope: scopeObject},
	{name: "s3:ReplicateObject", scope: scopeObject},
	{name: "s3:ReplicateObjectAnnotation", scope: scopeObject},
	{name: "s3:ReplicateTags", scope: scopeObject},
	{name: "s3:SubmitMultiRegionAccessPointRoutes"},
	{name: "s3:TagResource"},
	{name: "s3:UntagResource"},
	{name: "s3:UpdateAccessGrantsLocation"},
	{name: "s3:UpdateBucketMetadataAnnotationTableConfiguration", scope: scopeBucket},
	{name: "s3:UpdateBucketMetadataInventoryTableConfiguration", scope: scopeBucket},
	{name: "s3:UpdateBucketMetadataJournalTableConfiguration", scope: scopeBucket},
	{name: "s3:UpdateJobPriority"},
	{name: "s3:UpdateJobStatus"},
	{name: "s3:UpdateObjectEncryption", scope: scopeObject},
	{name: "s3:UpdateStorageLensGroup"},

	// MinIO's S3 extensions. iamgate follows AWS and never asks for them.
	{name: "s3:HeadBucket", scope: scopeBucket, minio: true, note: "HeadBucket needs s3:ListBucket, as in AWS"},
	{name: "s3:DeleteBucketCors", scope: scopeBucket, minio: true, note: "DeleteBucketCors needs s3:PutBucketCORS, as in AWS"},
	{name: "s3:ForceDeleteBucket", scope: scopeBucket, minio: true},
	{name: "s3:GetBucketQOS", scope: scopeBucket, minio: true},
	{name: "s3:PutBucketQOS", scope: scopeBucket, minio: true},
	{name: "s3:ListenBucketNotification", scope: scopeBucket, minio: true},
	{name: "s3:ListenNotification", minio: true},
	{name: "s3:PutObjectFanOut", scope: scopeObject, minio: true},
	{name: "s3:ResetBucketReplicationState", minio: true},
})

// ignoredServices are the services of MinIO's policy language that are not
// S3. Entries naming them are accepted, with a warning, and never match.
var ignoredServices = []string{"admin", "kms", "sts"}

func sortActions(as []actionInfo) []actionInfo {
	sort.Slice(as, func(i, j int) bool { return strings.ToLower(as[i].name) < strings.ToLower(as[j].name) })
	return as
}

// s3ActionsLower holds the lower-case names of s3Actions, and
// s3ActionIndex maps each to its position. They are read-only.
var (
	s3ActionsLower = func() []string {
		out := make([]string, len(s3Actions))
		for i, a := range s3Actions {
			out[i] = strings.ToLower(a.name)
		}
		return out
	}()
	s3ActionIndex = func() map[string]int {
		m := make(map[string]int, len(s3ActionsLower))
		for i, s := range s3ActionsLower {
			m[s] = i
		}
		return m
	}()
)

// actionEntry is one checked Action or NotAction entry.
type actionEntry struct {
	ignored bool        // names a service iamgate never evaluates
	scopes  uint8       // bit per actionScope of the S3 actions it matches
	minio   *actionInfo // it names exactly one of MinIO's S3 extensions
}

const allScopes = 1<<scopeOther | 1<<scopeAccount | 1<<scopeBucket | 1<<scopeObject

// checkActionEntry validates one Action or NotAction entry against the
// vocabulary. It returns a message for a compile error, or the entry.
func checkActionEntry(a string) (actionEntry, string) {
	if msg := checkActionSyntax(a); msg != "" {
		return actionEntry{}, msg
	}
	if a == "*" {
		return actionEntry{scopes: allScopes}, ""
	}
	svc, name, _ := strings.Cut(a, ":")
	lsvc, lname := strings.ToLower(svc), strings.ToLower(name)
	switch {
	case lsvc == "s3":
	case slices.Contains(ignoredServices, lsvc):
		return actionEntry{ignored: true}, ""
	default:
		msg := fmt.Sprintf("unknown service %q; iamgate accepts s3 (and %s, as MinIO policies use them)", svc, strings.Join(ignoredServices, ", "))
		if s := suggestService(lsvc, name); s != "" {
			msg = fmt.Sprintf("unknown service %q (did you mean %q?)", svc, s)
		}
		return actionEntry{}, msg
	}
	if !strings.ContainsAny(lname, "*?") {
		i, ok := s3ActionIndex["s3:"+lname]
		if !ok {
			return actionEntry{}, "no such S3 action" + didYouMean(lname)
		}
		e := actionEntry{scopes: 1 << s3Actions[i].scope}
		if s3Actions[i].minio {
			e.minio = &s3Actions[i]
		}
		return e, ""
	}
	p, _ := compilePattern("s3:"+lname, patternOpts{glob: true})
	var e actionEntry
	for i, n := range s3ActionsLower {
		if globMatch(&p, n) {
			e.scopes |= 1 << s3Actions[i].scope
		}
	}
	if e.scopes == 0 {
		return actionEntry{}, "matches no S3 action" + didYouMean(lname)
	}
	return e, ""
}

// checkActionSyntax validates "*" or "service:name", where name may
// contain the wildcards '*' and '?'.
func checkActionSyntax(a string) string {
	if a == "*" {
		return ""
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return `must be "*" or "service:action", e.g. "s3:GetObject"`
	}
	for _, c := range svc {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "service prefix may contain only letters, digits and '-'"
		}
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '*' || c == '?') {
			return "action name may contain only letters, digits, '-', '*' and '?'"
		}
	}
	return ""
}

// didYouMean suggests the S3 action closest to name (lower case, without
// the service), if one is close enough to be a likely typo, and the action
// S3 authorizes an API operation of that name with (s3:ListObjectsV2 is
// not an action; the request needs s3:ListBucket).
func didYouMean(name string) string {
	s := closestS3Action(name)
	op, ok := operationActions[name]
	switch {
	case ok && (s == "" || s == op.action):
		return fmt.Sprintf(" (did you mean %q? S3 authorizes %s with it)", op.action, op.name)
	case ok:
		return fmt.Sprintf(" (did you mean %q? S3 authorizes %s with %q)", s, op.name, op.action)
	case s != "":
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// operationActions maps S3 API operations whose name is not an action to
// the action S3 authorizes them with, by lower-case operation name.
var operationActions = func() map[string]struct{ name, action string } {
	m := map[string]struct{ name, action string }{}
	for _, o := range []struct {
		action Action
		ops    []string
	}{
		{ListBucket, []string{"ListObjects", "ListObjectsV2"}},
		{ListAllMyBuckets, []string{"ListBuckets"}},
		{ListBucketVersions, []string{"ListObjectVersions"}},
		{ListBucketMultipartUploads, []string{"ListMultipartUploads"}},
		{ListMultipartUploadParts, []string{"ListParts"}},
		{GetObject, []string{"HeadObject", "SelectObjectContent"}},
		{PutObject, []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PostObject"}},
		{DeleteObject, []string{"DeleteObjects"}},
		{GetEncryptionConfiguration, []string{"GetBucketEncryption"}},
		{PutEncryptionConfiguration, []string{"PutBucketEncryption", "DeleteBucketEncryption"}},
		{GetLifecycleConfiguration, []string{"GetBucketLifecycle", "GetBucketLifecycleConfiguration"}},
		{PutLifecycleConfiguration, []string{"PutBucketLifecycle", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"}},
		{GetReplicationConfiguration, []string{"GetBucketReplication"}},
		{PutReplicationConfiguration, []string{"PutBucketReplication", "DeleteBucketReplication"}},
		{GetBucketObjectLockConfiguration, []string{"GetObjectLockConfiguration"}},
		{PutBucketObjectLockConfiguration, []string{"PutObjectLockConfiguration"}},
		{GetBucketNotification, []string{"GetBucketNotificationConfiguration"}},
		{PutBucketNotification, []string{"PutBucketNotificationConfiguration"}},
		{PutBucketTagging, []string{"DeleteBucketTagging"}},
		{PutBucketOwnershipControls, []string{"DeleteBucketOwnershipControls"}},
		{GetAccelerateConfiguration, []string{"GetBucketAccelerateConfiguration"}},
		{"s3:PutAccelerateConfiguration", []string{"PutBucketAccelerateConfiguration"}},
		{"s3:GetBucketPublicAccessBlock", []string{"GetPublicAccessBlock"}},
		{"s3:PutBucketPublicAccessBlock", []string{"PutPublicAccessBlock", "DeletePublicAccessBlock"}},
	} {
		for _, op := range o.ops {
			m[strings.ToLower(op)] = struct{ name, action string }{op, string(o.action)}
		}
	}
	return m
}()

// closestS3Action returns the S3 action whose name is closest to name by
// edit distance, case-insensitively, or "" if none is close enough. Ties go
// to the action iamgate classifies (it is what a policy usually means), then
// to the first in order.
func closestS3Action(name string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestD := -1, 0
	for i, n := range s3ActionsLower {
		d := editdist.Levenshtein(name, n[len("s3:"):])
		better := best < 0 || d < bestD
		if !better && d == bestD {
			_, known := knownLowerIndex[Action(n)]
			_, bestKnown := knownLowerIndex[Action(s3ActionsLower[best])]
			better = known && !bestKnown
		}
		if better {
			best, bestD = i, d
		}
	}
	if best < 0 || bestD > typoLimit(name) {
		return ""
	}
	return s3Actions[best].name
}

// suggestService suggests a replacement for an entry whose service (lower
// case) is unknown: the S3 action or pattern meant, when the service looks
// like a typo of s3.
func suggestService(svc, name string) string {
	if editdist.Levenshtein(svc, "s3") > 1 {
		return ""
	}
	lname := strings.ToLower(name)
	if !strings.ContainsAny(name, "*?") {
		if i, ok := s3ActionIndex["s3:"+lname]; ok {
			return s3Actions[i].name
		}
		if s := closestS3Action(lname); s != "" {
			return s
		}
		if op, ok := operationActions[lname]; ok {
			return op.action
		}
		return ""
	}
	p, _ := compilePattern("s3:"+lname, patternOpts{glob: true})
	for _, n := range s3ActionsLower {
		if globMatch(&p, n) {
			return "s3:" + name
		}
	}
	return closestS3Action(lname)
}

// typoLimit is the largest edit distance still taken for a typo of s.
func typoLimit(s string) int {
	switch {
	case len(s) <= 3:
		return 1
	case len(s) < 10:
		return 2
	}
	return 3
}

// scopeWarnings reports the Action entries of st that can never match
// because no Resource of st names the kind of resource they are decided on:
// s3:ListBucket with only "arn:aws:s3:::b/*" (bucket requests match only
// "arn:aws:s3:::b"), s3:GetObject with only "arn:aws:s3:::b", and
// s3:ListAllMyBuckets with anything but "*". entries are st's Action
// entries, in order.
func scopeWarnings(st *statement, entries []actionEntry) []string {
	var can uint8
	for i := range st.resources {
		can |= resourceScopes(&st.resources[i])
	}
	var warns []string
	for i, e := range entries {
		if e.ignored || e.scopes&(1<<scopeOther) != 0 || e.scopes&can != 0 {
			continue
		}
		a := st.actionRaw[i]
		only := ""
		if strings.ContainsAny(a, "*?") {
			only = "only "
		}
		var msg string
		switch e.scopes {
		case 1 << scopeBucket:
			msg = fmt.Sprintf("Action %q applies %sto buckets, but every Resource names objects, so it never matches; the bucket itself is %q", a, only, bucketARN(st.resources[0].raw))
		case 1 << scopeObject:
			msg = fmt.Sprintf("Action %q applies %sto objects, but every Resource names a bucket, so it never matches; the bucket's objects are %q", a, only, st.resources[0].raw+"/*")
		case 1 << scopeAccount:
			msg = fmt.Sprintf("Action %q takes no resource and matches only Resource \"*\", so it never matches here", a)
		default:
			msg = fmt.Sprintf("Action %q matches only actions decided on other kinds of resource than this statement's Resource, so it never matches", a)
		}
		warns = append(warns, msg)
	}
	return warns
}

// resourceScopes returns the kinds of resource a Resource pattern can
// match. Anything but an "arn:aws:s3:::" pattern counts as matching every
// kind, so that no warning is given about it.
func resourceScopes(p *pattern) uint8 {
	const s3Prefix = "arn:aws:s3:::"
	if p.any || len(p.toks) == 0 || p.toks[0].kind != tokLit || !strings.HasPrefix(p.toks[0].lit, s3Prefix) {
		return allScopes
	}
	bucket, object := true, false
	for i, t := range p.toks {
		switch t.kind {
		case tokLit:
			lit := t.lit
			if i == 0 {
				lit = lit[len(s3Prefix):]
			}
			if strings.Contains(lit, "/") {
				bucket, object = false, true
			}
		default: // a wildcard or a variable may stand for "/" and more
			object = true
		}
	}
	var s uint8
	if bucket {
		s |= 1 << scopeBucket
	}
	if object {
		s |= 1 << scopeObject
	}
	return s
}

// bucketARN returns the bucket part of an object ARN pattern.
func bucketARN(raw string) string {
	const s3Prefix = "arn:aws:s3:::"
	if i := strings.IndexByte(raw[len(s3Prefix):], '/'); i >= 0 {
		return raw[:len(s3Prefix)+i]
	}
	return raw
}
