package ldapdir_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamgate/iamgate/identity/ldapdir"
	"github.com/iamgate/iamgate/internal/testenv"
	"github.com/iamgate/iamgate/state"
)

func config(s *testenv.Slapd) ldapdir.Config {
	return ldapdir.Config{
		Name: "corp", URL: s.URL,
		LookupBindDN: testenv.SlapdLookupDN, LookupBindPassword: s.LookupPassword,
		UserSearchBase: testenv.SlapdPeople, UserSearchFilter: testenv.SlapdUserFilter,
		GroupSearchBase: testenv.SlapdGroups, GroupSearchFilter: testenv.SlapdGroupFilter,
		Attributes:  []string{"mail", "cn"},
		DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, PoolSize: 2,
	}
}

func newDir(t *testing.T, cfg ldapdir.Config) *ldapdir.Directory {
	t.Helper()
	d, err := ldapdir.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func reason(err error) ldapdir.Reason {
	var e *ldapdir.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

func TestAuthenticate(t *testing.T) {
	s := testenv.StartSlapd(t)
	ctx := context.Background()
	alice := s.User("alice")
	cases := map[string]func() ldapdir.Config{
		"plain": func() ldapdir.Config { return config(s) },
		"ldaps": func() ldapdir.Config {
			c := config(s)
			c.URL, c.RootCAs = s.LDAPSURL, caPool(t, s.CAFile)
			return c
		},
		"starttls": func() ldapdir.Config {
			c := config(s)
			c.StartTLS, c.RootCAs = true, caPool(t, s.CAFile)
			return c
		},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDir(t, cfg())
			id, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password})
			if err != nil {
				t.Fatal(err)
			}
			if id.DN != alice.DN() || id.Username != "alice" || !slices.Equal(id.Groups, []string{testenv.SlapdGroupDN("analysts")}) {
				t.Fatalf("identity = %+v", id)
			}
			c := id.Claims()
			if c["sub"] != alice.DN() || c["mail"] != "alice@example.org" || c["cn"] != "alice" || c["preferred_username"] != "alice" {
				t.Fatalf("claims = %v", c)
			}
		})
	}
	t.Run("untrusted CA", func(t *testing.T) {
		c := config(s)
		c.URL = s.LDAPSURL
		_, err := newDir(t, c).Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password})
		if reason(err) != ldapdir.ReasonUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})

	d := newDir(t, config(s))
	for _, tc := range []struct {
		name, user, pass string
		want             ldapdir.Reason
	}{
		{"wrong password", "alice", "nope", ldapdir.ReasonInvalidCredentials},
		{"locked", "carol", s.User("carol").Password, ldapdir.ReasonAccountLocked},
		{"unknown user", "mallory", "x", ldapdir.ReasonUserNotFound},
		{"empty password", "alice", "", ldapdir.ReasonMissingCredentials},
		{"filter injection", "*", "x", ldapdir.ReasonUserNotFound},
		{"filter injection 2", "alice)(uid=*", "x", ldapdir.ReasonUserNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Authenticate(ctx, ldapdir.Attempt{Username: tc.user, Password: tc.pass})
			if reason(err) != tc.want {
				t.Fatalf("err = %v (%v), want %s", err, reason(err), tc.want)
			}
			if err.Error() != "invalid user name or password" {
				t.Fatalf("client message = %q", err.Error())
			}
			if strings.Contains(err.(*ldapdir.Error).Detail, tc.pass) && tc.pass != "" && tc.pass != "x" {
				t.Fatalf("detail holds the password: %q", err.(*ldapdir.Error).Detail)
			}
		})
	}
	// The pool is reused after failures: the lookup bind was restored.
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "dave", Password: s.User("dave").Password}); err != nil {
		t.Fatal(err)
	}

	t.Run("directory down, then back, nothing cached", func(t *testing.T) {
		d := newDir(t, config(s))
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password}); err != nil {
			t.Fatal(err)
		}
		s.Stop()
		_, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password})
		if reason(err) != ldapdir.ReasonUnavailable || !strings.Contains(err.Error(), "cannot be reached") {
			t.Fatalf("down: err = %v", err)
		}
		s.Restart(t)
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password}); err != nil {
			t.Fatalf("after restart: %v", err)
		}
		s.SetPassword(t, "alice", "changed-1")
		t.Cleanup(func() { s.SetPassword(t, "alice", alice.Password) })
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password}); reason(err) != ldapdir.ReasonInvalidCredentials {
			t.Fatalf("old password after change: %v", err)
		}
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: "changed-1"}); err != nil {
			t.Fatalf("new password: %v", err)
		}
	})
}

