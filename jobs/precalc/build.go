package precalc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A full rebuild adds the rollups up in haul rather than in PostgreSQL: at
// ten million shipments nearly every (day, route, delivery time) and (day,
// vehicle, route) group holds one shipment, so grouping them in SQL sorted
// the shipments several times over, on text keys, and took longer than
// loading them. Here the raw rows are read once, in storage order, and
// spilled by month to temporary files; a shipment's day is its log's, so
// each day's rows add up on their own (addup.go), and the rows that come
// out are streamed into the copies with binary COPY (rebuild.go).
//
// The figures are those of the incremental refresh's SQL (delta.go), column
// for column; TestIncrementalEqualsFullRebuild holds the two together, and
// the oracle tests check both against the raw tables.

// rawReader turns the raw tables' COPY rows into spilled records, with
// names replaced by numbers. The logs and the shipments are read at once,
// each number their vehicles (logVehicles, vehicles): joinVehicles then
// maps the logs' numbers to the shipments' (logVehicle), which the
// add-up reads them by.
type rawReader struct {
	cities, vehicles, logVehicles interner
	logVehicle                    []uint32
	routes                        routeIDs
	routeCities                   [][2]uint32
	logs, shipments               *spill
}

func newRawReader(dir string) *rawReader {
	return &rawReader{
		cities: newInterner(), vehicles: newInterner(), logVehicles: newInterner(),
		logs: newSpill(dir, "logs"), shipments: newSpill(dir, "shipments"),
	}
}

// joinVehicles numbers the logs' vehicles as the shipments' are, once both
// are read.
func (r *rawReader) joinVehicles() {
	r.logVehicle = make([]uint32, len(r.logVehicles.names))
	for i, name := range r.logVehicles.names {
		r.logVehicle[i] = r.vehicles.id([]byte(name))
	}
}

// The COPY statements that read the raw tables, and the records they are
// spilled as (little-endian, the id last):
//
//	log:      day i32, vehicle u32, mileage f64, fuel f64, id length u16, id
//	shipment: day i32, vehicle u32, route u32, delivery time i32, cost f64, weight f64, log id length u16, log id
//
// (An id is 64 code points at most, up to 256 bytes: docs/data.md.)
const (
	copyLogsSQL      = `COPY vehicle_logs (log_id, vehicle_id, trip_date, mileage, fuel_used) TO STDOUT (FORMAT binary)`
	copyShipmentsSQL = `COPY shipments (log_id, vehicle_id, trip_date, origin, destination, delivery_time, cost, weight)
 TO STDOUT (FORMAT binary)`
	copyVehiclesSQL = `COPY vehicles (vehicle_id, name, total_mileage) TO STDOUT (FORMAT binary)`
)

var errNull = errors.New("unexpected NULL")

func fieldsOK(fields [][]byte, sizes ...int) error {
	if len(fields) != len(sizes) {
		return fmt.Errorf("%d fields, want %d", len(fields), len(sizes))
	}
	for i, f := range fields {
		if f == nil {
			return errNull
		}
		if sizes[i] > 0 && len(f) != sizes[i] {
			return fmt.Errorf("field %d has %d bytes, want %d", i+1, len(f), sizes[i])
		}
		if sizes[i] == 0 && len(f) > math.MaxUint16 {
			return fmt.Errorf("field %d has %d bytes", i+1, len(f))
		}
	}
	return nil
}

func dayField(b []byte) (int32, error) {
	day := int32(binary.BigEndian.Uint32(b))
	if !finiteDay(day) {
		return 0, errors.New("trip_date is infinite")
	}
	return day, nil
}

func (r *rawReader) log(f [][]byte) error {
	if err := fieldsOK(f, 0, 0, 4, 8, 8); err != nil {
		return fmt.Errorf("vehicle log: %w", err)
	}
	day, err := dayField(f[2])
	if err != nil {
		return fmt.Errorf("vehicle log %q: %w", f[0], err)
	}
	m := monthOf(day)
	b := r.logs.buffer(m)
	b = binary.LittleEndian.AppendUint32(b, uint32(day))
	b = binary.LittleEndian.AppendUint32(b, r.logVehicles.id(f[1]))
	b = append(b, f[3]...) // big-endian float8s, read back as such
	b = append(b, f[4]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(f[0])))
	b = append(b, f[0]...)
	return r.logs.put(m, b)
}

