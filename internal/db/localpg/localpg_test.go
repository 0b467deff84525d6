package localpg_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db/localpg"
)

func TestStartServesAndStopRemoves(t *testing.T) {
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{"work_mem": "7MB"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var fsync, workMem string
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('work_mem')").Scan(&fsync, &workMem); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if fsync != "off" || workMem != "7MB" {
		t.Errorf("fsync=%s work_mem=%s; want off and the extra setting 7MB", fsync, workMem)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Exited():
	default:
		t.Error("server still running after Stop")
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("cluster folder %s still there after Stop (stat: %v)", c.Dir, err)
	}
}

// envChild makes the test binary act as a process that starts a cluster and
// then hangs, so the test can kill it the hard way.
const envChild = "LOCALPG_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		c, err := localpg.Start(context.Background(), localpg.Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		pid, _ := os.ReadFile(c.Dir + "/data/postmaster.pid")
		fmt.Println("started", c.Dir, strings.SplitN(string(pid), "\n", 2)[0])
		select {}
	}
	os.Exit(m.Run())
}

// A process killed with SIGKILL runs no cleanup: its server must still go
// away (parent-death signal) and the next Start must remove its folder.
func TestKilledOwnerLeavesNothingBehind(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child said nothing: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "started" {
		t.Fatalf("child: %s", line)
	}
	dir := fields[1]
	serverPID, err := strconv.Atoi(fields[2])
	if err != nil {
		t.Fatalf("server pid in %q: %v", line, err)
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(serverPID, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(serverPID, syscall.SIGKILL)
			t.Fatalf("server %d still running 15 s after its owner was killed", serverPID)
		}
		time.Sleep(50 * time.Millisecond)
	}

	c, err := localpg.Start(context.Background(), localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stale cluster folder %s survived the next Start (stat: %v)", dir, err)
	}
}

func TestFindBinDirHonoursEnv(t *testing.T) {
	t.Setenv(localpg.EnvBinDir, t.TempDir())
	if _, err := localpg.FindBinDir(); err == nil {
		t.Fatal("FindBinDir accepted a folder without initdb and postgres")
	}
}

func TestRestartKeepsDataAndPort(t *testing.T) {
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	port := c.Port
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Error("a connection survived the restart")
	}
	conn, err = pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 || c.Port != port {
		t.Errorf("after restart: x=%d (%v), port %d (was %d)", x, err, c.Port, port)
	}
}
