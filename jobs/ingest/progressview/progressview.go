// Package progressview shows an ingest run's progress: a bar per file on a
// terminal (with log lines printed above the bars), or a log line every few
// seconds elsewhere.
package progressview

import (
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/haul-dev/haul/jobs/ingest"
)

// Modes of haul ingest --progress.
const (
	ModeAuto = "auto" // a bar on a terminal, else log lines
	ModeBar  = "bar"
	ModeLog  = "log"
	ModeNone = "none"
)

// Ticks: the bar redraws often enough to look live; log lines are rarer.
const (
	barInterval = 200 * time.Millisecond
	logInterval = 5 * time.Second
)

// ewmaAge is the smoothing of the rate and the ETA, in ticks: about the
// last six seconds weigh most, so a pause between two commits does not
// swing the rate to zero and back.
const ewmaAge = 30

// View shows one run's progress until Stop.
type View struct {
	mode string
	w    io.Writer
	logs *aboveBars
	stop chan struct{}
	done chan struct{}
}

// New prepares a view on w in mode (one of the Mode constants); Writer is
// where the run's log lines go, so that they print above a bar.
func New(mode string, w io.Writer) (*View, error) {
	switch mode {
	case ModeAuto:
		mode = ModeLog
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = ModeBar
		}
	case ModeBar, ModeLog, ModeNone:
	default:
		return nil, fmt.Errorf("--progress %q: want auto, bar, log or none", mode)
	}
	return &View{mode: mode, w: w, logs: &aboveBars{w: w}}, nil
}

// Writer is where log lines go while the view runs: above the bars.
func (v *View) Writer() io.Writer { return v.logs }

// Start follows p until Stop; log writes the log lines of ModeLog.
func (v *View) Start(p *ingest.Progress, log logr.Logger) {
	if v.mode == ModeNone {
		return
	}
	v.stop, v.done = make(chan struct{}), make(chan struct{})
	if v.mode == ModeLog {
		go v.logLines(p, log)
		return
	}
	prog := mpb.New(mpb.WithOutput(v.w), mpb.WithAutoRefresh(), mpb.WithRefreshRate(barInterval))
	v.logs.set(prog)
	go v.bars(p, prog)
}

// Stop ends the view; the bars are left as they ended.
func (v *View) Stop() {
	if v.stop == nil {
		return
	}
	close(v.stop)
	<-v.done
}

func (v *View) logLines(p *ingest.Progress, log logr.Logger) {
	defer close(v.done)
	t := time.NewTicker(logInterval)
	defer t.Stop()
	var last ingest.Snapshot
	lastAt := time.Now()
	for {
		select {
		case <-v.stop:
			return
		case now := <-t.C:
			s := p.Snapshot()
			if s.File != last.File {
				last.BytesCommitted = 0 // a new file: its bytes all came since the last tick
			}
			rate := float64(s.BytesCommitted-last.BytesCommitted) / now.Sub(lastAt).Seconds()
			last, lastAt = s, now
			if s.File != "" {
				log.Info("ingest progress", "dataset", s.Dataset, "file", s.File, "bytesRead", s.BytesRead,
					"bytesCommitted", s.BytesCommitted, "bytesTotal", s.BytesTotal, "recordsRead", s.Read,
					"loaded", s.Loaded, "rejected", s.Rejected, "bytesPerSecond", int64(rate))
			}
		}
	}
}

// bars draws a bar per file, filled by the bytes of committed batches, so
// it reaches 100% when the file's last batch commits, not when it is read.
func (v *View) bars(p *ingest.Progress, prog *mpb.Progress) {
	defer close(v.done)
	t := time.NewTicker(barInterval)
	defer t.Stop()
	var cur *fileBar
	lastAt := time.Now()
	update := func(now time.Time) {
		s := p.Snapshot()
		if s.File == "" {
			return
		}
		if cur == nil || s.File != cur.file {
			cur.finish(true)
			cur = newFileBar(prog, s)
		}
		cur.update(s, now.Sub(lastAt))
		lastAt = now
	}
	for {
		select {
		case <-v.stop:
			update(time.Now())
			cur.finish(false)
			v.logs.set(nil)
			prog.Wait()
			return
		case now := <-t.C:
			update(now)
		}
	}
}

// fileBar is one file's bar and the counts it shows.
type fileBar struct {
	file  string
	bar   *mpb.Bar
	mu    sync.Mutex // guards last, read by the counts decorator
	last  ingest.Snapshot
	total int64
}

func newFileBar(prog *mpb.Progress, s ingest.Snapshot) *fileBar {
	fb := &fileBar{file: s.File, total: s.BytesTotal}
	fb.bar = prog.AddBar(max(s.BytesTotal, 0),
		mpb.PrependDecorators(
			decor.Name(fmt.Sprintf("%-12s %s", s.Dataset, path.Base(s.File)), decor.WCSyncSpaceR),
			decor.Percentage(decor.WCSyncSpace)),
		mpb.AppendDecorators(
			decor.EwmaSpeed(decor.SizeB1000(0), "%.1f", ewmaAge, decor.WCSyncSpace),
			decor.Name(" ETA "), decor.EwmaETA(decor.ET_STYLE_GO, ewmaAge, decor.WCSyncSpace),
			decor.Any(func(decor.Statistics) string {
				fb.mu.Lock()
				defer fb.mu.Unlock()
				return fmt.Sprintf("  loaded %d rejected %d", fb.last.Loaded, fb.last.Rejected)
			})))
	return fb
}

func (fb *fileBar) update(s ingest.Snapshot, took time.Duration) {
	fb.mu.Lock()
	fb.last = s
	fb.mu.Unlock()
	if s.BytesTotal < 0 { // unknown size: the bar follows what is read
		fb.bar.SetTotal(s.BytesRead+1, false)
	}
	fb.bar.EwmaSetCurrent(s.BytesCommitted, took)
}

// finish completes the bar if its file was committed whole (or, when the
// run moved on to the next file, read whole: its last batches commit before
// the next file's first), else leaves it where it stopped.
func (fb *fileBar) finish(movedOn bool) {
	if fb == nil {
		return
	}
	fb.mu.Lock()
	done := fb.last.BytesCommitted
	if movedOn {
		done = fb.last.BytesRead
	}
	whole := fb.total > 0 && done >= fb.total
	fb.mu.Unlock()
	if whole {
		fb.bar.SetTotal(-1, true)
	} else {
		fb.bar.Abort(false)
	}
}

// aboveBars prints log lines above the bars while they are drawn, and
// straight to the output before and after.
type aboveBars struct {
	mu   sync.Mutex
	w    io.Writer
	prog *mpb.Progress
}

func (a *aboveBars) set(prog *mpb.Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prog = prog
}

func (a *aboveBars) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.prog != nil {
		return a.prog.Write(b)
	}
	return a.w.Write(b)
}
