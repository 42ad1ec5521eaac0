package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"sync"
)

// Trailer names of the flexible checksums (x-amz-trailer values).
const (
	TrailerCRC32     = "x-amz-checksum-crc32"
	TrailerCRC32C    = "x-amz-checksum-crc32c"
	TrailerCRC64NVME = "x-amz-checksum-crc64nvme"
	TrailerSHA1      = "x-amz-checksum-sha1"
	TrailerSHA256    = "x-amz-checksum-sha256"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial 0xAD93D23594C93659 in the
// reflected form hash/crc64 expects.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var crc64NVMETable = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(crc64NVMEPoly) })

// newChecksum returns the hash for a checksum trailer name, or nil if the
// name is not a supported checksum.
func newChecksum(name string) hash.Hash {
	switch name {
	case TrailerCRC32:
		return crc32.NewIEEE()
	case TrailerCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case TrailerCRC64NVME:
		return crc64.New(crc64NVMETable())
	case TrailerSHA1:
		return sha1.New()
	case TrailerSHA256:
		return sha256.New()
	}
	return nil
}

// NewChecksum returns a new hash for the checksum header or trailer name
// (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256; lower
// case), or nil if name is not a supported checksum.
func NewChecksum(name string) hash.Hash { return newChecksum(name) }

// ChecksumValueLen is the length of the base64 value of the checksum
// trailer name (8 for CRC32, 12 for CRC64NVME, 44 for SHA-256), or 0 when
// name is not a supported checksum.
func ChecksumValueLen(name string) int {
	h := newChecksum(name)
	if h == nil {
		return 0
	}
	return base64.StdEncoding.EncodedLen(h.Size())
}
