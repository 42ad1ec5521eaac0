// Package jsonhook posts JSON documents to a webhook from a bounded queue,
// so that a slow or failing receiver never holds up the requests that
// produce them. Each document is tried up to 3 times; what cannot be
// delivered is logged with the cause but never the URL (which may hold a
// token in its path or query).
package jsonhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Queue bounds the documents waiting to be sent; more are dropped (and
// logged).
const Queue = 256

// Sender posts each document sent to it as one JSON POST.
type Sender[T any] struct {
	url    string
	what   string
	attrs  func(*T) []any
	client *http.Client
	log    *slog.Logger
	queue  chan T
	done   chan struct{}
}

// New starts a sender to u. what names the documents in log messages
// ("alert"), attrs gives a document's log attributes (nil: none). client
// nil: a client with a 10 s timeout; log nil: slog's default. Close stops
// it.
func New[T any](u, what string, attrs func(*T) []any, client *http.Client, log *slog.Logger) *Sender[T] {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	if attrs == nil {
		attrs = func(*T) []any { return nil }
	}
	s := &Sender[T]{url: u, what: what, attrs: attrs, client: client, log: log, queue: make(chan T, Queue), done: make(chan struct{})}
	go s.run()
	return s
}

// Send queues v; when the queue is full v is dropped and logged.
func (s *Sender[T]) Send(v T) {
	select {
	case s.queue <- v:
	default:
		s.log.Error(s.what+" dropped: the queue is full", s.attrs(&v)...)
	}
}

// Close sends what is queued (for at most a few seconds) and stops.
func (s *Sender[T]) Close() {
	close(s.queue)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

func (s *Sender[T]) run() {
	defer close(s.done)
	for v := range s.queue {
		body, err := json.Marshal(&v)
		if err == nil {
			for try := range 3 {
				if try > 0 {
					time.Sleep(time.Duration(try) * 500 * time.Millisecond)
				}
				if err = s.post(body); err == nil {
					break
				}
			}
		}
		if err != nil {
			s.log.Error(s.what+" not delivered", append(s.attrs(&v), "err", err)...)
		}
	}
}

func (s *Sender[T]) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		// A *url.Error names the URL; the log gets only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("the %s webhook answered %s", s.what, res.Status)
	}
	return nil
}
