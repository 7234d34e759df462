// The node's sandbox ("pause") container: holds a Pod's namespaces, reaps orphans as PID 1 and exits on SIGTERM or
// SIGINT. Kubernetes' own pause is C; this stands in for it so the sandbox image is built here like everything else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
