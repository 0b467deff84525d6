package main

import (
	"context"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/cmd/haul/app"
	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/jobs/ingest"
)

// composePath is the stack docs/compose.md describes, relative to this package.
const composePath = "../../docker-compose.yml"

// The services docs/compose.md names, and the haul subcommand each runs.
var composeHaulServices = map[string]string{
	"migrate":  "migrate",
	"api":      "serve",
	"listener": "listen",
	"ingest":   "ingest",
}

const composePostgres = "postgres"

// loadCompose loads docker-compose.yml as `docker compose` would with the
// given profiles ("*" for all), in an empty environment.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs(composePath)
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(context.Background(), details, loader.WithProfiles(profiles))
	if err != nil {
		t.Fatalf("load %s with profiles %q: %v", composePath, profiles, err)
	}
	return p
}

// composeService is a haul service of the compose file with its command
// resolved on the haul command tree.
type composeService struct {
	types.ServiceConfig
	cmd *cobra.Command
}

func (s composeService) flag(name string) string {
	f := s.cmd.Flags().Lookup(name)
	if f == nil {
		return ""
	}
	return f.Value.String()
}

// haulServices loads the compose file with every profile and resolves each
// haul service's command; a command haul would reject fails the test.
func haulServices(t *testing.T) (*types.Project, map[string]composeService) {
	t.Helper()
	p := loadCompose(t, "*")
	out := map[string]composeService{}
	for name, svc := range p.AllServices() {
		if svc.Build == nil {
			continue
		}
		cmd, err := app.ParseArgs(svc.Command)
		if err != nil {
			t.Fatalf("service %s: command %q: %v", name, []string(svc.Command), err)
		}
		out[name] = composeService{ServiceConfig: svc, cmd: cmd}
	}
	return p, out
}

