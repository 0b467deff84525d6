package ingest

import (
	"context"
	"errors"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
)

// isTransient tells errors worth retrying: lost or refused connections,
// server shutdowns, serialization failures, and a key another process wrote
// in the meantime (a retry sees it and settles the record as a duplicate).
func isTransient(err error) bool {
	// A local file that cannot be written (the rejects file on a full
	// disk) fails the same way again, and so does a lost race for the run.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) || errors.Is(err, ErrConcurrentWriter) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "53300", "57P01", "57P02", "57P03", "23505":
			return true
		}
		return len(pgErr.Code) >= 2 && pgErr.Code[:2] == "08"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Anything else below SQL (connect failures, resets, EOF) is the
	// connection, not the data.
	return true
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isDataError tells a refusal of the data itself (data exceptions and
// constraint violations other than a concurrent duplicate key).
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	class := pgErr.Code[:2]
	return class == "22" || (class == "23" && pgErr.Code != "23505")
}
