package state

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// The watchers (of the run-time revocations and of the access grants)
// keep a local copy of a shared record and share how they poll it, how
// they report failed reads, and when their copy may no longer be used.

// pollLoop calls poll at once, then every interval, until ctx is done.
func pollLoop(ctx context.Context, interval time.Duration, poll func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reportRead reports the outcome err of a read whose predecessor ended
// with prev: onError (if set) for each failure, one error line when reads
// start failing and one info line when they succeed again.
func reportRead(logger *slog.Logger, onError func(error), prev, err error, failing, recovered string) {
	if err != nil {
		if onError != nil {
			onError(err)
		}
		if prev == nil {
			logger.Error(failing, "err", err)
		}
	} else if prev != nil {
		logger.Info(recovered)
	}
}

// staleness is nil when a copy last confirmed by the store at confirmed
// may be used at now: it was confirmed at all, and within bound unless
// the store is in this process (local: every change goes through the
// copy's owner). Otherwise it is notFresh, wrapping the last read error.
func staleness(confirmed, now time.Time, bound time.Duration, local bool, lastErr, notFresh error) error {
	if confirmed.IsZero() || !local && now.Sub(confirmed) > bound {
		if lastErr != nil {
			return fmt.Errorf("%w: %w", notFresh, lastErr)
		}
		return notFresh
	}
	return nil
}
