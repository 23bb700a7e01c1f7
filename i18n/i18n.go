// Package i18n holds the translations of everything a citizen or operator
// reads: one catalog per language (JSON files embedded from catalogs/),
// looked up by key. Korean is the default; English is the other language.
// Templates never hold text of their own: they call T with a key.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed catalogs/*.json
var files embed.FS

// Languages supported, default first.
var supported = []language.Tag{language.Korean, language.English}

// Catalog holds every language's messages.
type Catalog struct {
	msgs    map[string]map[string]string // lang → key → text
	matcher language.Matcher
}

// Load reads the embedded catalogs and checks that every language has the
// same keys.
func Load() (*Catalog, error) {
	c := &Catalog{msgs: map[string]map[string]string{}, matcher: language.NewMatcher(supported)}
	for _, tag := range supported {
		lang := Base(tag)
		b, err := files.ReadFile(path.Join("catalogs", lang+".json"))
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n: catalogs/%s.json: %w", lang, err)
		}
		c.msgs[lang] = m
	}
	if missing := c.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("i18n: keys missing in some languages: %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// MustLoad is Load for program start; the catalogs are embedded, so an error
// is a build defect.
func MustLoad() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Base returns "ko" or "en" for a tag.
func Base(t language.Tag) string {
	b, _ := t.Base()
	return b.String()
}

// Languages returns the supported language codes, default first.
func (c *Catalog) Languages() []string { return []string{"ko", "en"} }

// Match picks the language for a request: an explicit choice (a cookie or
// ?lang=) wins, then Accept-Language, then Korean.
func (c *Catalog) Match(explicit, acceptLanguage string) string {
	if _, ok := c.msgs[explicit]; ok {
		return explicit
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "ko"
	}
	t, _, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return "ko"
	}
	return Base(t)
}

// Has reports whether key exists.
func (c *Catalog) Has(key string) bool { _, ok := c.msgs["ko"][key]; return ok }

// T returns the message for key in lang, formatted with args (fmt verbs).
// An unknown key returns the key itself so that a missing translation is
// visible, never a blank.
func (c *Catalog) T(lang, key string, args ...any) string {
	m, ok := c.msgs[lang]
	if !ok {
		m = c.msgs["ko"]
	}
	s, ok := m[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Keys returns every key, sorted.
func (c *Catalog) Keys() []string {
	keys := make([]string, 0, len(c.msgs["ko"]))
	for k := range c.msgs["ko"] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Missing lists "lang:key" for keys present in one language and not another.
func (c *Catalog) Missing() []string {
	all := map[string]bool{}
	for _, m := range c.msgs {
		for k := range m {
			all[k] = true
		}
	}
	var out []string
	for lang, m := range c.msgs {
		for k := range all {
			if _, ok := m[k]; !ok {
				out = append(out, lang+":"+k)
			}
		}
	}
	sort.Strings(out)
	return out
}
