// Package kubetest starts a real kube-apiserver and etcd for tests, through
// controller-runtime's envtest, from the binaries hack/setup-envtest.sh
// builds.
package kubetest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// EnvAssets is where envtest looks for kube-apiserver and etcd; `make test`
// sets it from hack/setup-envtest.sh.
const EnvAssets = "KUBEBUILDER_ASSETS"

// Start runs a control plane for the test with the CRDs found in crdDirs
// installed, and stops it when the test ends.
func Start(t testing.TB, crdDirs ...string) *rest.Config {
	t.Helper()
	assets := os.Getenv(EnvAssets)
	if assets == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, or export %s=\"$(hack/setup-envtest.sh | tail -n1)\"", EnvAssets, EnvAssets)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("%s=%s has no %s: %v", EnvAssets, assets, bin, err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return cfg
}

// Warnings records the API server's warnings (deprecated APIs, Pod Security
// "warn" mode, unknown fields); set it as a rest.Config's WarningHandler.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// Take returns the warnings since the last Take.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}
