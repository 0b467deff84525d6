// Package pgcopy writes and reads PostgreSQL's binary COPY format, without
// a per-row allocation: ingest encodes its batches with it, and a full
// rebuild of the aggregates reads the raw tables and writes the rollups.
// pgx's CopyFrom with []any rows spends most of its time boxing and
// reflecting.
package pgcopy

import (
	"encoding/binary"
	"io"
	"math"
	"math/big"
	"slices"
)

// header starts the binary format: signature, flags, and header extension
// length.
var header = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// Encoder builds a binary COPY stream in memory. The caller writes each
// row's field count, then its fields in the column order of the COPY
// statement, each in its column's binary type.
type Encoder struct {
	buf  []byte
	rows int
}

// Reset starts a new stream.
func (e *Encoder) Reset() {
	e.buf = append(e.buf[:0], header...)
	e.rows = 0
}

// Row starts a row of fields fields.
func (e *Encoder) Row(fields int) {
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(fields))
	e.rows++
}

// Rows is how many rows were started since Reset.
func (e *Encoder) Rows() int { return e.rows }

// Len is how many bytes are encoded and not yet flushed.
func (e *Encoder) Len() int { return len(e.buf) }

// Text encodes text, or any field given in its binary form.
func (e *Encoder) Text(s []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// String encodes text.
func (e *Encoder) String(s string) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// Float8 encodes a double precision.
func (e *Encoder) Float8(f float64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// Int2 encodes a smallint.
func (e *Encoder) Int2(i int16) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 2)
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(i))
}

// Int4 also encodes a date: days since 2000-01-01.
func (e *Encoder) Int4(i int32) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(i))
}

// Int8 encodes a bigint.
func (e *Encoder) Int8(i int64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(i))
}

// Element type OIDs for Array.
const (
	OIDInt4   = 23
	OIDInt8   = 20
	OIDText   = 25
	OIDFloat8 = 701
	OIDDate   = 1082
)

// Array encodes a one-dimensional array field of n elements of the type
// oid, none of them NULL: each(i) encodes element i as a field of that
// type (Int4, String, ...).
func (e *Encoder) Array(oid uint32, n int, each func(i int)) {
	at := e.arrayHeader(oid, n)
	for i := range n {
		each(i)
	}
	binary.BigEndian.PutUint32(e.buf[at:], uint32(len(e.buf)-at-4))
}

// arrayHeader starts an array field and says where its length goes.
func (e *Encoder) arrayHeader(oid uint32, n int) int {
	at := len(e.buf)
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // the field's length, set once it is encoded
	e.buf = binary.BigEndian.AppendUint32(e.buf, 1) // dimensions
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // no NULL
	e.buf = binary.BigEndian.AppendUint32(e.buf, oid)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	e.buf = binary.BigEndian.AppendUint32(e.buf, 1) // lower bound
	return at
}

// Null encodes a NULL of any type.
func (e *Encoder) Null() {
	e.buf = binary.BigEndian.AppendUint32(e.buf, math.MaxUint32)
}

// Numeric encodes an integer as numeric: base-10000 digits, most
// significant first, with the weight of the first and no fraction.
func (e *Encoder) Numeric(x *big.Int) {
	var digits []uint16
	abs := new(big.Int).Abs(x)
	base, d := big.NewInt(10000), new(big.Int)
	for abs.Sign() > 0 {
		abs.QuoRem(abs, base, d)
		digits = append(digits, uint16(d.Int64()))
	}
	// Trailing zero groups are implied by the weight.
	trailing := 0
	for trailing < len(digits) && digits[trailing] == 0 {
		trailing++
	}
	weight := len(digits) - 1
	digits = digits[trailing:]
	sign := uint16(0)
	if x.Sign() < 0 {
		sign = 0x4000
	}
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(8+2*len(digits)))
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(digits)))
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(max(weight, 0)))
	e.buf = binary.BigEndian.AppendUint16(e.buf, sign)
	e.buf = binary.BigEndian.AppendUint16(e.buf, 0)
	for i := len(digits) - 1; i >= 0; i-- {
		e.buf = binary.BigEndian.AppendUint16(e.buf, digits[i])
	}
}

// Flush writes the bytes encoded so far to w; encoding goes on after them.
func (e *Encoder) Flush(w io.Writer) error {
	_, err := w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// Finish appends the trailer and returns the bytes not yet flushed.
func (e *Encoder) Finish() []byte {
	e.buf = binary.BigEndian.AppendUint16(e.buf, 0xffff)
	return e.buf
}

// Grow makes room for n more bytes.
func (e *Encoder) Grow(n int) { e.buf = slices.Grow(e.buf, n) }
