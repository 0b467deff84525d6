package pgcopy_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// decodeAll feeds stream to a Decoder in chunks of size chunk and returns
// the rows it decoded, one string per row, and how it ended.
func decodeAll(stream []byte, chunk int) (rows []string, end string) {
	d := &pgcopy.Decoder{Row: func(f [][]byte) error {
		rows = append(rows, fmt.Sprintf("%q", f))
		return nil
	}}
	for c := range slices.Chunk(stream, chunk) {
		if _, err := d.Write(c); err != nil {
			return rows, "write: " + err.Error()
		}
	}
	if err := d.Close(); err != nil {
		return rows, "close: " + err.Error()
	}
	return rows, "ok"
}

// However a stream is cut into writes, the Decoder reads the same rows and
// ends the same way; and it never panics on what it is given.
func FuzzDecoder(f *testing.F) {
	f.Add(encode(), 7)
	f.Add(encode()[:40], 1)
	f.Add([]byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x04abcd\x00\x01\xff\xff\xff\xff\xff\xff"), 3)
	f.Fuzz(func(t *testing.T, stream []byte, chunk int) {
		chunk = 1 + abs(chunk)%64
		rows, end := decodeAll(stream, max(len(stream), 1))
		cutRows, cutEnd := decodeAll(stream, chunk)
		if !slices.Equal(rows, cutRows) || end != cutEnd {
			t.Fatalf("in chunks of %d: %d rows, %s; whole: %d rows, %s", chunk, len(cutRows), cutEnd, len(rows), end)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
