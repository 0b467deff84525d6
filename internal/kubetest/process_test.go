package kubetest

import (
	"strings"
	"testing"
)

func TestLogMessage(t *testing.T) {
	long := strings.Repeat("x", 3000) + "\n"
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", ""},
		{"short", "a\nb\n", "a\nb\n"},
		{"no final newline", "a\nb", "a\nb"},
		{"last 80 lines", strings.Repeat("old\n", 5) + strings.Repeat("new\n", 80), strings.Repeat("new\n", 80)},
		{"last 2048 bytes", long, long[len(long)-2048:]},
	} {
		if got := logMessage([]byte(tc.out)); got != tc.want {
			t.Errorf("%s: logMessage = %q; want %q", tc.name, got, tc.want)
		}
	}
}
