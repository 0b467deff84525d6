package main

import (
	"context"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/haul-dev/haul/cmd/haul/app"
)

// The image's build files, relative to this package.
const (
	dockerfilePath   = "../../Dockerfile"
	dockerignorePath = "../../.dockerignore"
	goModPath        = "../../go.mod"
)

// dockerInstr is one Dockerfile instruction, as BuildKit's parser reads it.
type dockerInstr struct {
	line  int               // where it starts, 1-based
	cmd   string            // upper case: FROM, RUN, COPY, ...
	args  string            // as written after cmd, continuation lines joined
	flags map[string]string // its leading --flags, by name
	words []string          // its arguments after the flags; the items of an exec form
	json  bool              // written in exec (JSON) form
}

// dockerStage is a FROM and the instructions up to the next one.
type dockerStage struct {
	from   dockerInstr
	instrs []dockerInstr
}

// image is what the stage starts from, without FROM's flags and AS name.
func (s dockerStage) image() string {
	if len(s.from.words) == 0 {
		return ""
	}
	return s.from.words[0]
}

// all returns the stage's instructions named cmd.
func (s dockerStage) all(cmd string) []dockerInstr {
	var out []dockerInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the stage's last instruction named cmd: the one in force.
func (s dockerStage) last(cmd string) (dockerInstr, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return dockerInstr{}, false
	}
	return all[len(all)-1], true
}

// parseDockerfile splits a Dockerfile into stages with BuildKit's parser,
// the one docker build uses.
func parseDockerfile(t *testing.T, text string) []dockerStage {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	var stages []dockerStage
	for _, n := range res.AST.Children {
		in := dockerInstr{line: n.StartLine, cmd: strings.ToUpper(n.Value), flags: map[string]string{}, json: n.Attributes["json"]}
		_, args, _ := strings.Cut(n.Original, " ")
		in.args = strings.TrimSpace(args)
		for _, f := range n.Flags {
			name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			in.flags[name] = value
		}
		for arg := n.Next; arg != nil; arg = arg.Next {
			in.words = append(in.words, arg.Value)
		}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, dockerStage{from: in})
		case len(stages) == 0:
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
		default:
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	return stages
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	text, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, string(text))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	return stages
}

// imageUser returns the final stage's numeric USER uid, failing the test when
// it is missing, a name, or root.
func imageUser(t *testing.T, final dockerStage) int {
	t.Helper()
	user, ok := final.last("USER")
	if !ok {
		t.Fatal("the final stage sets no USER: the image would run as root")
	}
	uid, gid, hasGID := strings.Cut(user.args, ":")
	n, err := strconv.Atoi(uid)
	if err != nil || n <= 0 {
		t.Fatalf("Dockerfile:%d: USER %s, want a numeric non-root uid (a name needs /etc/passwd and defeats runAsNonRoot checks)", user.line, user.args)
	}
	if g, err := strconv.Atoi(gid); hasGID && (err != nil || g < 0) {
		t.Fatalf("Dockerfile:%d: USER %s, want a numeric gid", user.line, user.args)
	}
	return n
}

func TestDockerfileFinalStageRunsHaulAsNonRoot(t *testing.T) {
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	uid := imageUser(t, final)

	ep, ok := final.last("ENTRYPOINT")
	if !ok {
		t.Fatal("the final stage has no ENTRYPOINT")
	}
	argv := ep.words
	if !ep.json || len(argv) == 0 {
		t.Fatalf("Dockerfile:%d: ENTRYPOINT %s, want the exec form [\"haul\"] (a shell form needs a shell the image lacks)", ep.line, ep.args)
	}
	if path.Base(argv[0]) != "haul" || len(argv) > 1 {
		t.Fatalf("Dockerfile:%d: ENTRYPOINT %s, want the haul binary alone, so a service's command is haul's arguments", ep.line, ep.args)
	}
	if path.IsAbs(argv[0]) && !copiesTo(final, argv[0]) {
		t.Errorf("Dockerfile:%d: ENTRYPOINT runs %s, but the final stage copies nothing there", ep.line, argv[0])
	}

	base := final.image()
	if !strings.HasPrefix(base, "gcr.io/distroless/static") {
		if base != "scratch" {
			t.Errorf("final stage FROM %s, want distroless/static or scratch", base)
		}
		if !copiesTo(final, "/etc/ssl/certs/ca-certificates.crt") && !copiesTo(final, "/etc/ssl/certs/") {
			t.Errorf("final stage FROM %s copies no CA certificates: https:// ingest sources would fail", base)
		}
	}

	// The working directory must be the user's, so ingest's default
	// --rejects-dir (relative) is writable.
	if wd, ok := final.last("WORKDIR"); ok && !chownedTo(final, wd.args, uid) {
		t.Errorf("Dockerfile:%d: WORKDIR %s is not copied in with --chown=%d", wd.line, wd.args, uid)
	}
}

