package ingest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// benchShipments is a pretty-printed array of n shipments in the
// reference's shape.
func benchShipments(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n    \"shipment_id\": \"S-%06d\",\n    \"origin\": \"Ramirezstad\",\n    \"destination\": \"Gregoryview\",\n"+
			"    \"weight\": 37.9,\n    \"cost\": 139.87,\n    \"delivery_time\": 15,\n    \"log_id\": \"L-%06d\"\n  }", i, i/2)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// BenchmarkDecodeShipments measures the client's hot path per record:
// framing, JSON grammar, field validation and binary COPY encoding. Its
// allocs/op, per 10,000 records, show the path allocates nothing per record.
func BenchmarkDecodeShipments(b *testing.B) {
	const n = 10_000
	data := benchShipments(n)
	def := datasets[Shipments]
	p := newParser(def)
	var rows []value
	var arena []byte
	var enc pgcopy.Encoder
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		sc := NewScanner(bytes.NewReader(data))
		rows, arena = rows[:0], arena[:0]
		enc.Reset()
		count := 0
		for sc.Next() {
			var prob *problem
			start := len(rows)
			rows, prob = p.parse(sc.Record(), sc.IsObject(), sc.members(), rows, &arena)
			if prob != nil {
				b.Fatalf("record %d: %s", count, prob.msg)
			}
			enc.Row(len(def.fields))
			for fi, f := range def.fields {
				encodeField(&enc, f.kind, rows[start+fi])
			}
			sc.markCheckpoint() // as readFile does; it takes the checkpoint per batch
			count++
		}
		if sc.Err() != nil || count != n {
			b.Fatalf("%d records, err %v", count, sc.Err())
		}
		_ = sc.markedCheckpoint()
		enc.Finish()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
