package vaxbook_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestLayout enforces the dependency rules of DESIGN.md §3:
//   - the root package imports no package of the project;
//   - adapters (sqlite, postgres, redis, inmem) do not import each other;
//   - no package outside the wiring (cmd/…, node, rush) depends on an adapter,
//     directly or through another package: web, booking, identity, … talk to
//     interfaces;
//   - no package is named util, common or helpers.
func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Name       string
		Imports    []string
		Deps       []string
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	const mod = "vaxbook"
	adapters := map[string]bool{mod + "/sqlite": true, mod + "/postgres": true, mod + "/redis": true, mod + "/inmem": true}
	wiring := func(p string) bool {
		return strings.HasPrefix(p, mod+"/cmd/") || p == mod+"/node" || p == mod+"/rush"
	}
	for _, p := range pkgs {
		switch path.Base(p.ImportPath) {
		case "util", "utils", "common", "helpers", "misc":
			t.Errorf("package %s: name says nothing about what it holds", p.ImportPath)
		}
		if p.ImportPath == mod {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, mod+"/") {
					t.Errorf("root package imports %s; it must import nothing of the project", imp)
				}
			}
			continue
		}
		if adapters[p.ImportPath] {
			for _, d := range p.Deps {
				if adapters[d] {
					t.Errorf("adapter %s depends on adapter %s", p.ImportPath, d)
				}
			}
			continue
		}
		if wiring(p.ImportPath) {
			continue
		}
		for _, d := range p.Deps {
			if adapters[d] {
				t.Errorf("%s depends on adapter %s; only cmd/, node and rush may wire adapters", p.ImportPath, d)
			}
		}
	}
}
