package datagen

import "strconv"

// field is one key of a record with its value as raw JSON text.
type field struct {
	key string
	raw []byte
}

// record is a JSON object under construction, kept as ordered raw fields so
// that faults can drop, retype, repeat or rename any of them. Values live in
// an arena reused from record to record: no allocation per record once warm.
type record struct {
	fields []field
	arena  []byte
	// verbatim, when set, replaces the whole record (a non-object, a broken
	// line): written as is.
	verbatim []byte
}

func (r *record) reset() {
	r.fields = r.fields[:0]
	r.arena = r.arena[:0]
	r.verbatim = nil
}

// add appends a field whose value is produced by appendValue into the arena.
func (r *record) add(key string, appendValue func([]byte) []byte) {
	start := len(r.arena)
	r.arena = appendValue(r.arena)
	r.fields = append(r.fields, field{key: key, raw: r.arena[start:len(r.arena):len(r.arena)]})
}

func (r *record) addString(key, s string) {
	r.add(key, func(b []byte) []byte { return appendJSONString(b, s) })
}

func (r *record) addCents(key string, cents int64) {
	r.add(key, func(b []byte) []byte { return appendCents(b, cents) })
}

func (r *record) addInt(key string, v int64) {
	r.add(key, func(b []byte) []byte { return strconv.AppendInt(b, v, 10) })
}

func (r *record) addRaw(key, raw string) {
	r.add(key, func(b []byte) []byte { return append(b, raw...) })
}

// set replaces the value of key with raw JSON text.
func (r *record) set(key, raw string) {
	for i := range r.fields {
		if r.fields[i].key == key {
			start := len(r.arena)
			r.arena = append(r.arena, raw...)
			r.fields[i].raw = r.arena[start:len(r.arena):len(r.arena)]
			return
		}
	}
	r.addRaw(key, raw)
}

func (r *record) get(key string) []byte {
	for _, f := range r.fields {
		if f.key == key {
			return f.raw
		}
	}
	return nil
}

func (r *record) remove(key string) {
	for i := range r.fields {
		if r.fields[i].key == key {
			r.fields = append(r.fields[:i], r.fields[i+1:]...)
			return
		}
	}
}

func (r *record) rename(from, to string) {
	for i := range r.fields {
		if r.fields[i].key == from {
			r.fields[i].key = to
			return
		}
	}
}

// copyFrom makes r an independent copy of o.
func (r *record) copyFrom(o *record) {
	r.reset()
	for _, f := range o.fields {
		r.addRaw(f.key, string(f.raw))
	}
	if o.verbatim != nil {
		r.verbatim = append([]byte(nil), o.verbatim...)
	}
}

// appendPretty writes r as an element of a top-level array pretty-printed the
// way the reference's files are (Python's json.dump with indent=2).
func (r *record) appendPretty(b []byte) []byte {
	if r.verbatim != nil {
		return append(append(b, "  "...), r.verbatim...)
	}
	b = append(b, "  {\n"...)
	for i, f := range r.fields {
		b = append(b, "    "...)
		b = appendJSONString(b, f.key)
		b = append(b, ": "...)
		b = append(b, f.raw...)
		if i < len(r.fields)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, "  }"...)
}

// appendLine writes r as one NDJSON line without its newline, with the
// separators of Python's json.dumps.
func (r *record) appendLine(b []byte) []byte {
	if r.verbatim != nil {
		return append(b, r.verbatim...)
	}
	b = append(b, '{')
	for i, f := range r.fields {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, f.key)
		b = append(b, ": "...)
		b = append(b, f.raw...)
	}
	return append(b, '}')
}

// appendCents writes an amount given in cents as a JSON float, always with a
// fraction ("12.0", not "12") as Python writes floats.
func appendCents(b []byte, cents int64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, float64(cents)/100, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Non-ASCII UTF-8 is written as
// is; invalid UTF-8 bytes too, on purpose: faults plant them.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
