// Package mddoc reads the parts of the project's Markdown documents that
// tests hold against the code: headings and their anchors, sections, and
// tables. It reads GitHub-flavoured Markdown as the project writes it, not
// every construct the format allows.
package mddoc

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"
)

// Doc is one Markdown document.
type Doc struct {
	lines []string
	// headings in document order, fenced code blocks left out.
	headings []Heading
}

// Heading is one ATX heading (`## Title`).
type Heading struct {
	Level  int
	Text   string
	Anchor string
	line   int
}

// Read reads the document at path.
func Read(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return Parse(string(b)), nil
}

// Parse reads a document from its text.
func Parse(text string) *Doc {
	d := &Doc{lines: strings.Split(text, "\n")}
	seen := map[string]int{}
	fenced := false
	for i, l := range d.lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		level := len(l) - len(strings.TrimLeft(l, "#"))
		if level == 0 || level > 6 || !strings.HasPrefix(l[level:], " ") {
			continue
		}
		text := strings.TrimSpace(l[level:])
		anchor := Slug(text)
		// GitHub numbers repeated anchors: a, a-1, a-2.
		if n := seen[anchor]; n > 0 {
			seen[anchor] = n + 1
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		} else {
			seen[anchor] = 1
		}
		d.headings = append(d.headings, Heading{Level: level, Text: text, Anchor: anchor, line: i})
	}
	return d
}

// Slug is the anchor GitHub gives a heading: lower case, punctuation other
// than hyphens and underscores dropped, spaces made hyphens.
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Headings returns the document's headings in order.
func (d *Doc) Headings() []Heading { return d.headings }

// HasAnchor reports whether a heading of the document has that anchor.
func (d *Doc) HasAnchor(anchor string) bool {
	for _, h := range d.headings {
		if h.Anchor == anchor {
			return true
		}
	}
	return false
}

// Section returns the text under the heading with that anchor, up to the
// next heading of the same or a higher level.
func (d *Doc) Section(anchor string) (string, bool) {
	for i, h := range d.headings {
		if h.Anchor != anchor {
			continue
		}
		end := len(d.lines)
		for _, next := range d.headings[i+1:] {
			if next.Level <= h.Level {
				end = next.line
				break
			}
		}
		return strings.Join(d.lines[h.line+1:end], "\n"), true
	}
	return "", false
}

// Table is a Markdown table: its header cells and its rows' cells.
type Table struct {
	Header []string
	Rows   [][]string
}

// Column returns the index of the header cell named name, or -1.
func (t Table) Column(name string) int {
	for i, h := range t.Header {
		if h == name {
			return i
		}
	}
	return -1
}

// Tables returns the tables of a text, in order.
func Tables(text string) []Table {
	var out []Table
	var cur *Table
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			cur = nil
			continue
		}
		cells := splitRow(l)
		switch {
		case cur == nil:
			out = append(out, Table{Header: cells})
			cur = &out[len(out)-1]
		case isDelimiterRow(cells):
		default:
			cur.Rows = append(cur.Rows, cells)
		}
	}
	return out
}

// splitRow splits a table row on its unescaped pipes.
func splitRow(l string) []string {
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			cell.WriteByte('|')
			i++
		case l[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(l[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func isDelimiterRow(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":-") != "" || c == "" {
			return false
		}
	}
	return true
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// CodeSpans returns the contents of the `code spans` of a text, in order.
func CodeSpans(text string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// CodeBlocks returns the contents of the fenced code blocks of a text whose
// info string is lang (```sql), in order.
func CodeBlocks(text, lang string) []string {
	var out []string
	var cur []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case !in && trimmed == "```"+lang:
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			out = append(out, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, l)
		}
	}
	return out
}
