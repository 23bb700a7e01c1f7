package web

import (
	"strings"
)

// crockford is Crockford's base-32 alphabet; check symbols add *~$=U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"

// Reference is the booking reference people read out on the phone: "VB-"
// followed by the booking id in Crockford base 32 (at least six symbols) and
// a mod-37 check symbol that catches any single mistyped symbol.
func Reference(id int64) string {
	if id <= 0 {
		return ""
	}
	var b []byte
	for n := id; n > 0; n /= 32 {
		b = append(b, crockford[n%32])
	}
	for len(b) < 6 {
		b = append(b, '0')
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return "VB-" + string(b) + string(crockford[id%37])
}

// ParseReference returns the booking id of a reference, accepting lower
// case, a missing "VB-" and the usual confusions (O→0, I/L→1); ok is false
// when the check symbol does not match.
func ParseReference(s string) (int64, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "VB-")
	s = strings.NewReplacer("O", "0", "I", "1", "L", "1", "-", "").Replace(s)
	if len(s) < 2 || len(s) > 14 {
		return 0, false
	}
	var id int64
	for _, c := range s[:len(s)-1] {
		i := strings.IndexRune(crockford[:32], c)
		if i < 0 {
			return 0, false
		}
		id = id*32 + int64(i)
	}
	if id <= 0 || crockford[id%37] != s[len(s)-1] {
		return 0, false
	}
	return id, true
}
