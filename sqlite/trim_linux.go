//go:build linux && cgo

package sqlite

/*
#include <stddef.h>

// glibc's malloc_trim; weak, so that a C library without it (musl) links
// and the call is skipped.
extern int malloc_trim(size_t pad) __attribute__((weak));

static int vaxbook_trim(void) {
	if (malloc_trim) {
		return malloc_trim(0);
	}
	return -1;
}
*/
import "C"

// releaseCHeap gives the C heap's free pages back to the operating system
// and reports whether the C library could. SQLite's page cache is
// malloc'd page by page; when a Load's 1 GiB cache shrinks back, glibc
// keeps the freed pages in its arenas, so a node that seeded 11.5 M people
// carried ~1 GiB of free C heap in its RSS for the rest of its life.
func releaseCHeap() bool { return C.vaxbook_trim() >= 0 }
