package testutil

import (
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Logs collects the lines of a logger, for a test to look for messages in.
// The zero value is ready to use.
type Logs struct {
	mu    sync.Mutex
	lines []string
}

// Logger returns a logger that appends each line to l.
func (l *Logs) Logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{})
}

// Count returns how many lines contain s.
func (l *Logs) Count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// Contains reports whether a line contains s.
func (l *Logs) Contains(s string) bool { return l.Count(s) > 0 }

// Lines returns a copy of the lines so far.
func (l *Logs) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}
