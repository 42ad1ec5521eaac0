package authz

import (
	"fmt"
	"testing"
)

// engineWith compiles one role "r" (issuer "corp", no claim rules) holding
// the given policies, named p1, p2, ...
func engineWith(t testing.TB, policies ...string) *Engine {
	t.Helper()
	var cfg Config
	var names []string
	for i, doc := range policies {
		name := fmt.Sprintf("p%d", i+1)
		names = append(names, name)
		cfg.Policies = append(cfg.Policies, PolicyDoc{Name: name, JSON: []byte(doc)})
	}
	cfg.Roles = []RoleConfig{{Name: "r", Kind: KindHuman, Trust: []TrustRule{{Issuer: "corp"}}, Policies: names}}
	e, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return e
}

// decide evaluates req for an identity with claims holding every role of e.
func decide(t testing.TB, e *Engine, claims map[string]any, req Request) Decision {
	t.Helper()
	p := e.NewPrincipal(&Identity{Issuer: "corp", Subject: "sub-1", Claims: claims}, e.Roles())
	return e.Authorize(p, &req)
}

// allowStmt returns a one-statement Allow policy.
func allowStmt(action, resource, condition string) string {
	c := ""
	if condition != "" {
		c = `,"Condition":` + condition
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":%q,"Resource":%q%s}]}`, action, resource, c)
}