func TestThrottle(t *testing.T) {
	s := testenv.StartSlapd(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := config(s)
	cfg.Now = clock
	cfg.Throttle = ldapdir.Throttle{Failures: state.NewFailureMemory(state.FailureMemoryConfig{Now: clock}),
		MaxFailures: 3, SourceMaxFailures: 5, Window: 10 * time.Minute, Lockout: time.Minute}
	d := newDir(t, cfg)
	src := netip.MustParseAddr("192.0.2.7")
	alice := s.User("alice")
	for range 3 {
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: "guess", Source: src}); reason(err) != ldapdir.ReasonInvalidCredentials {
			t.Fatalf("guess: %v", err)
		}
	}
	_, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "Alice", Password: alice.Password, Source: netip.MustParseAddr("192.0.2.8")})
	var e *ldapdir.Error
	if !errors.As(err, &e) || e.Reason != ldapdir.ReasonThrottled || !e.RetryAfter.Equal(now.Add(time.Minute)) {
		t.Fatalf("right password while throttled: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "alice", Password: alice.Password, Source: src}); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Success reset alice's count; the source still has 3 failures. Two
	// more (on another user) reach the source's limit.
	for range 2 {
		d.Authenticate(ctx, ldapdir.Attempt{Username: "bob", Password: "guess", Source: src})
	}
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "dave", Password: s.User("dave").Password, Source: src}); reason(err) != ldapdir.ReasonThrottled {
		t.Fatalf("source throttled: %v", err)
	}
	// Another source is not.
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "dave", Password: s.User("dave").Password, Source: netip.MustParseAddr("192.0.2.9")}); err != nil {
		t.Fatalf("other source: %v", err)
	}
	// The lockout doubles with each failure beyond the limit.
	now = now.Add(time.Minute)
	d.Authenticate(ctx, ldapdir.Attempt{Username: "bob", Password: "guess", Source: src}) // 6th for the source
	now = now.Add(time.Minute + time.Second)
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "dave", Password: s.User("dave").Password, Source: src}); reason(err) != ldapdir.ReasonThrottled {
		t.Fatalf("doubled lockout: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: "dave", Password: s.User("dave").Password, Source: src}); err != nil {
		t.Fatalf("after the doubled lockout: %v", err)
	}
}

func TestPoolBound(t *testing.T) {
	s := testenv.StartSlapd(t)
	d := newDir(t, config(s))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := d.Authenticate(context.Background(), ldapdir.Attempt{Username: "alice", Password: s.User("alice").Password})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	_, err := ldapdir.New(ldapdir.Config{Name: "x", URL: "http://h", UserSearchFilter: "(uid=x)", Attributes: []string{"groups", "bad name"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ldap://host:port", "lookup bind", "%s", `"groups"`, `"bad name"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// Names that find the same entry (here the uid and the mail address)
// share the entry's count; spellings that differ in case and spaces share
// the user name's.
func TestThrottleBySpelling(t *testing.T) {
	s := testenv.StartSlapd(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := config(s)
	cfg.UserSearchFilter = "(|(uid=%s)(mail=%s))"
	cfg.Now = clock
	cfg.Throttle = ldapdir.Throttle{Failures: state.NewFailureMemory(state.FailureMemoryConfig{Now: clock}), MaxFailures: 3, SourceMaxFailures: 100}
	d := newDir(t, cfg)
	for _, name := range []string{"alice", " ALICE", "alice@example.org"} {
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: name, Password: "guess"}); reason(err) != ldapdir.ReasonInvalidCredentials {
			t.Fatalf("%q: %v", name, err)
		}
	}
	// The user name "alice" has two failures, the mail address one, the
	// entry three: both names are refused, before the password is tried.
	for _, name := range []string{"alice@example.org", "Alice"} {
		if _, err := d.Authenticate(ctx, ldapdir.Attempt{Username: name, Password: s.User("alice").Password}); reason(err) != ldapdir.ReasonThrottled {
			t.Fatalf("%q, right password: %v", name, err)
		}
	}
}

// BenchmarkAuthenticate measures one sign-in (user search, user bind, bind
// back, group search) against a real slapd on loopback, with the pool warm.
func BenchmarkAuthenticate(b *testing.B) {
	s := testenv.StartSlapd(b)
	d, err := ldapdir.New(config(s))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	a := ldapdir.Attempt{Username: "alice", Password: s.User("alice").Password}
	ctx := context.Background()
	if _, err := d.Authenticate(ctx, a); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Authenticate(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}
