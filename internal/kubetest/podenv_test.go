package kubetest

import (
	"testing"
)

func TestExpandVars(t *testing.T) {
	mapping := expansionMapping(map[string]string{"A": "a", "EMPTY": ""}, map[string]string{"A": "shadowed", "B": "b"})
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(EMPTY)", ""},
		{"$(NOPE)", "$(NOPE)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$A", "$A"},
		{"$", "$"},
		{"a$", "a$"},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$((i+1))", "$((i+1))"},
		{"€$(A)€", "€a€"},
	} {
		if got := expandVars(tc.in, mapping); got != tc.want {
			t.Errorf("expandVars(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
