//go:build !(linux && cgo)

package sqlite

// releaseCHeap is a no-op where glibc's malloc_trim is not available.
func releaseCHeap() bool { return false }
