package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"vaxbook"
	"vaxbook/internal/procstatus"
)

// rssAnon is the process's anonymous resident memory in bytes (Linux).
func rssAnon(t *testing.T) int64 {
	t.Helper()
	b, err := procstatus.Bytes("self", "RssAnon")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no /proc/self/status: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadGivesMemoryBack: a Load's large page cache does not stay in the
// process's memory after it (the pages SQLite frees are returned to the
// system, not kept by the C library's allocator).
func TestLoadGivesMemoryBack(t *testing.T) {
	if !releaseCHeap() {
		t.Skip("the C library cannot return free heap pages (not glibc)")
	}
	path := filepath.Join(t.TempDir(), "load.db")
	db, err := Open(context.Background(), path, Options{Logger: quiet, CacheKiB: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := benchCountry(100, 1000, false, 10, 500_000)
	debug.FreeOSMemory()
	before := rssAnon(t)
	if err := db.Load(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	d = vaxbook.Dataset{} // the dataset's Go memory is not the point
	debug.FreeOSMemory()
	grew := rssAnon(t) - before
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("database %d MB; anonymous RSS grew %d MB over the Load", st.Size()>>20, grew>>20)
	if st.Size() < 48<<20 {
		t.Fatalf("the database is %d MB: too small for the Load's cache to show", st.Size()>>20)
	}
	if grew > st.Size()/2 {
		t.Fatalf("anonymous RSS grew %d MB over a Load of a %d MB database: its page cache stayed", grew>>20, st.Size()>>20)
	}
}
