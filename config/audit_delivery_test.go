package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditDelivery(t *testing.T) {
	dir := t.TempDir()
	env := func(name string) (string, bool) {
		switch name {
		case "SIEM_TOKEN":
			return "siem-bearer-token-value", true
		case "SIEM_HMAC":
			return "siem-hmac-secret-0123456789abcdef0123", true
		}
		return lookup(name)
	}
	cfg := minimal + `
audit:
  file: audit.log
  rotate: {max_size: 100MiB, max_age: 24h, retain: 14}
  fsync: always
  webhook:
    url: https://siem.example.com/ingest?source=iamgate
    bearer_token: env:SIEM_TOKEN
    hmac_secret: env:SIEM_HMAC
    batch_size: 200
    flush_interval: 250ms
    spool_dir: spool
    spool_max_bytes: 2GiB
  delivery: required
`
	f, warns, err := Parse(filepath.Join(dir, "c.yaml"), []byte(cfg), dir, env)
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v, warnings %v", err, warns)
	}
	a := f.Audit
	if a.Stdout || a.File != filepath.Join(dir, "audit.log") || a.Fsync != FsyncAlways || a.Delivery != DeliveryRequired {
		t.Errorf("audit %+v", a)
	}
	if a.Rotate != (Rotate{MaxSize: 100 << 20, MaxAge: 24 * time.Hour, Retain: 14}) {
		t.Errorf("rotate %+v", a.Rotate)
	}
	w := a.Webhook
	if w == nil || w.URL != "https://siem.example.com/ingest?source=iamgate" || w.BatchSize != 200 ||
		w.FlushInterval != 250*time.Millisecond || w.SpoolDir != filepath.Join(dir, "spool") || w.SpoolMaxBytes != 2<<30 {
		t.Fatalf("webhook %+v", w)
	}
	if w.BearerToken.Reveal() != "siem-bearer-token-value" || w.HMACSecret.Source() != "env:SIEM_HMAC" {
		t.Errorf("webhook credentials from %q and %q", w.BearerToken.Source(), w.HMACSecret.Source())
	}
	if s := fmt.Sprintf("%v %+v %#v", a, *w, *w); strings.Contains(s, "siem-bearer") || strings.Contains(s, "siem-hmac") {
		t.Errorf("printing the configuration reveals a credential: %s", s)
	}
	if !a.SameDelivery(&a) {
		t.Error("SameDelivery(itself) is false")
	}
	b := a
	wb := *w
	other := NewSecret("another-token")
	wb.BearerToken = &other
	b.Webhook = &wb
	if a.SameDelivery(&b) {
		t.Error("SameDelivery misses a changed bearer token")
	}

	// Defaults; a webhook alone is a sink, and stdout then defaults to off.
	f, _, err = Parse(filepath.Join(dir, "c.yaml"), []byte(minimal+`
audit:
  webhook: {url: "http://127.0.0.1:8088/ingest", spool_dir: /var/spool/iamgate}
`), dir, env)
	if err != nil {
		t.Fatal(err)
	}
	a = f.Audit
	want := Webhook{URL: "http://127.0.0.1:8088/ingest", BatchSize: 500, FlushInterval: time.Second,
		SpoolDir: "/var/spool/iamgate", SpoolMaxBytes: 1 << 30}
	if a.Stdout || a.Webhook == nil || *a.Webhook != want || a.Fsync != "" || a.Delivery != "" || a.Rotate != (Rotate{}) {
		t.Errorf("audit %+v, webhook %+v", a, a.Webhook)
	}
	if _, _, err := Parse("c.yaml", []byte(minimal+"audit: {stdout: false, webhook: {url: \"https://x.example\", spool_dir: s}}\n"), "", env); err != nil {
		t.Errorf("webhook as the only sink: %v", err)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"65536": 65536, "64KiB": 64 << 10, "100MiB": 100 << 20, "1GiB": 1 << 30, "2 GiB": 2 << 30,
		"1TiB": 1 << 40, "10MB": 10e6, "1GB": 1e9, "100000B": 100000,
		"1.5GiB": -1, "-1MiB": -1, "1PiB": -1, "2TiB": -1, "1KiB": -1, "MiB": -1, "9223372036854775807GiB": -1,
	} {
		f, _, err := Parse("c.yaml", []byte(minimal+"audit: {file: a.log, rotate: {max_size: "+in+"}}\n"), "", lookup)
		switch {
		case want < 0 && err == nil:
			t.Errorf("%s: accepted as %d", in, f.Audit.Rotate.MaxSize)
		case want >= 0 && err != nil:
			t.Errorf("%s: %v", in, err)
		case want >= 0 && f.Audit.Rotate.MaxSize != want:
			t.Errorf("%s: %d, want %d", in, f.Audit.Rotate.MaxSize, want)
		}
	}
}

func TestAuditClaims(t *testing.T) {
	dir := t.TempDir()
	f, _, err := Parse(filepath.Join(dir, "c.yaml"), []byte(minimal+"audit:\n  claims: [email, groups, \"https://example.com/tenant\"]\n"), dir, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Audit.Claims; len(got) != 3 || got[0] != "email" || got[2] != "https://example.com/tenant" {
		t.Errorf("claims %q", got)
	}
	_, _, err = Parse(filepath.Join(dir, "c.yaml"), []byte(minimal+"audit:\n  claims: [email, \"a\\tb\", \"\", email]\n"), dir, lookup)
	if err == nil {
		t.Fatal("invalid claim names accepted")
	}
	for _, want := range []string{"audit.claims[1]", "invalid claim name", "audit.claims[2]", "must not be empty", "audit.claims[3]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
