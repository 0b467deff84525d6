package helm_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/haul-dev/haul/controllers"
)

// workload is a rendered object that runs pods.
type workload struct {
	object
	replicas *int32 // nil for a Job
	pod      corev1.PodTemplateSpec
}

// workloads returns the rendered objects that run pods, decoded strictly
// (a field the API does not know fails the test).
func workloads(t *testing.T, r rendered) []workload {
	t.Helper()
	var out []workload
	for _, o := range r.all() {
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			fromUnstructured(t, o, &d)
			out = append(out, workload{object: o, replicas: d.Spec.Replicas, pod: d.Spec.Template})
		case "Job":
			var j batchv1.Job
			fromUnstructured(t, o, &j)
			out = append(out, workload{object: o, pod: j.Spec.Template})
		case "Pod": // helm test's
			var p corev1.Pod
			fromUnstructured(t, o, &p)
			out = append(out, workload{object: o, pod: corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}})
		case "ReplicaSet", "StatefulSet", "DaemonSet", "CronJob":
			t.Fatalf("%s: these tests do not read a %s's pods yet", o, o.GetKind())
		}
	}
	return out
}

func fromUnstructured(t *testing.T, o object, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

func containers(spec corev1.PodSpec) []corev1.Container {
	return slices.Concat(spec.InitContainers, spec.Containers)
}

// byComponent returns the workloads of one component.
func byComponent(ws []workload, component string) []workload {
	var out []workload
	for _, w := range ws {
		if w.component() == component {
			out = append(out, w)
		}
	}
	return out
}

// value returns the dotted key of a values map, or nil.
func value(values map[string]any, key string) any {
	var v any = values
	for _, p := range strings.Split(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func stringValue(values map[string]any, key string) string {
	s, _ := value(values, key).(string)
	return s
}

// show prints what p points to, or "unset".
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// enabled reads a boolean value.
func enabled(values map[string]any, key string) bool {
	b, _ := value(values, key).(bool)
	return b
}

func TestPodsRunAsNonRootWithRestrictedSecurityContext(t *testing.T) {
	const uid = 65532 // the image's user (Dockerfile)
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			ws := workloads(t, mustRender(t, s))
			if len(ws) == 0 {
				t.Fatal("no workload rendered")
			}
			for _, w := range ws {
				spec := w.pod.Spec
				psc := spec.SecurityContext
				if psc == nil {
					t.Errorf("%s: no pod securityContext", w)
					continue
				}
				if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Errorf("%s: pod runAsNonRoot is not true", w)
				}
				if psc.RunAsUser == nil || *psc.RunAsUser != uid {
					t.Errorf("%s: pod runAsUser %s, want %d", w, show(psc.RunAsUser), uid)
				}
				if psc.FSGroup == nil || *psc.FSGroup != uid {
					t.Errorf("%s: pod fsGroup %s, want %d", w, show(psc.FSGroup), uid)
				}
				if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod seccompProfile %v, want RuntimeDefault", w, psc.SeccompProfile)
				}
				if spec.HostNetwork || spec.HostPID || spec.HostIPC {
					t.Errorf("%s: shares a host namespace", w)
				}
				// Only the operator talks to the Kubernetes API.
				mounted := spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken
				if wantToken := w.component() == "controller"; mounted != wantToken {
					t.Errorf("%s: mounts a service account token: %v, want %v", w, mounted, wantToken)
				}
				for _, c := range containers(spec) {
					sc := c.SecurityContext
					if sc == nil {
						t.Errorf("%s: container %s: no securityContext", w, c.Name)
						continue
					}
					if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
						t.Errorf("%s: container %s: allowPrivilegeEscalation is not false", w, c.Name)
					}
					if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
						t.Errorf("%s: container %s: readOnlyRootFilesystem is not true", w, c.Name)
					}
					if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
						t.Errorf("%s: container %s: capabilities %+v, want ALL dropped and none added", w, c.Name, sc.Capabilities)
					}
					if sc.Privileged != nil && *sc.Privileged {
						t.Errorf("%s: container %s: privileged", w, c.Name)
					}
					if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
						t.Errorf("%s: container %s: runs as root", w, c.Name)
					}
				}
			}
		})
	}
}

