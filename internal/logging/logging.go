// Package logging builds the logger every Haul command writes with:
// structured lines, as text or as JSON (for cluster log pipelines), with a
// level name on every line and one value per key.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/go-logr/logr"
)

// Formats of --log-format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Options choose a logger.
type Options struct {
	// Format is FormatText or FormatJSON.
	Format string
	// Verbosity 0 logs Info and errors; n > 0 also V(1) to V(n).
	Verbosity int
}

// Check says what is wrong with o, in the words of its flags.
func (o Options) Check() error {
	if o.Format != FormatText && o.Format != FormatJSON {
		return fmt.Errorf("--log-format %q: want %s or %s", o.Format, FormatText, FormatJSON)
	}
	if o.Verbosity < 0 {
		return fmt.Errorf("-v %d: want 0 or more", o.Verbosity)
	}
	return nil
}

// New returns a logger writing to w; o must pass Check.
func New(w io.Writer, o Options) logr.Logger {
	ho := &slog.HandlerOptions{Level: slog.Level(-o.Verbosity), ReplaceAttr: levelName}
	var h slog.Handler = slog.NewTextHandler(w, ho)
	if o.Format == FormatJSON {
		h = slog.NewJSONHandler(w, ho)
	}
	return logr.FromSlogHandler(&uniqueKeys{inner: h})
}

// levelName names logr's V levels: logr maps V(n) to slog level -n, which
// slog would print as DEBUG+3 for V(1).
func levelName(groups []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey || len(groups) > 0 {
		return a
	}
	level, ok := a.Value.Any().(slog.Level)
	if !ok {
		return a
	}
	switch {
	case level >= slog.LevelError:
		return slog.String(a.Key, "ERROR")
	case level >= slog.LevelWarn:
		return slog.String(a.Key, "WARN")
	case level >= slog.LevelInfo:
		return slog.String(a.Key, "INFO")
	default:
		return slog.String(a.Key, "DEBUG")
	}
}

// uniqueKeys keeps one value per key on a line, the one given last: a
// value added by WithValues and again by the log call (as controller-runtime
// and our own code may both add "name") is then written once, so JSON lines
// stay valid objects for log pipelines.
type uniqueKeys struct {
	inner slog.Handler
	attrs []slog.Attr // from WithAttrs, not yet handed to inner
}

func (h *uniqueKeys) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *uniqueKeys) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &uniqueKeys{inner: h.inner, attrs: append(slices.Clip(h.attrs), attrs...)}
}

// WithGroup hands the attributes so far to inner: keys inside a group do
// not clash with those outside it.
func (h *uniqueKeys) WithGroup(name string) slog.Handler {
	return &uniqueKeys{inner: h.inner.WithAttrs(lastOfEach(h.attrs)).WithGroup(name)}
}

func (h *uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	attrs := slices.Clip(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(lastOfEach(attrs)...)
	return h.inner.Handle(ctx, out)
}

// lastOfEach keeps the last attribute of each key, in the order of their
// first appearance.
func lastOfEach(attrs []slog.Attr) []slog.Attr {
	at := make(map[string]int, len(attrs))
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if i, ok := at[a.Key]; ok {
			out[i] = a
			continue
		}
		at[a.Key] = len(out)
		out = append(out, a)
	}
	return out
}
