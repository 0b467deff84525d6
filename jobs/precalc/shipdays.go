package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// agg_totals counts, per day, the vehicles that carried a shipment that
// day (vehicle_days): a new shipment adds one when its vehicle had none
// that day. Looking the day up in the vehicle's month rows of
// agg_vehicle_days cost about 9 µs a new vehicle day, 0.45 s of a refresh
// of 100k shipments at 10M. shipDays are those days, kept beside the
// rollups (state.go): about 3.3M vehicle days at 10M shipments take 1 MB
// as bitmaps of 512 days, and are read, checked and written back in a few
// tens of milliseconds. A refresh without them (after migration 00013,
// until the next rebuild) looks every day up, as before.
type shipDays map[shipDaysKey]*[shipDaysWords]uint64

type shipDaysKey struct {
	vehicle string
	block   int32 // days since 2000-01-01, divided by 512, rounded down
}

const shipDaysWords = 8

// add notes that vehicle carried a shipment on day (days since
// 2000-01-01), and says whether it is the first it carried that day.
func (s shipDays) add(vehicle string, day int32) bool {
	k := shipDaysKey{vehicle, day >> 9}
	b := s[k]
	if b == nil {
		b = new([shipDaysWords]uint64)
		s[k] = b
	}
	bit := day & 511
	w, m := bit>>6, uint64(1)<<(bit&63)
	first := b[w]&m == 0
	b[w] |= m
	return first
}

// marshal encodes the blocks in vehicle and block order: the vehicle id's
// length (uint16) and bytes, the block (int32), its words; little-endian.
func (s shipDays) marshal() []byte {
	keys := slices.SortedFunc(maps.Keys(s), func(a, b shipDaysKey) int {
		return cmp.Or(cmp.Compare(a.vehicle, b.vehicle), cmp.Compare(a.block, b.block))
	})
	var b []byte
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k.vehicle)))
		b = append(b, k.vehicle...)
		b = binary.LittleEndian.AppendUint32(b, uint32(k.block))
		for _, w := range s[k] {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

func unmarshalShipDays(b []byte) (shipDays, error) {
	s := shipDays{}
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.LittleEndian.Uint16(b))+4+8*shipDaysWords {
			return nil, fmt.Errorf("vehicle ship days: %d bytes left, too few for a block", len(b))
		}
		n := int(binary.LittleEndian.Uint16(b))
		k := shipDaysKey{string(b[2 : 2+n]), int32(binary.LittleEndian.Uint32(b[2+n:]))}
		b = b[2+n+4:]
		words := new([shipDaysWords]uint64)
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		b = b[8*shipDaysWords:]
		s[k] = words
	}
	return s, nil
}

// Without shipDays, whether a vehicle carried a shipment on a day is looked
// up in its rows of the day's month (the rebuild's) and year (the
// refreshes' segments), through their key, in key order: a join let
// PostgreSQL hash every stored day instead (3.3M at 10M shipments: 2.3 s of
// a refresh of 100k). new_ship_days are the new rows' vehicle days with
// shipments; the lookup counts, per day (days since 2000-01-01), the
// vehicles that carry their first shipment of the day.
const (
	newShipDaysSQL         = `CREATE TEMP TABLE new_ship_days (vehicle_id text COLLATE "C", day date) ON COMMIT DROP`
	lookUpFirstCarriersSQL = `SELECT x.day - DATE '2000-01-01', count(*)
FROM (SELECT vehicle_id, day FROM new_ship_days ORDER BY 1, 2) x
LEFT JOIN LATERAL (SELECT sum(a.shipments[array_position(a.days, x.day)]) AS shipments
                   FROM agg_vehicle_days a
                   WHERE a.vehicle_id = x.vehicle_id
                     AND (a.period = date_trunc('month', x.day)::date AND a.segment <= 0
                          OR a.period = date_trunc('year', x.day)::date AND a.segment > 0)) a ON true
WHERE coalesce(a.shipments, 0) = 0
GROUP BY 1`
)

// shipDaysSteps are a refresh's steps for the vehicle days with shipments
// of the new rows (delta): stage, before the sums are staged, and write,
// once the version is bumped.
type shipDaysSteps struct {
	delta *deltaRows
	days  shipDays
}

// stage counts, per day, the vehicles that carry their first shipment of
// the day (delta.firstCarriers), and adds the new days to shipDays.
func (s *shipDaysSteps) stage(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	b, err := readState(ctx, tx, stateVehicleShipDays)
	if err != nil {
		return err
	}
	d := s.delta
	first := map[int32]int64{}
	d.firstCarriers = first
	if b == nil {
		log.V(2).Info("vehicle ship days looked up", "state", false)
		return s.lookUp(ctx, tx)
	}
	if s.days, err = unmarshalShipDays(b); err != nil {
		return err
	}
	for i, k := range d.vd.keys {
		if d.vd.sums[i].n > 0 && s.days.add(d.vehicles.names[k.vehicle], k.day) {
			first[k.day]++
		}
	}
	return nil
}

// lookUp counts the first carriers of each day by looking the new rows'
// vehicle days up in agg_vehicle_days.
func (s *shipDaysSteps) lookUp(ctx context.Context, tx pgx.Tx) error {
	d := s.delta
	if _, err := tx.Exec(ctx, newShipDaysSQL); err != nil {
		return fmt.Errorf("stage new vehicle days: %w", err)
	}
	_, err := copyRows(ctx, tx.Conn().PgConn(), `COPY new_ship_days (vehicle_id, day) FROM STDIN (FORMAT binary)`,
		func(e *pgcopy.Encoder, spill func() error) error {
			for i, k := range d.vd.keys {
				if d.vd.sums[i].n > 0 {
					e.Row(2)
					e.String(d.vehicles.names[k.vehicle])
					e.Int4(k.day)
					if err := spill(); err != nil {
						return err
					}
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("stage new vehicle days: %w", err)
	}
	rows, err := tx.Query(ctx, lookUpFirstCarriersSQL)
	if err != nil {
		return fmt.Errorf("look up first carriers: %w", err)
	}
	var day int32
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&day, &n}, func() error {
		d.firstCarriers[day] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("look up first carriers: %w", err)
	}
	return nil
}

// write stores the vehicle ship days with the new ones, if there were any
// stored.
func (s *shipDaysSteps) write(ctx context.Context, tx pgx.Tx, _ logr.Logger) error {
	if s.days == nil {
		return nil
	}
	return writeState(ctx, tx, stateVehicleShipDays, s.days.marshal())
}
