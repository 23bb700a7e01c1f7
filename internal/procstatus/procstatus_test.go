package procstatus

import (
	"runtime"
	"testing"
)

func TestParse(t *testing.T) {
	const status = "Name:\tvaxbook\nVmHWM:\t  1652140 kB\nVmRSS:\t  1153776 kB\nRssAnon:\t 1100000 kB\nThreads:\t14\n"
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"VmHWM", 1652140 << 10, true},
		{"VmRSS", 1153776 << 10, true},
		{"RssAnon", 1100000 << 10, true},
		{"Vm", 0, false},     // a prefix of a field is not the field
		{"Name", 0, false},   // not a number of kB
		{"VmSwap", 0, false}, // absent
	} {
		got, err := parse(status, tc.field)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parse(%s) = %d, %v; want %d (ok %v)", tc.field, got, err, tc.want, tc.ok)
		}
	}
}

func TestSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/status is Linux's")
	}
	rss, err := Bytes("self", "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("Bytes(self, VmRSS) = %d, %v", rss, err)
	}
}
