package rollup

import (
	"encoding/binary"
	"errors"
)

// agg_routes, agg_vehicle_routes and agg_vehicle_days are read in
// PostgreSQL's binary format and their arrays decoded here: unnesting and grouping them in SQL cost
// several times more (a vehicle's routes over three years: 10.5 ms against
// 5.2 ms for the whole answer, make bench-api at 10M shipments).

var errArrayEncoding = errors.New("unexpected encoding of an array")

// arrayBody returns the number of elements of a binary one-dimensional
// array without NULLs, and its elements, each a length and its bytes.
func arrayBody(b []byte) (int, []byte, error) {
	if len(b) < 12 {
		return 0, nil, errArrayEncoding
	}
	switch ndim := binary.BigEndian.Uint32(b); {
	case ndim == 0:
		return 0, nil, nil
	case ndim != 1 || len(b) < 20 || binary.BigEndian.Uint32(b[4:]) != 0:
		return 0, nil, errArrayEncoding
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	if n < 0 {
		return 0, nil, errArrayEncoding
	}
	return n, b[20:], nil
}

// textArray appends the elements of a binary text array to dst; they point
// into b. want is the number of elements expected, -1 for any.
func textArray(b []byte, want int, dst [][]byte) ([][]byte, error) {
	n, body, err := arrayBody(b)
	if err != nil || (want >= 0 && n != want) {
		return dst, errArrayEncoding
	}
	for range n {
		if len(body) < 4 {
			return dst, errArrayEncoding
		}
		size := int(int32(binary.BigEndian.Uint32(body)))
		if size < 0 || len(body) < 4+size {
			return dst, errArrayEncoding
		}
		dst = append(dst, body[4:4+size:4+size])
		body = body[4+size:]
	}
	return dst, nil
}

// fixedArray appends the want elements of a binary array of size-byte
// elements to dst, each converted by conv. A row's arrays are decoded one
// after another: it does nothing once *err is set, and sets it when b is
// not such an array.
func fixedArray[T any](err *error, b []byte, want, size int, dst []T, conv func([]byte) T) []T {
	if *err != nil {
		return dst
	}
	n, body, e := arrayBody(b)
	if e != nil || n != want || len(body) != n*(4+size) {
		*err = errArrayEncoding
		return dst
	}
	for i := range n {
		e := body[i*(4+size):]
		if int(binary.BigEndian.Uint32(e)) != size {
			*err = errArrayEncoding
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
