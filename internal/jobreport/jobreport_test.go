package jobreport

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeFitsATerminationMessage(t *testing.T) {
	base := Summary{RunID: "uid-shipments-0", Dataset: "shipments", Status: "failed", Read: 10, Rejected: 2,
		RejectedByReason: map[string]int64{"unknown_log": 2}, Reason: ReasonInputError}
	for _, tc := range []struct {
		name    string
		message string
	}{
		{"short", "file.json: line 3, byte offset 80: unexpected end of input"},
		{"long ascii", strings.Repeat("x", 10_000)},
		{"long, escaped in JSON", strings.Repeat(`"<>&`, 3_000)},
		{"long multibyte", strings.Repeat("é→", 3_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.Message = tc.message
			b, err := Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxMessage {
				t.Fatalf("%d bytes, more than %d", len(b), MaxMessage)
			}
			got, err := Decode(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(got.Message) {
				t.Errorf("message cut inside a character: %q", got.Message[len(got.Message)-8:])
			}
			if len(tc.message)+200 < MaxMessage {
				if got.Message != tc.message {
					t.Errorf("short message changed: %q", got.Message)
				}
			} else if !strings.HasSuffix(got.Message, "…") || !strings.HasPrefix(tc.message, strings.TrimSuffix(got.Message, "…")) || len(b) < MaxMessage-32 {
				t.Errorf("long message not cut to the longest marked prefix of itself that fits (%d of %d bytes used)", len(b), MaxMessage)
			}
			got.Message = s.Message
			if got.RunID != s.RunID || got.Read != s.Read || got.RejectedByReason["unknown_log"] != 2 || got.Reason != s.Reason {
				t.Errorf("decoded %+v, want %+v", got, s)
			}
		})
	}
}

func TestDecodeRejectsOtherMessages(t *testing.T) {
	for _, msg := range []string{"", "panic: runtime error", `{"runID": ""}`, `[1, 2]`} {
		if _, err := Decode(msg); err == nil {
			t.Errorf("Decode(%q) accepted it", msg)
		}
	}
}

func TestProgressFraction(t *testing.T) {
	for _, tc := range []struct {
		p    Progress
		want float64
	}{
		{Progress{BytesRead: 50, BytesTotal: 200}, 0.25},
		{Progress{BytesRead: 50, BytesTotal: -1}, 0},
		{Progress{BytesRead: 300, BytesTotal: 200}, 1},
		{Progress{}, 0},
	} {
		if got := tc.p.Fraction(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.p, got, tc.want)
		}
	}
}