// TestObjectsReferToWhatExistsWhenTheyRun checks every Secret and service
// account a pod names: either the chart renders it, with a lifetime that
// covers the pod's (a hook pod's must be a hook created before it; a
// release pod's must not be a hook, since hooks are deleted once they
// succeed), or the user provides it through values.
func TestObjectsReferToWhatExistsWhenTheyRun(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			provided := map[string][]string{ // kind: names the values say exist
				"Secret": {stringValue(r.values, "database.existingSecret"), stringValue(r.values, "api.apiKeys.existingSecret")},
			}
			for _, sa := range []string{"serviceAccount", "controller.serviceAccount"} {
				if !enabled(r.values, sa+".create") {
					provided["ServiceAccount"] = append(provided["ServiceAccount"], stringValue(r.values, sa+".name"), "default")
				}
			}
			for _, w := range workloads(t, r) {
				refs := map[string][]string{"ServiceAccount": {w.pod.Spec.ServiceAccountName}}
				for _, c := range containers(w.pod.Spec) {
					for _, e := range c.Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							refs["Secret"] = append(refs["Secret"], e.ValueFrom.SecretKeyRef.Name)
						}
					}
				}
				for _, v := range w.pod.Spec.Volumes {
					if v.Secret != nil {
						refs["Secret"] = append(refs["Secret"], v.Secret.SecretName)
					}
				}
				for _, kind := range slices.Sorted(maps.Keys(refs)) {
					for _, name := range refs[kind] {
						checkRef(t, r, w, kind, name, provided[kind])
					}
				}
			}
		})
	}
}

func checkRef(t *testing.T, r rendered, w workload, kind, name string, provided []string) {
	t.Helper()
	if name == "" {
		t.Errorf("%s: names a %s without a name", w, kind)
		return
	}
	ref, ok := r.find(kind, name)
	// A test hook (helm test) runs after the release is installed: its
	// objects exist then, as do the hooks that run before the test hooks.
	testHook := w.hook != nil && slices.Equal(w.hook.Events, []release.HookEvent{release.HookTest})
	switch {
	case !ok && slices.Contains(provided, name):
	case ok && testHook && ref.hook == nil:
	case !ok:
		t.Errorf("%s: %s %s is neither rendered nor provided by the values", w, kind, name)
	case w.hook == nil && ref.hook != nil:
		t.Errorf("%s: %s is a hook, deleted once the hooks succeed", w, ref)
	case w.hook != nil && ref.hook == nil:
		t.Errorf("%s (a hook): %s does not exist yet when the hook runs", w, ref)
	case w.hook != nil && ref.hook.Weight >= w.hook.Weight:
		t.Errorf("%s (hook weight %d): %s has weight %d; want it created before", w, w.hook.Weight, ref, ref.hook.Weight)
	case w.hook != nil && !slices.Equal(ref.hook.Events, w.hook.Events):
		t.Errorf("%s runs on %v; %s is created on %v", w, w.hook.Events, ref, ref.hook.Events)
	}
}

func TestMigrationsRunAsAHookBeforeInstallAndUpgrade(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			var jobs []object
			for _, o := range r.all() {
				if o.GetKind() == "Job" {
					jobs = append(jobs, o)
				}
			}
			if len(jobs) != 1 || jobs[0].hook == nil || jobs[0].component() != "migrate" {
				t.Fatalf("Jobs rendered: %v; want the migrate hook alone", jobs)
			}
			h := jobs[0].hook
			if want := []release.HookEvent{release.HookPreInstall, release.HookPreUpgrade}; !slices.Equal(h.Events, want) {
				t.Errorf("migrate Job runs on %v, want %v", h.Events, want)
			}
			for _, o := range r.hooks {
				if want := []release.HookDeletePolicy{release.HookBeforeHookCreation, release.HookSucceeded}; !slices.Equal(o.hook.DeletePolicies, want) {
					t.Errorf("hook %s: delete policies %v, want %v", o, o.hook.DeletePolicies, want)
				}
				if slices.Equal(o.hook.Events, []release.HookEvent{release.HookTest}) {
					continue // helm test's, checked in operability_test.go
				}
				if o.component() != "migrate" {
					t.Errorf("hook %s: not part of the migration", o)
				}
			}
		})
	}
}

