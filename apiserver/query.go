package apiserver

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// queryOf is the request's query as the reference read it: pairs are
// separated by '&' only, so a ';' is part of a value, and a '%' that starts
// no valid escape is kept literally. Go's url.ParseQuery instead drops such
// pairs, and a parameter the client sent would be silently ignored (a
// malformed sort_by answered with the default order instead of a 400).
// Empty pairs are skipped; a pair without '=' has an empty value.
func queryOf(r *http.Request) url.Values {
	q := url.Values{}
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		q[unescapeLenient(k)] = append(q[unescapeLenient(k)], unescapeLenient(v))
	}
	return q
}

// unescapeLenient decodes a query component: '+' is a space and %XX a byte;
// a '%' not followed by two hex digits stays as it is.
func unescapeLenient(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// Longest ids a loaded row can have (docs/data.md#2-datasets: ids are 1–64 code points;
// run ids at most 128 characters, see ingest.Options).
const (
	maxVehicleIDRunes = 64
	maxRunIDRunes     = 128
)

// storableID reports whether id could name a stored row: valid UTF-8
// without NUL (PostgreSQL refuses anything else, and the query would fail
// instead of finding nothing) and at most maxRunes code points. An id that
// fails is answered 404 without asking the database.
func storableID(id string, maxRunes int) bool {
	return id != "" && utf8.ValidString(id) && !strings.ContainsRune(id, 0) && utf8.RuneCountInString(id) <= maxRunes
}
