package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
)

// wireEvent is the serialized form, for reading events back.
type wireEvent struct {
	EventVersion    string    `json:"eventVersion"`
	EventTime       time.Time `json:"eventTime"`
	EventName       string    `json:"eventName"`
	EventID         string    `json:"eventID"`
	RequestID       string    `json:"requestID"`
	SourceIPAddress string    `json:"sourceIPAddress"`
	UserAgent       string    `json:"userAgent"`
	UserIdentity    *struct {
		PrincipalID      string `json:"principalId"`
		ARN              string `json:"arn"`
		AccessKeyID      string `json:"accessKeyId"`
		UserName         string `json:"userName"`
		IdentityProvider string `json:"identityProvider"`
		SessionContext   *struct {
			WebIDFederationData *struct {
				FederatedProvider string         `json:"federatedProvider"`
				Attributes        map[string]any `json:"attributes"`
			} `json:"webIdFederationData"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	RequestParameters map[string]any `json:"requestParameters"`
	ResponseElements  *struct {
		Credentials *struct {
			AccessKeyID string    `json:"accessKeyId"`
			Expiration  time.Time `json:"expiration"`
		} `json:"credentials"`
		Provider string `json:"provider"`
	} `json:"responseElements"`
	Resources []struct {
		Type string `json:"type"`
		ARN  string `json:"ARN"`
	} `json:"resources"`
	ErrorCode           string `json:"errorCode"`
	ErrorMessage        string `json:"errorMessage"`
	AdditionalEventData *struct {
		BytesIn    int64  `json:"bytesTransferredIn"`
		BytesOut   int64  `json:"bytesTransferredOut"`
		AuthMethod string `json:"AuthenticationMethod"`
		SigVersion string `json:"SignatureVersion"`
	} `json:"additionalEventData"`
	Iamgate struct {
		Kind             string    `json:"kind"`
		Decision         string    `json:"decision"`
		Reason           string    `json:"reason"`
		Action           string    `json:"action"`
		Roles            []string  `json:"roles"`
		RoleKind         string    `json:"roleKind"`
		MatchedRole      string    `json:"matchedRole"`
		MatchedPolicy    string    `json:"matchedPolicy"`
		MatchedSid       string    `json:"matchedSid"`
		TokenFingerprint string    `json:"tokenFingerprint"`
		SessionID        string    `json:"sessionId"`
		SessionExpiry    time.Time `json:"sessionExpiry"`
		LifetimeSeconds  int64     `json:"lifetimeSeconds"`
		Actor            *Actor    `json:"actor"`
		Grant            *Grant    `json:"grant"`
		Status           int       `json:"status"`
		Timings          *struct {
			TotalMS    float64 `json:"totalMs"`
			UpstreamMS float64 `json:"upstreamMs"`
		} `json:"timings"`
		UpstreamRequestID string `json:"upstreamRequestId"`
		DeniedKeys        []struct {
			Key           string `json:"key"`
			VersionID     string `json:"versionId"`
			Action        string `json:"action"`
			Reason        string `json:"reason"`
			MatchedRole   string `json:"matchedRole"`
			MatchedPolicy string `json:"matchedPolicy"`
			MatchedSid    string `json:"matchedSid"`
		} `json:"deniedKeys"`
		ConfigDigest string `json:"configDigest"`
		Message      string `json:"message"`
	} `json:"iamgate"`
	Chain *chainFields `json:"chain"`
}

// Decode reads one serialized event back into an Event. Fields written
// only for readers (eventSource, eventType, readOnly, the ARNs) are
// derived from the others and not read back.
func Decode(line []byte) (*Event, error) {
	var w wireEvent
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, fmt.Errorf("not a JSON audit event: %w", err)
	}
	if w.EventVersion == "" || w.Iamgate.Kind == "" {
		return nil, errors.New("not an audit event: no eventVersion or iamgate.kind")
	}
	if major, _, _ := strings.Cut(w.EventVersion, "."); major != "2" {
		return nil, fmt.Errorf("unsupported eventVersion %q", w.EventVersion)
	}
	ig := &w.Iamgate
	e := &Event{
		Time: w.EventTime, Kind: ig.Kind, EventID: w.EventID, RequestID: w.RequestID,
		SourceIP: w.SourceIPAddress, UserAgent: w.UserAgent,
		Roles: ig.Roles, RoleKind: ig.RoleKind, Fingerprint: ig.TokenFingerprint, Actor: ig.Actor, Grant: ig.Grant,
		SessionID: ig.SessionID, Expiry: ig.SessionExpiry, Lifetime: time.Duration(ig.LifetimeSeconds) * time.Second,
		Action: ig.Action, Decision: ig.Decision, Reason: ig.Reason,
		Role: ig.MatchedRole, Policy: ig.MatchedPolicy, Sid: ig.MatchedSid,
		Status: ig.Status, ErrorCode: w.ErrorCode, Message: ig.Message,
		UpstreamRequestID: ig.UpstreamRequestID, ConfigDigest: ig.ConfigDigest,
	}
	if w.ErrorMessage != "" {
		e.Message = w.ErrorMessage
	}
	e.Operation = operationOf(e.Kind, w.EventName)
	for _, d := range ig.DeniedKeys {
		e.DeniedKeys = append(e.DeniedKeys, DeniedKey{Key: d.Key, VersionID: d.VersionID, Action: d.Action,
			Reason: d.Reason, Role: d.MatchedRole, Policy: d.MatchedPolicy, Sid: d.MatchedSid})
	}
	if ig.Timings != nil {
		e.DurationMS, e.UpstreamMS = ig.Timings.TotalMS, ig.Timings.UpstreamMS
	}
	if u := w.UserIdentity; u != nil {
		e.Subject, e.ARN, e.AccessKeyID, e.Username, e.Issuer = u.PrincipalID, u.ARN, u.AccessKeyID, u.UserName, u.IdentityProvider
		if sc := u.SessionContext; sc != nil && sc.WebIDFederationData != nil {
			e.IssuerURL = sc.WebIDFederationData.FederatedProvider
			e.Claims = sc.WebIDFederationData.Attributes
		}
	}
	if re := w.ResponseElements; re != nil {
		if c := re.Credentials; c != nil {
			e.AccessKeyID, e.Expiry = c.AccessKeyID, c.Expiration
		}
		if re.Provider != "" {
			e.IssuerURL = re.Provider
		}
	}
	if a := w.AdditionalEventData; a != nil {
		e.BytesIn, e.BytesOut, e.AuthMethod = a.BytesIn, a.BytesOut, a.AuthMethod
		if a.SigVersion != impliedSignatureVersion(a.AuthMethod) {
			e.SignatureVersion = a.SigVersion
		}
	}
	if p := maps.Clone(w.RequestParameters); p != nil {
		str := func(k string) string {
			s, _ := p[k].(string)
			delete(p, k)
			return s
		}
		e.Bucket, e.Key, e.Prefix, e.RoleSessionName = str("bucketName"), str("key"), str("prefix"), str("roleSessionName")
		delete(p, "roleArn")
		if d, ok := p["durationSeconds"].(float64); ok {
			e.DurationSeconds = int64(d)
			delete(p, "durationSeconds")
		}
		for k, v := range p {
			if s, ok := v.(string); ok {
				if e.Parameters == nil {
					e.Parameters = map[string]string{}
				}
				e.Parameters[k] = s
			}
		}
	}
	if e.Bucket != "" && len(w.Resources) > 0 {
		prefix := ARN(e.Bucket, "") + "/"
		var keys []string
		for _, r := range w.Resources {
			if r.Type == "AWS::S3::Object" {
				if k, ok := strings.CutPrefix(r.ARN, prefix); ok && k != e.Key {
					keys = append(keys, k)
				}
			}
		}
		e.Keys = keys
	}
	if c := w.Chain; c != nil {
		e.Stream, e.Seq, e.Prev, e.KeyID, e.Signature = c.Stream, c.Seq, c.Prev, c.KeyID, c.Signature
	}
	return e, nil
}

// operationOf is the Operation of an event of kind whose eventName is
// name: the operation for the kinds whose eventName names one (not the
// generic S3Request and STSRequest), "" for the others.
func operationOf(kind, name string) string {
	switch kind {
	case KindS3, KindSTS, KindAuthFailure:
		if name == "S3Request" || name == "STSRequest" {
			return ""
		}
		return name
	case KindLogin, KindLoginFailure, KindLogout, KindShareLink, KindAccessRequest:
		return name
	}
	return ""
}
