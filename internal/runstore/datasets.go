package runstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/dataset"
)

// RunDataset is what a run did with one dataset: its row in the bookkeeping,
// as the API shows it. Ingest's report has its own type
// (ingest.DatasetReport), converted to this one to be stored: its JSON omits
// empty warnings and a missing error, where this one writes [] and null.
type RunDataset struct {
	Dataset string   `json:"dataset"`
	Status  string   `json:"status"`
	Files   []string `json:"files"`
	dataset.Counts
	RejectsFile *string    `json:"rejects_file"`
	Warnings    []string   `json:"warnings"`
	Error       *FileError `json:"error" nullable:"true"`
}

// SaveDataset records the outcome of d, one dataset of the run: its status,
// counts, rejects file, warnings and error. Start recorded its files.
func SaveDataset(ctx context.Context, pool *pgxpool.Pool, runID string, d *RunDataset) error {
	errJSON, err := json.Marshal(d.Error)
	if err != nil {
		return err
	}
	if d.Error == nil {
		errJSON = nil
	}
	_, err = pool.Exec(ctx, `
		UPDATE ingest_run_datasets SET status = $3, records_read = $4, loaded = $5, duplicates = $6,
		    rejected = $7, rejected_by_reason = $8, rejects_file = $9, warnings = $10, error = $11
		WHERE run_id = $1 AND dataset = $2`,
		runID, d.Dataset, d.Status, d.Read, d.Loaded, d.Duplicates,
		d.Rejected, d.RejectedByReason, d.RejectsFile, nonNil(d.Warnings), errJSON)
	if err != nil {
		return fmt.Errorf("record %s outcome: %w", d.Dataset, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func readDatasets(ctx context.Context, tx pgx.Tx, id string) ([]RunDataset, error) {
	rows, err := tx.Query(ctx, `
SELECT dataset, status, files, records_read, loaded, duplicates, rejected, rejected_by_reason,
       rejects_file, warnings, error
FROM ingest_run_datasets WHERE run_id = $1
ORDER BY array_position($2::text[], dataset)`, id, dataset.LoadOrder())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RunDataset{}
	for rows.Next() {
		var d RunDataset
		var dsErr []byte
		if err := rows.Scan(&d.Dataset, &d.Status, &d.Files, &d.Read, &d.Loaded, &d.Duplicates, &d.Rejected,
			&d.RejectedByReason, &d.RejectsFile, &d.Warnings, &dsErr); err != nil {
			return nil, err
		}
		if dsErr != nil {
			if err := json.Unmarshal(dsErr, &d.Error); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
