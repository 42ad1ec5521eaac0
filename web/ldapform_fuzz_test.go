package web

import (
	"strings"
	"testing"

	"github.com/iamgate/iamgate/identity/ldapdir"
)

func FuzzLDAPForm(f *testing.F) {
	f.Add("directory=corp&username=alice&password=s3cret&rd=%2F_iamgate%2Fui%2F&csrf=abc")
	f.Add("username=a&username=b")
	f.Add("password=%zz")
	f.Add("directory=" + strings.Repeat("x", 100))
	f.Fuzz(func(t *testing.T, body string) {
		v, err := parseLDAPForm(body)
		if err != nil {
			if v != nil || err.Error() == "" || len(err.Error()) > 200 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if len(v.Directory) > 64 || len(v.Username) > ldapdir.MaxUsernameLength || len(v.Password) > ldapdir.MaxPasswordLength ||
			len(v.Return) > 2048 || len(v.CSRF) > 64 {
			t.Fatalf("oversized field accepted: %+v", v)
		}
		if v.Password != "" && len(v.Password) > 8 && strings.Contains(err2s(parseLDAPForm(body+"&password=x")), v.Password) {
			t.Fatal("an error repeats the password")
		}
	})
}

func err2s(_ *ldapFormValues, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
