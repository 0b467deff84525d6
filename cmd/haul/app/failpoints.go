//go:build failpoints

package app

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// failpoint is the ingest.Options.Failpoint that $HAUL_FAILPOINTS
// (envFailpoints) asks for. This file is compiled only into a haul built
// with -tags failpoints, as the crash tests build it.
func failpoint(spec string) (func(string), error) { return crashAt(spec) }

// crashAt parses spec into a failpoint that kills the process.
func crashAt(spec string) (func(string), error) {
	name, nth, ok := strings.Cut(spec, "=")
	n, err := strconv.Atoi(nth)
	if !ok || err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want NAME=N", envFailpoints, spec)
	}
	var mu sync.Mutex
	hits := 0
	return func(point string) {
		if point != name {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if hits++; hits == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}, nil
}
