package pgcopy

import (
	"encoding/binary"
	"errors"
)

// Arrays in PostgreSQL's binary format, as COPY and the extended protocol
// send them.

// ErrArrayEncoding is an array field that is not a one-dimensional array
// without NULLs.
var ErrArrayEncoding = errors.New("unexpected encoding of an array")

// ArrayBody returns the number of elements of a binary one-dimensional
// array without NULLs, and its elements, each a length and its bytes.
func ArrayBody(b []byte) (int, []byte, error) {
	if len(b) < 12 {
		return 0, nil, ErrArrayEncoding
	}
	switch ndim := binary.BigEndian.Uint32(b); {
	case ndim == 0:
		return 0, nil, nil
	case ndim != 1 || len(b) < 20 || binary.BigEndian.Uint32(b[4:]) != 0:
		return 0, nil, ErrArrayEncoding
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	if n < 0 {
		return 0, nil, ErrArrayEncoding
	}
	return n, b[20:], nil
}

// TextArray appends the elements of a binary text array to dst; they point
// into b. want is the number of elements expected, -1 for any.
func TextArray(b []byte, want int, dst [][]byte) ([][]byte, error) {
	n, body, err := ArrayBody(b)
	if err != nil || (want >= 0 && n != want) {
		return dst, ErrArrayEncoding
	}
	for range n {
		if len(body) < 4 {
			return dst, ErrArrayEncoding
		}
		size := int(int32(binary.BigEndian.Uint32(body)))
		if size < 0 || len(body) < 4+size {
			return dst, ErrArrayEncoding
		}
		dst = append(dst, body[4:4+size:4+size])
		body = body[4+size:]
	}
	return dst, nil
}

// FixedArray calls each with every element of a binary array of want
// size-byte elements (int4, int8, float8, date...), in order, or returns
// ErrArrayEncoding if b is not such an array.
func FixedArray(b []byte, want, size int, each func(i int, e []byte)) error {
	n, body, err := ArrayBody(b)
	if err != nil || n != want || len(body) != n*(4+size) {
		return ErrArrayEncoding
	}
	for i := range n {
		e := body[i*(4+size):]
		if int(binary.BigEndian.Uint32(e)) != size {
			return ErrArrayEncoding
		}
		each(i, e[4:4+size])
	}
	return nil
}
