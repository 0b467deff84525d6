// Package localpg starts a throwaway PostgreSQL server from the binaries
// installed on this machine: the test harness and `haul demo` use it.
//
// The server lives in a temporary folder, listens on 127.0.0.1 and a unix
// socket, trusts local connections, and runs without fsync: it is built to be
// fast and disposable, never to hold data worth keeping.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role initdb creates; local connections need no password.
const Superuser = "postgres"

// EnvBinDir overrides where the PostgreSQL server binaries are looked for.
const EnvBinDir = "HAUL_PG_BINDIR"

// dirPrefix names the temporary folders; a later Start sweeps away the ones
// whose owning process died without cleaning up.
const dirPrefix = "haul-pg-"

// ownerFile holds the pid of the process that started a cluster.
const ownerFile = "owner.pid"

// Options tune Start. The zero value is ready to use.
type Options struct {
	// BinDir holds initdb and postgres; empty means FindBinDir.
	BinDir string
	// RunAs is the operating-system user the server runs as when the caller
	// is root (PostgreSQL refuses to run as root). Empty means "postgres".
	RunAs string
	// Settings are extra server settings (-c name=value).
	Settings map[string]string
}

// Cluster is a running throwaway server.
type Cluster struct {
	// Dir holds the data directory, the socket and the server log.
	Dir string
	// Port is the TCP port on 127.0.0.1 (and the socket's number).
	Port int

	exited   chan struct{}
	cmd      *exec.Cmd
	err      error // how the server exited; read after exited is closed
	binDir   string
	cred     *syscall.Credential
	settings map[string]string
}

// defaultSettings make the server fast and disposable.
var defaultSettings = map[string]string{
	"fsync":                      "off",
	"synchronous_commit":         "off",
	"full_page_writes":           "off",
	"max_connections":            "200",
	"shared_buffers":             "128MB",
	"max_wal_size":               "2GB",
	"log_min_messages":           "warning",
	"listen_addresses":           "127.0.0.1",
	"dynamic_shared_memory_type": "posix",
}

// Start initialises a new cluster in a temporary folder and starts its
// server. It returns once the server accepts connections. Stop removes
// everything again; if the calling process dies first, the server gets
// SIGQUIT from the kernel and the next Start removes the folder.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	sweepStale(os.TempDir())

	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	cred, err := credential(opts.RunAs)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", dirPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create cluster folder: %w", err)
	}
	c := &Cluster{Dir: dir, exited: make(chan struct{}), binDir: binDir, cred: cred, settings: opts.Settings}
	if err := c.init(ctx, binDir, cred); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	// A port found free can be taken before the server binds it; try again.
	for attempt := 1; ; attempt++ {
		err = c.start(ctx, 0)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || ctx.Err() != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (c *Cluster) init(ctx context.Context, binDir string, cred *syscall.Credential) error {
	if err := os.WriteFile(filepath.Join(c.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("write owner file: %w", err)
	}
	if cred != nil {
		if err := os.Chown(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("hand cluster folder to uid %d: %w", cred.Uid, err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"--pgdata", c.dataDir(), "--username", Superuser, "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s: %w: %s", c.dataDir(), err, bytes.TrimSpace(out))
	}
	return nil
}

// start runs the server on port, or on a free one when port is 0.
func (c *Cluster) start(ctx context.Context, port int) error {
	binDir, cred, extra := c.binDir, c.cred, c.settings
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	settings := map[string]string{}
	for k, v := range defaultSettings {
		settings[k] = v
	}
	for k, v := range extra {
		settings[k] = v
	}
	settings["port"] = strconv.Itoa(port)
	settings["unix_socket_directories"] = c.Dir
	args := []string{"-D", c.dataDir()}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}

	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	c.cmd = exec.Command(filepath.Join(binDir, "postgres"), args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.Env = append(os.Environ(), "LC_ALL=C")
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// If this process dies without Stop, the kernel tells the server to
		// shut down at once (SIGQUIT is PostgreSQL's immediate shutdown).
		Pdeathsig: syscall.SIGQUIT,
		Setpgid:   true,
	}
	c.exited = make(chan struct{})
	started := make(chan error, 1)
	// Pdeathsig fires when the starting *thread* exits, so the thread that
	// starts the server is locked and kept alive, waiting, until it exits.
	go func() {
		runtime.LockOSThread()
		err := c.cmd.Start()
		started <- err
		if err == nil {
			c.err = c.cmd.Wait()
		}
		logFile.Close()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.Port = port
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return err
	}
	return nil
}

// waitReady polls until the server accepts a connection or exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		connCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(connCtx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			exit := c.err
			if exit == nil {
				exit = errors.New("exit status 0")
			}
			return fmt.Errorf("postgres exited during start-up: %w; its log:\n%s", exit, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute (last error: %w); its log:\n%s", err, c.logTail())
		}
	}
}

// URL is a connection URL for database dbname as the superuser over TCP.
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.Port, dbname)
}

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.Dir, "postgres.log") }

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// Exited is closed when the server process has ended.
func (c *Cluster) Exited() <-chan struct{} { return c.exited }

// Restart stops the server (fast shutdown) and starts it again on the same
// port with the same data, as a crash-and-recovery test needs.
func (c *Cluster) Restart(ctx context.Context) error {
	c.shutdown()
	return c.start(ctx, c.Port)
}

// shutdown stops the server: fast shutdown, then immediate after 10 s.
func (c *Cluster) shutdown() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.kill()
		}
	}
}

// Stop shuts the server down (fast shutdown, then immediate after 10 s) and
// deletes the cluster folder. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.shutdown()
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove cluster folder: %w", err)
	}
	return nil
}

// StopAndKeep shuts the server down and moves the cluster folder to dest,
// out of reach of the sweep, so its data outlives the process: it can be
// started again with pg_ctl on dest/data (as the user it ran as).
func (c *Cluster) StopAndKeep(dest string) error {
	c.shutdown()
	if err := os.Remove(filepath.Join(c.Dir, ownerFile)); err != nil {
		return fmt.Errorf("keep cluster folder: %w", err)
	}
	if err := os.Rename(c.Dir, dest); err != nil {
		return fmt.Errorf("keep cluster folder: %w", err)
	}
	c.Dir = dest
	return nil
}

func (c *Cluster) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// FindBinDir locates the PostgreSQL server binaries: $HAUL_PG_BINDIR, then
// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin (Debian's
// layout), then the folder of a postgres on PATH.
func FindBinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s has no initdb and postgres", EnvBinDir, dir)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(resolved)) {
			return filepath.Dir(resolved), nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (initdb, postgres): install them (hack/setup.sh does, from Debian packages) or set " + EnvBinDir)
}

// versionOf reads the major version from /usr/lib/postgresql/<major>/bin.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// credential returns the user to run the server as: nil (the caller) unless
// the caller is root.
func credential(runAs string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if runAs == "" {
		runAs = "postgres"
	}
	u, err := user.Lookup(runAs)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and user %q to run it as is missing (installing Debian's postgresql package creates it): %w", runAs, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %q: %w", runAs, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %q: %w", runAs, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sweepStale removes the clusters of processes that died without Stop. Their
// servers got SIGQUIT from the kernel already; a leftover one is stopped.
func sweepStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || alive(owner) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGQUIT)
				continue // removed by a later sweep, once it is gone
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
