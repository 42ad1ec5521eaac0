package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// authKind is how an endpoint authenticates requests.
type authKind int

const (
	authNone   authKind = iota // anonymous: the bucket policy allows it
	authBearer                 // Authorization: Bearer <JWT>
	authSigV4                  // SigV4 header authentication, signed per request
)

// endpoint is one way of reaching the object store: MinIO directly or a
// proxy in front of it, with the credentials that way needs.
type endpoint struct {
	name  string
	addr  string // host:port
	auth  authKind
	token string
	creds credentials
	// pid is the proxy process charged for CPU and RSS (with its children);
	// 0 for MinIO direct.
	pid int
	// iamgate marks the endpoints served by iamgate, for the goals.
	iamgate bool
}

// worker is one connection of a load run and what it needs per request.
type worker struct {
	id   int
	ep   *endpoint
	conn *conn
	sig  *signer
}

func newWorker(id int, ep *endpoint) *worker {
	w := &worker{id: id, ep: ep, conn: newConn(ep.addr)}
	if ep.auth == authSigV4 {
		w.sig = newSigner(ep.creds)
	}
	return w
}

func (w *worker) authorize(r *request, payloadHash string) *request {
	switch w.ep.auth {
	case authBearer:
		r.set("Authorization", "Bearer "+w.ep.token)
	case authSigV4:
		w.sig.sign(r, w.ep.addr, payloadHash, time.Now())
	}
	return r
}

// op is one kind of request; build makes the i-th request of a worker.
type op struct {
	want  int // the expected status
	build func(w *worker, i int) *request
}

const bucket = "bench"

var (
	small       = bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	smallSHA256 = func() string { s := sha256.Sum256(small); return hex.EncodeToString(s[:]) }()
)

const (
	smallKey   = "small-4k"
	listPrefix = "list/"
	listKeys   = 1000
)

func bigKey(size int64) string { return "big-" + sizeName(size) }

func getOp(key string) op {
	return op{want: 200, build: func(w *worker, i int) *request {
		return w.authorize(&request{method: "GET", path: "/" + bucket + "/" + key}, emptySHA256)
	}}
}

// putSmallOp writes 4 KiB objects, one key per worker (writers to one key
// would queue on MinIO's per-object lock), with the payload hash signed as
// an SDK does on plain HTTP.
func putSmallOp() op {
	return op{want: 200, build: func(w *worker, i int) *request {
		r := &request{method: "PUT", path: "/" + bucket + "/put-4k/" + strconv.Itoa(w.id), body: bytes.NewReader(small), size: int64(len(small))}
		return w.authorize(r, smallSHA256)
	}}
}

// listOp is ListObjectsV2 of the 1,000-key prefix, maxKeys per page.
func listOp(maxKeys int) op {
	q := "list-type=2&max-keys=" + strconv.Itoa(maxKeys) + "&prefix=" + awsEscape(listPrefix)
	return op{want: 200, build: func(w *worker, i int) *request {
		return w.authorize(&request{method: "GET", path: "/" + bucket, query: q}, emptySHA256)
	}}
}

// mixedOp is 70 % 4 KiB GET, 20 % 4 KiB PUT and 10 % ListObjectsV2 (first
// 100 keys of the prefix), in a fixed order per worker.
func mixedOp() op {
	get, put, list := getOp(smallKey), putSmallOp(), listOp(100)
	return op{want: 200, build: func(w *worker, i int) *request {
		switch i % 10 {
		case 3, 7:
			return put.build(w, i)
		case 9:
			return list.build(w, i)
		default:
			return get.build(w, i)
		}
	}}
}

// putBigOp uploads size bytes to a key of the worker's own, with
// UNSIGNED-PAYLOAD (hashing 1 GiB before sending would measure the client).
func putBigOp(size int64) op {
	return op{want: 200, build: func(w *worker, i int) *request {
		r := &request{method: "PUT", path: "/" + bucket + "/big-put/" + sizeName(size) + "-" + strconv.Itoa(w.id), body: &pattern{n: size}, size: size}
		return w.authorize(r, unsignedPayload)
	}}
}

// stsOp posts AssumeRoleWithWebIdentity with the endpoint's token and the
// extra form parameters.
func stsOp(extra string) op {
	return op{want: 200, build: func(w *worker, i int) *request {
		body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=900&WebIdentityToken=" + w.ep.token + extra
		r := &request{method: "POST", path: "/", body: strings.NewReader(body), size: int64(len(body))}
		r.set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}}
}

func sizeName(size int64) string {
	switch {
	case size >= 1<<30 && size%(1<<30) == 0:
		return strconv.FormatInt(size>>30, 10) + "GiB"
	case size >= 1<<20 && size%(1<<20) == 0:
		return strconv.FormatInt(size>>20, 10) + "MiB"
	default:
		return strconv.FormatInt(size>>10, 10) + "KiB"
	}
}