// TestControllerOnlyWhenEnabled: the operator, its RBAC and the Jobs'
// service account are installed by default, and none of them with
// controller.enabled=false, when NOTES.txt says nothing runs IngestionRuns.
func TestControllerOnlyWhenEnabled(t *testing.T) {
	base := scenarioNamed(t, "existing-secret").values
	if value(base, "controller") != nil || value(base, "jobs") != nil {
		t.Fatal("the existing-secret scenario is the defaults plus a database: it must set neither controller nor jobs")
	}
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("enabled=%v", on), func(t *testing.T) {
			values := base
			if !on {
				values = withValues(t, base, map[string]any{"controller.enabled": false})
			}
			r := mustRender(t, scenario{name: "controller", values: values})
			if got := enabled(r.values, "controller.enabled"); got != on {
				t.Fatalf("controller.enabled %v, want %v (true by default)", got, on)
			}
			var kinds []string
			for _, o := range r.all() {
				if c := o.component(); c == "controller" || c == "jobs" {
					kinds = append(kinds, o.GetKind())
				}
			}
			slices.Sort(kinds)
			var want []string
			if on { // the Jobs' Role: their pods annotate themselves by default
				want = []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Lease", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount", "ServiceAccount",
					"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
			}
			if !slices.Equal(kinds, want) {
				t.Errorf("operator objects %v, want %v", kinds, want)
			}
			// The chart's Lease is the one the replicas elect their leader
			// on, so that helm uninstall removes it.
			if lease, ok := r.find("Lease", controllers.LeaderElectionID); on && !ok {
				t.Errorf("no Lease %s, the controller's leader election", controllers.LeaderElectionID)
			} else if ok && lease.GetNamespace() != "haul" {
				t.Errorf("Lease %s in namespace %q, want the release's", lease.GetName(), lease.GetNamespace())
			}
			for _, o := range r.all() {
				if o.GetKind() == "Deployment" {
					var d appsv1.Deployment
					fromUnstructured(t, o, &d)
					for _, c := range d.Spec.Template.Spec.Containers {
						if isController := slices.Contains(c.Args, "controller"); isController != (o.component() == "controller") {
							t.Errorf("%s: container %s runs %q", o, c.Name, c.Args)
						}
					}
				}
			}

			const jobsAccount = "serviceAccountName: " + releaseName + "-jobs"
			const notRun = "The operator is not deployed (controller.enabled=false)"
			if got := strings.Contains(r.notes, jobsAccount); got != on {
				t.Errorf("NOTES.txt's IngestionRun names %q: %v, want %v", jobsAccount, got, on)
			}
			if got := strings.Contains(r.notes, notRun); got == on {
				t.Errorf("NOTES.txt says %q: %v, want %v", notRun, got, !on)
			}
		})
	}
}

// rbacRules are a role's rules as "group/resource verb" grants.
func rbacRules(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+" "+v)
				}
			}
		}
		for _, u := range r.NonResourceURLs {
			for _, v := range r.Verbs {
				out = append(out, u+" "+v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func grants(resource string, verbs ...string) []string {
	var out []string
	for _, v := range verbs {
		out = append(out, resource+" "+v)
	}
	return out
}

// generatedControllerRole is the ClusterRole controller-gen generates from
// the operator's +kubebuilder:rbac markers (`make manifests`).
const generatedControllerRole = "../../config/rbac/role.yaml"

func readClusterRole(t *testing.T, file string) rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if role.Kind != "ClusterRole" || len(role.Rules) == 0 {
		t.Fatalf("%s: a %s with %d rules, want a ClusterRole with rules", file, role.Kind, len(role.Rules))
	}
	return role
}

// TestControllerClusterRoleIsTheGeneratedOne: the chart's copy of
// config/rbac/role.yaml is byte for byte the generated one, and the
// ClusterRole the chart renders has exactly its rules.
func TestControllerClusterRoleIsTheGeneratedOne(t *testing.T) {
	generated := readClusterRole(t, generatedControllerRole)
	chartCopy := filepath.Join(chartDir, "files", "controller-role.yaml")
	want, err := os.ReadFile(generatedControllerRole)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(chartCopy)
	switch {
	case err != nil:
		t.Errorf("%v; run make manifests", err)
	case !bytes.Equal(got, want):
		t.Errorf("%s differs from %s; run make manifests", chartCopy, generatedControllerRole)
	}
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			var roles []object
			for _, o := range mustRender(t, s).all() {
				if o.GetKind() == "ClusterRole" {
					roles = append(roles, o)
				}
			}
			if len(roles) != 1 || roles[0].component() != "controller" {
				t.Fatalf("ClusterRoles rendered: %v; want the operator's alone", roles)
			}
			var role rbacv1.ClusterRole
			fromUnstructured(t, roles[0], &role)
			if diff := cmp.Diff(generated.Rules, role.Rules); diff != "" {
				t.Errorf("%s: rules differ from %s (-generated +rendered):\n%s", roles[0], generatedControllerRole, diff)
			}
		})
	}
}

