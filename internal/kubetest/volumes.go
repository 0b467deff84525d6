package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
)

// mount is a container path and the host path standing in for it.
type mount struct{ path, host string }

// mounts returns the container's volume mounts with their host folders,
// deepest first.
func (run *jobRun) mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, env, extra map[string]string, dir string) ([]mount, error) {
	hosts := map[string]string{}
	var mounts []mount
	for _, vm := range c.VolumeMounts {
		host, ok := hosts[vm.Name]
		if !ok {
			i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
			if i < 0 {
				return nil, fmt.Errorf("volume mount %q: no such volume", vm.Name)
			}
			var err error
			if host, err = run.volume(ctx, pod, pod.Spec.Volumes[i], dir); err != nil {
				return nil, err
			}
			hosts[vm.Name] = host
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var missing []string
			sub = expandVars(vm.SubPathExpr, func(name string) string {
				v := env[name]
				if _, ok := env[name]; !ok {
					v = extra[name]
				}
				if v == "" {
					missing = append(missing, name)
				}
				return v
			})
			if len(missing) > 0 {
				return nil, fmt.Errorf("volume mount %q: missing value for %s", vm.Name, strings.Join(missing, ", "))
			}
		}
		if sub != "" {
			host = filepath.Join(host, filepath.FromSlash(sub))
			if _, err := os.Stat(host); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("volume mount %q: %w", vm.Name, err)
				}
			}
		}
		mounts = append(mounts, mount{path: path.Clean(vm.MountPath), host: host})
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	return mounts, nil
}

// volume returns the host folder of a Pod volume: from Volume, or a folder
// of the Pod's for an emptyDir, secret or configMap volume.
func (run *jobRun) volume(ctx context.Context, pod *corev1.Pod, v corev1.Volume, dir string) (string, error) {
	if run.Volume != nil {
		host, err := run.Volume(pod, v)
		if err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if host != "" {
			return host, nil
		}
	}
	host := filepath.Join(dir, "volumes", v.Name)
	if err := os.MkdirAll(host, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	switch {
	case v.EmptyDir != nil:
		return host, nil
	case v.Secret != nil || v.ConfigMap != nil:
		var ref keyRef
		var items []corev1.KeyToPath
		var optional bool
		if s := v.Secret; s != nil {
			ref, items, optional = keyRef{secret: true, name: s.SecretName}, s.Items, ptr.Deref(s.Optional, false)
		} else {
			cm := v.ConfigMap
			ref, items, optional = keyRef{name: cm.Name}, cm.Items, ptr.Deref(cm.Optional, false)
		}
		data, err := run.keyData(ctx, pod.Namespace, ref, true)
		if apierrors.IsNotFound(err) && optional {
			return host, nil
		}
		if err != nil {
			return "", fmt.Errorf("volume %q: %w", v.Name, err)
		}
		return host, writeKeys(host, data, items, optional)
	}
	return "", fmt.Errorf("volume %q is not an emptyDir, secret or configMap: kubetest.JobRunner.Volume must give its host folder", v.Name)
}

// writeKeys writes a secret's or configMap's keys as files, as a volume
// shows them: every key, or the items listed.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, optional bool) error {
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("volume: couldn't find key %s", it.Key)
		}
		name := filepath.Join(dir, filepath.FromSlash(it.Path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, v, 0o644); err != nil {
			return err
		}
	}
	return nil
}
