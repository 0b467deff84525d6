package db

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
)

// Bounds of the wait between two tries of WaitReachable.
const (
	waitMinBackoff = 500 * time.Millisecond
	waitMaxBackoff = 10 * time.Second
)

// WaitReachable connects to the database of cfg until a connection works,
// waiting longer after each failure (logged), for at most maxWait: a server
// started with its database (compose, a chart install) must not fail just
// because PostgreSQL is still starting. maxWait 0 tries once.
func WaitReachable(ctx context.Context, cfg *pgx.ConnConfig, maxWait time.Duration, log logr.Logger) error {
	deadline := time.Now().Add(maxWait)
	wait := waitMinBackoff
	for {
		// Each try gets 10 to 30 s, so a slow server is not given up on at
		// once with a small --wait-for-database.
		err := ping(ctx, cfg, min(30*time.Second, max(time.Until(deadline), 10*time.Second)))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("database not reachable within %s: %w", maxWait, err)
		}
		wait = min(wait, left)
		log.Info("database not reachable, retrying", "reason", err.Error(), "retryIn", wait.Round(time.Millisecond).String(),
			"giveUpIn", left.Round(time.Second).String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, waitMaxBackoff)
	}
}

// ping opens one connection within timeout and closes it.
func ping(ctx context.Context, cfg *pgx.ConnConfig, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", describe(cfg), err)
	}
	return conn.Close(context.Background())
}
