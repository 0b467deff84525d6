// Command pause is the process that holds a pod's namespaces on the node
// hack/cluster.sh brings up: containerd starts it as every pod's sandbox
// (its sandbox_image), and nothing can be pulled on our machines. It does
// what Kubernetes' own pause does: wait for a signal and reap orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		// As PID 1 of a shared PID namespace, pause inherits orphans.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
