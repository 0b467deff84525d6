package ingest

import (
	"maps"

	"github.com/haul-dev/haul/internal/radixsort"
)

// inputFile is one input of a dataset, in the order given.
type inputFile struct {
	index    int
	location string
	// resume is the checkpoint the last attempt committed, if any.
	resume *Checkpoint
	// committedIndex is the record index of the file's last committed
	// checkpoint, -1 before the first: the next checkpoint replaces only
	// that one (compare and set, see ErrConcurrentWriter).
	committedIndex int64
	done           bool
	counts         counts // cumulative, as committed
}

// counts are what docs/data.md#47-the-run-report asks a run to report per dataset.
type counts struct {
	read, loaded, duplicates, rejected int64
	byReason                           map[string]int64
}

func (c *counts) add(o counts) {
	c.read += o.read
	c.loaded += o.loaded
	c.duplicates += o.duplicates
	c.rejected += o.rejected
	if len(o.byReason) > 0 && c.byReason == nil {
		c.byReason = map[string]int64{}
	}
	for r, n := range o.byReason {
		c.byReason[r] += n
	}
}

func (c counts) clone() counts {
	c.byReason = maps.Clone(c.byReason)
	return c
}

// batch is a run of consecutive records of one file, loaded in one
// transaction together with the checkpoint after its last record.
type batch struct {
	seq  int64
	file *inputFile
	// rows holds the accepted records' values, len(fields) per row; pos
	// and raw their positions and source text.
	rows  []value
	pos   []Position
	raw   [][]byte
	arena []byte
	// hashes holds the hashes of the accepted rows' keys, sorted before the
	// batch is loaded: enough to tell that two batches in flight cannot
	// share a key, or that a batch holds no key twice (equal hashes only
	// cost a slower path).
	hashes  []uint64
	repeats bool
	rejects []rejectRec
	counts  counts
	cp      Checkpoint
	last    bool // the file ends after this batch
	// rawEnd is how many raw bytes of the file had been read when the
	// batch was sealed: the progress made once it commits.
	rawEnd int64
}

func (b *batch) reset(seq int64, f *inputFile) {
	b.seq, b.file = seq, f
	b.rows, b.pos, b.raw, b.arena = b.rows[:0], b.pos[:0], b.raw[:0], b.arena[:0]
	b.hashes, b.repeats = b.hashes[:0], false
	b.rejects = b.rejects[:0]
	b.counts = counts{}
	b.cp, b.last, b.rawEnd = Checkpoint{}, false, 0
}

func (b *batch) reject(r rejectRec) {
	b.counts.rejected++
	if b.counts.byReason == nil {
		b.counts.byReason = map[string]int64{}
	}
	b.counts.byReason[r.reason]++
	b.rejects = append(b.rejects, r)
}

// row returns the values of accepted row i.
func (b *batch) row(i, fields int) []value { return b.rows[i*fields : (i+1)*fields] }

// sealKeys sorts the key hashes once the batch is complete. By radix: at
// 10M shipments slices.Sort took 1.1 s of the reader's 14.5 s of CPU
// (radixsort's BenchmarkSort: about a third of that).
func (b *batch) sealKeys(s *radixsort.Sorter) {
	s.Uint64s(b.hashes)
	for i := 1; i < len(b.hashes); i++ {
		if b.hashes[i] == b.hashes[i-1] {
			b.repeats = true
			break
		}
	}
}

// sharesKey reports whether two sorted hash lists may share a key.
func sharesKey(a, b []uint64) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}