func TestControllerRBACIsLeastPrivilege(t *testing.T) {
	full := scenarioNamed(t, "full").values
	// Cluster-wide, exactly what the operator's code says it needs
	// (TestControllerClusterRoleIsTheGeneratedOne checks the rules as such).
	wantCluster := rbacRules(readClusterRole(t, generatedControllerRole).Rules)
	// In its namespace, leader election: the Lease, and the Events
	// controller-runtime records on it through the core Events API.
	wantLeaderElection := slices.Concat(
		grants("/events", "create", "patch"),
		grants("coordination.k8s.io/leases", "create", "get", "update"),
	)
	slices.Sort(wantLeaderElection)
	wantJobs := grants("/pods", "get", "patch")

	for _, annotate := range []bool{true, false} {
		t.Run(fmt.Sprintf("podsAnnotateThemselves=%v", annotate), func(t *testing.T) {
			values := withValues(t, full, map[string]any{"jobs.podsAnnotateThemselves": annotate})
			r := mustRender(t, scenario{name: "rbac", values: values})
			roles := map[string][]string{}    // kind/name: grants
			bindings := map[string][]string{} // subject service account: kind/name of the roles bound
			for _, o := range r.all() {
				switch o.GetKind() {
				case "ClusterRole", "Role": // the same fields
					var role rbacv1.ClusterRole
					fromUnstructured(t, o, &role)
					roles[o.GetKind()+"/"+o.GetName()] = rbacRules(role.Rules)
				case "ClusterRoleBinding", "RoleBinding":
					var b rbacv1.ClusterRoleBinding
					fromUnstructured(t, o, &b)
					if _, ok := r.find(b.RoleRef.Kind, b.RoleRef.Name); !ok {
						t.Errorf("%s binds %s %s, which is not rendered", o, b.RoleRef.Kind, b.RoleRef.Name)
					}
					if o.GetKind() == "RoleBinding" && b.RoleRef.Kind != "Role" {
						t.Errorf("%s binds a %s in the namespace", o, b.RoleRef.Kind)
					}
					for _, s := range b.Subjects {
						if s.Kind != "ServiceAccount" || s.Namespace != "haul" {
							t.Errorf("%s: subject %+v, want a service account of the release's namespace", o, s)
						}
						bindings[s.Name] = append(bindings[s.Name], b.RoleRef.Kind+"/"+b.RoleRef.Name)
					}
				}
			}
			for name, rules := range roles {
				for _, g := range rules {
					if strings.Contains(g, "*") || strings.HasPrefix(g, "/secrets ") {
						t.Errorf("%s grants %q", name, g)
					}
				}
			}
			// granted returns what a service account may do, cluster-wide
			// and in the release's namespace.
			granted := func(sa string) (cluster, namespaced []string) {
				for _, ref := range bindings[sa] {
					if strings.HasPrefix(ref, "ClusterRole/") {
						cluster = append(cluster, roles[ref]...)
					} else {
						namespaced = append(namespaced, roles[ref]...)
					}
				}
				slices.Sort(cluster)
				slices.Sort(namespaced)
				return cluster, namespaced
			}

			ctrl := byComponent(workloads(t, r), "controller")
			if len(ctrl) != 1 {
				t.Fatalf("controller Deployments: %d, want 1", len(ctrl))
			}
			sa := ctrl[0].pod.Spec.ServiceAccountName
			cluster, namespaced := granted(sa)
			if !slices.Equal(cluster, wantCluster) {
				t.Errorf("controller service account %s may, cluster-wide:\n%s\nwant\n%s", sa, strings.Join(cluster, "\n"), strings.Join(wantCluster, "\n"))
			}
			if !slices.Equal(namespaced, wantLeaderElection) {
				t.Errorf("controller service account %s may, in its namespace: %q, want %q", sa, namespaced, wantLeaderElection)
			}

			var jobsAccounts []object
			for _, o := range r.all() {
				if o.GetKind() == "ServiceAccount" && o.component() == "jobs" {
					jobsAccounts = append(jobsAccounts, o)
				}
			}
			if len(jobsAccounts) != 1 {
				t.Fatalf("service accounts for the Jobs' pods: %v, want 1", jobsAccounts)
			}
			var jobsAccount corev1.ServiceAccount
			fromUnstructured(t, jobsAccounts[0], &jobsAccount)
			if m := jobsAccount.AutomountServiceAccountToken; m == nil || *m != annotate {
				t.Errorf("jobs service account mounts a token: %s, want %v", show(m), annotate)
			}
			var wantJobsGrants []string
			if annotate {
				wantJobsGrants = wantJobs
			}
			jobsCluster, jobsNamespaced := granted(jobsAccount.Name)
			if len(jobsCluster) > 0 || !slices.Equal(jobsNamespaced, wantJobsGrants) {
				t.Errorf("jobs service account %s may %q cluster-wide and %q in its namespace; want nothing and %q",
					jobsAccount.Name, jobsCluster, jobsNamespaced, wantJobsGrants)
			}
		})
	}
}
