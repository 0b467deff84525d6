// Package docs holds the project's documentation; its tests check that the
// documents the repository's files name exist, with the sections they
// point at, and that what the docs list matches what the code generates.
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/haul-dev/haul/internal/mddoc"
)

// root is the repository, from this package's folder.
const root = ".."

// shipped reports whether a file is one the project ships: code, docs,
// manifests, the chart, configuration and scripts, not test data.
func shipped(path string, d fs.DirEntry) bool {
	switch d.Name() {
	case "Makefile", "Dockerfile", "PROJECT", ".golangci.yml", "run":
		return true
	}
	switch filepath.Ext(path) {
	case ".go", ".md", ".yaml", ".yml", ".tpl", ".txt", ".json", ".sql", ".sh", ".mod":
		return true
	}
	return false
}

// skipDir is a folder that holds no shipped file: Git's, build output,
// generated data, and test inputs (fuzz corpora are arbitrary bytes).
func skipDir(name string) bool {
	switch name {
	case ".git", "bin", "data", "testdata", "node_modules":
		return true
	}
	return false
}

// docRef is a name ending in .md, with an optional #anchor. A URL's path
// (preceded by "//" or a host) is not one of the repository's documents.
var docRef = regexp.MustCompile(`(?:^|[^\w./:-])((?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]+))?\b`)

// localAnchor is a Markdown link to a section of the same document.
var localAnchor = regexp.MustCompile(`\]\(#([\w-]+)\)`)

// TestNamedDocumentsExist fails when a shipped file names a document the
// repository does not hold, or a section that document does not have. A
// name is looked up beside the file naming it, then from the repository's
// root.
func TestNamedDocumentsExist(t *testing.T) {
	docs := map[string]*mddoc.Doc{}
	read := func(path string) *mddoc.Doc {
		if d, ok := docs[path]; ok {
			return d
		}
		d, err := mddoc.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		docs[path] = d
		return d
	}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		// This file names the old documents on purpose, to say where
		// they went.
		if !shipped(path, d) || path == filepath.Join(root, "docs", "docs_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range docRef.FindAllStringSubmatch(line, -1) {
				name, anchor := m[1], m[2]
				target, ok := resolve(path, name)
				if !ok {
					t.Errorf("%s:%d names %s, which the repository does not hold%s", rel, i+1, name, hint(name, line))
					continue
				}
				if anchor != "" && !read(target).HasAnchor(anchor) {
					t.Errorf("%s:%d points at %s#%s: %s has no such section (its anchors: %s)",
						rel, i+1, name, anchor, name, anchors(read(target)))
				}
			}
			if strings.HasSuffix(path, ".md") {
				for _, m := range localAnchor.FindAllStringSubmatch(line, -1) {
					if !read(path).HasAnchor(m[1]) {
						t.Errorf("%s:%d links to #%s: no such section in this document", rel, i+1, m[1])
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked %d files; the walk missed the repository", checked)
	}
}

// resolve finds the document name refers to, beside from or at the root.
func resolve(from, name string) (string, bool) {
	for _, p := range []string{filepath.Join(filepath.Dir(from), name), filepath.Join(root, name)} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// hint says where the contracts and the design went, with the anchor of
// the section a reference such as "DATA.md 4.5" or "API.md 3.1" meant: the
// sections kept their numbers.
func hint(name, line string) string {
	target := map[string]string{"DATA.md": "docs/data.md", "API.md": "docs/api.md", "DESIGN.md": "docs/architecture.md"}[filepath.Base(name)]
	if target == "" {
		return ""
	}
	d, err := mddoc.Read(filepath.Join(root, target))
	if err != nil {
		return "; it is " + target
	}
	section := regexp.MustCompile(regexp.QuoteMeta(filepath.Base(name)) + `,? (?:§|section )?(\d+(?:\.\d+)?)`).FindStringSubmatch(line)
	if section != nil {
		for _, h := range d.Headings() {
			if strings.HasPrefix(h.Text, section[1]+" ") || strings.HasPrefix(h.Text, section[1]+". ") {
				return fmt.Sprintf("; %s %s is %s#%s", filepath.Base(name), section[1], target, h.Anchor)
			}
		}
	}
	return "; it is " + target
}

// section returns the section of the document at path (from the
// repository's root) with that anchor, or fails the test.
func section(t *testing.T, path, anchor string) string {
	t.Helper()
	d, err := mddoc.Read(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	text, ok := d.Section(anchor)
	if !ok {
		t.Fatalf("%s has no section #%s", path, anchor)
	}
	return text
}

func anchors(d *mddoc.Doc) string {
	var out []string
	for _, h := range d.Headings() {
		out = append(out, h.Anchor)
	}
	return strings.Join(out, " ")
}

// TestRBACTablesListTheGeneratedRules: the tables of the operator's
// permissions in docs/helm.md list every rule controller-gen generated into
// config/rbac/role.yaml, with its verbs, and no other.
func TestRBACTablesListTheGeneratedRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config/rbac/role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, rule := range role.Rules {
		for _, res := range rule.Resources {
			want[res] = slices.Sorted(slices.Values(rule.Verbs))
		}
	}
	if len(want) < 5 {
		t.Fatalf("role.yaml has %d resources; read it wrong?", len(want))
	}

	got := map[string][]string{}
	for _, table := range mddoc.Tables(section(t, "docs/helm.md", "the-operator")) {
		res, verbs := table.Column("resources"), table.Column("verbs")
		if res < 0 || verbs < 0 {
			continue
		}
		where := ""
		for _, row := range table.Rows {
			if row[0] != "" {
				where = row[0] // a blank cell continues the row above's
			}
			if !strings.Contains(where, "ClusterRole") {
				continue
			}
			// A cell names API groups and resources: `batch` `jobs`.
			for _, span := range mddoc.CodeSpans(row[res]) {
				if _, ok := want[span]; ok || !strings.Contains(span, ".") && span != "batch" {
					got[span] = verbList(row[verbs])
				}
			}
		}
	}
	for res, verbs := range want {
		if !slices.Equal(got[res], verbs) {
			t.Errorf("docs/helm.md lists %s with verbs %v; config/rbac/role.yaml grants %v", res, got[res], verbs)
		}
	}
	for res := range got {
		if _, ok := want[res]; !ok {
			t.Errorf("docs/helm.md lists %s in the generated ClusterRole; config/rbac/role.yaml has no such rule", res)
		}
	}
}

// verbList reads "get, update, patch: why" as its sorted verbs.
func verbList(cell string) []string {
	cell, _, _ = strings.Cut(cell, ":")
	var out []string
	for v := range strings.SplitSeq(cell, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// TestLayoutTableMatchesTheTree: every path the layout table of
// docs/architecture.md names exists, and every folder holding Go code is
// named, or lies under a named folder.
func TestLayoutTableMatchesTheTree(t *testing.T) {
	tables := mddoc.Tables(section(t, "docs/architecture.md", "layout"))
	if len(tables) == 0 {
		t.Fatal("the Layout section has no table")
	}
	var listed []string
	for _, row := range tables[0].Rows {
		for _, p := range mddoc.CodeSpans(row[0]) {
			listed = append(listed, p)
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("docs/architecture.md's layout names %s: %v", p, err)
			}
		}
	}
	reported := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && skipDir(d.Name()) {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".go" {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		if !reported[dir] && !slices.ContainsFunc(listed, func(p string) bool { return dir == p || strings.HasPrefix(dir, p+"/") }) {
			t.Errorf("docs/architecture.md's layout does not name %s, which holds Go code", dir)
			reported[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
