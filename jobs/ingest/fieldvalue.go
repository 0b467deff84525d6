package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// parseValue parses the raw value of field f. plain says raw is a string
// whose body is ASCII without escapes (member.valPlain).
func parseValue(f *fieldDef, raw []byte, plain bool, arena *[]byte) (value, *problem) {
	if raw[0] == 'n' {
		return value{}, &problem{reason: "null_field", field: f.name, msg: fmt.Sprintf("field %q is null", f.name)}
	}
	switch f.kind {
	case kindID, kindText, kindDate:
		if raw[0] != '"' {
			return value{}, wrongType(*f, "a string", raw)
		}
		body := raw[1 : len(raw)-1]
		if f.kind == kindDate {
			start := len(*arena)
			if !plain {
				*arena = unescape(*arena, body)
				body = (*arena)[start:]
			}
			days, ok := parseDate(body)
			*arena = (*arena)[:start]
			if !ok {
				return value{}, &problem{reason: "invalid_date", field: f.name, msg: fmt.Sprintf("field %q is %s, not a YYYY-MM-DD calendar date", f.name, clip(raw))}
			}
			return value{i: days}, nil
		}
		start := len(*arena)
		if plain {
			*arena = append(*arena, body...)
		} else {
			*arena = unescape(*arena, body)
		}
		s := (*arena)[start:len(*arena):len(*arena)]
		if f.kind == kindID {
			return value{str: s}, checkID(*f, s, plain)
		}
		return value{str: s}, checkText(*f, s, plain)
	default:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return value{}, wrongType(*f, "a number", raw)
		}
		num, ok := parseDecimal(raw)
		if !ok {
			var err error
			num, err = strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
			if err != nil {
				num = math.Inf(1) // reported as out of range below
			}
		}
		if math.Abs(num) >= maxMagnitude {
			return value{}, &problem{reason: "out_of_range", field: f.name, msg: fmt.Sprintf("field %q is %s, beyond ±1e15", f.name, clip(raw))}
		}
		if num == 0 {
			num = 0 // -0 counts as 0
		}
		if f.kind == kindInteger {
			switch {
			case num != math.Trunc(num):
				return value{}, &problem{reason: "not_integer", field: f.name, msg: fmt.Sprintf("field %q is %s, not a whole number", f.name, clip(raw))}
			case num > maxInteger:
				return value{}, &problem{reason: "out_of_range", field: f.name, msg: fmt.Sprintf("field %q is %s, above %d", f.name, clip(raw), maxInteger)}
			case num < 1:
				return value{}, &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is %s, below 1", f.name, clip(raw))}
			}
			return value{i: int64(num)}, nil
		}
		if num < f.min || (f.minExclusive && num <= f.min) {
			bound := "below 0"
			if f.minExclusive {
				bound = "not above 0"
			}
			return value{}, &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is %s, %s", f.name, clip(raw), bound)}
		}
		return value{num: num}, nil
	}
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// maxDecimalDigits is the most digits parseDecimal reads: 10^15 < 2^53, so
// they fit a float64's mantissa exactly.
const maxDecimalDigits = 15

// parseDecimal reads a plain decimal (an optional '-', digits, an optional
// fraction; no exponent) of at most maxDecimalDigits digits. Its digits and
// the power of ten that scales them are exact float64s, so one division,
// which IEEE 754 rounds correctly, gives the float64 nearest the decimal:
// the same bits as strconv.ParseFloat (whose own exact path does this). ok
// is false for anything else, which is left to strconv.
func parseDecimal(raw []byte) (num float64, ok bool) {
	i, neg := 0, false
	if raw[0] == '-' {
		i, neg = 1, true
	}
	var mant uint64
	digits, point := 0, -1
	for ; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			if digits == maxDecimalDigits {
				return 0, false
			}
			mant = mant*10 + uint64(c-'0')
			digits++
		case c == '.' && point < 0:
			point = digits
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	num = float64(mant)
	if neg {
		num = -num
	}
	if point >= 0 {
		num /= pow10[digits-point]
	}
	return num, true
}

