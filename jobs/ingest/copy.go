package ingest

import "github.com/haul-dev/haul/internal/pgcopy"

// encodeField encodes a parsed value as its column type.
func encodeField(e *pgcopy.Encoder, k fieldKind, v value) {
	switch k {
	case kindID, kindText:
		e.Text(v.str)
	case kindNumber:
		e.Float8(v.num)
	default: // kindInteger, kindDate (days since 2000-01-01)
		e.Int4(int32(v.i))
	}
}
