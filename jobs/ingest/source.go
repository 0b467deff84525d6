package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// errNotFound marks a local input that does not exist (docs/data.md#92-file-level-cases, F1).
var errNotFound = errors.New("file does not exist")

// source is an opened input: its decompressed text, how much of the raw
// input was read, and the raw size when known (for progress).
type source struct {
	r        io.Reader
	closers  []io.Closer
	rawRead  *atomic.Int64
	rawSize  int64 // -1 when unknown
	gzipped  bool
	location string
}

func (s *source) Close() error {
	var first error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func isURL(location string) bool {
	return strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://")
}

// openSource opens a local path or an http(s) URL, streaming either, and
// decompresses gzip when the content starts with its magic bytes.
func openSource(ctx context.Context, client *http.Client, location string) (*source, error) {
	s := &source{rawRead: new(atomic.Int64), rawSize: -1, location: location}
	var raw io.Reader
	if isURL(location) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", location, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", location, err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			resp.Body.Close()
			return nil, fmt.Errorf("fetch %s: HTTP %s", location, resp.Status)
		}
		s.closers = append(s.closers, resp.Body)
		s.rawSize = resp.ContentLength
		raw = resp.Body
	} else {
		f, err := os.Open(location)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", location, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("stat %s: %w", location, err)
		}
		if fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("open %s: is a directory", location)
		}
		s.closers = append(s.closers, f)
		s.rawSize = fi.Size()
		raw = f
	}
	br := bufio.NewReaderSize(&countingReader{r: raw, n: s.rawRead}, 256<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		s.Close()
		return nil, fmt.Errorf("read %s: %w", location, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("read gzip header of %s: %w", location, err)
		}
		s.closers = append(s.closers, gz)
		s.gzipped = true
		s.r = gz
	} else {
		s.r = br
	}
	return s, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
