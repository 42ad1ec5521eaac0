package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// The audit tools read files in blocks of whole lines: one goroutine reads
// (and decompresses), a worker per core decodes the lines of a block, and
// the caller's goroutine takes the results in file order. At most a few
// blocks per worker are in flight, so memory does not grow with the file.

// scanBlockSize is the size of the blocks read; a longer line makes its
// block longer.
const scanBlockSize = 1 << 20

// block is a run of whole lines of one file.
type block struct {
	data []byte
	line int // number of its first line, from 1
	buf  *[]byte
}

// lines calls fn for each line of b, without its newline; n counts from
// b.line. A last line without a newline is a line.
func (b *block) lines(fn func(n int, line []byte)) {
	data := b.data
	for n := b.line; len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fn(n, data)
			return
		}
		fn(n, data[:i])
		data = data[i+1:]
	}
}

var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, scanBlockSize); return &b }}

type scanJob[R any] struct {
	b    *block
	res  R
	err  error // a read error: the last job
	done chan struct{}
}

// scanParallel reads r in blocks of whole lines, runs work on each block
// on GOMAXPROCS goroutines, and merge on the results, in order, in the
// calling goroutine. It stops at the first error of merge, or of reading
// (wrapped with name).
func scanParallel[R any](name string, r io.Reader, work func(*block) R, merge func(*block, R) error) error {
	workers := max(runtime.GOMAXPROCS(0), 1)
	jobs := make(chan *scanJob[R], workers)
	order := make(chan *scanJob[R], 2*workers)
	var stop atomic.Bool

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				j.res = work(j.b)
				close(j.done)
			}
		})
	}
	go func() {
		defer close(order)
		defer close(jobs)
		var carry []byte
		line := 1
		eof := false
		for !eof && !stop.Load() {
			bp := blockPool.Get().(*[]byte)
			buf := append((*bp)[:0], carry...)
			var err error
			for {
				if len(buf) == cap(buf) {
					buf = append(buf, 0)[:len(buf)] // a line longer than the block
				}
				var n int
				n, err = r.Read(buf[len(buf):cap(buf)])
				buf = buf[:len(buf)+n]
				if err != nil {
					break
				}
				if len(buf) == cap(buf) && bytes.LastIndexByte(buf, '\n') >= 0 {
					break
				}
			}
			*bp = buf
			if err != nil && !errors.Is(err, io.EOF) {
				j := &scanJob[R]{err: fmt.Errorf("audit: read %s: %w", name, err), done: make(chan struct{})}
				close(j.done)
				order <- j
				blockPool.Put(bp)
				return
			}
			eof = err != nil
			cut := len(buf)
			if !eof {
				cut = bytes.LastIndexByte(buf, '\n') + 1
			}
			carry = append(carry[:0], buf[cut:]...)
			b := &block{data: buf[:cut], line: line, buf: bp}
			line += bytes.Count(b.data, []byte{'\n'})
			j := &scanJob[R]{b: b, done: make(chan struct{})}
			order <- j
			jobs <- j
		}
	}()

	var err error
	for j := range order {
		<-j.done
		if err == nil {
			err = j.err
		}
		if err == nil && j.b != nil {
			err = merge(j.b, j.res)
			if err != nil {
				stop.Store(true)
			}
		}
		if j.b != nil {
			blockPool.Put(j.b.buf)
		}
	}
	wg.Wait()
	return err
}

// OpenLog opens an audit log file for reading, decompressing it if it is
// gzip-compressed (as rotated files often are). Close the result.
func OpenLog(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return &gzipFile{Reader: zr, f: f}, nil
	}
	return &plainFile{Reader: br, f: f}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g *gzipFile) Close() error { return errors.Join(g.Reader.Close(), g.f.Close()) }

type plainFile struct {
	io.Reader
	f *os.File
}

func (p *plainFile) Close() error { return p.f.Close() }
