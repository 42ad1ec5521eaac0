package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
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
	f.Add([]byte(`{"Statement":[{"Effect":"Deny","Action":["s3:DeleteObjekt","s4:*","s3:Get*Objekt"],"Resource":"*"}]}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:Referer, 'x'}","Condition":{"StringEquals":{"s3:ExistingObjectTag/k":"v"}}},{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"s3:ExistingObjectTag/k":"v"}}}]}`))
	f.Add([]byte("{\n \"Statement\": [\n  {\"Effect\":\"Allow\",\"Action\":[\"s3:ListBucket\",\"s3:getobject\",\"admin:*\",\"s3:HeadBucket\"],\"Resource\":\"arn:aws:s3:::b/*\"},\n  {\"Effect\":\"Allow\",\"Action\":\"s3:ListAllMyBuckets\",\"Resource\":\"arn:aws:s3:::b\"}]}"))
	req := Request{Action: GetObject, Resource: "arn:aws:s3:::b/k", S3: S3Context{Prefix: V("p")}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy("fuzz", doc)
		// Compile agrees, and places every statement inside the document.
		lines := bytes.Count(doc, []byte("\n")) + 1
		locate := func(line, col int) string {
			if line < 1 || line > lines || col < 1 {
				t.Fatalf("statement placed at line %d, column %d of a %d-line document", line, col, lines)
			}
			return ""
		}
		ce, cerr := Compile(Config{Policies: []PolicyDoc{{Name: "fuzz", JSON: doc, Locate: locate}}})
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ParsePolicy: %v; Compile: %v", err, cerr)
		}
		if err != nil {
			if p != nil || ce != nil {
				t.Fatal("policy returned with an error")
			}
			return
		}
		ce.Warnings()
		// The MinIO compatibility check reads every valid policy, and
		// places its findings inside the document.
		if _, err := CompatMinIO([]PolicyDoc{{Name: "fuzz", JSON: doc, Locate: locate}}); err != nil {
			t.Fatalf("CompatMinIO refuses a valid policy: %v", err)
		}
		// Every action entry of a valid policy names a service iamgate
		// knows, and an S3 entry matches at least one S3 action.
		for _, st := range p.stmts {
			for i, raw := range st.actionRaw {
				svc, _, _ := strings.Cut(strings.ToLower(raw), ":")
				if raw == "*" || slices.Contains(ignoredServices, svc) {
					continue
				}
				if svc != "s3" || !slices.ContainsFunc(s3ActionsLower, func(n string) bool { return globMatch(&st.actions[i], n) }) {
					t.Fatalf("%q accepted", raw)
				}
			}
		}
		// A valid policy must also evaluate without panicking.
		e := engineWith(t, allowStmt("s3:*", "*", ""))
		pr := e.NewPrincipal(&Identity{Issuer: "corp", Claims: map[string]any{"a": "x", "n": 1.0}}, e.Roles()).WithSessionPolicy(p)
		e.Authorize(pr, &req)
		e.Explain(pr, &req)
		// With the object's tags, and with tags that cannot be read: an
		// undecidable request is never allowed by a statement that
		// needed the tags.
		tagged := req
		tagged.ExistingTags = &staticTags{tags: TagSet{Keys: []string{"k"}, Values: []string{"v"}}}
		e.Authorize(pr, &tagged)
		broken := req
		broken.ExistingTags = &staticTags{err: errors.New("unavailable")}
		if d := e.Authorize(pr, &broken); d.Allowed && pr.ReadsExistingObjectTags(req.Action) {
			if d2 := e.Authorize(pr, &tagged); !d2.Allowed {
				t.Fatalf("allowed with unreadable tags, denied with tags: %+v", d)
			}
		}
		e.Explain(pr, &broken)
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