func TestDockerfileBuildStage(t *testing.T) {
	stages := readDockerfile(t)
	build := stages[0]

	goMod, err := os.ReadFile(goModPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	goImage := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(string(m[1])) + `([.-]|$)`)
	if !goImage.MatchString(build.image()) {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod's Go)", build.image(), m[1])
	}

	// go.mod and go.sum alone, then go mod download, then the source: the
	// modules layer survives source edits.
	order := map[string]int{}
	for i, in := range build.instrs {
		switch {
		case in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum") && order["mods"] == 0:
			order["mods"] = i + 1
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download") && order["download"] == 0:
			order["download"] = i + 1
		case in.cmd == "COPY" && strings.HasPrefix(in.args, ". ") && order["source"] == 0:
			order["source"] = i + 1
		}
	}
	if inOrder := order["mods"] > 0 && order["mods"] < order["download"] && order["download"] < order["source"]; !inOrder {
		t.Errorf("build stage: want COPY go.mod go.sum, RUN go mod download, COPY . in that order; got positions %v", order)
	}

	var goBuild string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=", "-X main.commit=", "-X main.date=", "./cmd/haul"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the go build step lacks %q: %s", want, goBuild)
		}
	}
	// The -X flags must name the variables haul version reports.
	savedV, savedC, savedD := version, commit, date
	t.Cleanup(func() { version, commit, date = savedV, savedC, savedD })
	version, commit, date = "v0.0.0-dockerfile-test", "0123abc", "2026-12-06T05:00:00Z"
	var out strings.Builder
	if code := app.Run(context.Background(), []string{"version"}, &out, io.Discard, buildInfo()); code != 0 {
		t.Fatalf("haul version: exit %d", code)
	}
	if got := strings.TrimSuffix(out.String(), "\n"); !strings.HasPrefix(got, "haul v0.0.0-dockerfile-test (commit 0123abc, built 2026-12-06T05:00:00Z,") {
		t.Errorf("with main.version, main.commit and main.date set, haul version reports %q", got)
	}

	// The final stage carries the OCI labels registries and scanners read.
	var labels string
	for _, in := range stages[len(stages)-1].all("LABEL") {
		labels += in.args + " "
	}
	for _, key := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !strings.Contains(labels, "org.opencontainers.image."+key+"=") {
			t.Errorf("the image lacks the label org.opencontainers.image.%s", key)
		}
	}
}

func TestDockerignoreKeepsDataOutOfTheContext(t *testing.T) {
	text, err := os.ReadFile(dockerignorePath)
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored[strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/")] = true
		}
	}
	for _, want := range []string{".git", "bin", "data"} {
		if !ignored[want] {
			t.Errorf(".dockerignore does not exclude %s/", want)
		}
	}
}

// copiesTo reports whether a COPY or ADD in the stage writes dest.
func copiesTo(s dockerStage, dest string) bool {
	for _, in := range append(s.all("COPY"), s.all("ADD")...) {
		words := in.words
		if len(words) >= 2 && path.Clean(words[len(words)-1]) == path.Clean(dest) {
			return true
		}
	}
	return false
}

// chownedTo reports whether a COPY in the stage writes dir, or a folder
// holding it, owned by uid.
func chownedTo(s dockerStage, dir string, uid int) bool {
	for _, in := range s.all("COPY") {
		words := in.words
		owner, _, _ := strings.Cut(in.flags["chown"], ":")
		if len(words) < 2 || owner != strconv.Itoa(uid) {
			continue
		}
		if dest := path.Clean(words[len(words)-1]); dest == path.Clean(dir) || strings.HasPrefix(path.Clean(dir), dest+"/") {
			return true
		}
	}
	return false
}
