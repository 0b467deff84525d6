package ingest

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// logCache holds stored vehicle logs, read once before shipments load, so
// that a shipment's log is found in memory instead of by a lookup in
// PostgreSQL. Looking up a random key in the logs' primary key costs the
// server about 2.6 µs (three index pages and a heap page), as much as the
// COPY of the shipment itself; reading the table in order costs about a
// tenth of that per log. When the cache cannot hold every log it holds the
// most recently stored (see logCacheSQL).
//
// A log never changes once stored (docs/data.md#23-shipments), so an entry cannot go
// stale. The cache holds only logs it read: a key it lacks (a log stored
// since, one beyond its budget, or no log at all) is looked up as before.
// It is immutable once built, so workers share it without locks.
type logCache struct {
	mem   *offHeap // holds the slices below but names
	seed  maphash.Seed
	slots []logEntry // at the key's hash, probed linearly; length 0 is free
	count int        // logs held
	arena []byte
	names []string
}

// logEntry is one log, in its slot: a lookup costs a miss on the slot
// and one on the key, and a slot of another key costs no more than its
// own line (its tag differs). Entries apart from their slots cost a miss
// more: at 10M shipments, looking up their logs among 5M took 6.0 s of
// haul's CPU, against 2.75 s in the slots (1.95 s in huge pages).
type logEntry struct {
	start   uint32 // of its key in arena
	day     int32
	vehicle uint16 // index into names: a fleet has far fewer vehicles than logs
	length  uint8  // of its key, 1 to 255 bytes
	tag     uint8  // the top byte of its key's hash
}

// Bytes per log the cache plans for besides its key: its share of slots,
// at most 28 (12 a slot) at the lowest load (logCacheSlots).
const logCacheEntryBytes = 28

// logCacheMinKey is the key length the preload's row limit assumes; a
// longer key shortens the cache, never lengthens its memory.
const logCacheMinKey = 8

// logCacheSQL reads the logs stored from a page on: the most recent ones,
// when the cache cannot hold them all, since new shipments most likely
// name logs loaded with them. A range of pages is the cheapest way to
// read the table's tail.
const logCacheSQL = `SELECT log_id, trip_date, vehicle_id FROM vehicle_logs WHERE ctid >= $1::tid`

// logCacheSizeSQL gives the logs table's pages and logs per page: from the
// statistics when there are some, else about 64 bytes a log. The pages
// come from the table's size, which unlike the statistics is current
// right after a load.
const logCacheSizeSQL = `SELECT pg_relation_size(oid) / current_setting('block_size')::bigint,
       CASE WHEN relpages > 0 AND reltuples > 0 THEN reltuples / relpages
            ELSE current_setting('block_size')::float8 / 64 END
 FROM pg_class WHERE oid = 'vehicle_logs'::regclass`

// preloadLogs builds a cache of at most budget bytes of the most recently
// stored logs, for shipments estimated at shipments (negative: unknown);
// nil when no log is stored.
func preloadLogs(ctx context.Context, pool *pgxpool.Pool, budget, shipments int64) (*logCache, error) {
	if budget <= 0 {
		return nil, nil
	}
	budget = min(budget, MaxLogCache) // entries address the arena with 32 bits
	var pages int64
	var perPage float64
	if err := pool.QueryRow(ctx, logCacheSizeSQL).Scan(&pages, &perPage); err != nil {
		return nil, fmt.Errorf("estimate the stored vehicle logs: %w", err)
	}
	// An eighth more than the estimate of the stored logs, which may be low.
	n := min(budget/(logCacheEntryBytes+logCacheMinKey), int64(float64(pages)*perPage*1.125))
	// Reading a log costs about a tenth of looking one up. Reading twice
	// as many logs as shipments costs at most a fifth of their lookups, and
	// holds every log they name when they name recent ones.
	if shipments >= 0 {
		n = min(n, 2*shipments)
	}
	if n <= 0 {
		return nil, nil
	}
	from := max(pages-int64(math.Ceil(float64(n)/perPage)), 0)
	return buildLogCache(ctx, pool, budget, n, fmt.Sprintf("(%d,0)", from))
}

