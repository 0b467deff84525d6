package pgcopy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Decoder reads a binary COPY stream written to it (pgconn's CopyTo writes
// one message at a time) and calls Row for each row, with its fields: nil
// for a NULL, otherwise bytes valid only during the call.
type Decoder struct {
	Row func(fields [][]byte) error

	pending []byte // an incomplete row, carried to the next Write
	fields  [][]byte
	header  bool
	done    bool
	rows    int64
}

// Write decodes the rows p completes.
func (d *Decoder) Write(p []byte) (int, error) {
	data := p
	if len(d.pending) > 0 {
		d.pending = append(d.pending, p...)
		data = d.pending
	}
	used, err := d.decode(data)
	if err != nil {
		return 0, err
	}
	rest := data[used:]
	if len(d.pending) > 0 {
		d.pending = d.pending[:copy(d.pending, rest)]
	} else {
		d.pending = append(d.pending, rest...)
	}
	return len(p), nil
}

// Close reports a stream that ended early.
func (d *Decoder) Close() error {
	if !d.done {
		return fmt.Errorf("copy stream ended after %d rows without its trailer", d.rows)
	}
	return nil
}

// Rows is how many rows were decoded.
func (d *Decoder) Rows() int64 { return d.rows }

// decode decodes the complete rows at the start of data and says how many
// bytes they took.
func (d *Decoder) decode(data []byte) (int, error) {
	at := 0
	if !d.header {
		if len(data) < len(header) {
			return 0, nil
		}
		if !bytes.Equal(data[:11], header[:11]) {
			return 0, errors.New("copy stream: not PostgreSQL's binary format")
		}
		ext := int(binary.BigEndian.Uint32(data[15:19]))
		if len(data) < len(header)+ext {
			return 0, nil
		}
		at = len(header) + ext
		d.header = true
	}
	for at+2 <= len(data) {
		if d.done {
			return 0, errors.New("copy stream: data after the trailer")
		}
		n := int(int16(binary.BigEndian.Uint16(data[at:])))
		if n == -1 {
			d.done = true
			at += 2
			continue
		}
		if n < 0 {
			return 0, fmt.Errorf("copy stream: row %d has %d fields", d.rows+1, n)
		}
		fields := d.fields[:0]
		p := at + 2
		complete := true
		for range n {
			if p+4 > len(data) {
				complete = false
				break
			}
			size := binary.BigEndian.Uint32(data[p:])
			p += 4
			if size == math.MaxUint32 {
				fields = append(fields, nil)
				continue
			}
			if p+int(size) > len(data) {
				complete = false
				break
			}
			fields = append(fields, data[p:p+int(size):p+int(size)])
			p += int(size)
		}
		d.fields = fields
		if !complete {
			break
		}
		d.rows++
		if err := d.Row(fields); err != nil {
			return 0, err
		}
		at = p
	}
	return at, nil
}
