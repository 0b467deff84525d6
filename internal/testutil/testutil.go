// Package testutil holds the small helpers that tests of several packages
// share: a free loopback address, a file written or read, a function run in
// the background for the length of a test, and a logger that keeps its lines.
// Harnesses with a job of their own live elsewhere (internal/db/dbtest,
// internal/kubetest).
package testutil

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// FreeAddr is a loopback address with a port free at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WriteFile writes content to the file name in dir and returns its path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ReadFile returns the content of the file at path.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Background runs run in a goroutine until the test ends, then cancels its
// context, waits for it to return and reports its error, named what.
func Background(t testing.TB, what string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}
