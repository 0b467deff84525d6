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
	n, body, e := pgcopy.ArrayBody(b)
	if e != nil || n != want || len(body) != n*(4+size) {
		*err = pgcopy.ErrArrayEncoding
		return dst
	}
	for i := range n {
		e := body[i*(4+size):]
		if int(binary.BigEndian.Uint32(e)) != size {
			*err = pgcopy.ErrArrayEncoding
			return dst
		}
		dst = append(dst, conv(e[4:4+size]))
	}
	return dst
}

// Element conversions: integer and date (days since 2000-01-01), integer
// as int64, bigint; float8 is in read.go.
func integer(b []byte) int32   { return int32(binary.BigEndian.Uint32(b)) }
func integer64(b []byte) int64 { return int64(int32(binary.BigEndian.Uint32(b))) }
func bigint(b []byte) int64    { return int64(binary.BigEndian.Uint64(b)) }
