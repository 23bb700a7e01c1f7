package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"vaxbook/web/browsertest/harness"
)

// recorder is a testing.TB that records errors instead of failing, to test
// that Check catches what it should.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

func (r *recorder) joined() string { return strings.Join(r.errs, "\n") }

// TestHarnessCatches checks the harness itself: a clean page passes Check;
// a page that scrolls sideways on a phone, hides a key element, or has an
// image without a text alternative fails it.
func TestHarnessCatches(t *testing.T) {
	harness.Require(t, browser, browserErr)
	const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>t</title></head><body><main><h1>Title</h1>`
	pages := map[string]string{
		"/clean":  head + `<p id="key">hello</p></main></body></html>`,
		"/wide":   head + `<p id="key" style="width:900px">wide</p></main></body></html>`,
		"/hidden": head + `<p id="key" style="display:none">hidden</p></main></body></html>`,
		"/noalt":  head + `<p id="key">x</p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="20" height="20"></main></body></html>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, pages[r.URL.Path])
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want string // "" for no error
	}{
		{"/clean", ""},
		{"/wide", "scrolls sideways"},
		{"/hidden", "not visible: #key (hidden)"},
		{"/noalt", "image-alt"},
	} {
		rec := &recorder{TB: t}
		tab := browser.NewTab(t, srv.URL)
		tab.T = rec
		tab.Go(tc.path)
		tab.Check(strings.TrimPrefix(tc.path, "/"), "h1", "#key")
		got := rec.joined()
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: unexpected errors:\n%s", tc.path, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: want an error with %q, got:\n%s", tc.path, tc.want, got)
		}
	}
}
