package helm_test

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/haul-dev/haul/cmd/haul/app"
)

// The haul subcommand each component's container runs.
var componentCommand = map[string]string{
	"api":        "serve",
	"listener":   "listen",
	"migrate":    "migrate",
	"controller": "controller",
	"test":       "healthcheck",
}

// invocation is a container's args resolved on haul's command tree
// (cmd/haul/app), parsed as the binary parses them; nothing runs.
type invocation struct {
	cmd *cobra.Command
}

// resolve parses args with haul's own command tree: an unknown subcommand or
// flag, a value of the wrong type, a missing value or a positional argument
// haul does not take fails.
func resolve(args []string) (invocation, error) {
	// The chart puts the subcommand first.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return invocation{}, fmt.Errorf("args %q do not start with a haul subcommand", args)
	}
	cmd, err := app.ParseArgs(args)
	if err != nil {
		return invocation{}, err
	}
	return invocation{cmd: cmd}, nil
}

// name is the subcommand's name, e.g. "serve".
func (inv invocation) name() string { return inv.cmd.Name() }

// has reports whether the subcommand defines flag.
func (inv invocation) has(flag string) bool { return inv.cmd.Flags().Lookup(flag) != nil }

// flag is the value args set for a flag (a list's items joined by commas),
// and whether they set it.
func (inv invocation) flag(name string) (string, bool) {
	f := inv.cmd.Flags().Lookup(name)
	if f == nil || !f.Changed {
		return "", false
	}
	if list, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(list.GetSlice(), ","), true
	}
	return f.Value.String(), true
}

func TestContainersRunRealHaulCommands(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			ws := workloads(t, r)
			seen := map[string]bool{}
			for _, w := range ws {
				seen[w.component()] = true
				for _, c := range containers(w.pod.Spec) {
					if len(c.Command) > 0 {
						t.Errorf("%s: container %s replaces the image's entrypoint (haul) with %q", w, c.Name, c.Command)
						continue
					}
					inv, err := resolve(c.Args)
					if err != nil {
						t.Errorf("%s: container %s: %v", w, c.Name, err)
						continue
					}
					if want, ok := componentCommand[w.component()]; !ok {
						t.Errorf("%s: component %q runs haul %s; these tests know no such component", w, w.component(), inv.name())
					} else if inv.name() != want {
						t.Errorf("%s: container %s runs haul %s, want haul %s", w, c.Name, inv.name(), want)
					}
					if inv.has("database-url") {
						checkDatabaseEnv(t, r, w, c, inv)
					}
					switch inv.name() {
					case "serve":
						checkServe(t, r, w, c, inv)
					case "controller":
						checkController(t, r, w, c, inv)
					}
				}
			}
			want := map[string]bool{
				"api":        true,
				"migrate":    true,
				"listener":   enabled(r.values, "listener.enabled"),
				"controller": enabled(r.values, "controller.enabled"),
			}
			for comp, on := range want {
				if seen[comp] != on {
					t.Errorf("%s runs: %v, want %v", comp, seen[comp], on)
				}
			}
			for _, w := range ws {
				if want := value(r.values, w.component()+".replicas"); w.replicas != nil && want != nil && fmt.Sprint(*w.replicas) != fmt.Sprint(want) {
					t.Errorf("%s: %d replicas, want %v", w, *w.replicas, want)
				}
			}
		})
	}
}

// checkController: the operator runs its Jobs with its own image, elects
// its leader in the release's namespace, passes the values it has flags for,
// and serves its probes and metrics where its ports and probes point.
func checkController(t *testing.T, r rendered, w workload, c corev1.Container, inv invocation) {
	t.Helper()
	if img, _ := inv.flag("job-image"); img != c.Image {
		t.Errorf("%s: --job-image %q, want the container's own image %s", w, img, c.Image)
	}
	for flag, want := range map[string]string{
		"leader-elect":              "true",
		"leader-election-namespace": w.GetNamespace(),
		"max-active-per-database":   fmt.Sprint(value(r.values, "controller.maxActivePerDatabase")),
		"job-progress-annotations":  strconv.FormatBool(enabled(r.values, "jobs.podsAnnotateThemselves")),
	} {
		if got, set := inv.flag(flag); got != want {
			t.Errorf("%s: --%s=%q (set: %v), want %q", w, flag, got, set, want)
		}
	}
	// Unset: every namespace.
	watch := stringValue(r.values, "controller.watchNamespace")
	if got, set := inv.flag("namespace"); got != watch || set != (watch != "") {
		t.Errorf("%s: --namespace=%q (set: %v), want controller.watchNamespace %q", w, got, set, watch)
	}
	health := listenPort(t, w, inv, "health-probe-bind-address")
	checkPort(t, w, c, "health", health)
	checkPort(t, w, c, "metrics", listenPort(t, w, inv, "metrics-bind-address"))
	checkProbes(t, w, c, "health", health)
}

