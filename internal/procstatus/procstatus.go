// Package procstatus reads the memory figures of a process from Linux's
// /proc/PID/status (VmRSS, VmHWM, RssAnon, …).
package procstatus

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Bytes returns the field (e.g. "VmHWM") of /proc/PID/status in bytes;
// pid "self" is this process.
func Bytes(pid, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("procstatus: %w", err)
	}
	return parse(string(b), field)
}

// parse finds "field:   N kB" in the text of a status file.
func parse(status, field string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procstatus: %s: %w", field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("procstatus: no %s in the status file", field)
}
