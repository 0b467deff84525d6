package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultSourceTimeout is Options.SourceTimeout's default.
const DefaultSourceTimeout = time.Minute

// errSourceUnavailable marks a URL input that could not be fetched for a
// reason that may pass: the run fails, but not as an input error, so it is
// retried (exit 1, not 3).
var errSourceUnavailable = errors.New("source unavailable")

// NewHTTPClient fetches URL inputs with every wait bounded: connecting,
// the TLS handshake, and the response headers (timeout); the body's reads
// are bounded by openSource, since a large file may take hours in all.
func NewHTTPClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
	}}
}

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
func openSource(ctx context.Context, client *http.Client, timeout time.Duration, location string) (*source, error) {
	s := &source{rawRead: new(atomic.Int64), rawSize: -1, location: location}
	var raw io.Reader
	if isURL(location) {
		body, size, err := fetch(ctx, client, timeout, location)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, body)
		s.rawSize = size
		raw = body
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

// fetch GETs a URL input. A failure that may pass (no connection, a
// timeout, HTTP 5xx, 429 or 408) wraps errSourceUnavailable; so does any
// failure reading the body, which stops if no byte comes within timeout.
func fetch(ctx context.Context, client *http.Client, timeout time.Duration, location string) (io.ReadCloser, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		cancel(nil)
		return nil, 0, fmt.Errorf("request %s: %w", location, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil { // not cancelled: the server or the network failed
			err = fmt.Errorf("%w: %w", errSourceUnavailable, err)
		}
		cancel(nil)
		return nil, 0, fmt.Errorf("fetch %s: %w", location, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		cancel(nil)
		err := fmt.Errorf("fetch %s: HTTP %s", location, resp.Status)
		switch resp.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests:
			err = fmt.Errorf("%w: %w", errSourceUnavailable, err)
		default:
			if resp.StatusCode >= 500 {
				err = fmt.Errorf("%w: %w", errSourceUnavailable, err)
			}
		}
		return nil, 0, err
	}
	return &idleReader{body: resp.Body, cancel: cancel, ctx: ctx, timeout: timeout,
		timer: time.AfterFunc(timeout, func() { cancel(errStalled) })}, resp.ContentLength, nil
}

// errStalled is why a body read stops when no byte came in time.
var errStalled = errors.New("no data received within the source timeout")

// idleReader reads a response body, cancelling the request when a read
// waits longer than timeout for a byte.
type idleReader struct {
	body    io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	timer   *time.Timer
}

// Read bounds only its own wait: a consumer that takes its time between
// reads (a slow database) does not stall the source.
func (r *idleReader) Read(p []byte) (int, error) {
	r.timer.Reset(r.timeout)
	n, err := r.body.Read(p)
	r.timer.Stop()
	if err != nil && !errors.Is(err, io.EOF) {
		if cause := context.Cause(r.ctx); cause != nil {
			err = cause
		}
		err = fmt.Errorf("%w: %w", errSourceUnavailable, err)
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	r.cancel(nil)
	return r.body.Close()
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
