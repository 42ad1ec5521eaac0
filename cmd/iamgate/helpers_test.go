package main

import (
	"crypto/md5"
	"encoding/base64"
	"time"
)

// noDrain sets appOptions.DrainDelay for the tests that run iamgate in
// process: nothing watches their readiness, so shutdown need not wait.
var noDrain = new(time.Duration)

func contentMD5ForTest(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}
