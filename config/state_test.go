package config

import (
	"strings"
	"testing"
	"time"
)

const stateBase = `upstream: {endpoint: http://127.0.0.1:9000, access_key_id: env:MINIO_KEY, secret_access_key: env:MINIO_SECRET}
metrics_listen: 127.0.0.1:9090
`

func TestStateRedisURL(t *testing.T) {
	for url, want := range map[string]string{
		"redis://redis.example.com:6379/0":   "",
		"rediss://redis.example.com:6380":    "",
		"redis://127.0.0.1:6379/":            "",
		"http://redis.example.com:6379":      `scheme must be redis or rediss, got "http"`,
		"redis://redis.example.com:6379/16":  `the path is the database number, 0 to 15; got "/16"`,
		"redis://redis.example.com:6379/x":   `the path is the database number`,
		"redis://:pw@redis.example.com:6379": "must not contain credentials",
		"redis://redis.example.com?db=1":     "must not have a query or fragment",
		"redis:///0":                         "invalid URL",
	} {
		f, _, err := parse("t.yaml", []byte(stateBase+"state: {redis: {url: \""+url+"\"}}\n"), ".", lookup, testNow)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", url, err)
		case want == "" && (f.State.Redis == nil || f.State.Redis.URL != url):
			t.Errorf("%s: %+v", url, f.State)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", url, err, want)
		}
	}
}

func TestStateDefaults(t *testing.T) {
	f, _, err := parse("t.yaml", []byte(stateBase), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if f.State.Redis != nil || f.State.CountersOnError != "closed" || f.Admin != nil {
		t.Errorf("no state section: %+v %+v", f.State, f.Admin)
	}
	f, _, err = parse("t.yaml", []byte(stateBase+`state: {redis: {url: "redis://r:6379/0", username: iamgate, password: env:MINIO_SECRET}, counters_on_error: open}
admin: {token: env:FP_KEY}
`), ".", lookup, testNow)
	if err != nil {
		t.Fatal(err)
	}
	r := f.State.Redis
	if r.KeyPrefix != "iamgate:" || r.Timeout != 200*time.Millisecond || r.DialTimeout != 2*time.Second || r.PoolSize != 32 ||
		r.Username != "iamgate" || r.Password.Reveal() != testEnv["MINIO_SECRET"] || f.State.CountersOnError != "open" {
		t.Errorf("defaults: %+v", r)
	}
	if f.Admin == nil || f.Admin.Token.Reveal() != testEnv["FP_KEY"] {
		t.Errorf("admin: %+v", f.Admin)
	}
}
