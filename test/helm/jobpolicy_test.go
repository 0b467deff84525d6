package helm_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// configJobPodPolicy is the policy config/rbac ships for the same purpose.
const configJobPodPolicy = "../../config/rbac/job_pod_policy.yaml"

// TestJobPodPolicyIsConfigs: the chart's policy narrowing what Job pods may
// patch has config/rbac's rules, for the chart's jobs account alone, and is
// bound to deny.
func TestJobPodPolicyIsConfigs(t *testing.T) {
	b, err := os.ReadFile(configJobPodPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal([]byte(strings.SplitN(string(b), "\n---\n", 2)[0]), &want); err != nil {
		t.Fatal(err)
	}
	wantSpec := want["spec"].(map[string]any)
	r := mustRender(t, scenarioNamed(t, "full"))
	var policies, bindings []object
	account := ""
	for _, o := range r.all() {
		switch o.GetKind() {
		case "ServiceAccount":
			if o.component() == "jobs" {
				account = o.GetName()
			}
		case "ValidatingAdmissionPolicy":
			policies = append(policies, o)
		case "ValidatingAdmissionPolicyBinding":
			bindings = append(bindings, o)
		}
	}
	if len(policies) != 1 || len(bindings) != 1 {
		t.Fatalf("%d policies and %d bindings rendered, want 1 of each", len(policies), len(bindings))
	}
	spec := policies[0].Object["spec"].(map[string]any)
	for _, field := range []string{"failurePolicy", "matchConstraints", "variables", "validations"} {
		if !reflect.DeepEqual(spec[field], wantSpec[field]) {
			t.Errorf("spec.%s differs from %s:\n%v\nwant\n%v", field, configJobPodPolicy, spec[field], wantSpec[field])
		}
	}
	conds := spec["matchConditions"].([]any)
	if len(conds) != 1 || account == "" ||
		conds[0].(map[string]any)["expression"] != "request.userInfo.username == 'system:serviceaccount:haul:"+account+"'" {
		t.Errorf("matchConditions %v, want the release's jobs account alone", conds)
	}
	bspec := bindings[0].Object["spec"].(map[string]any)
	if bspec["policyName"] != policies[0].GetName() || !reflect.DeepEqual(bspec["validationActions"], []any{"Deny"}) {
		t.Errorf("binding %v, want Deny on %s", bspec, policies[0].GetName())
	}
}
