package precalc

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
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

// pgEpoch is day 0 of the days since 2000-01-01.
var pgEpoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

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

// The vehicle days with shipments that the new rows bring; first_carriers,
// per day, the vehicles that carry their first shipment of the day. Without
// shipDays, the day is looked up in the vehicle's month rows, through their
// key, in key order: a join let PostgreSQL hash every stored day instead
// (3.3M at 10M shipments: 2.3 s of a refresh of 100k).
const (
	newShipDaysSQL         = `SELECT vehicle_id, day - '2000-01-01'::date FROM delta_vehicles WHERE shipments > 0`
	firstCarriersSQL       = `CREATE TEMP TABLE first_carriers (day date, vehicles bigint) ON COMMIT DROP`
	lookUpFirstCarriersSQL = `INSERT INTO first_carriers (day, vehicles)
SELECT x.day, count(*)
FROM (SELECT vehicle_id, day FROM delta_vehicles WHERE shipments > 0 ORDER BY 1, 2) x
LEFT JOIN LATERAL (SELECT sum(a.shipments[array_position(a.days, x.day)]) AS shipments
                   FROM agg_vehicle_days a
                   WHERE a.vehicle_id = x.vehicle_id AND a.period = date_trunc('month', x.day)::date) a ON true
WHERE coalesce(a.shipments, 0) = 0
GROUP BY 1`
)

// shipDaysSteps are a refresh's steps for the vehicle days with shipments:
// stage, before the totals are staged, and write, once the version is
// bumped.
type shipDaysSteps struct {
	days shipDays
}

// stage counts the vehicles that carry their first shipment of a day
// (first_carriers), and adds the new days to shipDays.
func (s *shipDaysSteps) stage(ctx context.Context, tx pgx.Tx, log logr.Logger) error {
	b, err := readState(ctx, tx, stateVehicleShipDays)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, firstCarriersSQL); err != nil {
		return fmt.Errorf("stage first carriers: %w", err)
	}
	if b == nil {
		log.V(2).Info("vehicle ship days looked up", "state", false)
		if _, err := tx.Exec(ctx, lookUpFirstCarriersSQL); err != nil {
			return fmt.Errorf("look up first carriers: %w", err)
		}
		return nil
	}
	if s.days, err = unmarshalShipDays(b); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, newShipDaysSQL)
	if err != nil {
		return fmt.Errorf("read new vehicle days: %w", err)
	}
	var vehicle string
	var day int32
	first := map[int32]int64{}
	_, err = pgx.ForEachRow(rows, []any{&vehicle, &day}, func() error {
		if s.days.add(vehicle, day) {
			first[day]++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read new vehicle days: %w", err)
	}
	counts := make([][]any, 0, len(first))
	for day, n := range first {
		counts = append(counts, []any{pgEpoch.AddDate(0, 0, int(day)), n})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"first_carriers"}, []string{"day", "vehicles"},
		pgx.CopyFromRows(counts)); err != nil {
		return fmt.Errorf("stage first carriers: %w", err)
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
