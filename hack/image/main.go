// Command image writes Haul's container image without Docker, for machines
// that have none (hack/cluster.sh imports it into containerd): the static
// haul binary in one layer, configured like the Dockerfile's final stage
// (image_test.go holds them together), and the pause image containerd
// starts as every pod's sandbox, since nothing can be pulled there. Both go
// into one tarball that `ctr images import` loads:
//
//	go run ./hack/image --haul bin/haul --pause bin/pause --out bin/images.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's user, as the Dockerfile's USER: numeric, so that the
// kubelet can check runAsNonRoot without an /etc/passwd.
const (
	nonRoot  = 65532
	pauseUID = 65535 // the user of Kubernetes' own pause image
)

// caBundle is where the CA certificates go, as on distroless, which
// SSL_CERT_FILE names.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// file is one entry of a layer: a directory when body is nil.
type file struct {
	path string
	mode int64
	uid  int
	body []byte
}

// layer is a tar of the files, with a fixed time so that the same inputs
// make the same digest.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if f.body == nil {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// image is one layer of files on nothing, with the given config.
func image(files []file, cfg v1.Config) (v1.Image, error) {
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0)}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// haulImage is the Dockerfile's final stage: the binary at
// /usr/local/bin/haul, its working directory with a rejects folder owned
// by the runtime user, and CA certificates when given.
func haulImage(haul, certs []byte) (v1.Image, error) {
	files := []file{
		{path: "usr", mode: 0o755}, {path: "usr/local", mode: 0o755}, {path: "usr/local/bin", mode: 0o755},
		{path: "usr/local/bin/haul", mode: 0o755, body: haul},
		{path: "var", mode: 0o755}, {path: "var/lib", mode: 0o755},
		{path: "var/lib/haul", mode: 0o755, uid: nonRoot}, {path: "var/lib/haul/rejects", mode: 0o755, uid: nonRoot},
		{path: "tmp", mode: 0o1777},
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if certs != nil {
		files = append(files, file{path: "etc", mode: 0o755}, file{path: "etc/ssl", mode: 0o755},
			file{path: "etc/ssl/certs", mode: 0o755}, file{path: caBundle[1:], mode: 0o644, body: certs})
		env = append(env, "SSL_CERT_FILE="+caBundle)
	}
	return image(files, v1.Config{
		User:         fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		WorkingDir:   "/var/lib/haul",
		Entrypoint:   []string{"/usr/local/bin/haul"},
		Cmd:          []string{"--help"},
		ExposedPorts: map[string]struct{}{"8000/tcp": {}},
		Env:          env,
	})
}

func pauseImage(pause []byte) (v1.Image, error) {
	return image([]file{{path: "pause", mode: 0o755, body: pause}}, v1.Config{
		User:       fmt.Sprintf("%d:%d", pauseUID, pauseUID),
		Entrypoint: []string{"/pause"},
	})
}

func main() {
	haulPath := flag.String("haul", "bin/haul", "the static haul binary (make build)")
	haulName := flag.String("haul-name", "docker.io/library/haul:dev", "the haul image's name")
	pausePath := flag.String("pause", "", "the static pause binary (go build ./hack/pause); none: no pause image")
	pauseName := flag.String("pause-name", "registry.k8s.io/pause:3.10", "the pause image's name: containerd's sandbox_image")
	certsPath := flag.String("ca-certificates", caBundle, "CA bundle to add to the haul image; empty or missing: none")
	out := flag.String("out", "bin/images.tar", "the tarball to write")
	flag.Parse()
	if err := run(*haulPath, *haulName, *pausePath, *pauseName, *certsPath, *out); err != nil {
		log.Fatalf("image: %v", err)
	}
}

func run(haulPath, haulName, pausePath, pauseName, certsPath, out string) error {
	haul, err := os.ReadFile(haulPath)
	if err != nil {
		return err
	}
	var certs []byte
	if certsPath != "" {
		certs, err = os.ReadFile(certsPath)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	images := map[name.Reference]v1.Image{}
	add := func(ref string, build func() (v1.Image, error)) error {
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		img, err := build()
		if err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		images[tag] = img
		return nil
	}
	if err := add(haulName, func() (v1.Image, error) { return haulImage(haul, certs) }); err != nil {
		return err
	}
	if pausePath != "" {
		pause, err := os.ReadFile(pausePath)
		if err != nil {
			return err
		}
		if err := add(pauseName, func() (v1.Image, error) { return pauseImage(pause) }); err != nil {
			return err
		}
	}
	tmp := out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, images); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}
