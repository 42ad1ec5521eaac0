package authz

// Identity returns the identity the principal was bound to.
func (p *Principal) Identity() *Identity { return &p.id }

// TrustRuleIndex returns the index, in configuration order, of the first
// of r's trust rules that matches id, or -1 when none does.
func (r *Role) TrustRuleIndex(id *Identity) int {
	for i := range r.trust {
		if r.trust[i].check(id) == "" {
			return i
		}
	}
	return -1
}
