package kubetest

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// containerEnv resolves the container's env as the kubelet does: envFrom
// first, then each env in order, a value expanding $(VAR) references to
// the variables before it and to extra.
func (run *jobRun) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, extra map[string]string) (map[string]string, error) {
	env := map[string]string{}
	read := map[keyRef]map[string][]byte{}
	keys := func(ref keyRef) (map[string][]byte, error) {
		if data, ok := read[ref]; ok {
			return data, nil
		}
		data, err := run.keyData(ctx, pod.Namespace, ref, false)
		if err != nil {
			return nil, err
		}
		read[ref] = data
		return data, nil
	}

	for _, from := range c.EnvFrom {
		var ref keyRef
		var optional *bool
		switch {
		case from.ConfigMapRef != nil:
			ref, optional = keyRef{name: from.ConfigMapRef.Name}, from.ConfigMapRef.Optional
		case from.SecretRef != nil:
			ref, optional = keyRef{secret: true, name: from.SecretRef.Name}, from.SecretRef.Optional
		default:
			continue
		}
		data, err := keys(ref)
		if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[from.Prefix+k] = string(v)
		}
	}

	mapping := expansionMapping(env, extra)
	for _, e := range c.Env {
		value := e.Value
		switch from := e.ValueFrom; {
		case value != "":
			value = expandVars(value, mapping)
		case from == nil:
		case from.FieldRef != nil:
			v, err := podField(pod, from.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			value = v
		case from.SecretKeyRef != nil || from.ConfigMapKeyRef != nil:
			ref, key, optional := envKeyRef(from)
			data, err := keys(ref)
			if apierrors.IsNotFound(err) && optional {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			v, ok := data[key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("env %s: couldn't find key %s in %s %s/%s", e.Name, key, ref.kind(), pod.Namespace, ref.name)
			}
			value = string(v)
		default:
			return nil, fmt.Errorf("env %s: kubetest.JobRunner supports value, fieldRef, secretKeyRef and configMapKeyRef only", e.Name)
		}
		env[e.Name] = value
	}
	return env, nil
}

// keyRef names a Secret or a ConfigMap of the pod's namespace.
type keyRef struct {
	secret bool
	name   string
}

func (r keyRef) kind() string {
	if r.secret {
		return "Secret"
	}
	return "ConfigMap"
}

// envKeyRef is the Secret or ConfigMap key an env value comes from.
func envKeyRef(from *corev1.EnvVarSource) (ref keyRef, key string, optional bool) {
	if s := from.SecretKeyRef; s != nil {
		return keyRef{secret: true, name: s.Name}, s.Key, ptr.Deref(s.Optional, false)
	}
	cm := from.ConfigMapKeyRef
	return keyRef{name: cm.Name}, cm.Key, ptr.Deref(cm.Optional, false)
}

// keyData reads a Secret's keys, or a ConfigMap's data, with binary its
// binaryData too: a volume shows both, env takes data only.
func (run *jobRun) keyData(ctx context.Context, namespace string, ref keyRef, binary bool) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: ref.name}
	if ref.secret {
		s := &corev1.Secret{}
		if err := run.Client.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("get secret %s/%s: %w", namespace, ref.name, err)
		}
		return s.Data, nil
	}
	cm := &corev1.ConfigMap{}
	if err := run.Client.Get(ctx, key, cm); err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", namespace, ref.name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	if binary {
		for k, v := range cm.BinaryData {
			data[k] = v
		}
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return data, nil
}

// podField is the kubelet's value of a downward API fieldRef.
func podField(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return localIP, nil
	}
	for _, field := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if rest, ok := strings.CutPrefix(fieldPath, field.prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return field.m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", fieldPath)
}

// formatMap is the downward API's rendering of labels and annotations.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// envMap parses NAME=value strings, later ones winning.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// expansionMapping resolves a $(VAR) reference from the first map that has
// it, leaving an unknown one as written.
func expansionMapping(maps ...map[string]string) func(string) string {
	return func(name string) string {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}

// expandVars expands $(VAR) references as Kubernetes does in env values,
// command and args: $$ is a literal $, and a $ that starts neither is kept.
func expandVars(s string, mapping func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			b.WriteString(mapping(s[i+2 : i+2+end]))
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
