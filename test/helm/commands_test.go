package helm_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The haul subcommand each component's container runs.
var componentCommand = map[string]string{
	"api":        "serve",
	"listener":   "listen",
	"migrate":    "migrate",
	"controller": "controller",
	"test":       "healthcheck",
}

// haulCLI is the real haul binary, built from ./cmd/haul for the test.
// Package main cannot be imported, so its command tree is read the way a
// user would: through `haul SUBCOMMAND --help`.
type haulCLI struct {
	t    *testing.T
	bin  string
	subs map[string]*subcommand
}

func buildHaul(t *testing.T) *haulCLI {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "haul")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../cmd/haul")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/haul: %v\n%s", err, out)
	}
	return &haulCLI{t: t, bin: bin, subs: map[string]*subcommand{}}
}

// subcommand is what `haul NAME --help` says about a subcommand.
type subcommand struct {
	name  string
	flags map[string]flagSpec // by long name
	short map[string]string   // shorthand: long name
	// positional is how many arguments it takes besides flags.
	positional int
}

type flagSpec struct {
	takesValue bool // as the next argument; a bool's value only goes after "="
}

func (s *subcommand) has(flag string) bool { _, ok := s.flags[flag]; return ok }

// run runs haul with args in an empty environment.
func (h *haulCLI) run(args ...string) (stdout string, err error) {
	cmd := exec.CommandContext(h.t.Context(), h.bin, args...)
	cmd.Env = []string{}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("haul %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// A flag line of cobra's help: "  -v, --verbosity int   usage",
// "      --refresh   usage" (a bool), "      --flag[=x] type   usage".
var helpFlagLine = regexp.MustCompile(`^\s+(?:-([a-zA-Z0-9]), )?--([a-zA-Z0-9][-a-zA-Z0-9_]*)(\[=[^\]]*\])?(?: ([a-zA-Z0-9]+))?(?:\s{2,}|$)`)

// sub reads a subcommand's flags from its help, or fails if haul has no
// such subcommand.
func (h *haulCLI) sub(name string) (*subcommand, error) {
	if s, ok := h.subs[name]; ok {
		return s, nil
	}
	help, err := h.run(name, "--help")
	if err != nil {
		return nil, err
	}
	s := &subcommand{name: name, flags: map[string]flagSpec{}, short: map[string]string{}}
	var usage, section string
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "Usage:" || line == "Flags:" || line == "Global Flags:":
			section = line
		case strings.TrimSpace(line) == "":
			section = ""
		case section == "Usage:" && usage == "":
			usage = strings.TrimSpace(line)
		case section == "Flags:" || section == "Global Flags:":
			m := helpFlagLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("haul %s --help: cannot read flag line %q", name, line)
			}
			s.flags[m[2]] = flagSpec{takesValue: m[3] == "" && m[4] != ""}
			if m[1] != "" {
				s.short[m[1]] = m[2]
			}
		}
	}
	// "haul serve [flags]": the subcommand itself, not the root's help for
	// a name it does not know.
	if f := strings.Fields(usage); len(f) < 2 || f[0] != "haul" || f[1] != name {
		return nil, fmt.Errorf("haul %s --help shows usage %q: no such subcommand", name, usage)
	}
	if !s.has("help") {
		return nil, fmt.Errorf("haul %s --help lists no flags", name)
	}
	// "haul healthcheck URL [flags]": positional arguments are named in
	// capitals.
	for _, w := range strings.Fields(usage)[2:] {
		if w == strings.ToUpper(w) && !strings.HasPrefix(w, "[") {
			s.positional++
		}
	}
	h.subs[name] = s
	return s, nil
}

// invocation is a container's args resolved on haul's command tree.
type invocation struct {
	sub   *subcommand
	flags map[string][]string // values by long name, in order
}

