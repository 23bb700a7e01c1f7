package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"vaxbook/sqlite"
)

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	want := "schema version " + strconv.Itoa(sqlite.LatestVersion()) + "\n"
	tests := []struct {
		name       string
		args       []string
		env        string
		wantCode   int
		wantOut    string
		wantErrSub string
	}{
		{name: "directory", args: []string{"-db", dir}, wantOut: want},
		{name: "again: version stable", args: []string{"-db", dir}, wantOut: want},
		{name: "file path, new directory", args: []string{"-db", filepath.Join(dir, "sub", "x.db")}, wantOut: want},
		{name: "env twin", env: filepath.Join(dir, "env.db"), wantOut: want},
		{name: "help", args: []string{"-help"}, wantOut: "usage: vaxbook migrate"},
		{name: "bad flag", args: []string{"-nope"}, wantCode: 2, wantErrSub: "flag provided but not defined"},
		{name: "stray argument", args: []string{"-db", dir, "extra"}, wantCode: 2, wantErrSub: `unexpected argument "extra"`},
		{name: "unopenable path", args: []string{"-db", filepath.Join(dir, "file", "x.db")}, wantCode: 1, wantErrSub: "vaxbook migrate:"},
	}
	// A regular file where a directory is needed.
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VAXBOOK_DB", tc.env)
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"migrate"}, tc.args...), &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut.String())
			}
			if tc.wantOut != "" && !strings.HasPrefix(out.String(), tc.wantOut) {
				t.Fatalf("stdout %q, want prefix %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantErrSub) {
				t.Fatalf("stderr %q, want %q in it", errOut.String(), tc.wantErrSub)
			}
		})
	}
	for _, f := range []string{filepath.Join(dir, "vaxbook.db"), filepath.Join(dir, "sub", "x.db"), filepath.Join(dir, "env.db")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("database %s not created: %v", f, err)
		}
	}
}
