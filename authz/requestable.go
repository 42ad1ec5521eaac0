package authz

import (
	"fmt"
	"time"
)

// Requestable makes a role available for just-in-time access: a person
// asks for it for at most MaxDuration, and someone an Approvers rule
// matches (never the requester) approves.
type Requestable struct {
	// Approvers are trust rules (the syntax of RoleConfig.Trust) on who
	// may approve or reject a request; any matching rule is enough.
	// Required.
	Approvers   []TrustRule
	MaxDuration time.Duration // required, positive
}

type requestable struct {
	approvers   []trustRule
	maxDuration time.Duration
}

func compileRequestable(rq *Requestable) (*requestable, []string) {
	var errs []string
	out := &requestable{maxDuration: rq.MaxDuration}
	if len(rq.Approvers) == 0 {
		errs = append(errs, "requestable: at least one approvers rule is required")
	}
	if rq.MaxDuration <= 0 {
		errs = append(errs, "requestable: max duration must be positive")
	}
	for i, tr := range rq.Approvers {
		rule, terrs := compileTrustRule(tr)
		for _, msg := range terrs {
			errs = append(errs, fmt.Sprintf("requestable: approvers rule %d: %s", i+1, msg))
		}
		out.approvers = append(out.approvers, rule)
	}
	return out, errs
}

// Requestable reports whether people may request r, and for how long
// at most.
func (r *Role) Requestable() (maxDuration time.Duration, ok bool) {
	if r.requestable == nil {
		return 0, false
	}
	return r.requestable.maxDuration, true
}

// MayApprove reports whether an approvers rule of the requestable role r
// matches id. It does not know the requester: the caller refuses a
// request's own requester.
func (r *Role) MayApprove(id *Identity) bool {
	if r.requestable == nil {
		return false
	}
	for i := range r.requestable.approvers {
		if r.requestable.approvers[i].check(id) == "" {
			return true
		}
	}
	return false
}