func wrongType(f fieldDef, want string, raw []byte) *problem {
	return &problem{reason: "wrong_type", field: f.name, msg: fmt.Sprintf("field %q must be %s, got %s %s", f.name, want, describeJSON(raw), clip(raw))}
}

// checkID checks an ID's text; ascii says s is all ASCII.
func checkID(f fieldDef, s []byte, ascii bool) *problem {
	switch n := runeCount(s, ascii); {
	case n > maxIDRunes:
		return &problem{reason: "too_long", field: f.name, msg: fmt.Sprintf("field %q has %d characters, more than %d", f.name, n, maxIDRunes)}
	case n == 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is empty", f.name)}
	case hasControl(s):
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q %s contains a control character", f.name, clipString(s))}
	case hasSurroundingSpace(s):
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q %s has leading or trailing whitespace", f.name, clipString(s))}
	}
	return nil
}

// checkText checks a text field; ascii says s is all ASCII.
func checkText(f fieldDef, s []byte, ascii bool) *problem {
	switch n := runeCount(s, ascii); {
	case n > maxTextRunes:
		return &problem{reason: "too_long", field: f.name, msg: fmt.Sprintf("field %q has %d characters, more than %d", f.name, n, maxTextRunes)}
	case isBlank(s):
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q is blank", f.name)}
	case bytes.IndexByte(s, 0) >= 0:
		return &problem{reason: "invalid_value", field: f.name, msg: fmt.Sprintf("field %q contains U+0000, which PostgreSQL text cannot store", f.name)}
	}
	return nil
}

// runeCount is the number of characters in s; ascii says s is all ASCII,
// one character a byte.
func runeCount(s []byte, ascii bool) int {
	if ascii {
		return len(s)
	}
	return utf8.RuneCount(s)
}

// hasControl reports whether s holds a rune below U+0020 or U+007F. Such a
// rune is always one byte of its own in UTF-8, and such a byte is always
// that rune, even in invalid UTF-8, so the bytes are checked as they are.
func hasControl(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// hasSurroundingSpace reports whether the non-empty s starts or ends with a
// Unicode space; an ASCII end is its own rune.
func hasSurroundingSpace(s []byte) bool {
	first, last := rune(s[0]), rune(s[len(s)-1])
	if first >= utf8.RuneSelf {
		first, _ = utf8.DecodeRune(s)
	}
	if last >= utf8.RuneSelf {
		last, _ = utf8.DecodeLastRune(s)
	}
	return unicode.IsSpace(first) || unicode.IsSpace(last)
}

// isBlank reports whether s holds only Unicode spaces (or nothing), checking
// ASCII bytes without decoding them.
func isBlank(s []byte) bool {
	for i, c := range s {
		if c >= utf8.RuneSelf {
			return len(bytes.TrimFunc(s[i:], unicode.IsSpace)) == 0
		}
		switch c {
		case '\t', '\n', '\v', '\f', '\r', ' ':
		default:
			return false
		}
	}
	return true
}

// pgEpoch is day 0 of PostgreSQL's binary date.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseDate reads exactly YYYY-MM-DD, a real calendar date in years
// 0001-9999, as days since 2000-01-01.
func parseDate(s []byte) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return int64(t.Sub(pgEpoch).Hours()) / 24, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateOf turns days since 2000-01-01 back into a date.
func dateOf(days int64) time.Time { return pgEpoch.AddDate(0, 0, int(days)) }

// unescape appends the JSON string body s (without quotes, already
// validated) to dst, decoding escapes. Invalid surrogates become U+FFFD, as
// encoding/json does.
func unescape(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(s))
			s = s[4:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = rune(hex4(s[2:]))
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}

func hex4(s []byte) int {
	n := 0
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		n = n<<4 | int(c)
	}
	return n
}
