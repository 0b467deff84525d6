package helm_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What the chart gives an on-call engineer: probes, requests, disruption
// budget, metrics scraping, alerts, a helm test, extra env.

// Every container, the helm test's included, requests CPU and memory by
// default, and the controller gives Job pods a default.
func TestDefaultResourceRequests(t *testing.T) {
	r := mustRender(t, scenarioNamed(t, "existing-secret"))
	for _, w := range workloads(t, r) {
		for _, c := range containers(w.pod.Spec) {
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: container %s requests %v; want CPU and memory", w, c.Name, c.Resources.Requests)
			}
		}
	}
	ctrl := byComponent(workloads(t, r), "controller")
	if len(ctrl) != 1 || !slices.Contains(ctrl[0].pod.Spec.Containers[0].Args, "--job-requests=cpu=500m,memory=512Mi") {
		t.Errorf("controller: want --job-requests=cpu=500m,memory=512Mi in %v", ctrl)
	}
}

func TestListenerProbesAndMetricsPort(t *testing.T) {
	r := mustRender(t, scenarioNamed(t, "existing-secret"))
	ls := byComponent(workloads(t, r), "listener")
	if len(ls) != 1 {
		t.Fatalf("%d listener workloads", len(ls))
	}
	c := ls[0].pod.Spec.Containers[0]
	if !slices.Contains(c.Args, "--metrics-addr=:9090") || len(c.Ports) != 1 || c.Ports[0].Name != "metrics" ||
		c.Ports[0].ContainerPort != 9090 {
		t.Errorf("listener: args %v, ports %v; want --metrics-addr=:9090 on port metrics", c.Args, c.Ports)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("listener: probe %v, want GET %s on port metrics", probe, path)
		}
	}
}

func TestAPIPodDisruptionBudgetWhenReplicated(t *testing.T) {
	base := scenarioNamed(t, "existing-secret").values
	for replicas, want := range map[int]bool{1: false, 2: true} {
		r, err := render(haulChart(t), withValues(t, base, map[string]any{"api.replicas": replicas}), "haul", nil)
		if err != nil {
			t.Fatal(err)
		}
		pdb, ok := r.find("PodDisruptionBudget", "haul-api")
		if ok != want {
			t.Errorf("replicas %d: PodDisruptionBudget rendered %v, want %v", replicas, ok, want)
			continue
		}
		if ok {
			sel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
			if sel["app.kubernetes.io/component"] != "api" {
				t.Errorf("PodDisruptionBudget selects %v, want the API's pods", sel)
			}
		}
	}
}

// Each ServiceMonitor selects a Service of its component that has the port
// it scrapes; the rule's alerts read series Haul exports.
func TestServiceMonitorsAndAlerts(t *testing.T) {
	r := mustRender(t, scenarioNamed(t, "full"))
	monitors := 0
	for _, o := range r.all() {
		if o.GetKind() != "ServiceMonitor" {
			continue
		}
		monitors++
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
		eps, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("%s: endpoints %v", o, eps)
		}
		port := eps[0].(map[string]any)["port"]
		found := false
		for _, svc := range r.all() {
			if svc.GetKind() != "Service" || !matches(svc.GetLabels(), sel) {
				continue
			}
			ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			for _, p := range ports {
				found = found || p.(map[string]any)["name"] == port
			}
		}
		if !found {
			t.Errorf("%s: no Service labelled %v with a port %v", o, sel, port)
		}
		if o.GetLabels()["release"] != "prometheus" {
			t.Errorf("%s: labels %v lack metrics.serviceMonitor.labels", o, o.GetLabels())
		}
	}
	if monitors != 2 { // the full scenario runs no listener
		t.Errorf("%d ServiceMonitors, want the API's and the controller's", monitors)
	}
	rule, ok := r.find("PrometheusRule", "analytics")
	if !ok {
		t.Fatal("no PrometheusRule")
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var alerts []string
	for _, g := range groups {
		for _, rl := range g.(map[string]any)["rules"].([]any) {
			m := rl.(map[string]any)
			alerts = append(alerts, m["alert"].(string))
			expr := m["expr"].(string)
			if !strings.Contains(expr, `namespace="haul"`) {
				t.Errorf("alert %s: %s is not scoped to the release's namespace", m["alert"], expr)
			}
			if !slices.ContainsFunc([]string{"haul_precalc_pending_days", "haul_precalc_refresh_failures_total",
				"haul_ingestionruns_finished_total", "haul_precalc_listening"}, func(s string) bool { return strings.Contains(expr, s+"{") }) {
				t.Errorf("alert %s reads no series Haul exports: %s", m["alert"], expr)
			}
		}
	}
	for _, want := range []string{"HaulAggregatesStale", "HaulRefreshFailing", "HaulIngestionRunFailed"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %v", want, alerts)
		}
	}
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// helm test runs `haul healthcheck` against the API Service's /readyz.
func TestHelmTestAsksTheAPIForReadiness(t *testing.T) {
	r := mustRender(t, scenarioNamed(t, "full"))
	var tests []object
	for _, h := range r.hooks {
		if slices.Contains(h.hook.Events, "test") {
			tests = append(tests, h)
		}
	}
	if len(tests) != 1 || tests[0].GetKind() != "Pod" {
		t.Fatalf("helm test hooks %v, want one Pod", tests)
	}
	args, _, _ := unstructured.NestedSlice(tests[0].Object, "spec", "containers")
	got := args[0].(map[string]any)["args"]
	if want := []any{"healthcheck", "--timeout=10s", "http://analytics:8080/readyz"}; !slices.Equal(got.([]any), want) {
		t.Errorf("helm test runs %v, want %v (the API Service)", got, want)
	}
}

func TestExtraEnv(t *testing.T) {
	base := scenarioNamed(t, "existing-secret").values
	set := map[string]any{}
	for _, comp := range []string{"api", "listener", "migrations", "controller"} {
		set[comp+".extraEnv"] = []any{map[string]any{"name": "EXTRA_" + strings.ToUpper(comp), "value": "1"}}
	}
	r, err := render(haulChart(t), withValues(t, base, set), "haul", nil)
	if err != nil {
		t.Fatal(err)
	}
	for comp, component := range map[string]string{"api": "api", "listener": "listener", "migrations": "migrate", "controller": "controller"} {
		ws := byComponent(workloads(t, r), component)
		if len(ws) != 1 || !slices.ContainsFunc(ws[0].pod.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
			return e.Name == "EXTRA_"+strings.ToUpper(comp)
		}) {
			t.Errorf("%s: %s.extraEnv is not in the container's env", component, comp)
		}
	}
}
