// Package jobreport is what a Kubernetes Job pod running `haul ingest`
// tells the controller without either side opening a database connection:
// its final summary, written to the container's termination message, and
// its progress, written to an annotation on its own pod.
package jobreport

import (
	"encoding/json"
	"fmt"
)

// ProgressAnnotation is the pod annotation holding a Progress as JSON,
// the way Argo Workflows reports workflows.argoproj.io/progress.
const ProgressAnnotation = "analytics.haul.dev/progress"

// MaxMessage is the most the kubelet keeps of a termination message.
const MaxMessage = 4096

// Summary is one `haul ingest` process's outcome for the one dataset it
// loaded, counting every attempt of its run id.
type Summary struct {
	RunID            string           `json:"runID"`
	Dataset          string           `json:"dataset"`
	Status           string           `json:"status"`
	Read             int64            `json:"read"`
	Loaded           int64            `json:"loaded"`
	Duplicates       int64            `json:"duplicates"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejectedByReason,omitempty"`
	// Reason is a CamelCase word for a failure, Message what failed and
	// where.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Failure reasons of a Summary.
const (
	ReasonTooManyRejects = "TooManyRejects"
	ReasonInputError     = "InputError"
	ReasonLoadFailed     = "LoadFailed"
)

// Encode renders s within MaxMessage bytes, cutting the message to the
// longest prefix that fits when it has to.
func Encode(s Summary) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode summary: %w", err)
	}
	if len(b) <= MaxMessage {
		return b, nil
	}
	msg := s.Message
	var fit []byte
	// JSON escaping makes a prefix's encoded length hard to predict:
	// search for the longest that fits.
	for lo, hi := 0, len(msg); lo <= hi; {
		mid := (lo + hi) / 2
		s.Message = truncate(msg, mid) + "…"
		if b, err = json.Marshal(s); err != nil {
			return nil, fmt.Errorf("encode summary: %w", err)
		}
		if len(b) <= MaxMessage {
			fit, lo = b, mid+1
		} else {
			hi = mid - 1
		}
	}
	if fit == nil {
		return nil, fmt.Errorf("encode summary: more than %d bytes without the message", MaxMessage)
	}
	return fit, nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if n >= len(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Decode parses a termination message written by Encode.
func Decode(msg string) (Summary, error) {
	var s Summary
	if err := json.Unmarshal([]byte(msg), &s); err != nil {
		return Summary{}, fmt.Errorf("decode summary: %w", err)
	}
	if s.RunID == "" || s.Dataset == "" {
		return Summary{}, fmt.Errorf("decode summary: no run id or dataset in %q", truncate(msg, 200))
	}
	return s, nil
}

// Progress is how far a pod got in its file.
type Progress struct {
	// BytesRead and BytesTotal count the file's raw bytes; BytesTotal is
	// -1 when the size is unknown (e.g. a chunked http response).
	BytesRead  int64 `json:"bytesRead"`
	BytesTotal int64 `json:"bytesTotal"`
	Read       int64 `json:"read"`
	Loaded     int64 `json:"loaded"`
	Rejected   int64 `json:"rejected"`
}

// Fraction is the share of the file read, from 0 to 1; 0 when unknown.
func (p Progress) Fraction() float64 {
	if p.BytesTotal <= 0 || p.BytesRead <= 0 {
		return 0
	}
	return min(1, float64(p.BytesRead)/float64(p.BytesTotal))
}

// DecodeProgress parses a ProgressAnnotation.
func DecodeProgress(s string) (Progress, error) {
	var p Progress
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return Progress{}, fmt.Errorf("decode progress: %w", err)
	}
	return p, nil
}
