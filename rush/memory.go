package rush

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"unsafe"
)

// Memory of the process during a rush. With an in-process target the
// server and the simulator share the process: the peak is reset when the
// simulation starts (so seeding the demo country does not count), sampled
// every second with the Go heap beside it (what is not Go heap is SQLite's
// page caches and the runtime), and the simulator's own share is counted
// from its data structures.

// resetPeakRSS resets the kernel's peak resident set (VmHWM) of this
// process (Linux: writing 5 to clear_refs); it reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// currentRSS is this process's resident set in bytes (statm).
func currentRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}

// goMemory returns the bytes in live heap objects and everything the Go
// runtime holds from the OS.
func goMemory() (heap, total int64) {
	s := make([]metrics.Sample, len(heapSample))
	copy(s, heapSample)
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
}

// simulatorBytes counts the simulator's own memory: the devices, the timer
// heaps, the ticket observations and the live sessions with their cookies.
// Call it when no worker runs.
func (s *sim) simulatorBytes() (fixed, sessions int64, live int) {
	fixed = int64(cap(s.users)) * int64(unsafe.Sizeof(user{}))
	for _, l := range s.lanes {
		if l != nil {
			fixed += int64(cap(l.h)) * int64(unsafe.Sizeof(entry{}))
		}
	}
	for _, c := range s.obs.chunks {
		if c != nil {
			fixed += int64(unsafe.Sizeof(*c))
		}
	}
	for i := range s.users {
		if ss := s.users[i].sess; ss != nil {
			live++
			sessions += ss.bytes()
		}
	}
	return fixed, sessions, live
}

// bytes is the memory a session holds, with its cookies.
func (ss *session) bytes() int64 {
	n := int64(unsafe.Sizeof(*ss)) + int64(len(ss.csrf)+len(ss.pass)+len(ss.idem)+len(ss.wrote)) + int64(cap(ss.cands))*8
	n += int64(cap(ss.jar.names)+cap(ss.jar.values)) * 16
	for _, v := range ss.jar.values {
		n += int64(len(v))
	}
	return n
}

// writeHeapProfile writes the heap profile to path; gc first runs a
// collection so that it shows the live heap of this moment rather than of
// the last cycle.
func writeHeapProfile(path string, gc bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if gc {
		runtime.GC()
	}
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// heapPeak keeps a heap profile of the highest live heap seen: observe
// writes one whenever the heap has grown a tenth past the last one written
// (and is at least min), so the file ends up describing the peak within
// 10 %, at a handful of writes for a run that grows to gigabytes.
type heapPeak struct {
	path  string
	min   int64
	last  int64
	write func(path string) error
}

func newHeapPeak(path string) *heapPeak {
	return &heapPeak{path: path, min: 64 << 20, write: func(p string) error { return writeHeapProfile(p, false) }}
}

// observe takes the heap's size in bytes (goMemory's objects: live and
// not yet swept, so up to about twice what the profile, as of the last
// collection, shows) and reports whether it wrote a profile.
func (h *heapPeak) observe(heap int64) (bool, error) {
	if h == nil || heap < h.min || heap < h.last+h.last/10 {
		return false, nil
	}
	if err := h.write(h.path); err != nil {
		return false, fmt.Errorf("rush: heap profile at the peak: %w", err)
	}
	h.last = heap
	return true, nil
}
