package mddoc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"4.5 Duplicates and re-delivery":             "45-duplicates-and-re-delivery",
		"3.5 GET /api/vehicles/{vehicle_id}/details": "35-get-apivehiclesvehicle_iddetails",
		"`haul precalc` and `haul listen`":           "haul-precalc-and-haul-listen",
		"What it installs":                           "what-it-installs",
		"Über (café)":                                "über-café",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

const sample = "# Title\n\nIntro.\n\n## 1. One\n\n| a | b |\n| --- | :-: |\n| `x\\|y` | 2 |\n| 3 | 4 |\n\ntext\n\n" +
	"### 1.1 Sub\n\n```\n## not a heading\n```\n\n## 1. One\n\n## 2. Two\n\n| c |\n| --- |\n| 5 |\n"

func TestParse(t *testing.T) {
	d := Parse(sample)
	var anchors []string
	for _, h := range d.Headings() {
		anchors = append(anchors, h.Anchor)
	}
	if diff := cmp.Diff([]string{"title", "1-one", "11-sub", "1-one-1", "2-two"}, anchors); diff != "" {
		t.Errorf("anchors (-want +got):\n%s", diff)
	}
	if !d.HasAnchor("11-sub") || d.HasAnchor("not-a-heading") {
		t.Error("HasAnchor: fenced heading counted, or a real one missed")
	}
	one, ok := d.Section("1-one")
	if !ok {
		t.Fatal("no section 1-one")
	}
	tables := Tables(one)
	want := []Table{{Header: []string{"a", "b"}, Rows: [][]string{{"`x|y`", "2"}, {"3", "4"}}}}
	if diff := cmp.Diff(want, tables); diff != "" {
		t.Errorf("tables of section 1 (-want +got):\n%s", diff)
	}
	if got := CodeSpans(tables[0].Rows[0][0]); len(got) != 1 || got[0] != "x|y" {
		t.Errorf("CodeSpans = %q", got)
	}
	two, _ := d.Section("2-two")
	if tables := Tables(two); len(tables) != 1 || tables[0].Column("c") != 0 || tables[0].Rows[0][0] != "5" {
		t.Errorf("tables of section 2: %+v", tables)
	}
}

func TestCodeBlocks(t *testing.T) {
	text := "a\n```sql\nSELECT 1;\n```\n```\nplain\n```\n```sql\nSELECT 2;\nSELECT 3;\n```\n"
	want := []string{"SELECT 1;\n", "SELECT 2;\nSELECT 3;\n"}
	if diff := cmp.Diff(want, CodeBlocks(text, "sql")); diff != "" {
		t.Errorf("CodeBlocks (-want +got):\n%s", diff)
	}
}
