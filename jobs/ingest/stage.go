package ingest

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// staged is what staging decided for a batch's accepted rows.
type staged struct {
	loaded     []int // rows written
	replace    []string
	duplicates int64
	rejects    []rejectRec // in row order
	days       map[int64]struct{}
	refs       map[string]logRef
	// cached holds, for shipments, the log of each row of the batch that
	// the cache of logs holds; a row's vehicle is empty when it does not.
	cached []logRef
	// rowRefs holds, for shipments, the log of each row in loaded.
	rowRefs []logRef
	// batch numbers the rows written, for the aggregate refresh; 0 when
	// the dataset's rows are not numbered.
	batch int64
}

// refOf is the log of loaded row i.
func (st *staged) refOf(i int) logRef {
	k, _ := slices.BinarySearch(st.loaded, i)
	return st.rowRefs[k]
}

type logRef struct {
	day     int64
	vehicle string
}

// stage checks the batch against stored rows and writes what is new.
func (l *loader) stage(ctx context.Context, tx pgx.Tx, b *batch, m mode) (*staged, error) {
	def, nf := l.def, len(l.def.fields)
	rows := len(b.pos)
	st := &staged{days: map[int64]struct{}{}}
	if rows == 0 {
		return st, nil
	}
	var keys, refKeys []string
	if m.lookupKeys {
		keys = make([]string, rows)
		for i := range rows {
			keys[i] = string(b.row(i, nf)[def.key].str)
		}
	}
	if l.logs != nil {
		st.cached = make([]logRef, rows)
	}
	if def.ref >= 0 {
		refKeys = make([]string, 0, rows)
		for i := range rows {
			ref := b.row(i, nf)[def.ref].str
			if st.cached != nil {
				var ok bool
				if st.cached[i], ok = l.logs.get(ref); ok {
					continue
				}
			}
			refKeys = append(refKeys, string(ref))
		}
	}
	existing, err := l.lookup(ctx, tx, keys, refKeys, st, m.lookupKeys)
	if err != nil {
		return nil, err
	}

	// The first occurrence of a key wins: the stored row, else the first
	// row of the batch that loads. Later ones are duplicates when their
	// values are the same, else rejected; only a vehicle stored by an
	// earlier run is replaced (docs/data.md#45-duplicates-and-re-delivery). Rows of the batch join the
	// winners only when the batch may hold a key twice.
	for i := range rows {
		r := b.row(i, nf)
		if m.lookupKeys || b.repeats {
			key := string(r[def.key].str)
			if w, ok := existing[key]; ok {
				switch {
				case rowsEqual(def, r, w.row):
					st.duplicates++
					continue
				case def.name == Vehicles && w.run != l.group:
					st.replace = append(st.replace, key)
				default:
					st.rejects = append(st.rejects, dbReject(b, i, "duplicate_key", def.fields[def.key].name,
						fmt.Sprintf("%s %q was loaded already with different values", def.fields[def.key].name, key)))
					continue
				}
			}
			if !l.resolve(b, i, r, st) {
				continue
			}
			existing[key] = winner{row: r, run: l.group}
		} else if !l.resolve(b, i, r, st) {
			continue
		}
		st.loaded = append(st.loaded, i)
	}

	if len(st.replace) > 0 {
		if _, err := tx.Exec(ctx, deleteVehiclesSQL, st.replace); err != nil {
			return nil, fmt.Errorf("replace vehicles: %w", err)
		}
	}
	if len(st.loaded) == 0 {
		return st, nil
	}
	if slices.Contains(extraColumns[def.name], "load_batch") {
		if err := tx.QueryRow(ctx, nextBatchSQL).Scan(&st.batch); err != nil {
			return nil, fmt.Errorf("number the batch: %w", err)
		}
	}
	if !m.bisect {
		if err := l.copyRows(ctx, tx, b, st, st.loaded); err != nil {
			if isUniqueViolation(err) && !m.lookupKeys {
				return nil, errKeysExist
			}
			if isDataError(err) {
				return nil, errBisect
			}
			return nil, err
		}
		return st, nil
	}
	loaded, err := l.copyBisect(ctx, tx, b, st, st.loaded)
	if err != nil {
		return nil, err
	}
	st.loaded = loaded
	slices.SortFunc(st.rejects, func(a, b rejectRec) int { return int(a.pos.Index - b.pos.Index) })
	return st, nil
}

// resolve checks row i's reference, noting the day it touches and the log
// it rides; false means it was rejected.
func (l *loader) resolve(b *batch, i int, r []value, st *staged) bool {
	def := l.def
	switch def.name {
	case VehicleLogs:
		if _, ok := st.refs[string(r[def.ref].str)]; !ok {
			break
		}
		st.days[r[2].i] = struct{}{}
		return true
	case Shipments:
		var ref logRef
		if st.cached != nil {
			ref = st.cached[i]
		}
		ok := ref.vehicle != ""
		if !ok {
			ref, ok = st.refs[string(r[def.ref].str)]
		}
		if !ok {
			break
		}
		st.days[ref.day] = struct{}{}
		st.rowRefs = append(st.rowRefs, ref)
		return true
	default:
		return true
	}
	st.rejects = append(st.rejects, dbReject(b, i, def.refReason, def.fields[def.ref].name,
		fmt.Sprintf("%s %q names no loaded %s", def.fields[def.ref].name, r[def.ref].str, refTarget(def))))
	return false
}

func refTarget(def *datasetDef) string {
	if def.name == VehicleLogs {
		return "vehicle"
	}
	return "vehicle log"
}

func dbReject(b *batch, i int, reason, field, msg string) rejectRec {
	return rejectRec{pos: b.pos[i], reason: reason, field: field, msg: msg, record: b.raw[i]}
}

func rowsEqual(def *datasetDef, a, b []value) bool {
	for i, f := range def.fields {
		if !a[i].equal(b[i], f.kind) {
			return false
		}
	}
	return true
}
