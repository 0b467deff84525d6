package ingest

import (
	"encoding/binary"
	"math"
)

// copyHeader starts PostgreSQL's binary COPY format: signature, flags, and
// header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyEncoder builds a binary COPY stream in memory: rows go straight from
// parsed values to wire bytes, with no per-row allocation (pgx's CopyFrom
// with []any rows spends most of its time boxing and reflecting).
type copyEncoder struct {
	buf  []byte
	rows int
}

func (e *copyEncoder) reset() {
	e.buf = append(e.buf[:0], copyHeader...)
	e.rows = 0
}

func (e *copyEncoder) startRow(fields int) {
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(fields))
	e.rows++
}

func (e *copyEncoder) text(s []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *copyEncoder) float8(f float64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// int4 also encodes a date: days since 2000-01-01.
func (e *copyEncoder) int4(i int64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(int32(i)))
}

// field encodes a parsed value as its column type.
func (e *copyEncoder) field(k fieldKind, v value) {
	switch k {
	case kindID, kindText:
		e.text(v.str)
	case kindNumber:
		e.float8(v.num)
	default: // kindInteger, kindDate
		e.int4(v.i)
	}
}

// finish appends the trailer and returns the stream.
func (e *copyEncoder) finish() []byte {
	return binary.BigEndian.AppendUint16(e.buf, 0xffff)
}
