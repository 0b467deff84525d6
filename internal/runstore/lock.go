package runstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock makes sure one process at a time works on a run id: it holds a
// session advisory lock on a connection of its own until unlock.
func Lock(ctx context.Context, pool *pgxpool.Pool, runID string) (unlock func(), err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('haul-ingest:' || $1, 0))`, runID).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("run %s is being loaded by another process", runID)
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('haul-ingest:' || $1, 0))`, runID); err != nil {
			// Ending the session releases the lock too.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}
