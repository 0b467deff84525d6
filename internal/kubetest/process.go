package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// The kubelet keeps the last 4096 bytes of the termination message file
	// and, for FallbackToLogsOnError, the last 80 lines, at most 2048 bytes,
	// of the logs.
	maxTerminationMessage = 4 * 1024
	maxLogMessageBytes    = 2 * 1024
	maxLogMessageLines    = 80
	// outputTail is how much of the output of a process is kept.
	outputTail = 64 * 1024
	// loggedOutput is how much of it goes to Log when the process ends.
	loggedOutput = 4 * 1024
	// killWait is how long a killed process may hold its output open.
	killWait = 5 * time.Second
	// exitStartError is the exit code of a container that could not start.
	exitStartError = 128
)

// process is a container made ready to run locally.
type process struct {
	path           string
	args           []string // argv, argv[0] as written
	env            []string
	dir            string
	terminationLog string // host file at the container's terminationMessagePath
	fallbackToLogs bool
}

// prepare turns the Pod's container into a process: env, volumes, command.
func (run *jobRun) prepare(ctx context.Context, pod *corev1.Pod, dir string) (*process, error) {
	if n := len(pod.Spec.InitContainers); n > 0 {
		return nil, fmt.Errorf("kubetest.JobRunner runs pods without init containers; this one has %d", n)
	}
	if n := len(pod.Spec.Containers); n != 1 {
		return nil, fmt.Errorf("kubetest.JobRunner runs pods with one container; this one has %d", n)
	}
	c := &pod.Spec.Containers[0]
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command: kubetest.JobRunner cannot run an image's entrypoint", c.Name)
	}
	extra := envMap(run.Env)
	env, err := run.containerEnv(ctx, pod, c, extra)
	if err != nil {
		return nil, err
	}
	mounts, err := run.mounts(ctx, pod, c, env, extra, dir)
	if err != nil {
		return nil, err
	}
	p := &process{
		terminationLog: filepath.Join(dir, "termination-log"),
		fallbackToLogs: c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError,
	}
	messagePath := c.TerminationMessagePath
	if messagePath == "" {
		messagePath = corev1.TerminationMessagePathDefault
	}
	hostPath := func(s string) (string, bool) {
		if s == messagePath {
			return p.terminationLog, true
		}
		for _, m := range mounts {
			if s == m.path {
				return m.host, true
			}
			if rest, ok := strings.CutPrefix(s, m.path+"/"); ok {
				return filepath.Join(m.host, filepath.FromSlash(rest)), true
			}
		}
		return s, false
	}
	mapping := expansionMapping(env, extra)
	for _, s := range slices.Concat(c.Command, c.Args) {
		host, _ := hostPath(expandVars(s, mapping))
		p.args = append(p.args, host)
	}
	argv0 := expandVars(c.Command[0], mapping)
	p.args[0] = argv0
	switch exe, ok := run.Commands[argv0]; {
	case ok:
		p.path = exe
	default:
		host, mounted := hostPath(argv0)
		if !mounted {
			return nil, fmt.Errorf("command %q of container %q is not in kubetest.JobRunner.Commands", argv0, c.Name)
		}
		p.path = host
	}

	p.dir = filepath.Join(dir, "root")
	if c.WorkingDir != "" {
		host, mounted := hostPath(c.WorkingDir)
		if !mounted {
			host = filepath.Join(p.dir, filepath.FromSlash(c.WorkingDir))
		}
		p.dir = host
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create working directory: %w", err)
	}

	all := map[string]string{}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			all[k] = v
		}
	}
	for k, v := range extra {
		all[k] = v
	}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range all {
		p.env = append(p.env, k+"="+v)
	}
	sort.Strings(p.env)
	return p, nil
}

// containerExit is how a run of a process ended.
type containerExit struct {
	code                  int32
	reason, message       string
	startedAt, finishedAt metav1.Time
	output                []byte // tail of stdout and stderr
}

func (e containerExit) state() corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:   e.code,
		Reason:     e.reason,
		Message:    e.message,
		StartedAt:  e.startedAt,
		FinishedAt: e.finishedAt,
	}}
}

// run runs the process until it exits or ctx ends, which kills it and the
// processes it started.
func (p *process) run(ctx context.Context) containerExit {
	started := metav1.Now()
	if err := os.WriteFile(p.terminationLog, nil, 0o666); err != nil {
		return containerExit{code: exitStartError, reason: "StartError", message: err.Error(), startedAt: started, finishedAt: metav1.Now()}
	}
	out := &tailWriter{}
	cmd := exec.CommandContext(ctx, p.path)
	cmd.Args, cmd.Env, cmd.Dir = p.args, p.env, p.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killWait
	if err := cmd.Start(); err != nil {
		return containerExit{code: exitStartError, reason: "StartError", message: err.Error(), startedAt: started, finishedAt: metav1.Now()}
	}
	_ = cmd.Wait() // the exit status is in ProcessState
	exit := containerExit{code: exitCode(cmd.ProcessState), reason: "Completed", startedAt: started, finishedAt: metav1.Now(), output: out.bytes()}
	if exit.code != 0 {
		exit.reason = "Error"
	}
	message, err := readTail(p.terminationLog, maxTerminationMessage)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		exit.message = fmt.Sprintf("Error on reading termination log %s: %v", p.terminationLog, err)
	case message == "" && p.fallbackToLogs && exit.code != 0:
		exit.message = logMessage(exit.output)
	default:
		exit.message = message
	}
	return exit
}

// exitCode is the exit code a container runtime reports: 128 plus the
// signal for a process killed by one.
func exitCode(ps *os.ProcessState) int32 {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// readTail reads at most the last n bytes of a file.
func readTail(name string, n int64) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if size := fi.Size(); size > n {
		if _, err := f.Seek(size-n, io.SeekStart); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	return string(b), err
}

// logMessage is the kubelet's termination message from the logs: the last
// 80 lines, at most their last 2048 bytes.
func logMessage(out []byte) string {
	lines := 0
	for i := len(out) - 2; i >= 0; i-- {
		if out[i] == '\n' {
			if lines++; lines == maxLogMessageLines {
				out = out[i+1:]
				break
			}
		}
	}
	if len(out) > maxLogMessageBytes {
		out = out[len(out)-maxLogMessageBytes:]
	}
	return string(out)
}

// tailWriter keeps the last outputTail bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*outputTail {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-outputTail:]...)
	}
	return len(p), nil
}

func (w *tailWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > outputTail {
		return slices.Clone(w.buf[len(w.buf)-outputTail:])
	}
	return slices.Clone(w.buf)
}