func buildLogCache(ctx context.Context, pool *pgxpool.Pool, budget, limit int64, from string) (*logCache, error) {
	n := int(limit)
	slots := logCacheSlots(n)
	mem, err := mapOffHeap(int(budget) + slots*int(unsafe.Sizeof(logEntry{})) + 64)
	if err != nil {
		return nil, err
	}
	c := &logCache{
		seed:  maphash.MakeSeed(),
		mem:   mem,
		arena: take[byte](mem, int(budget))[:0],
		slots: take[logEntry](mem, slots),
	}
	if err := c.read(ctx, pool, budget, n, from); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *logCache) read(ctx context.Context, pool *pgxpool.Pool, budget int64, limit int, from string) error {
	names := map[string]uint16{}
	rows, err := pool.Query(ctx, logCacheSQL, from)
	if err != nil {
		return fmt.Errorf("read vehicle logs: %w", err)
	}
	defer rows.Close()
	binaryDay := rows.FieldDescriptions()[1].Format == pgx.BinaryFormatCode
	for rows.Next() {
		raw := rows.RawValues()
		// The appends stay within the mapped capacities, and an eighth
		// of the logs' number of slots stays free (logCacheSlots).
		if c.count == limit ||
			int64(len(c.arena)+len(raw[0]))+int64(c.count+1)*logCacheEntryBytes > budget {
			break
		}
		if len(raw[0]) == 0 || len(raw[0]) > 255 {
			continue // not a key ingest stores; looked up
		}
		day, err := decodeDay(raw[1], binaryDay)
		if err != nil {
			return fmt.Errorf("read vehicle logs: %w", err)
		}
		v, ok := names[string(raw[2])]
		if !ok {
			if len(c.names) == 1<<16 {
				continue // such a log is looked up
			}
			v = uint16(len(c.names))
			c.names = append(c.names, string(raw[2]))
			names[c.names[v]] = v
		}
		h := maphash.Bytes(c.seed, raw[0])
		mask := uint64(len(c.slots) - 1)
		i := h & mask
		for c.slots[i].length != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = logEntry{start: uint32(len(c.arena)), day: int32(day), vehicle: v, length: uint8(len(raw[0])), tag: uint8(h >> 56)}
		c.arena = append(c.arena, raw[0]...)
		c.count++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read vehicle logs: %w", err)
	}
	return nil
}

// logCacheSlots is the slots for n logs: a power of two, at least an
// eighth more than n, so at most 89% are taken (two thirds on average);
// a lookup probes a few neighbouring slots, mostly in the same line.
func logCacheSlots(n int) int {
	return 1 << bits.Len(uint(n+n/8))
}

// len is the number of logs held.
func (c *logCache) len() int {
	if c == nil {
		return 0
	}
	return c.count
}

// get returns the log with id key, if held.
func (c *logCache) get(key []byte) (logRef, bool) {
	if c == nil || c.count == 0 {
		return logRef{}, false
	}
	h := maphash.Bytes(c.seed, key)
	tag, mask := uint8(h>>56), uint64(len(c.slots)-1)
	for s := h & mask; c.slots[s].length != 0; s = (s + 1) & mask {
		e := &c.slots[s]
		if e.tag == tag && int(e.length) == len(key) && string(c.arena[e.start:e.start+uint32(e.length)]) == string(key) {
			return logRef{day: int64(e.day), vehicle: c.names[e.vehicle]}, true
		}
	}
	return logRef{}, false
}

// pendingRecords estimates the records left in files from their sizes, at
// 100 bytes a record (a generated shipment takes 140 to 190) and a gzip
// file at 8 times its size; -1 when a size is unknown (a URL).
func pendingRecords(files []*inputFile) int64 {
	var n int64
	for _, f := range files {
		if f.done {
			continue
		}
		if isURL(f.location) {
			return -1
		}
		fi, err := os.Stat(f.location)
		if err != nil {
			continue // reported when the file is read
		}
		size := fi.Size()
		switch {
		case strings.HasSuffix(f.location, ".gz"):
			size *= 8
		case f.resume != nil:
			size -= f.resume.Offset
		}
		n += size / 100
	}
	return n
}

// close releases the cache's memory; it must not be used after.
func (c *logCache) close() {
	if c != nil {
		c.mem.unmap()
	}
}

// offHeap is memory mapped outside Go's heap. The cache is large, holds no
// pointers and lasts the whole load: on the heap it would also raise the
// collector's target by its own size (a 64 MiB cache took 128 MiB of RSS).
// A page of it takes memory only once written.
type offHeap struct {
	mem  []byte
	used int
}

func mapOffHeap(size int) (*offHeap, error) {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes for the vehicle logs cache: %w", size, err)
	}
	// Lookups land anywhere in a table of up to hundreds of MiB: in 4 KiB
	// pages nearly each one also misses the TLB. Only a hint: where the
	// kernel has no transparent huge pages, the pages stay small.
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE)
	return &offHeap{mem: mem}, nil
}

func (h *offHeap) unmap() {
	_ = syscall.Munmap(h.mem)
	h.mem = nil
}

// take returns n zeros from h, which must have room.
func take[T byte | logEntry](h *offHeap, n int) []T {
	var zero T
	size, align := int(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero))
	h.used = (h.used + align - 1) / align * align
	s := unsafe.Slice((*T)(unsafe.Pointer(&h.mem[h.used])), n)
	h.used += n * size
	return s
}
