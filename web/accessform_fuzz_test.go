package web

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iamgate/iamgate/state"
)

func FuzzAccessRequestForm(f *testing.F) {
	f.Add("1h0m0s", "INC-42", int64(time.Hour))
	f.Add("30m", "  ", int64(time.Hour))
	f.Add("-1h", "x", int64(time.Hour))
	f.Add("9223372036854775807ns", "x", int64(7*24*time.Hour))
	f.Add("1h", strings.Repeat("é", 600), int64(time.Hour))
	f.Add("1.5h", "\xff", int64(2*time.Hour))
	f.Fuzz(func(t *testing.T, duration, reason string, maxNS int64) {
		max := time.Duration(maxNS)
		if max < time.Minute || max > 7*24*time.Hour {
			return // the configuration bounds max_duration
		}
		reason = strings.TrimSpace(reason)
		d, code, msg := checkRequestForm(duration, reason, max)
		if code != "" {
			if d != 0 || msg == "" || len(msg) > 200 {
				t.Fatalf("refusal %v %q %q", d, code, msg)
			}
			return
		}
		if d < time.Minute || d > max || reason == "" || len(reason) > state.MaxGrantReason || !utf8.ValidString(reason) {
			t.Fatalf("accepted %v (max %v) with reason %q", d, max, reason)
		}
	})
}
