package precalc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// Records spilled to partitions come back whole and in order, whether
// they stayed in a partition's buffer or went to its file, and each
// partition's file is gone once read.
func TestSpillKeepsRecordsByPartition(t *testing.T) {
	dir := t.TempDir()
	s := newSpill(dir, "test")
	want := map[int32][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	// 3 partitions far beyond the buffer, 1 that stays in it.
	for i := range 40_000 {
		part := int32(rng.IntN(3)) * 12
		if i%1000 == 0 {
			part = 99
		}
		rec := binary.LittleEndian.AppendUint32(nil, uint32(i))
		rec = append(rec, bytes.Repeat([]byte{byte(i)}, rng.IntN(40))...)
		want[part] = append(want[part], rec...)
		b := append(s.buffer(part), rec...)
		if err := s.put(part, b); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.partitions(); !slices.Equal(got, []int32{0, 12, 24, 99}) {
		t.Fatalf("partitions %v", got)
	}
	for _, part := range s.partitions() {
		got, err := s.read(part)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[part]) {
			t.Errorf("partition %d: %d bytes back, want %d", part, len(got), len(want[part]))
		}
	}
	if len(want[0]) < 4*spillBuffer || len(want[99]) >= spillBuffer {
		t.Fatalf("partition sizes %d and %d do not cover both paths", len(want[0]), len(want[99]))
	}
	if left := s.partitions(); len(left) != 0 {
		t.Errorf("partitions %v still held after reading", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("spill files left after reading: %v", left)
	}
}

// byDay groups a month's records by day, keeping their order within a day,
// whatever their ids' lengths.
func TestByDayGroupsRecordsByDay(t *testing.T) {
	start := dayOf(2024, 2, 1)
	var recs []byte
	want := make([][]byte, 29)
	for i := range 500 {
		d := int32((i * 7) % 29)
		rec := binary.LittleEndian.AppendUint32(nil, uint32(start+d))
		rec = append(rec, make([]byte, logFixed-4)...)
		id := []byte{byte(i), byte(i >> 8)}[:1+i%2]
		if i%50 == 0 { // longer than a byte can count
			id = bytes.Repeat([]byte{byte(i)}, 300)
		}
		rec = append(binary.LittleEndian.AppendUint16(rec, uint16(len(id))), id...)
		recs = append(recs, rec...)
		want[d] = append(want[d], rec...)
	}
	sorted, at := byDay(recs, logFixed, start, nil)
	for d := range 31 {
		var w []byte
		if d < len(want) {
			w = want[d]
		}
		if got := sorted[at[d]:at[d+1]]; !bytes.Equal(got, w) {
			t.Errorf("day %d: %d bytes, want %d", d, len(got), len(w))
		}
	}
}
