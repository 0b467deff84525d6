package ingest

import (
	"maps"
	"math"
	"slices"
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
	spare   []uint64 // sortHashes' scratch, kept with the batch
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

// sealKeys sorts the key hashes once the batch is complete.
func (b *batch) sealKeys() {
	b.hashes, b.spare = sortHashes(b.hashes, b.spare)
	for i := 1; i < len(b.hashes); i++ {
		if b.hashes[i] == b.hashes[i-1] {
			b.repeats = true
			break
		}
	}
}

// radixBits is the digit sortHashes sorts by in each pass: its counts
// (six passes of 2,048) stay in the CPU's caches.
const (
	radixBits   = 11
	radixMask   = 1<<radixBits - 1
	radixPasses = (64 + radixBits - 1) / radixBits
)

// sortHashes sorts h, least significant digit first, and returns it sorted
// with the other buffer as the next call's spare (reused when large
// enough). The reader sorts every batch's hashes: at 10M shipments
// slices.Sort took 1.1 s of its 14.5 s; this makes a fixed number of passes
// whatever the hashes, equal ones too (BenchmarkSortHashes: about a third).
func sortHashes(h, spare []uint64) (sorted, rest []uint64) {
	if len(h) < 256 || len(h) > math.MaxInt32 { // the passes cost more; the counts are int32
		slices.Sort(h)
		return h, spare
	}
	if cap(spare) < len(h) {
		spare = make([]uint64, len(h))
	}
	spare = spare[:len(h)]
	var counts [radixPasses][1 << radixBits]int32
	for _, v := range h {
		for d := range radixPasses {
			counts[d][(v>>(radixBits*d))&radixMask]++
		}
	}
	src, dst := h, spare
	for d := range radixPasses {
		c := &counts[d]
		shift := radixBits * d
		if int(c[(src[0]>>shift)&radixMask]) == len(src) {
			continue // every hash has this digit: the pass would not move one
		}
		var at int32
		for i, n := range c {
			c[i] = at
			at += n
		}
		for _, v := range src {
			k := (v >> shift) & radixMask
			dst[c[k]] = v
			c[k]++
		}
		src, dst = dst, src
	}
	return src, dst
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