// listenPort is the port of an address flag, which the chart must set:
// haul's default is not the chart's to rely on.
func listenPort(t *testing.T, w workload, inv invocation, flag string) int32 {
	t.Helper()
	addr, _ := inv.flag(flag)
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: --%s %q: %v", w, flag, addr, err)
	}
	port, err := strconv.ParseInt(portText, 10, 32)
	if err != nil {
		t.Fatalf("%s: --%s port %q: %v", w, flag, portText, err)
	}
	return int32(port)
}

// checkPort: container c declares port as the port named name.
func checkPort(t *testing.T, w workload, c corev1.Container, name string, port int32) {
	t.Helper()
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == port }) {
		t.Errorf("%s: listens on %d, but its port named %s is %+v", w, port, name, c.Ports)
	}
}

// targets reports whether p points at port, by number or by its name.
func targets(p intstr.IntOrString, name string, port int32) bool {
	return (p.Type == intstr.String && p.StrVal == name) || (p.Type == intstr.Int && p.IntVal == port)
}

// checkProbes: liveness on /healthz and readiness on /readyz of port,
// the container's port named name.
func checkProbes(t *testing.T, w workload, c corev1.Container, name string, port int32) {
	t.Helper()
	for _, probe := range []struct {
		name, path string
		p          *corev1.Probe
	}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
		if probe.p == nil || probe.p.HTTPGet == nil || probe.p.HTTPGet.Path != probe.path || !targets(probe.p.HTTPGet.Port, name, port) {
			t.Errorf("%s: %s probe %+v, want GET %s on port %d", w, probe.name, probe.p, probe.path, port)
		}
	}
}

