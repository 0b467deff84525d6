package ingest

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// maxDepth is the deepest nesting a record may have (docs/data.md#6-rejects).
const maxDepth = 64

// member is one top-level key of an object record, as offsets into the
// record's bytes: the key without its quotes (still escaped), and the raw
// value. valPlain marks a string value whose body is ASCII without escapes,
// so that parsing it needs no second look at its escapes and encoding.
type member struct {
	keyStart, keyEnd int
	valStart, valEnd int
	keyEscaped       bool
	valPlain         bool
}

// strFlags says what a scanned string's body holds.
type strFlags uint8

const (
	strEscaped  strFlags = 1 << iota // at least one backslash escape
	strNonASCII                      // at least one byte >= 0x80
)

// syntaxError says where in a complete value the JSON grammar was broken.
type syntaxError struct {
	at  int // offset in the value's bytes
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// validator checks that a complete byte slice holds exactly one JSON value
// (RFC 8259, UTF-8 strings) surrounded only by whitespace, and records the
// members of a top-level object. It is reused from record to record.
type validator struct {
	b       []byte
	members []member
	tooDeep bool
}

// validate parses b. It returns a syntax error, or nil; v.tooDeep reports a
// value nested deeper than maxDepth (its syntax is then not checked further).
func (v *validator) validate(b []byte) *syntaxError {
	v.b, v.members, v.tooDeep = b, v.members[:0], false
	i := skipWS(b, 0)
	if i == len(b) {
		return &syntaxError{at: i, msg: "unexpected end of input, expected a value"}
	}
	i, err := v.value(i, 1)
	if err != nil || v.tooDeep {
		return err
	}
	if i = skipWS(b, i); i != len(b) {
		return &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s after top-level value", quoteChar(b[i]))}
	}
	return nil
}

// validateObject checks the object at the start of b, which may go on
// past it, and returns its length. ok is false when the object has a
// syntax error, nests deeper than maxDepth, or does not end within b; the
// validator's state then says nothing.
func (v *validator) validateObject(b []byte) (n int, ok bool) {
	v.b, v.members, v.tooDeep = b, v.members[:0], false
	n, err := v.object(0, 1)
	return n, err == nil && !v.tooDeep
}

func (v *validator) value(i, depth int) (int, *syntaxError) {
	b := v.b
	switch c := b[i]; {
	case c == '{':
		if depth > maxDepth {
			v.tooDeep = true
			return i, nil
		}
		return v.object(i, depth)
	case c == '[':
		if depth > maxDepth {
			v.tooDeep = true
			return i, nil
		}
		return v.array(i, depth)
	case c == '"':
		j, _, err := scanString(b, i)
		return j, err
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	default:
		return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s looking for beginning of value", quoteChar(c))}
	}
}

func (v *validator) object(i, depth int) (int, *syntaxError) {
	b := v.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, eof(i, "object key")
		}
		if b[i] != '"' {
			return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s looking for beginning of object key string", quoteChar(b[i]))}
		}
		keyStart := i + 1
		j, keyFlags, err := scanString(b, i)
		if err != nil {
			return j, err
		}
		keyEnd := j - 1
		i = skipWS(b, j)
		if i >= len(b) {
			return i, eof(i, "':' after object key")
		}
		if b[i] != ':' {
			return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s after object key, expected ':'", quoteChar(b[i]))}
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return i, eof(i, "object value")
		}
		valStart := i
		var valFlags strFlags
		if b[i] == '"' {
			// Strings are most values; their flags are kept.
			if i, valFlags, err = scanString(b, i); err != nil {
				return i, err
			}
		} else if i, err = v.value(i, depth+1); err != nil || v.tooDeep {
			return i, err
		}
		if depth == 1 {
			v.members = append(v.members, member{keyStart: keyStart, keyEnd: keyEnd, valStart: valStart, valEnd: i,
				keyEscaped: keyFlags&strEscaped != 0, valPlain: b[valStart] == '"' && valFlags == 0})
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, eof(i, "',' or '}' after object value")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s after object value, expected ',' or '}'", quoteChar(b[i]))}
		}
	}
}

func (v *validator) array(i, depth int) (int, *syntaxError) {
	b := v.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, eof(i, "array element")
		}
		var err *syntaxError
		if i, err = v.value(i, depth+1); err != nil || v.tooDeep {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, eof(i, "',' or ']' after array element")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s after array element, expected ',' or ']'", quoteChar(b[i]))}
		}
	}
}

func eof(at int, expected string) *syntaxError {
	return &syntaxError{at: at, msg: "unexpected end of input, expected " + expected}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// strPlain marks the bytes a string holds as themselves, with nothing to
// check: printable ASCII other than '"' and '\\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// specialBytes flags, in the high bit of each byte of x (eight string
// bytes, the first in the low byte), those strPlain does not hold: '"',
// '\\', control bytes and non-ASCII bytes. Bytes above the first flagged one
// may be flagged wrongly (borrows), so only the lowest flag is to be used.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x | x) & highs
}

// scanString checks the string starting at b[i] == '"' and returns the
// offset after its closing quote, and whether it holds escapes or non-ASCII
// bytes.
func scanString(b []byte, i int) (int, strFlags, *syntaxError) {
	var flags strFlags
	i++
	for i < len(b) {
		if i+8 <= len(b) {
			// Eight bytes at a time up to the first that needs a look.
			m := specialBytes(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if strPlain[b[i]] {
			i++
			continue
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, flags, nil
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				return i, flags, eof(i+1, "escape sequence")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(b) {
						return i + k, flags, eof(i+k, "hexadecimal digit in \\u escape")
					}
					if !isHex(b[i+k]) {
						return i + k, flags, &syntaxError{at: i + k, msg: fmt.Sprintf("invalid character %s in \\u escape", quoteChar(b[i+k]))}
					}
				}
				i += 6
			default:
				return i + 1, flags, &syntaxError{at: i + 1, msg: fmt.Sprintf("invalid character %s in string escape code", quoteChar(b[i+1]))}
			}
		case c < 0x20:
			return i, flags, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s in string literal", quoteChar(c))}
		default:
			flags |= strNonASCII
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, flags, &syntaxError{at: i, msg: "invalid UTF-8"}
			}
			i += size
		}
	}
	return i, flags, eof(i, "closing '\"' of string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber checks the JSON number starting at b[i].
func scanNumber(b []byte, i int) (int, *syntaxError) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, eof(i, "digit")
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s in numeric literal", quoteChar(b[i]))}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, numberError(b, i, "digit after decimal point")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, numberError(b, i, "digit in exponent")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func numberError(b []byte, i int, expected string) *syntaxError {
	if i >= len(b) {
		return eof(i, expected)
	}
	return &syntaxError{at: i, msg: fmt.Sprintf("invalid character %s in numeric literal, expected %s", quoteChar(b[i]), expected)}
}

func literal(b []byte, i int, word string) (int, *syntaxError) {
	for k := 0; k < len(word); k++ {
		if i+k >= len(b) {
			return i + k, eof(i+k, fmt.Sprintf("literal %s", word))
		}
		if b[i+k] != word[k] {
			return i + k, &syntaxError{at: i + k, msg: fmt.Sprintf("invalid character %s in literal %s", quoteChar(b[i+k]), word)}
		}
	}
	return i + len(word), nil
}

// quoteChar renders a byte for an error message.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(c) + "'"
	default:
		return fmt.Sprintf("byte 0x%02x", c)
	}
}
