package authz

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParsePolicy(f *testing.F) {
	for _, c := range loadCorpus(f) {
		for _, p := range c.Policies {
			f.Add([]byte(p))
		}
	}
	f.Add([]byte(`{"Statement":{"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::${jwt:a, 'x'}${*}"}}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:NumericLessThanIfExists":{"jwt:n":[1,"2"]}}}]}`))
	req := Request{Action: GetObject, Resource: "arn:aws:s3:::b/k", S3: S3Context{Prefix: V("p")}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy("fuzz", doc)
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			return
		}
		// A valid policy must also evaluate without panicking.
		e := engineWith(t, allowStmt("s3:*", "*", ""))
		pr := e.NewPrincipal(&Identity{Issuer: "corp", Claims: map[string]any{"a": "x", "n": 1.0}}, e.Roles()).WithSessionPolicy(p)
		e.Authorize(pr, &req)
		e.Explain(pr, &req)
	})
}

// globRegexp is an independent reference for resource patterns without
// variables.
func globRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, r := range pat {
		switch r {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// FuzzGlob checks the matcher against the regexp reference.
func FuzzGlob(f *testing.F) {
	f.Add("b/*a*b", "b/xaxxb")
	f.Add("caf?.txt", "café.txt")
	f.Add("*?*?", "日本")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) || len(pat) > 64 || len(s) > 256 {
			return
		}
		p, err := compilePattern(pat, patternOpts{glob: true})
		if err != nil {
			t.Fatal(err)
		}
		got := p.match(s, nil, false)
		want := globRegexp(pat).MatchString(s)
		if got != want {
			t.Fatalf("match(%q, %q) = %v, regexp says %v", pat, s, got, want)
		}
	})
}

// FuzzVariableLiteral checks that a variable's value never acts as a
// pattern: "x/${jwt:v}" matches exactly "x/" + v.
func FuzzVariableLiteral(f *testing.F) {
	f.Add("*", "anything")
	f.Add("a?c", "abc")
	f.Fuzz(func(t *testing.T, claim, key string) {
		e := engineWith(t, allowStmt("s3:GetObject", "arn:aws:s3:::x/${jwt:v}", ""))
		d := decide(t, e, map[string]any{"v": claim}, Request{Action: GetObject, Resource: "arn:aws:s3:::x/" + key})
		if d.Allowed != (claim == key) {
			b, _ := json.Marshal([]string{claim, key})
			t.Fatalf("claim/key %s: allowed=%v", b, d.Allowed)
		}
	})
}