// checkDatabaseEnv: a command that talks to PostgreSQL reads its URL from
// $HAUL_DATABASE_URL, out of a Secret that holds the key it names.
func checkDatabaseEnv(t *testing.T, r rendered, w workload, c corev1.Container, inv invocation) {
	t.Helper()
	if _, ok := inv.flag("database-url"); ok {
		t.Errorf("%s: container %s passes --database-url in its args; the URL belongs in a Secret", w, c.Name)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "HAUL_DATABASE_URL" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil {
		t.Errorf("%s: container %s runs haul %s without $HAUL_DATABASE_URL from a Secret", w, c.Name, inv.name())
		return
	}
	if existing := stringValue(r.values, "database.existingSecret"); existing != "" {
		if ref.Name != existing || ref.Key != stringValue(r.values, "database.secretKey") {
			t.Errorf("%s: database URL from Secret %s key %s, want database.existingSecret %s key %s",
				w, ref.Name, ref.Key, existing, stringValue(r.values, "database.secretKey"))
		}
		return
	}
	o, ok := r.find("Secret", ref.Name)
	if !ok {
		t.Errorf("%s: database URL from Secret %s, which is not rendered", w, ref.Name)
		return
	}
	var secret corev1.Secret
	fromUnstructured(t, o, &secret)
	if got, want := secret.StringData[ref.Key], stringValue(r.values, "database.url"); got != want {
		t.Errorf("%s: Secret %s key %s holds %q, want database.url %q", w, ref.Name, ref.Key, got, want)
	}
}

// checkServe: the API listens where its Service, Ingress and probes point,
// and its keys file and CORS origins are the values'.
func checkServe(t *testing.T, r rendered, w workload, c corev1.Container, inv invocation) {
	t.Helper()
	port := listenPort(t, w, inv, "addr")
	checkPort(t, w, c, "http", port)
	checkProbes(t, w, c, "http", port)
	portMatches := func(p intstr.IntOrString) bool { return targets(p, "http", port) }

	if refresh, _ := inv.flag("refresh"); refresh != "false" {
		t.Errorf("%s: serve --refresh=%s; the listener and the operator refresh the aggregates", w, refresh)
	}
	if !enabled(r.values, "listener.enabled") && !enabled(r.values, "controller.enabled") &&
		!strings.Contains(r.notes, "WARNING: neither the listener nor the operator") {
		t.Error("nothing refreshes the aggregates, and NOTES.txt does not warn")
	}

	var svc corev1.Service
	services := 0
	for _, o := range r.objects {
		if o.GetKind() == "Service" && o.component() == "api" {
			services++
			fromUnstructured(t, o, &svc)
		}
	}
	if services != 1 {
		t.Fatalf("%d Services, want 1", services)
	}
	for k, v := range svc.Spec.Selector {
		if w.pod.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s; the API's pods have %q", svc.Name, k, v, w.pod.Labels[k])
		}
	}
	if len(svc.Spec.Ports) != 1 || !portMatches(svc.Spec.Ports[0].TargetPort) ||
		fmt.Sprint(svc.Spec.Ports[0].Port) != fmt.Sprint(value(r.values, "api.service.port")) {
		t.Errorf("Service %s ports %+v, want api.service.port %v to the API's port %d", svc.Name, svc.Spec.Ports, value(r.values, "api.service.port"), port)
	}
	for _, o := range r.objects {
		if o.GetKind() != "Ingress" {
			continue
		}
		backends := 0
		for _, rule := range nestedSlice(o.Object, "spec", "rules") {
			for _, p := range nestedSlice(rule, "http", "paths") {
				backends++
				b := fmt.Sprint(value(p, "backend.service.name"), ":", value(p, "backend.service.port.number"))
				if want := fmt.Sprint(svc.Name, ":", svc.Spec.Ports[0].Port); b != want {
					t.Errorf("%s: backend %s, want %s", o, b, want)
				}
			}
		}
		if backends == 0 {
			t.Errorf("%s routes nothing", o)
		}
	}

	keysFile, hasKeys := inv.flag("api-keys-file")
	keysSecret := stringValue(r.values, "api.apiKeys.existingSecret")
	switch {
	case keysSecret == "" && hasKeys:
		t.Errorf("%s: --api-keys-file %s without api.apiKeys", w, keysFile)
	case keysSecret != "" && !hasKeys:
		t.Errorf("%s: api.apiKeys.existingSecret %s, but no --api-keys-file", w, keysSecret)
	case keysSecret != "":
		if !mountsSecretFile(w.pod.Spec, c, keysFile, keysSecret, stringValue(r.values, "api.apiKeys.secretKey")) {
			t.Errorf("%s: --api-keys-file %s is not key %s of Secret %s mounted read-only",
				w, keysFile, stringValue(r.values, "api.apiKeys.secretKey"), keysSecret)
		}
	}

	origins, hasOrigins := inv.flag("cors-origins")
	var want []string
	if v, ok := value(r.values, "api.corsOrigins").([]any); ok {
		for _, o := range v {
			want = append(want, fmt.Sprint(o))
		}
	}
	if hasOrigins != (len(want) > 0) || (hasOrigins && origins != strings.Join(want, ",")) {
		t.Errorf("%s: --cors-origins %q (set: %v), want api.corsOrigins %q", w, origins, hasOrigins, want)
	}
}

// mountsSecretFile reports whether file is key of Secret secret, mounted
// read-only into container c.
func mountsSecretFile(spec corev1.PodSpec, c corev1.Container, file, secret, key string) bool {
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly || path.Dir(file) != path.Clean(m.MountPath) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Key == key && item.Path == path.Base(file) {
					return true
				}
			}
		}
	}
	return false
}

func nestedSlice(obj map[string]any, keys ...string) []map[string]any {
	var v any = obj
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	items, _ := v.([]any)
	var out []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
