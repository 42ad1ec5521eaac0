package ldapdir

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/iamgate/iamgate/state"
)

// Defaults of a [Throttle] whose Failures is set.
const (
	DefaultMaxFailures       = 5
	DefaultSourceMaxFailures = 20
	DefaultWindow            = 15 * time.Minute
	DefaultLockout           = time.Minute
)

// Throttle slows down password guessing. Failed attempts are counted per
// user name (of this directory) and per source address; a count lives for
// Window after its latest failure. Once a count reaches its maximum, that
// user name or address is refused, without asking the directory, for
// Lockout; every further failure doubles the lockout, up to Window. A
// success resets the user name's count (not the address's). Attempts
// refused by the throttle are not counted.
type Throttle struct {
	// Failures holds the counts; nil disables throttling. Keep one for the
	// process (across reloads), shared by the STS and the console.
	Failures state.Failures
	// MaxFailures per user name; zero means DefaultMaxFailures.
	MaxFailures int
	// SourceMaxFailures per source address; zero means
	// DefaultSourceMaxFailures.
	SourceMaxFailures int
	// Window and Lockout; zero means the defaults. Lockout must not exceed
	// Window.
	Window, Lockout time.Duration
}

func (t *Throttle) validate() error {
	if t.MaxFailures < 0 || t.SourceMaxFailures < 0 || t.Window < 0 || t.Lockout < 0 {
		return errors.New("throttle settings must not be negative")
	}
	if t.MaxFailures == 0 {
		t.MaxFailures = DefaultMaxFailures
	}
	if t.SourceMaxFailures == 0 {
		t.SourceMaxFailures = DefaultSourceMaxFailures
	}
	if t.Window == 0 {
		t.Window = DefaultWindow
	}
	if t.Lockout == 0 {
		t.Lockout = min(DefaultLockout, t.Window)
	}
	if t.Lockout > t.Window {
		return errors.New("the throttle lockout must not exceed its window")
	}
	return nil
}

// lockedUntil is when a key with count c is free again (zero: not
// locked).
func (t *Throttle) lockedUntil(c state.FailureCount, max int) time.Time {
	if c.N < max {
		return time.Time{}
	}
	d := t.Lockout
	for i := max; i < c.N && d < t.Window; i++ {
		d *= 2
	}
	return c.Last.Add(min(d, t.Window))
}

var throttleWhat = map[string]string{"ldap-user": "the user name", "ldap-dn": "the user", "ldap-source": "the source address"}

type throttleKey struct {
	key string
	max int
}

// throttleKeys are the counts an attempt is checked against before the
// directory is asked: the user name (folded as directories compare names:
// case and runs of spaces ignored) and the source address.
func (d *Directory) throttleKeys(a Attempt) []throttleKey {
	if d.cfg.Throttle.Failures == nil {
		return nil
	}
	name := strings.ToLower(strings.Join(strings.Fields(a.Username), " "))
	keys := []throttleKey{{"ldap-user:" + d.cfg.Name + ":" + name, d.cfg.Throttle.MaxFailures}}
	if a.Source.IsValid() {
		keys = append(keys, throttleKey{"ldap-source:" + a.Source.Unmap().String(), d.cfg.Throttle.SourceMaxFailures})
	}
	return keys
}

// dnThrottleKey is the count of the user's entry, once found.
func (d *Directory) dnThrottleKey(dn string) *throttleKey {
	if d.cfg.Throttle.Failures == nil {
		return nil
	}
	return &throttleKey{"ldap-dn:" + d.cfg.Name + ":" + strings.ToLower(normalizeDN(dn)), d.cfg.Throttle.MaxFailures}
}

// checkThrottle refuses an attempt whose user name or address is locked
// out. A count that cannot be read refuses the attempt (fail closed).
func (d *Directory) checkThrottle(ctx context.Context, keys []throttleKey) error {
	now := d.cfg.Now()
	for _, k := range keys {
		c, err := d.cfg.Throttle.Failures.Get(ctx, k.key)
		if err != nil {
			return d.fail(ReasonUnavailable, "the failed-attempt counts cannot be read", err)
		}
		if until := d.cfg.Throttle.lockedUntil(c, k.max); until.After(now) {
			e := d.fail(ReasonThrottled, "too many failed attempts for "+throttleWhat[strings.SplitN(k.key, ":", 2)[0]]+" until "+until.UTC().Format(time.RFC3339), nil)
			e.RetryAfter = until
			return e
		}
	}
	return nil
}

func (d *Directory) recordFailure(ctx context.Context, keys []throttleKey) {
	for _, k := range keys {
		_, _ = d.cfg.Throttle.Failures.Add(ctx, k.key, d.cfg.Throttle.Window)
	}
}

// recordSuccess resets the counts of the user name and entry (not the
// address's).
func (d *Directory) recordSuccess(ctx context.Context, keys []throttleKey) {
	for _, k := range keys {
		if !strings.HasPrefix(k.key, "ldap-source:") {
			_ = d.cfg.Throttle.Failures.Reset(ctx, k.key)
		}
	}
}
