package authz_test

import (
	"fmt"

	"github.com/iamgate/iamgate/authz"
)

func ExampleEngine_Authorize() {
	e, err := authz.Compile(authz.Config{
		Policies: []authz.PolicyDoc{{
			Name: "home",
			JSON: []byte(`{
			  "Version": "2012-10-17",
			  "Statement": [
			    {"Sid": "OwnHome", "Effect": "Allow",
			     "Action": ["s3:GetObject", "s3:PutObject"],
			     "Resource": "arn:aws:s3:::home/${aws:username}/*"},
			    {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
			     "Resource": "arn:aws:s3:::home/*/secrets/*"}
			  ]
			}`),
		}},
		Roles: []authz.RoleConfig{{
			Name:     "employee",
			Kind:     authz.KindHuman,
			Trust:    []authz.TrustRule{{Issuer: "corp", Claims: map[string]any{"groups": "staff"}}},
			Policies: []string{"home"},
		}},
	})
	if err != nil {
		panic(err)
	}
	id := &authz.Identity{Issuer: "corp", Subject: "u-1", Claims: map[string]any{
		"preferred_username": "alice",
		"groups":             []any{"staff"},
	}}
	roles, _ := e.Trust(id)
	p := e.NewPrincipal(id, roles)

	for _, key := range []string{"alice/todo.txt", "bob/todo.txt", "alice/secrets/key"} {
		d := e.Authorize(p, &authz.Request{Action: authz.GetObject, Resource: "arn:aws:s3:::home/" + key})
		if d.Allowed {
			fmt.Printf("%s: allowed by %s/%s/%s\n", key, d.Role, d.Policy, d.Sid)
		} else {
			fmt.Printf("%s: %s: %s\n", key, d.Reason, d.Detail)
		}
	}
	// Output:
	// alice/todo.txt: allowed by employee/home/OwnHome
	// bob/todo.txt: no_allow: no statement allows s3:GetObject
	// alice/secrets/key: explicit_deny: explicit deny in role "employee" policy "home" statement 2 (Sid "NoSecrets")
}
