package rollup

import (
	"encoding/binary"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// agg_routes, agg_vehicle_routes and agg_vehicle_days are read in
// PostgreSQL's binary format and their arrays decoded here: unnesting and grouping them in SQL cost
// several times more (a vehicle's routes over three years: 10.5 ms against
// 5.2 ms for the whole answer, make bench-api at 10M shipments).

// fixedArray appends the want elements of a binary array of size-byte
// elements to dst, each converted by conv. A row's arrays are decoded one
// after another: it does nothing once *err is set, and sets it when b is
// not such an array.
func fixedArray[T any](err *error, b []byte, want, size int, dst []T, conv func([]byte) T) []T {
	if *err != nil {
		return dst
	}
	*err = pgcopy.FixedArray(b, want, size, func(_ int, e []byte) { dst = append(dst, conv(e)) })
	return dst
}

// Element conversions: integer and date (days since 2000-01-01), integer
// as int64, bigint; float8 is in read.go.
func integer(b []byte) int32   { return int32(binary.BigEndian.Uint32(b)) }
func integer64(b []byte) int64 { return int64(int32(binary.BigEndian.Uint32(b))) }
func bigint(b []byte) int64    { return int64(binary.BigEndian.Uint64(b)) }
