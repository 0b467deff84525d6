package ingest

import "testing"

func TestDecodeDay(t *testing.T) {
	tests := []struct {
		raw    []byte
		binary bool
		want   int64
	}{
		{[]byte{0, 0, 0, 0}, true, 0},
		{[]byte{0, 0, 0x24, 0x9f}, true, 9375}, // 2025-09-01
		{[]byte{0xff, 0xff, 0xff, 0xff}, true, -1},
		{[]byte("2000-01-01"), false, 0},
		{[]byte("2025-09-01"), false, 9375},
		{[]byte("1999-12-31"), false, -1},
	}
	for _, tt := range tests {
		got, err := decodeDay(tt.raw, tt.binary)
		if err != nil || got != tt.want {
			t.Errorf("decodeDay(%q, %v) = %d, %v; want %d", tt.raw, tt.binary, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		raw    []byte
		binary bool
	}{{[]byte{0, 1}, true}, {[]byte("01/09/2025"), false}} {
		if _, err := decodeDay(bad.raw, bad.binary); err == nil {
			t.Errorf("decodeDay(%q, %v) succeeded, want an error", bad.raw, bad.binary)
		}
	}
}
