package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// appendString must write exactly what encoding/json writes for a string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "<script>&amp;", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"ünï/中文", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// Whatever an event holds, its serialized form is one valid JSON object on
// one line that reads back to the same strings.
func FuzzEventJSON(f *testing.F) {
	f.Add("GetObject", "bkt", "a/b.txt", "alice", "ua", "eng")
	f.Add("", "", "", "", "", "")
	f.Add("PutObject", "b", "line\nbreak\u2028\"}", "\xff", "<>&", "k\x00")
	f.Fuzz(func(t *testing.T, op, bucket, key, user, ua, claim string) {
		e := &Event{Time: time.Unix(1, 0), Kind: KindS3, EventID: "x", Operation: op, Bucket: bucket, Key: key,
			Username: user, Subject: user, UserAgent: ua, Claims: map[string]any{claim: claim}, Decision: "allow",
			Keys: []string{key, bucket}, Parameters: map[string]string{"p": claim}, Actor: &Actor{Subject: user}}
		line := e.AppendJSON(nil)
		if strings.ContainsAny(string(line), "\n\r") {
			t.Fatalf("line break in %s", line)
		}
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %s", line)
		}
		got, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		fix := func(s string) string { // as encoding/json stores it
			b, _ := json.Marshal(s)
			var out string
			json.Unmarshal(b, &out)
			return out
		}
		if got.Key != fix(key) || got.Username != fix(user) || got.UserAgent != fix(ua) {
			t.Fatalf("round trip: %+v", got)
		}
	})
}

// Decode reads attacker-controlled files (audit verify and report read
// whatever they are given): it must not panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"eventVersion":"2.0","eventTime":"2026-01-01T00:00:00Z","iamgate":{"kind":"s3"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}],"requestParameters":{"bucketName":"b","durationSeconds":1e300}}`))
	f.Add([]byte(`{"eventVersion":"9","iamgate":{"kind":"s3"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err == nil && e.Kind == "" {
			t.Fatal("decoded an event without a kind")
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	e := sampleEvent()
	e.EventID = NewEventID()
	e.Time = time.Now()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
}
