package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/pii"
	"vaxbook/sqlite"
)

func TestSeedCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "v.db")
	small := []string{"-db", db, "-people", "2000", "-clinics", "260"}
	badCSV := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badCSV, []byte("ci,birth_date,nationality,name,phone,sigungu_code\nA,1990-02-30,KR,김민준,,11010\nB,1990-01-01,XX,이서연,,11010\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantCode  int
		wantOut   string
		wantErr   string
		noCreated bool // the database must not exist afterwards
	}{
		{name: "help", args: []string{"-help"}, wantOut: "usage: vaxbook seed"},
		{name: "bad people", args: []string{"-db", db, "-people", "0"}, wantCode: 2, wantErr: "people: 0 is out of range", noCreated: true},
		{name: "people and import", args: []string{"-db", db, "-people", "5", "-import-people", badCSV}, wantCode: 2, wantErr: "exclude each other", noCreated: true},
		{name: "one key only", args: []string{"-db", db, "-pii-keys", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, wantCode: 2, wantErr: "give both -pii-keys and -blind-key", noCreated: true},
		{name: "bad key", args: []string{"-db", db, "-pii-keys", "k1:AAAA", "-blind-key", "AAAA"}, wantCode: 2, wantErr: `sealing key "k1": want 32 bytes`, noCreated: true},
		{name: "unknown campaign", args: []string{"-db", db, "-campaign", "nope"}, wantCode: 2, wantErr: `unknown campaign "nope"`, noCreated: true},
		{name: "bad people file", args: []string{"-db", db, "-import-people", badCSV}, wantCode: 2,
			wantErr: "bad.csv:2: birth_date: \"1990-02-30\" is not a date", noCreated: true},
		{name: "missing file", args: []string{"-db", db, "-import-clinics", filepath.Join(dir, "none.csv")}, wantCode: 2, wantErr: "no such file", noCreated: true},
		{name: "stray argument", args: []string{"-db", db, "x"}, wantCode: 2, wantErr: `unexpected argument "x"`, noCreated: true},
		{name: "seed", args: small, wantOut: "seeded " + db, wantErr: "PUBLIC demo keys"},
		{name: "not empty", args: small, wantCode: 1, wantErr: "use --force"},
		{name: "force, nothing missing", args: append([]string{"-force"}, small...), wantOut: "nothing to add"},
		{name: "force via env, second campaign", args: []string{"-db", db, "-campaign", "kr-2021-support-fund"}, env: map[string]string{"VAXBOOK_FORCE": "true", "VAXBOOK_PEOPLE": "2000"},
			wantOut: "1 campaign, 0 regions, 0 clinics"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"seed"}, tc.args...), &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want %q in it", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr %q, want %q in it", errOut.String(), tc.wantErr)
			}
			if _, err := os.Stat(db); tc.noCreated && err == nil {
				t.Errorf("refused command created the database")
			}
		})
	}
}

// With real keys the stored names open with those keys only.
func TestSeedCommandKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "v.db")
	k := make([]byte, 32)
	rand.Read(k)
	sealing := "k1:" + base64.StdEncoding.EncodeToString(k)
	rand.Read(k)
	blind := base64.StdEncoding.EncodeToString(k)
	var out, errOut bytes.Buffer
	t.Setenv("VAXBOOK_BLIND_KEY", blind)
	if code := run(context.Background(), []string{"seed", "-db", db, "-people", "50", "-clinics", "250", "-pii-keys", sealing}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "demo keys") {
		t.Errorf("warned about demo keys with real keys given: %s", errOut.String())
	}
	s, err := sqlite.Open(context.Background(), db, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.PersonByID(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pii.ParseKeys(sealing, blind)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := keys.Open(p.NameSealed, pii.PersonAAD(7)); err != nil || name == "" {
		t.Errorf("name does not open with the configured keys: %v", err)
	}
	if _, err := pii.DemoKeys().Open(p.NameSealed, pii.PersonAAD(7)); err == nil {
		t.Error("name opens with the demo keys")
	}
	c, err := s.Counts(context.Background())
	if err != nil || (c != vaxbook.StoreCounts{Campaigns: 1, Regions: 250, Clinics: 250, Slots: c.Slots, Quotas: c.Quotas, People: 50}) {
		t.Errorf("counts %+v, %v", c, err)
	}
}
