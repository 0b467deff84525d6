package precalc

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// spill keeps records in temporary files, one per partition, so that a
// full rebuild holds one partition (a month) of raw rows in memory at a
// time, however large the tables. Files are opened to append a full buffer
// and closed again: a history of centuries has thousands of months.
type spill struct {
	dir   string
	name  string
	parts map[int32][]byte
}

// spillBuffer is what a partition buffers before it appends to its file.
const spillBuffer = 64 << 10

func newSpill(dir, name string) *spill {
	return &spill{dir: dir, name: name, parts: map[int32][]byte{}}
}

func (s *spill) path(part int32) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s-%d", s.name, part))
}

// buffer returns partition part's buffer, to append a record to and hand
// back with put.
func (s *spill) buffer(part int32) []byte {
	b, ok := s.parts[part]
	if !ok {
		b = make([]byte, 0, spillBuffer)
	}
	return b
}

func (s *spill) put(part int32, b []byte) error {
	if len(b) >= spillBuffer-256 {
		if err := s.flush(part, b); err != nil {
			return err
		}
		b = b[:0]
	}
	s.parts[part] = b
	return nil
}

func (s *spill) flush(part int32, b []byte) error {
	f, err := os.OpenFile(s.path(part), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// partitions lists the partitions that hold records, in order.
func (s *spill) partitions() []int32 {
	return slices.Sorted(maps.Keys(s.parts))
}

// read returns partition part's records and forgets them.
func (s *spill) read(part int32) ([]byte, error) {
	b, err := os.ReadFile(s.path(part))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	_ = os.Remove(s.path(part))
	b = append(b, s.parts[part]...)
	delete(s.parts, part)
	return b, nil
}
