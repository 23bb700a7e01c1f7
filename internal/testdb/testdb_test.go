package testdb

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestPostgres(t *testing.T) {
	url := Postgres(t)
	if !strings.Contains(url, "/t") {
		t.Fatalf("url %q does not name a fresh database", url)
	}
	bin, err := pgBinary("psql")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-X", "-At", "-d", url, "-c", "select current_database()").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(url[strings.LastIndexByte(url, '/')+1:], got) {
		t.Fatalf("connected to %q, want the database in %q", got, url)
	}
}

func TestRedis(t *testing.T) {
	addr, db := Redis(t)
	if db < 0 || db > 15 {
		t.Fatalf("db %d out of range", db)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("PING answered %q, %v", buf[:n], err)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:1/postgres?sslmode=disable", "postgres://u@h:1/x?sslmode=disable"},
		{"postgres://u@h:1/postgres", "postgres://u@h:1/x"},
	} {
		if got := withDatabase(tc.in, "x"); got != tc.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
