package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// copyRows writes rows idx of b with one binary COPY.
func (l *loader) copyRows(ctx context.Context, tx pgx.Tx, b *batch, st *staged, idx []int) error {
	def, nf := l.def, len(l.def.fields)
	enc, _ := l.encoders.Get().(*pgcopy.Encoder)
	if enc == nil {
		enc = new(pgcopy.Encoder)
	}
	enc.Reset()
	enc.Grow(len(b.arena) + len(idx)*(8+nf*12))
	extra := len(extraColumns[def.name])
	group := []byte(l.group)
	for _, i := range idx {
		r := b.row(i, nf)
		enc.Row(nf + extra)
		for fi, f := range def.fields {
			encodeField(enc, f.kind, r[fi])
		}
		switch def.name {
		case Vehicles:
			enc.Text(group)
		case VehicleLogs:
			enc.Int8(st.batch)
		case Shipments:
			ref := st.refOf(i)
			enc.Int4(int32(ref.day))
			enc.String(ref.vehicle)
			enc.Int8(st.batch)
		}
	}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(enc.Finish()), def.copySQL()); err != nil {
		// The encoder is not reused: when the connection breaks, pgx returns
		// without waiting for its goroutine that reads the rows (pgconn
		// v5.12.0, PgConn.CopyFrom), which may still be reading them.
		return fmt.Errorf("copy into %s: %w", def.table, err)
	}
	l.encoders.Put(enc)
	return nil
}

// copyBisect writes rows idx, splitting them around records PostgreSQL
// refuses; each refused record becomes a database_rejected reject.
func (l *loader) copyBisect(ctx context.Context, tx pgx.Tx, b *batch, st *staged, idx []int) ([]int, error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT haul_copy"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	err := l.copyRows(ctx, tx, b, st, idx)
	if err == nil {
		_, err = tx.Exec(ctx, "RELEASE SAVEPOINT haul_copy")
		return idx, err
	}
	if !isDataError(err) {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT haul_copy"); err != nil {
		return nil, fmt.Errorf("rollback to savepoint: %w", err)
	}
	if len(idx) == 1 {
		var pgErr *pgconn.PgError
		errors.As(err, &pgErr)
		st.rejects = append(st.rejects, dbReject(b, idx[0], "database_rejected", pgErr.ColumnName,
			"PostgreSQL refused the record: "+pgErr.Message))
		return nil, nil
	}
	half := len(idx) / 2
	left, err := l.copyBisect(ctx, tx, b, st, idx[:half])
	if err != nil {
		return nil, err
	}
	right, err := l.copyBisect(ctx, tx, b, st, idx[half:])
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}
