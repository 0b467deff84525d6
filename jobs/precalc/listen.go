package precalc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/backoff"
	"github.com/haul-dev/haul/internal/db"
)

// ListenOptions tune Listen.
type ListenOptions struct {
	Log logr.Logger
	// MinBackoff and MaxBackoff bound the wait before reconnecting or
	// retrying a failed refresh; it doubles, with jitter, up to MaxBackoff
	// (see internal/backoff).
	MinBackoff, MaxBackoff time.Duration
	// OnRefresh, if set, is called after every refresh that did something.
	OnRefresh func(Result)
	// Metrics, if set, records the refreshes and the LISTEN session.
	Metrics *Metrics
}

func (o ListenOptions) withDefaults() ListenOptions {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	return o
}

// Listen keeps the aggregates up to date until ctx is done: it LISTENs for
// completed ingest runs and refreshes after each. What it acts on is the
// database's state, not the notification: at start, after every reconnect
// and after every notification it refreshes while anything is stale, so a
// run that completed while nobody listened is not missed. Refreshes of
// several listeners are serialised by the refresh lock, and the later ones
// find nothing left to do. It returns nil when ctx is done.
func Listen(ctx context.Context, pool *pgxpool.Pool, opts ListenOptions) error {
	opts = opts.withDefaults()
	wake := make(chan struct{}, 1)
	kick := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	kick()
	done := make(chan struct{})
	go func() {
		defer close(done)
		listenLoop(ctx, pool, opts, kick)
	}()
	defer func() { <-done }()

	retry := backoff.New(opts.MinBackoff, opts.MaxBackoff)
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer:
		}
		timer = nil
		if err := catchUp(ctx, pool, opts); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := retry.Next()
			opts.Log.Error(err, "refresh failed, will retry", "retryIn", wait.String())
			timer = time.After(wait)
			continue
		}
		retry.Reset()
	}
}

// catchUp refreshes until nothing is stale.
func catchUp(ctx context.Context, pool *pgxpool.Pool, opts ListenOptions) error {
	for {
		stale, err := Stale(ctx, pool)
		if err != nil || !stale {
			return err
		}
		res, err := Refresh(ctx, pool, Options{Log: opts.Log, Metrics: opts.Metrics})
		if err != nil {
			return err
		}
		if res.Refreshed && opts.OnRefresh != nil {
			opts.OnRefresh(res)
		}
	}
}

// listenLoop holds a LISTEN session, reconnecting with backoff, and kicks
// the refresh loop on every notification and every (re)connect.
func listenLoop(ctx context.Context, pool *pgxpool.Pool, opts ListenOptions, kick func()) {
	retry := backoff.New(opts.MinBackoff, opts.MaxBackoff)
	for ctx.Err() == nil {
		err := listenOnce(ctx, pool.Config().ConnConfig, opts.Log, kick, func() {
			retry.Reset()
			opts.Metrics.setListening(true)
		})
		opts.Metrics.setListening(false)
		if ctx.Err() != nil {
			return
		}
		wait := retry.Next()
		opts.Log.Error(err, "listen connection lost, reconnecting", "retryIn", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, log logr.Logger, kick, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.ChannelIngestDone}.Sanitize()); err != nil {
		return fmt.Errorf("listen on %s: %w", db.ChannelIngestDone, err)
	}
	log.Info("listening", "channel", db.ChannelIngestDone)
	connected()
	// A notification sent while we were not listening is found by catching up.
	kick()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		log.Info("ingest run completed", "runID", n.Payload)
		kick()
	}
}
