// Package flagenv gives every command-line flag an environment twin:
// flag "data-dir" of any command reads VAXBOOK_DATA_DIR when it is not on the
// command line. Flags on the command line win over the environment.
package flagenv

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Prefix is put before every environment name.
const Prefix = "VAXBOOK_"

// EnvName returns the environment twin of a flag name.
func EnvName(flagName string) string {
	return Prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// Annotate appends "(env VAXBOOK_X)" to every flag's usage; call it after
// defining the flags and before Parse so that -help shows the twins.
func Annotate(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "(env ") {
			f.Usage += " (env " + EnvName(f.Name) + ")"
		}
	})
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment twin, looked up with getenv (os.Getenv if nil).
// A malformed environment value is an error naming the variable.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	Annotate(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", name, v, e)
			}
		}
	})
	return err
}
