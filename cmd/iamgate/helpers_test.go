package main

import (
	"crypto/md5"
	"encoding/base64"
)

func contentMD5ForTest(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}
