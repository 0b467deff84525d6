package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/rollup"
	"github.com/haul-dev/haul/internal/runstore"
)

// Haul's own endpoints under /api/v1, outside the compatibility contract:
// ingestion runs and the state of the aggregates.

// The runs' types are the bookkeeping's (internal/runstore), which reads
// them.
type (
	// RunSummary is one ingestion run in a listing.
	RunSummary = runstore.RunSummary
	// RunDetail is one run with its datasets.
	RunDetail = runstore.RunDetail
	// RunDataset is what a run did with one dataset.
	RunDataset = runstore.RunDataset
	// FileError is the error that stopped a run or dataset.
	FileError = runstore.FileError
)

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
	out := RunPage{Page: page, PageSize: size}
	var err error
	out.Total, out.Data, err = runstore.List(c.Request.Context(), s.cfg.Pool, size, int64(page-1)*int64(size))
	if err != nil {
		s.internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getRun(c *gin.Context) {
	id := c.Param("run_id")
	var out RunDetail
	err := runstore.ErrNotFound
	if storableID(id, maxRunIDRunes) {
		out, err = runstore.Get(c.Request.Context(), s.cfg.Pool, id)
	}
	switch {
	case errors.Is(err, runstore.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, detail("Run not found"))
	case err != nil:
		s.internalError(c, err)
	default:
		c.JSON(http.StatusOK, out)
	}
}

func (s *Server) dataVersion(c *gin.Context) {
	ctx := c.Request.Context()
	st, err := rollup.ReadState(ctx, s.cfg.Pool)
	var out DataVersion
	if err == nil {
		out = DataVersion{Version: st.Version, RefreshedAt: st.RefreshedAt, Refreshing: st.Refreshing,
			LastError: st.LastError, LastErrorAt: st.LastErrorAt}
		out.Stale, err = db.Stale(ctx, s.cfg.Pool)
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
	current, err := db.AppliedVersion(ctx, s.cfg.Pool)
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