func TestComposeServicesRunRealHaulCommands(t *testing.T) {
	p, haul := haulServices(t)
	root := p.WorkingDir
	for name, svc := range p.AllServices() {
		if name == composePostgres {
			continue
		}
		want, ok := composeHaulServices[name]
		if !ok {
			t.Errorf("service %s: not one docs/compose.md knows", name)
			continue
		}
		h, ok := haul[name]
		if !ok {
			t.Errorf("service %s: no build; every haul service builds the image from ./Dockerfile", name)
			continue
		}
		if got := h.cmd.Name(); got != want {
			t.Errorf("service %s runs haul %s, want haul %s", name, got, want)
		}
		if len(svc.Entrypoint) > 0 {
			t.Errorf("service %s overrides the entrypoint %q; the image's is haul", name, []string(svc.Entrypoint))
		}
		if svc.Image != "haul:dev" || svc.Build.Context != root || svc.Build.Dockerfile != "Dockerfile" {
			t.Errorf("service %s: image %q built from %s/%s, want haul:dev from %s/Dockerfile (one image for all)",
				name, svc.Image, svc.Build.Context, svc.Build.Dockerfile, root)
		}
		// The image has no shell and no probe tool: a healthcheck can only
		// run haul itself.
		if hc := svc.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 {
			if len(hc.Test) < 2 || hc.Test[0] != "CMD" || path.Base(hc.Test[1]) != "haul" {
				t.Errorf("service %s: healthcheck %q needs a shell or tool the distroless image lacks", name, []string(hc.Test))
			} else if _, err := app.ParseArgs(hc.Test[2:]); err != nil {
				t.Errorf("service %s: healthcheck: %v", name, err)
			}
		}
	}
	for name := range composeHaulServices {
		if _, ok := p.AllServices()[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
}

// The API and the listener are checked on their /readyz, on the port their
// command serves it.
func TestComposeHealthchecks(t *testing.T) {
	_, haul := haulServices(t)
	for name, flag := range map[string]string{"api": "addr", "listener": "metrics-addr"} {
		svc := haul[name]
		hc := svc.HealthCheck
		if hc == nil || len(hc.Test) != 4 || hc.Test[2] != "healthcheck" {
			t.Errorf("service %s: healthcheck %v, want haul healthcheck URL", name, hc)
			continue
		}
		_, port, err := net.SplitHostPort(svc.flag(flag))
		if want := "http://localhost:" + port + "/readyz"; err != nil || hc.Test[3] != want {
			t.Errorf("service %s: healthcheck of %s, want %s (--%s %s)", name, hc.Test[3], want, flag, svc.flag(flag))
		}
	}
}

func TestComposeUpStartsTheStackWithoutIngest(t *testing.T) {
	p := loadCompose(t) // plain `docker compose up`
	if got, want := p.ServiceNames(), []string{"api", "listener", "migrate", composePostgres}; !slices.Equal(got, want) {
		t.Errorf("docker compose up starts %v, want %v", got, want)
	}
	if got := p.DisabledServiceNames(); !slices.Equal(got, []string{"ingest"}) {
		t.Errorf("services behind a profile: %v, want [ingest]", got)
	}
	withIngest := loadCompose(t, "ingest")
	if _, err := withIngest.GetService("ingest"); err != nil {
		t.Errorf("--profile ingest: %v", err)
	}
}

func TestComposeDependencies(t *testing.T) {
	p, haul := haulServices(t)
	all := p.AllServices()
	for name, svc := range all {
		for target, dep := range svc.DependsOn {
			to, ok := all[target]
			if !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, target)
				continue
			}
			switch dep.Condition {
			case types.ServiceConditionHealthy:
				if to.HealthCheck == nil || to.HealthCheck.Disable || len(to.HealthCheck.Test) == 0 {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, target, target)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if to.Restart == types.RestartPolicyAlways || to.Restart == types.RestartPolicyUnlessStopped {
					t.Errorf("service %s waits for %s to complete, but %s restarts (%s)", name, target, target, to.Restart)
				}
			case types.ServiceConditionStarted:
			default:
				t.Errorf("service %s depends on %s with condition %q", name, target, dep.Condition)
			}
		}
	}

	pg, ok := all[composePostgres]
	if !ok {
		t.Fatal("no postgres service")
	}
	if hc := pg.HealthCheck; hc == nil || hc.Disable || !strings.Contains(strings.Join(hc.Test, " "), "pg_isready") {
		t.Error("postgres has no pg_isready healthcheck")
	}
	for name, svc := range haul {
		if svc.cmd.Flags().Lookup(db.FlagDatabaseURL) == nil {
			continue
		}
		wantTarget, wantCond := "migrate", types.ServiceConditionCompletedSuccessfully
		if svc.cmd.Name() == "migrate" {
			wantTarget, wantCond = composePostgres, types.ServiceConditionHealthy
		}
		if got := svc.DependsOn[wantTarget].Condition; got != wantCond {
			t.Errorf("service %s (haul %s): depends on %s with condition %q, want %q",
				name, svc.cmd.Name(), wantTarget, got, wantCond)
		}
	}
}

func TestComposeDatabaseURLPointsAtPostgres(t *testing.T) {
	p, haul := haulServices(t)
	pg, err := p.GetService(composePostgres)
	if err != nil {
		t.Fatal(err)
	}
	env := func(name string) string {
		if v := pg.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	user, password, database := env("POSTGRES_USER"), env("POSTGRES_PASSWORD"), env("POSTGRES_DB")
	if user == "" || password == "" || database == "" {
		t.Fatalf("postgres: POSTGRES_USER %q, POSTGRES_PASSWORD %q, POSTGRES_DB %q; want all three set", user, password, database)
	}
	if !slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data"
	}) {
		t.Error("postgres keeps its data in no named volume")
	}

	for name, svc := range haul {
		if svc.cmd.Flags().Lookup(db.FlagDatabaseURL) == nil {
			continue
		}
		url := svc.flag(db.FlagDatabaseURL)
		if url == "" && svc.Environment[db.EnvDatabaseURL] != nil {
			url = *svc.Environment[db.EnvDatabaseURL]
		}
		if url == "" {
			t.Errorf("service %s: neither --%s nor $%s is set", name, db.FlagDatabaseURL, db.EnvDatabaseURL)
			continue
		}
		cfg, err := pgconn.ParseConfig(url)
		if err != nil {
			t.Errorf("service %s: %s: %v", name, db.EnvDatabaseURL, err)
			continue
		}
		if cfg.Host != composePostgres || cfg.Port != 5432 || cfg.User != user || cfg.Database != database {
			t.Errorf("service %s: database URL names %s@%s:%d/%s, want %s@%s:5432/%s",
				name, cfg.User, cfg.Host, cfg.Port, cfg.Database, user, composePostgres, database)
		}
		if cfg.Password != password {
			t.Errorf("service %s: the database URL's password is not postgres's POSTGRES_PASSWORD", name)
		}
	}
}

