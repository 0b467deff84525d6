package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// finalStage returns the Dockerfile's last stage's USER, WORKDIR,
// ENTRYPOINT, CMD and EXPOSE, each on one line there.
func finalStage(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for line := range strings.Lines(string(b)) {
		cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch cmd {
		case "FROM":
			clear(got)
		case "USER", "WORKDIR", "ENTRYPOINT", "CMD", "EXPOSE":
			got[cmd] = args
		}
	}
	return got
}

// The image hack/cluster.sh runs is configured as the Dockerfile's, so a
// test on it speaks for the image users build with Docker.
func TestHaulImageIsTheDockerfiles(t *testing.T) {
	img, err := haulImage([]byte("binary"), []byte("certs"))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	exposed := ""
	for port := range c.ExposedPorts {
		exposed = strings.TrimSuffix(port, "/tcp")
	}
	entrypoint, _ := json.Marshal(c.Entrypoint)
	cmd, _ := json.Marshal(c.Cmd)
	got := map[string]string{
		"USER": c.User, "WORKDIR": c.WorkingDir, "EXPOSE": exposed,
		"ENTRYPOINT": strings.ReplaceAll(string(entrypoint), ",", ", "), "CMD": strings.ReplaceAll(string(cmd), ",", ", "),
	}
	if diff := cmp.Diff(finalStage(t), got); diff != "" {
		t.Errorf("image config differs from the Dockerfile's final stage (-Dockerfile +image):\n%s", diff)
	}

	files := layerFiles(t, img)
	want := []string{
		"usr/local/bin/haul 755 0:0 binary",
		"var/lib/haul/ 755 65532:65532",
		"var/lib/haul/rejects/ 755 65532:65532",
		"etc/ssl/certs/ca-certificates.crt 644 0:0 certs",
	}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("layer lacks %q; it has:\n%s", w, strings.Join(files, "\n"))
		}
	}
}

func TestPauseImage(t *testing.T) {
	img, err := pauseImage([]byte("pause"))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65535:65535" || !slices.Equal(cf.Config.Entrypoint, []string{"/pause"}) {
		t.Errorf("pause config: user %q entrypoint %q", cf.Config.User, cf.Config.Entrypoint)
	}
	if files := layerFiles(t, img); !slices.Equal(files, []string{"pause 755 0:0 pause"}) {
		t.Errorf("pause layer: %q", files)
	}
}

// layerFiles lists the image's one layer as "path mode uid:gid body".
func layerFiles(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %o %d:%d %s", h.Name, h.Mode, h.Uid, h.Gid, body)))
	}
}
