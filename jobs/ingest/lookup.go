package ingest

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// lookup fetches, in one round trip, the stored rows with the batch's keys
// and the rows its references name.
func (l *loader) lookup(ctx context.Context, tx pgx.Tx, keys, refKeys []string, st *staged, lookupKeys bool) (map[string]winner, error) {
	def := l.def
	q := &pgx.Batch{}
	// Batches of one load never wait on each other's locks (see loader);
	// a lock held elsewhere for this long fails the batch instead of
	// hanging the run.
	q.Queue(`SET LOCAL lock_timeout = '60s'`)
	// A batch's keys are a sliver of a large table, but the planner,
	// costing the first executions with the actual array, may scan the
	// whole table (in parallel) instead of probing its key index.
	q.Queue(`SET LOCAL enable_seqscan = off`)
	if lookupKeys {
		q.Queue(def.existingSQL(), keys)
	}
	if len(refKeys) > 0 {
		q.Queue(refSQL[def.name], refKeys)
	}
	br := tx.SendBatch(ctx, q)
	defer br.Close()

	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("set lookup settings: %w", err)
		}
	}
	existing := map[string]winner{}
	if lookupKeys {
		if err := l.readExisting(br, existing); err != nil {
			return nil, err
		}
	}
	if len(refKeys) > 0 {
		if err := l.readRefs(br, st, len(refKeys)); err != nil {
			return nil, err
		}
	}
	return existing, nil
}

func (l *loader) readExisting(br pgx.BatchResults, existing map[string]winner) error {
	def := l.def
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("look up stored %s: %w", def.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("read stored %s: %w", def.name, err)
		}
		row := make([]value, len(def.fields))
		for i := range def.fields {
			row[i] = valueFromDB(vals[i])
		}
		w := winner{row: row}
		if def.name == Vehicles {
			w.run, _ = vals[len(def.fields)].(string)
		}
		existing[string(row[def.key].str)] = w
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up stored %s: %w", def.name, err)
	}
	return nil
}

// readRefs reads the references the batch's rows name. It decodes the raw
// values itself and copies the keys in one allocation: this runs once per
// shipment, and Scan with a string per key took a fifth of haul's CPU.
func (l *loader) readRefs(br pgx.BatchResults, st *staged, n int) error {
	def := l.def
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("look up references of %s: %w", def.name, err)
	}
	defer rows.Close()
	binaryDay := rows.FieldDescriptions()[1].Format == pgx.BinaryFormatCode
	var (
		arena []byte
		ends  []int
		refs  []logRef
	)
	for rows.Next() {
		raw := rows.RawValues()
		ref := logRef{}
		if raw[1] != nil {
			day, err := decodeDay(raw[1], binaryDay)
			if err != nil {
				return fmt.Errorf("read references of %s: %w", def.name, err)
			}
			ref.day = day
		}
		if raw[2] != nil {
			ref.vehicle = l.vehicleName(raw[2])
		}
		arena = append(arena, raw[0]...)
		ends = append(ends, len(arena))
		refs = append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up references of %s: %w", def.name, err)
	}
	keys := string(arena)
	st.refs = make(map[string]logRef, n)
	start := 0
	for i, end := range ends {
		st.refs[keys[start:end]] = refs[i]
		start = end
	}
	return nil
}

// decodeDay reads a date column as days since pgEpoch.
func decodeDay(raw []byte, binaryFormat bool) (int64, error) {
	if binaryFormat {
		if len(raw) != 4 {
			return 0, fmt.Errorf("binary date of %d bytes", len(raw))
		}
		return int64(int32(binary.BigEndian.Uint32(raw))), nil
	}
	t, err := time.Parse(time.DateOnly, string(raw))
	if err != nil {
		return 0, fmt.Errorf("date %q: %w", raw, err)
	}
	return int64(t.Sub(pgEpoch).Hours()) / 24, nil
}

// vehicleName returns name as a string shared by every log of the vehicle:
// a fleet has far fewer vehicles than logs.
func (l *loader) vehicleName(name []byte) string {
	l.namesMu.Lock()
	defer l.namesMu.Unlock()
	if v, ok := l.names[string(name)]; ok {
		return v
	}
	v := string(name)
	if len(l.names) < maxVehicleNames {
		l.names[v] = v
	}
	return v
}

// maxVehicleNames bounds the names a load keeps.
const maxVehicleNames = 1 << 16

// winner is the row that holds a key: stored, or loaded earlier in the
// batch; run is the run that loaded it (vehicles only).
type winner struct {
	row []value
	run string
}

func valueFromDB(v any) value {
	switch x := v.(type) {
	case string:
		return value{str: []byte(x)}
	case float64:
		return value{num: x}
	case int32:
		return value{i: int64(x)}
	case time.Time:
		return value{i: int64(x.Sub(pgEpoch).Hours()) / 24}
	}
	return value{}
}
