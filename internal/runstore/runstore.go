// Package runstore is the ingest bookkeeping (migrations 00002 and 00003):
// the runs, what each did with each dataset, the days each touched and the
// checkpoints a resumed run starts after. `haul ingest` (jobs/ingest) writes
// it and the API (/api/v1/runs) reads it, both through this package, so that
// the reads and the writes of a table sit in one place. The functions run
// their statements in the transaction their caller gives them, or open the
// one they always ran in.
package runstore

// FileError says why a run or dataset failed and, for a file-level error
// (docs/data.md#92-file-level-cases), where; file, line and offset are
// absent when it was not about a file. Ingest's report (as ingest.Failure),
// the stored rows and the API's answers share it.
type FileError struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int64  `json:"line,omitempty"`
	Offset  *int64 `json:"offset,omitempty"`
}