func (r *rawReader) shipment(f [][]byte) error {
	if err := fieldsOK(f, 0, 0, 4, 0, 0, 4, 8, 8); err != nil {
		return fmt.Errorf("shipment: %w", err)
	}
	day, err := dayField(f[2])
	if err != nil {
		return fmt.Errorf("shipment of log %q: %w", f[0], err)
	}
	key := [2]uint32{r.cities.id(f[3]), r.cities.id(f[4])}
	route, ok := r.routes.get(key)
	if !ok {
		route = uint32(len(r.routeCities))
		r.routes.set(key, route)
		r.routeCities = append(r.routeCities, key)
	}
	m := monthOf(day)
	b := r.shipments.buffer(m)
	b = binary.LittleEndian.AppendUint32(b, uint32(day))
	b = binary.LittleEndian.AppendUint32(b, r.vehicles.id(f[1]))
	b = binary.LittleEndian.AppendUint32(b, route)
	b = append(b, f[5]...)
	b = append(b, f[6]...)
	b = append(b, f[7]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(f[0])))
	b = append(b, f[0]...)
	return r.shipments.put(m, b)
}

type interner struct {
	ids   map[string]uint32
	names []string
}

func newInterner() interner { return interner{ids: map[string]uint32{}} }

func (in *interner) id(b []byte) uint32 {
	if id, ok := in.ids[string(b)]; ok {
		return id
	}
	s := string(b)
	id := uint32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

// routeIDs maps a route's cities to its number. Cities are few (300 with
// haul gen's data): while there are at most denseCities, the numbers are
// in a table indexed by both, which stays in the CPU's caches where a hash
// table of the routes (90k) missed them on nearly every shipment: reading
// 1M new shipments at 10M took 0.41 s to find their routes that way.
type routeIDs struct {
	dense  []uint32 // route + 1 at origin*stride + destination; 0: none
	stride uint32
	sparse map[[2]uint32]uint32 // instead, past denseCities
}

const denseCities = 2048

func (t *routeIDs) get(c [2]uint32) (uint32, bool) {
	if t.sparse != nil {
		r, ok := t.sparse[c]
		return r, ok
	}
	if c[0] >= t.stride || c[1] >= t.stride {
		return 0, false
	}
	if r := t.dense[c[0]*t.stride+c[1]]; r != 0 {
		return r - 1, true
	}
	return 0, false
}

func (t *routeIDs) set(c [2]uint32, route uint32) {
	if t.sparse == nil && max(c[0], c[1]) >= t.stride {
		t.grow(max(c[0], c[1]) + 1)
	}
	if t.sparse != nil {
		t.sparse[c] = route
		return
	}
	t.dense[c[0]*t.stride+c[1]] = route + 1
}

// grow makes room for cities cities, in the table while they are few.
func (t *routeIDs) grow(cities uint32) {
	stride := max(64, t.stride)
	for stride < cities {
		stride *= 2
	}
	if stride > denseCities {
		t.sparse = make(map[[2]uint32]uint32)
		for i, r := range t.dense {
			if r != 0 {
				t.sparse[[2]uint32{uint32(i) / t.stride, uint32(i) % t.stride}] = r - 1
			}
		}
		t.dense = nil
		return
	}
	dense := make([]uint32, stride*stride)
	for o := range t.stride {
		copy(dense[o*stride:], t.dense[o*t.stride:(o+1)*t.stride])
	}
	t.dense, t.stride = dense, stride
}

func be32(b []byte) int32         { return int32(binary.BigEndian.Uint32(b)) }
func beF64(b []byte) float64      { return math.Float64frombits(binary.BigEndian.Uint64(b)) }
func le16(b []byte) int           { return int(binary.LittleEndian.Uint16(b)) }
func le32(b []byte) uint32        { return binary.LittleEndian.Uint32(b) }
func leI32(b []byte) int32        { return int32(binary.LittleEndian.Uint32(b)) }
func idAt(b []byte) ([]byte, int) { n := le16(b); return b[2 : 2+n], 2 + n }

// The sums each rollup keeps; see the tables in migration 00004.