func TestComposeAPIPublishes8000(t *testing.T) {
	_, haul := haulServices(t)
	api := haul["api"]
	_, port, err := net.SplitHostPort(api.flag("addr"))
	if err != nil {
		t.Fatalf("api: --addr %q: %v", api.flag("addr"), err)
	}
	target, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		t.Fatalf("api: --addr port %q: %v", port, err)
	}
	if !slices.ContainsFunc(api.Ports, func(pc types.ServicePortConfig) bool {
		return pc.Target == uint32(target) && pc.Published == "8000"
	}) {
		t.Errorf("api listens on %d but publishes %+v, want 8000:%d", target, api.Ports, target)
	}

	// Someone must refresh the aggregates, or the API serves no new data.
	if refresh, _ := api.cmd.Flags().GetBool("refresh"); !refresh {
		enabled := loadCompose(t)
		if !slices.ContainsFunc(enabled.ServiceNames(), func(name string) bool {
			return haul[name].cmd != nil && haul[name].cmd.Name() == "listen"
		}) {
			t.Error("api runs with --refresh=false and docker compose up starts no haul listen")
		}
	}
}

func TestComposeIngestLoadsDataReadOnly(t *testing.T) {
	p, haul := haulServices(t)
	svc := haul["ingest"]
	if len(svc.Profiles) == 0 {
		t.Error("ingest is under no profile: docker compose up would load data")
	}

	dataDir := filepath.Join(p.WorkingDir, "data")
	var in string
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == dataDir {
			if !v.ReadOnly {
				t.Errorf("ingest mounts %s at %s read-write, want read-only", v.Source, v.Target)
			}
			in = v.Target
		}
	}
	if in == "" {
		t.Fatalf("ingest does not mount ./data: %+v", svc.Volumes)
	}
	// The files `haul gen --out data` writes, in the folder mounted.
	for _, ds := range ingest.LoadOrder {
		flag := strings.ReplaceAll(string(ds), "_", "-")
		files, err := svc.cmd.Flags().GetStringArray(flag)
		if err != nil {
			t.Fatal(err)
		}
		want := path.Join(in, datagen.Config{}.FileName(ds))
		if !slices.Equal(files, []string{want}) {
			t.Errorf("ingest --%s %q, want %q", flag, files, want)
		}
	}
	if got := svc.flag("progress"); got != "log" {
		t.Errorf("ingest --progress %s, want log (a bar makes noise in compose logs)", got)
	}

	// Rejects go to a named volume that the image's user can write: the
	// Dockerfile creates the folder owned by that user, and a new volume
	// takes its ownership.
	rejects := svc.flag("rejects-dir")
	if !slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
		_, declared := p.Volumes[v.Source]
		return v.Type == types.VolumeTypeVolume && declared && path.Clean(v.Target) == path.Clean(rejects)
	}) {
		t.Errorf("ingest --rejects-dir %s is not a named volume's mount point: %+v", rejects, svc.Volumes)
	}
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	if uid := imageUser(t, final); !chownedTo(final, rejects, uid) {
		t.Errorf("the Dockerfile does not create %s owned by uid %d: ingest could not write its rejects there", rejects, uid)
	}
}
