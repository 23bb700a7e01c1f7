// Package cookie reads one cookie from a request without parsing the others.
//
// http.Request.Cookie parses every cookie of the header into an
// *http.Cookie to return one; the status poll, which a million waiting
// people send, reads three. Value scans the header lines in place.
package cookie

import (
	"net/http"
	"strings"
)

// Value returns the value of the first cookie called name, as
// http.Request.Cookie would (surrounding double quotes removed), and
// whether there was one. A value with bytes a cookie may not hold is
// skipped, as net/http skips it.
func Value(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			k, v, _ := strings.Cut(part, "=") // "a" alone is a with an empty value
			if k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validValue(v) {
				return v, true
			}
		}
	}
	return "", false
}

// validValue is RFC 6265's cookie-octet, with space and comma allowed as
// net/http allows them.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
