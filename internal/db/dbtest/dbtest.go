// Package dbtest gives each test its own fresh PostgreSQL database.
//
// A test binary that uses it calls Main from TestMain. The first test that
// asks for a database starts ONE throwaway server for the whole binary (or
// uses the server named by HAUL_TEST_DATABASE_URL), migrates a template
// database once, and hands every test a clone of it; each clone is dropped
// when its test ends, the server when the binary ends.
//
// State shared across a test binary is the point of this package, so unlike
// the rest of Haul it keeps some in package variables.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/localpg"
)

// EnvURL names an existing server to use instead of starting one. Its role
// must be allowed to create databases.
const EnvURL = "HAUL_TEST_DATABASE_URL"

type server struct {
	base     *url.URL // any database on the server; the path is replaced
	admin    *pgxpool.Pool
	template string
	cluster  *localpg.Cluster // nil for an external server
}

var (
	mainCalled atomic.Bool
	startOnce  sync.Once
	srv        *server
	startErr   error
	counter    atomic.Int64
	prefix     = "haul_test_" + randomHex(4) + "_"
)

// Main runs the package's tests, then stops the server and removes what the
// binary created. Use it as: func TestMain(m *testing.M) { dbtest.Main(m) }
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if srv != nil {
		if err := srv.close(); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest: shut down:", err)
		}
	}
	os.Exit(code)
}

// New returns the URL of a fresh database with Haul's schema applied, dropped
// when t ends.
func New(t testing.TB) string {
	t.Helper()
	s := get(t)
	return s.create(t, s.template, "")
}

// NewEmpty returns the URL of a fresh database without Haul's schema.
func NewEmpty(t testing.TB) string {
	t.Helper()
	s := get(t)
	return s.create(t, "template0", "")
}

// NewEmptyWith returns the URL of a fresh database without Haul's schema,
// created with options, CREATE DATABASE's (e.g. a locale).
func NewEmptyWith(t testing.TB, options string) string {
	t.Helper()
	s := get(t)
	return s.create(t, "template0", options)
}

// Pool opens a pool on url, closed when t ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Cluster returns the throwaway server, or nil when the tests use an
// external one. Tests that restart the server need it and skip without it.
func Cluster(t testing.TB) *localpg.Cluster {
	t.Helper()
	return get(t).cluster
}

func get(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("dbtest: call dbtest.Main(m) from TestMain, so the server is stopped when the tests end")
	}
	startOnce.Do(func() { srv, startErr = start(context.Background()) })
	if startErr != nil {
		t.Fatalf("dbtest: %v", startErr)
	}
	return srv
}

func start(ctx context.Context) (*server, error) {
	s := &server{}
	raw := os.Getenv(EnvURL)
	if raw == "" {
		// Without autovacuum nothing runs in a test's database but the
		// test: a background analyze holds back what a vacuum may mark
		// all-visible, and tests must not depend on when it comes.
		c, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{"autovacuum": "off"}})
		if err != nil {
			return nil, fmt.Errorf("start throwaway PostgreSQL: %w", err)
		}
		s.cluster = c
		raw = c.URL("postgres")
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		_ = s.stopCluster()
		return nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	s.base = base
	if s.admin, err = db.Open(ctx, raw); err != nil {
		_ = s.stopCluster()
		return nil, err
	}
	s.template = prefix + "template"
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.template}.Sanitize()); err != nil {
		s.admin.Close()
		_ = s.stopCluster()
		return nil, err
	}
	if _, err := db.Migrate(ctx, s.url(s.template)); err != nil {
		_ = s.close()
		return nil, fmt.Errorf("migrate template database: %w", err)
	}
	return s, nil
}

func (s *server) create(t testing.TB, template, options string) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s%d", prefix, counter.Add(1))
	if err := s.exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize(), options)); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.drop(context.Background(), name); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return s.url(name)
}

func (s *server) url(dbname string) string {
	u := *s.base
	u.Path = "/" + dbname
	return u.String()
}

func (s *server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

func (s *server) drop(ctx context.Context, name string) error {
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (s *server) close() error {
	var err error
	if s.cluster == nil {
		// An external server outlives us: remove what we made on it.
		err = s.drop(context.Background(), s.template)
	}
	s.admin.Close()
	if stopErr := s.stopCluster(); stopErr != nil && err == nil {
		err = stopErr
	}
	return err
}

func (s *server) stopCluster() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
