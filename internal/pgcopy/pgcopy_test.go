package pgcopy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/pgcopy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type row struct {
	text    *string
	i2      int16
	i4      int32
	i8      int64
	f8      float64
	numeric *big.Int
}

func ptr[T any](v T) *T { return &v }

func bigInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

var rows = []row{
	{ptr("héllo"), 1, 2, 3, 1.5, big.NewInt(0)},
	{ptr(""), -1, math.MinInt32 + 1, math.MinInt64, -0.1, big.NewInt(-5)},
	{nil, math.MaxInt16, math.MaxInt32, math.MaxInt64, math.MaxFloat64, big.NewInt(10000)},
	{ptr("x"), 0, 0, 0, 0, big.NewInt(100_000_000)},
	{ptr("y"), 0, 0, 0, math.SmallestNonzeroFloat64, bigInt("340282366920938463463374607431768211455")},
	{ptr("z"), 0, 0, 0, 1e300, big.NewInt(9999)},
}

func encode() []byte {
	var e pgcopy.Encoder
	e.Reset()
	for _, r := range rows {
		e.Row(6)
		if r.text == nil {
			e.Null()
		} else {
			e.String(*r.text)
		}
		e.Int2(r.i2)
		e.Int4(r.i4)
		e.Int8(r.i8)
		e.Float8(r.f8)
		e.Numeric(r.numeric)
	}
	return e.Finish()
}

// Rows encoded by Encoder load into PostgreSQL as written, and Decoder
// reads them back from COPY TO however the stream is cut.
func TestRoundTripThroughPostgreSQL(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewEmpty(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE t (n serial, a text, b int2, c int4, d int8, e float8, f numeric)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(encode()),
		`COPY t (a, b, c, d, e, f) FROM STDIN (FORMAT binary)`); err != nil {
		t.Fatal(err)
	}
	for i, want := range rows {
		var got row
		var num string
		if err := conn.QueryRow(ctx, `SELECT a, b, c, d, e, f::text FROM t WHERE n = $1`, i+1).
			Scan(&got.text, &got.i2, &got.i4, &got.i8, &got.f8, &num); err != nil {
			t.Fatal(err)
		}
		if (got.text == nil) != (want.text == nil) || (got.text != nil && *got.text != *want.text) ||
			got.i2 != want.i2 || got.i4 != want.i4 || got.i8 != want.i8 || got.f8 != want.f8 || num != want.numeric.String() {
			t.Errorf("row %d: stored %v %d %d %d %g %s, want %v %d %d %d %g %s", i+1, got.text, got.i2, got.i4,
				got.i8, got.f8, num, want.text, want.i2, want.i4, want.i8, want.f8, want.numeric)
		}
	}

	var stream bytes.Buffer
	if _, err := conn.Conn().PgConn().CopyTo(ctx, &stream, `COPY t (a, b, c, d, e) TO STDOUT (FORMAT binary)`); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 7, stream.Len()} {
		var got []row
		d := &pgcopy.Decoder{Row: func(f [][]byte) error {
			r := row{i2: int16(binary.BigEndian.Uint16(f[1])), i4: int32(binary.BigEndian.Uint32(f[2])),
				i8: int64(binary.BigEndian.Uint64(f[3])), f8: math.Float64frombits(binary.BigEndian.Uint64(f[4]))}
			if f[0] != nil {
				r.text = ptr(string(f[0]))
			}
			got = append(got, r)
			return nil
		}}
		for b := range slices.Chunk(stream.Bytes(), chunk) {
			if _, err := d.Write(b); err != nil {
				t.Fatalf("chunks of %d: %v", chunk, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatalf("chunks of %d: %v", chunk, err)
		}
		if len(got) != len(rows) || d.Rows() != int64(len(rows)) {
			t.Fatalf("chunks of %d: %d rows, want %d", chunk, len(got), len(rows))
		}
		for i, r := range got {
			w := rows[i]
			if (r.text == nil) != (w.text == nil) || (r.text != nil && *r.text != *w.text) ||
				r.i2 != w.i2 || r.i4 != w.i4 || r.i8 != w.i8 || r.f8 != w.f8 {
				t.Errorf("chunks of %d, row %d: decoded %+v, want %+v", chunk, i+1, r, w)
			}
		}
	}
}

func TestDecoderRejectsBrokenStreams(t *testing.T) {
	full := encode()
	for name, stream := range map[string][]byte{
		"no trailer":       full[:len(full)-2],
		"cut in a row":     full[:len(full)-9],
		"not binary COPY":  append([]byte("a\tb\n"), full...),
		"after trailer":    append(slices.Clone(full), 0, 1),
		"negative columns": append(slices.Clone(full[:len(full)-2]), 0xff, 0xfe),
	} {
		d := &pgcopy.Decoder{Row: func([][]byte) error { return nil }}
		_, err := d.Write(stream)
		if err == nil {
			err = d.Close()
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Arrays encoded by Encoder load as the arrays written, each type's
// elements in order, next to a field after them; so do arrays and fields
// encoded from fields in their binary form.
func TestArraysThroughPostgreSQL(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewEmpty(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE t (a int4[], b int8[], c text[], d float8[], e date[], f int4)`); err != nil {
		t.Fatal(err)
	}
	var e pgcopy.Encoder
	e.Reset()
	e.Row(6)
	ints := []int32{1, -2, math.MaxInt32}
	e.Array(pgcopy.OIDInt4, len(ints), func(i int) { e.Int4(ints[i]) })
	e.Array(pgcopy.OIDInt8, 1, func(int) { e.Int8(math.MinInt64) })
	texts := []string{"héllo", "", "a,b"}
	e.Array(pgcopy.OIDText, len(texts), func(i int) { e.String(texts[i]) })
	floats := []float64{0.1, -1e300}
	e.Array(pgcopy.OIDFloat8, len(floats), func(i int) { e.Float8(floats[i]) })
	e.Array(pgcopy.OIDDate, 2, func(i int) { e.Int4(int32(-i)) })
	e.Int4(7)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(e.Finish()),
		`COPY t FROM STDIN (FORMAT binary)`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT concat_ws(' | ', a, b, c, d, e, f) FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	const want = `{1,-2,2147483647} | {-9223372036854775808} | {héllo,"","a,b"} | {0.1,-1e+300} | {2000-01-01,1999-12-31} | 7`
	if len(got) != 1 || got[0] != want {
		t.Errorf("stored %q\nwant   %s", got, want)
	}
	// And back: the text array as COPY TO gives it.
	var back [][]byte
	d := &pgcopy.Decoder{Row: func(f [][]byte) error {
		if _, err := pgcopy.TextArray(f[0], len(texts)+1, nil); !errors.Is(err, pgcopy.ErrArrayEncoding) {
			t.Errorf("an array of %d elements read as %d: %v", len(texts), len(texts)+1, err)
		}
		var err error
		back, err = pgcopy.TextArray(f[0], len(texts), nil)
		back = slices.Clone(back) // the fields are valid only during the call
		for i := range back {
			back[i] = slices.Clone(back[i])
		}
		return err
	}}
	if _, err := conn.Conn().PgConn().CopyTo(ctx, d, `COPY (SELECT c FROM t) TO STDOUT (FORMAT binary)`); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(texts) || string(back[0]) != texts[0] || string(back[1]) != texts[1] || string(back[2]) != texts[2] {
		t.Errorf("read back %q, want %q", back, texts)
	}
}
