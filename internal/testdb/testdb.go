// Package testdb starts throwaway PostgreSQL and Redis servers for tests
// from the binaries installed on the machine (no Docker): initdb/pg_ctl in a
// temporary directory on a free port, redis-server likewise.
//
// One server of each kind is started per test binary, on first use, and
// stopped by Main (call it from TestMain). Each PostgreSQL caller gets a
// fresh database; each Redis caller gets its own logical database number.
//
// When a binary is missing the test is skipped, except with CI=true, where
// it fails: CI must never pass by skipping the real thing.
// VAXBOOK_TEST_PG (a PostgreSQL URL) and VAXBOOK_TEST_REDIS (host:port) use
// existing servers instead.
package testdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Main runs the tests and stops any server this package started.
// Use it as: func TestMain(m *testing.M) { testdb.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

var (
	mu     sync.Mutex
	stops  []func()
	pgOnce sync.Once
	pgURL  string
	pgErr  error
	rdOnce sync.Once
	rdAddr string
	rdErr  error
	dbSeq  atomic.Int64
	rdbSeq atomic.Int64
)

// StopAll stops every server started by this process.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	stops = nil
}

func onStop(f func()) {
	mu.Lock()
	stops = append(stops, f)
	mu.Unlock()
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this a failure): %v", what, err)
}

// PostgresServer returns the URL of the per-process PostgreSQL server
// (database "postgres"), starting it if needed.
func PostgresServer(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		if u := os.Getenv("VAXBOOK_TEST_PG"); u != "" {
			pgURL = u
			return
		}
		pgURL, pgErr = startPostgres()
	})
	if pgErr != nil {
		unavailable(t, "PostgreSQL", pgErr)
	}
	return pgURL
}

// Postgres creates a fresh, empty database on the per-process server and
// returns its URL. The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresServer(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := psql(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { _ = psql(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return withDatabase(base, name)
}

// Redis returns the address of the per-process Redis server and a logical
// database number (0–15) not handed to any other caller of this process
// (wrapping after 16: tests that need isolation should flush their db).
func Redis(t testing.TB) (addr string, db int) {
	t.Helper()
	rdOnce.Do(func() {
		if a := os.Getenv("VAXBOOK_TEST_REDIS"); a != "" {
			rdAddr = a
			return
		}
		rdAddr, rdErr = startRedis()
	})
	if rdErr != nil {
		unavailable(t, "Redis", rdErr)
	}
	return rdAddr, int(rdbSeq.Add(1)-1) % 16
}

// StartRedis starts a separate Redis server (for tests that kill it) and
// returns its address and a stop function that is also run by StopAll.
func StartRedis(t testing.TB) (addr string, stop func()) {
	t.Helper()
	a, err := startRedis()
	if err != nil {
		unavailable(t, "Redis", err)
	}
	return a, func() { stopRedis(a) }
}

func withDatabase(url, name string) string {
	// url is postgres://user@host:port/db?params
	q := ""
	if i := strings.IndexByte(url, '?'); i >= 0 {
		url, q = url[:i], url[i:]
	}
	i := strings.LastIndexByte(url, '/')
	if i < len("postgres://") {
		return url + "/" + name + q
	}
	return url[:i+1] + name + q
}

func psql(url, sql string) error {
	bin, err := pgBinary("psql")
	if err != nil {
		return err
	}
	out, err := exec.Command(bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql).CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql %q: %w: %s", sql, err, out)
	}
	return nil
}

// pgBinary finds a PostgreSQL program on PATH or under /usr/lib/postgresql.
func pgBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin (install the Debian package postgresql)", name)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pgUser returns the credentials to run PostgreSQL with: initdb refuses to
// run as root, so under root the server runs as the "postgres" (or "nobody")
// system user.
func pgUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists")
}

func startPostgres() (string, error) {
	initdb, err := pgBinary("initdb")
	if err != nil {
		return "", err
	}
	pgctl, err := pgBinary("pg_ctl")
	if err != nil {
		return "", err
	}
	cred, err := pgUser()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "vaxbook-pg-")
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	run := func(bin string, args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=300 -c shared_buffers=128MB -c fsync=on -c synchronous_commit=on -c log_min_messages=warning", port, data)
		err = run(pgctl, "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start")
		if err != nil {
			lastErr = err
			continue
		}
		onStop(func() {
			_ = run(pgctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop")
			os.RemoveAll(dir)
		})
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
	}
	os.RemoveAll(dir)
	return "", lastErr
}

var redisProcs sync.Map // addr → *exec.Cmd

func startRedis() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH (install the Debian package redis-server): %w", err)
	}
	dir, err := os.MkdirTemp("", "vaxbook-redis-")
	if err != nil {
		return "", err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", err
		}
		if err := waitTCP(addr, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			lastErr = err
			continue
		}
		redisProcs.Store(addr, cmd)
		onStop(func() { stopRedis(addr); os.RemoveAll(dir) })
		return addr, nil
	}
	return "", lastErr
}

func stopRedis(addr string) {
	v, ok := redisProcs.LoadAndDelete(addr)
	if !ok {
		return
	}
	cmd := v.(*exec.Cmd)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// waitTCP waits until addr accepts a connection (a condition with a deadline, not a sleep).
func waitTCP(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not accept connections within %s: %w", addr, timeout, err)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
