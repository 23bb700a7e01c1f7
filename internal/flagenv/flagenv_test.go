package flagenv

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantData string
		wantN    int
		wantErr  string
	}{
		{name: "defaults", wantData: "./d", wantN: 1},
		{name: "env", env: map[string]string{"VAXBOOK_DATA_DIR": "/e", "VAXBOOK_PEOPLE": "7"}, wantData: "/e", wantN: 7},
		{name: "flag wins", args: []string{"-data-dir", "/f"}, env: map[string]string{"VAXBOOK_DATA_DIR": "/e"}, wantData: "/f", wantN: 1},
		{name: "bad env", env: map[string]string{"VAXBOOK_PEOPLE": "many"}, wantErr: "VAXBOOK_PEOPLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			data := fs.String("data-dir", "./d", "data")
			n := fs.Int("people", 1, "people")
			err := Parse(fs, tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *data != tc.wantData || *n != tc.wantN {
				t.Fatalf("got %q %d, want %q %d", *data, *n, tc.wantData, tc.wantN)
			}
			if u := fs.Lookup("people").Usage; !strings.Contains(u, "(env VAXBOOK_PEOPLE)") {
				t.Fatalf("usage %q lacks the env twin", u)
			}
		})
	}
}
