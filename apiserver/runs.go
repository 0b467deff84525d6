package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/haul-dev/haul/internal/rollup"
)

// Haul's own endpoints under /api/v1, outside the compatibility contract:
// ingestion runs and the state of the aggregates.

// RunSummary is one ingestion run in a listing.
type RunSummary struct {
	RunID      string     `json:"run_id"`
	Status     string     `json:"status" enum:"running,succeeded,failed"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// DurationSeconds is null while the run is running.
	DurationSeconds *float64 `json:"duration_seconds"`
	DaysTouched     int64    `json:"days_touched"`
	// PrecalcVersion is the first aggregate version that includes the run;
	// null until a refresh does.
	PrecalcVersion *int64 `json:"precalc_version"`
}

// RunDataset is what a run did with one dataset.
type RunDataset struct {
	Dataset          string           `json:"dataset"`
	Status           string           `json:"status"`
	Files            []string         `json:"files"`
	Read             int64            `json:"read"`
	Loaded           int64            `json:"loaded"`
	Duplicates       int64            `json:"duplicates"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	RejectsFile      *string          `json:"rejects_file"`
	Warnings         []string         `json:"warnings"`
	Error            *FileError       `json:"error" nullable:"true"`
}

// FileError is the error that stopped a run (docs/data.md#92-file-level-cases); file, line and
// offset are absent when it was not about a file.
type FileError struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int64  `json:"line,omitempty"`
	Offset  *int64 `json:"offset,omitempty"`
}

// RunDetail is one run with its datasets.
type RunDetail struct {
	RunSummary
	Error    *FileError   `json:"error" nullable:"true"`
	Datasets []RunDataset `json:"datasets"`
}

// RunPage is a page of runs, newest first.
type RunPage struct {
	Data     []RunSummary `json:"data"`
	Total    int64        `json:"total"`
	Page     int          `json:"page"`
	PageSize int          `json:"page_size"`
}

// DataVersion is the state of the aggregates.
type DataVersion struct {
	// Version is the served data version; 0 before the first refresh.
	Version     int64      `json:"version"`
	RefreshedAt *time.Time `json:"refreshed_at"`
	// Refreshing is true while a refresh runs.
	Refreshing bool `json:"refreshing"`
	// Stale is true when loaded data is not in the served version yet.
	Stale bool `json:"stale"`
	// LastError is the last refresh failure, until a refresh succeeds.
	LastError   *string    `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
}

const runColumns = `r.run_id, r.status, r.started_at, r.finished_at,
    (SELECT count(*) FROM ingest_run_days d WHERE d.run_id = r.run_id), r.precalc_version`

func scanRun(row pgx.Row, extra ...any) (RunSummary, error) {
	var r RunSummary
	err := row.Scan(append([]any{&r.RunID, &r.Status, &r.StartedAt, &r.FinishedAt, &r.DaysTouched, &r.PrecalcVersion}, extra...)...)
	if r.FinishedAt != nil {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		r.DurationSeconds = &d
	}
	return r, err
}

// parsePage reads page and page_size as the list endpoints do (docs/api.md#14-paging-sorting-search-list-endpoints).
func parsePage(q url.Values) (page, size int, perr *ParamError) {
	if page, perr = queryCount(q, "page", defaultPage, maxPage); perr != nil {
		return 0, 0, perr
	}
	if size, perr = queryCount(q, "page_size", defaultPageSize, maxPageSize); perr != nil {
		return 0, 0, perr
	}
	return page, size, nil
}

func (s *Server) listRuns(c *gin.Context) {
	page, size, perr := parsePage(queryOf(c.Request))
	if perr != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, detail(perr.Error()))
		return
	}
	ctx := c.Request.Context()
	out := RunPage{Data: []RunSummary{}, Page: page, PageSize: size}
	err := pgx.BeginTxFunc(ctx, s.cfg.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM ingest_runs`).Scan(&out.Total); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT `+runColumns+` FROM ingest_runs r
				ORDER BY r.started_at DESC, r.run_id LIMIT $1 OFFSET $2`, size, int64(page-1)*int64(size))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				r, err := scanRun(rows)
				if err != nil {
					return err
				}
				out.Data = append(out.Data, r)
			}
			return rows.Err()
		})
	if err != nil {
		s.internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getRun(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("run_id")
	if !storableID(id, maxRunIDRunes) {
		c.AbortWithStatusJSON(http.StatusNotFound, detail("Run not found"))
		return
	}
	var out RunDetail
	var runErr []byte
	err := pgx.BeginTxFunc(ctx, s.cfg.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			var err error
			out.RunSummary, err = scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+`, r.error FROM ingest_runs r
				WHERE r.run_id = $1`, id), &runErr)
			if err != nil {
				return err
			}
			out.Datasets, err = readRunDatasets(ctx, tx, id)
			return err
		})
	if errors.Is(err, pgx.ErrNoRows) {
		c.AbortWithStatusJSON(http.StatusNotFound, detail("Run not found"))
		return
	}
	if err == nil && runErr != nil {
		err = json.Unmarshal(runErr, &out.Error)
	}
	if err != nil {
		s.internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func readRunDatasets(ctx context.Context, tx pgx.Tx, id string) ([]RunDataset, error) {
	rows, err := tx.Query(ctx, `
SELECT dataset, status, files, records_read, loaded, duplicates, rejected, rejected_by_reason,
       rejects_file, warnings, error
FROM ingest_run_datasets WHERE run_id = $1
ORDER BY array_position(ARRAY['vehicles', 'vehicle_logs', 'shipments'], dataset)`, id)
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

func (s *Server) dataVersion(c *gin.Context) {
	ctx := c.Request.Context()
	st, err := rollup.ReadState(ctx, s.cfg.Pool)
	var out DataVersion
	if err == nil {
		out = DataVersion{Version: st.Version, RefreshedAt: st.RefreshedAt, Refreshing: st.Refreshing,
			LastError: st.LastError, LastErrorAt: st.LastErrorAt}
		err = s.cfg.Pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM precalc_dirty_days) OR EXISTS (SELECT 1 FROM precalc_claimed_days)
			    OR EXISTS (SELECT 1 FROM precalc_dirty_batches) OR EXISTS (SELECT 1 FROM precalc_pending_runs)`).Scan(&out.Stale)
	}
	if err != nil {
		s.internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// ready says whether the database answers and has the expected schema.
func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	var current int64
	err := s.cfg.Pool.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0) FROM haul_schema_migrations WHERE is_applied`).Scan(&current)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		c.JSON(http.StatusServiceUnavailable, detail("not ready: no schema, run haul migrate"))
	case err != nil:
		s.cfg.Log.V(1).Info("not ready", "reason", err.Error())
		c.JSON(http.StatusServiceUnavailable, detail("not ready: database unreachable"))
	case current < s.cfg.SchemaVersion:
		c.JSON(http.StatusServiceUnavailable, detail(fmt.Sprintf(
			"not ready: schema at version %d, want %d: run haul migrate", current, s.cfg.SchemaVersion)))
	default:
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}
