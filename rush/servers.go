package rush

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The rush's cluster target runs on a throwaway PostgreSQL and Redis started
// from the binaries installed on the machine (Debian packages postgresql and
// redis-server), in a temporary directory, on free loopback ports — the same
// way internal/testdb does for tests, but as a library the command can use.

// Postgres is a PostgreSQL server this process started.
type Postgres struct {
	// URL connects to the "postgres" database as the superuser.
	URL  string
	dir  string
	data string
	bin  string // pg_ctl
	cred *syscall.Credential
}

// PostgresSettings are the server settings the rush uses: durability kept
// (fsync, synchronous_commit), the rest as docs/postgres.md recommends for
// a booking rush, scaled to a small machine.
var PostgresSettings = map[string]string{
	"listen_addresses":             "127.0.0.1",
	"max_connections":              "400",
	"shared_buffers":               "512MB",
	"wal_buffers":                  "64MB",
	"max_wal_size":                 "8GB",
	"checkpoint_timeout":           "30min",
	"checkpoint_completion_target": "0.9",
	"random_page_cost":             "1.1",
	"fsync":                        "on",
	"synchronous_commit":           "on",
	"log_min_messages":             "warning",
}

// StartPostgres initialises a cluster in a new directory under dir (the
// system temp dir if empty) and starts it on a free port. Run as root, the
// server runs as the postgres user, and dir is then ignored for the system
// temp dir (the postgres user must be able to reach its directory).
func StartPostgres(ctx context.Context, dir string) (*Postgres, error) {
	initdb, err := pgBinary("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := pgBinary("pg_ctl")
	if err != nil {
		return nil, err
	}
	cred, err := pgUser()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		dir = ""
	}
	root, err := os.MkdirTemp(dir, "vaxbook-rush-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	p := &Postgres{dir: root, data: filepath.Join(root, "data"), bin: pgctl, cred: cred}
	if err := p.run(ctx, initdb, "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	keys := make([]string, 0, len(PostgresSettings))
	for k := range PostgresSettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		opts := []string{fmt.Sprintf("-p %d -k %s", port, p.data)}
		for _, k := range keys {
			opts = append(opts, fmt.Sprintf("-c %s=%s", k, PostgresSettings[k]))
		}
		err = p.run(ctx, pgctl, "-D", p.data, "-l", filepath.Join(root, "log"), "-o", strings.Join(opts, " "), "-w", "-t", "60", "start")
		if err != nil {
			lastErr = err
			continue
		}
		p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		return p, nil
	}
	os.RemoveAll(root)
	return nil, lastErr
}

// CreateDatabase creates an empty database and returns its URL.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	psql, err := pgBinary("psql")
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", p.URL, "-c", "CREATE DATABASE "+name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("create database %s: %w: %s", name, err, out)
	}
	return strings.Replace(p.URL, "/postgres?", "/"+name+"?", 1), nil
}

// Stop stops the server and removes its directory.
func (p *Postgres) Stop() error {
	err := p.run(context.Background(), p.bin, "-D", p.data, "-m", "immediate", "-w", "-t", "30", "stop")
	return errors.Join(err, os.RemoveAll(p.dir))
}

func (p *Postgres) run(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// Redis is a redis-server this process started.
type Redis struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts redis-server (no persistence: the waiting room's state
// lives as long as the rush) on a free loopback port.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install the Debian package redis-server): %w", err)
	}
	root, err := os.MkdirTemp(dir, "vaxbook-rush-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", root,
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
			"--loglevel", "warning", "--maxclients", "10000", "--tcp-backlog", "4096")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		if err := waitTCP(ctx, addr, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			lastErr = err
			continue
		}
		return &Redis{Addr: addr, dir: root, cmd: cmd}, nil
	}
	os.RemoveAll(root)
	return nil, lastErr
}

// PID is the server's process id.
func (r *Redis) PID() int { return r.cmd.Process.Pid }

// Stop kills the server and removes its directory.
func (r *Redis) Stop() error {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	return os.RemoveAll(r.dir)
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

// pgUser is who runs PostgreSQL: initdb refuses root, so under root the
// server runs as the postgres (or nobody) system user.
func pgUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := osuser.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts a connection or the deadline passes.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
		t.Stop()
	}
}
