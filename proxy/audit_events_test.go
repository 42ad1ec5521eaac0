package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/audit"
)

// unavailableSink writes events but reports that they cannot be persisted,
// as a full webhook spool does (it keeps space in reserve).
type unavailableSink struct{ w lockedBuffer }

func (s unavailableSink) WriteEvent(line []byte) error { _, err := s.w.Write(line); return err }
func (unavailableSink) Available() error               { return errors.New("audit: webhook spool full") }

// Requests refused before authentication because audit events cannot be
// persisted are recorded without an authentication method, and their
// events match the schema (f.events validates every line).
func TestAuditUnavailableEventsValidate(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.h.cfg.Audit = audit.NewLogger(unavailableSink{lockedBuffer{f.auditMu, f.audit}})
	f.h.cfg.AuditDelivery = audit.DeliveryRequired
	alice := f.token(t, "alice", "staff")
	if res, _ := f.do(t, "GET", "/bkt/home/alice/k", alice, nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET: %s", res.Status)
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {alice}}
	if res, _ := f.do(t, "POST", "/", "", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("STS: %s", res.Status)
	}
	evs := f.events(t)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for _, ev := range evs {
		if ev.Decision != "error" || ev.Reason != "audit_unavailable" || ev.AuthMethod != "" || ev.Subject != "" ||
			ev.Status != http.StatusServiceUnavailable || ev.ErrorCode != "ServiceUnavailable" {
			t.Errorf("event %+v", ev)
		}
	}
}

// An STS call to an iamgate without STS is an sts event that matches the
// schema.
func TestSTSDisabledEventValidates(t *testing.T) {
	f := newFixture(t, nil, nil)
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {f.token(t, "alice", "staff")}}
	if res, _ := f.do(t, "POST", "/", "", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("STS: %s", res.Status)
	}
	evs := f.events(t)
	if len(evs) != 1 || evs[0].Kind != audit.KindSTS || evs[0].Reason != "sts_disabled" || evs[0].AuthMethod != "web_identity" {
		t.Fatalf("events %+v", evs)
	}
}