func (inv invocation) flag(name string) (string, bool) {
	v := inv.flags[name]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// resolve checks args as haul would parse them. The real binary parses
// them first: cobra parses every flag before it acts on --help, so
// `haul ARGS --help` fails on an unknown flag or a value of the wrong type,
// and runs nothing. Positional arguments pass that check, so args are also
// split with the flags the help lists: haul's subcommands take none.
func (h *haulCLI) resolve(args []string) (invocation, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return invocation{}, fmt.Errorf("args %q do not start with a haul subcommand", args)
	}
	sub, err := h.sub(args[0])
	if err != nil {
		return invocation{}, err
	}
	if _, err := h.run(append(slices.Clone(args), "--help")...); err != nil {
		return invocation{}, err
	}
	inv := invocation{sub: sub, flags: map[string][]string{}}
	var positional []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		var name, val string
		hasVal := false
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
			continue
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a[2:], "=")
		case strings.HasPrefix(a, "-") && len(a) > 1:
			long, ok := sub.short[a[1:2]]
			if !ok {
				return invocation{}, fmt.Errorf("haul %s: unknown shorthand flag %q", sub.name, a)
			}
			name, val, hasVal = long, strings.TrimPrefix(a[2:], "="), len(a) > 2
		default:
			positional = append(positional, a)
			continue
		}
		spec, ok := sub.flags[name]
		if !ok {
			return invocation{}, fmt.Errorf("haul %s: unknown flag --%s", sub.name, name)
		}
		switch {
		case hasVal:
		case spec.takesValue && i+1 < len(args):
			i++
			val = args[i]
		case spec.takesValue:
			return invocation{}, fmt.Errorf("haul %s: --%s needs a value", sub.name, name)
		default:
			val = "true"
		}
		inv.flags[name] = append(inv.flags[name], val)
	}
	if len(positional) != sub.positional {
		return invocation{}, fmt.Errorf("haul %s takes %d arguments, got %q", sub.name, sub.positional, positional)
	}
	return inv, nil
}

func TestContainersRunRealHaulCommands(t *testing.T) {
	cli := buildHaul(t)
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
					inv, err := cli.resolve(c.Args)
					if err != nil {
						t.Errorf("%s: container %s: %v", w, c.Name, err)
						continue
					}
					if want, ok := componentCommand[w.component()]; !ok {
						t.Errorf("%s: component %q runs haul %s; these tests know no such component", w, w.component(), inv.sub.name)
					} else if inv.sub.name != want {
						t.Errorf("%s: container %s runs haul %s, want haul %s", w, c.Name, inv.sub.name, want)
					}
					if inv.sub.has("database-url") {
						checkDatabaseEnv(t, r, w, c, inv)
					}
					switch inv.sub.name {
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
		t.Errorf("%s: container %s runs haul %s without $HAUL_DATABASE_URL from a Secret", w, c.Name, inv.sub.name)
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

// TestHaulCLIReaderRejectsWhatHaulRejects keeps the reader above honest:
// what it lets through, the real binary accepts, and the mistakes a chart
// can make fail.
func TestHaulCLIReaderRejectsWhatHaulRejects(t *testing.T) {
	cli := buildHaul(t)
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"serve", "--addr=:8000", "--refresh=false"}, true},
		{[]string{"serve", "--addr", ":8000", "-v", "2", "--cors-origins=https://a,https://b"}, true},
		{[]string{"listen"}, true},
		{[]string{"migrate", "-v1"}, true},
		{[]string{"serve", "--adr=:8000"}, false},        // unknown flag
		{[]string{"serve", "--db-conns=two"}, false},     // not an int
		{[]string{"serve", "--refresh", "false"}, false}, // a bool takes no separate value: "false" is an argument
		{[]string{"listen", "extra"}, false},             // positional argument
		{[]string{"serve", "--addr"}, false},             // missing value
		{[]string{"controller", "--leader-elect", "--job-progress-annotations=false", "--max-active-per-database=2"}, true},
		{[]string{"controller", "--max-active-per-database=one"}, false},       // not an int
		{[]string{"controller", "--job-progress-annotations", "false"}, false}, // as --refresh false
		{[]string{"controlle"}, false},              // no such subcommand
		{[]string{"--verbosity=1", "serve"}, false}, // the chart puts the subcommand first
	} {
		_, err := cli.resolve(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("resolve %q: %v; want ok %v", tc.args, err, tc.ok)
		}
	}
	inv, err := cli.resolve([]string{"serve", "--addr", ":9000", "--refresh=false", "-v", "2"})
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"addr": ":9000", "refresh": "false", "verbosity": "2"} {
		if got, _ := inv.flag(flag); got != want {
			t.Errorf("--%s %q, want %q", flag, got, want)
		}
	}
}
