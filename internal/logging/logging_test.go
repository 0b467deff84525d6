package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestLevelNamesAndUniqueKeys(t *testing.T) {
	for _, format := range []string{FormatText, FormatJSON} {
		var buf bytes.Buffer
		log := New(&buf, Options{Format: format, Verbosity: 1})
		l := log.WithName("listen").WithValues("name", "first", "run", "a")
		l.Info("started", "name", "second")
		l.V(1).Info("detail")
		l.V(2).Info("too detailed")
		l.Error(errors.New("boom"), "failed", "run", "b")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: %d lines, want 3 (V(2) is off at -v 1):\n%s", format, len(lines), buf.String())
		}
		if format == FormatText {
			for i, want := range []string{"level=INFO", "level=DEBUG", "level=ERROR"} {
				if !strings.Contains(lines[i], want) || strings.Count(lines[i], " name=") > 1 || strings.Count(lines[i], " run=") > 1 {
					t.Errorf("text line %d %q: want %s and each key once", i, lines[i], want)
				}
			}
			if !strings.Contains(lines[0], "name=second") || !strings.Contains(lines[2], "run=b") {
				t.Errorf("a key repeated by the call does not keep the call's value:\n%s", buf.String())
			}
			continue
		}
		for i, want := range []string{"INFO", "DEBUG", "ERROR"} {
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
				t.Fatalf("json line %d %q: %v", i, lines[i], err)
			}
			if got["level"] != want || got["logger"] != "listen" {
				t.Errorf("json line %d: %v, want level %s, logger listen", i, got, want)
			}
			if strings.Count(lines[i], `"name":`) > 1 || strings.Count(lines[i], `"run":`) > 1 {
				t.Errorf("json line %d repeats a key: %s", i, lines[i])
			}
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	for _, o := range []Options{{Format: "xml"}, {Format: ""}, {Format: FormatText, Verbosity: -1}} {
		if o.Check() == nil {
			t.Errorf("%+v passes Check", o)
		}
	}
	if err := (Options{Format: FormatJSON, Verbosity: 3}).Check(); err != nil {
		t.Error(err)
	}
}
