// Package hack holds the project's scripts; this test checks them.
package hack

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Every script parses (bash -n) and passes shellcheck when it is installed
// (Debian's shellcheck package; CI installs it). Most cannot run here:
// kind-e2e.sh needs Docker, the benchmarks take minutes.
func TestScripts(t *testing.T) {
	scripts, err := filepath.Glob("*.sh")
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := filepath.Glob("lib/*.sh")
	scripts = append(scripts, lib...)
	if len(scripts) < 5 {
		t.Fatalf("found only %q", scripts)
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck is not installed: bash -n only")
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", s, err, out)
			}
			if shellcheck == "" {
				return
			}
			// -x follows the scripts' `source` of lib/bench.sh.
			if out, err := exec.Command(shellcheck, "-x", s).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		})
	}
}
