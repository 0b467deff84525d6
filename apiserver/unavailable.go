package apiserver

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/haul-dev/haul/internal/db"
)

// retryAfterSeconds is what a client is told to wait while the database
// cannot be reached.
const retryAfterSeconds = "5"

// unavailable answers 503 while the database cannot be reached: the client
// may try again, and nothing is wrong with its request.
func (s *Server) unavailable(c *gin.Context, err error) {
	s.cfg.Log.Info("database unavailable", "path", c.Request.URL.Path, "reason", err.Error())
	c.Header("Retry-After", retryAfterSeconds)
	c.AbortWithStatusJSON(http.StatusServiceUnavailable, detail("Database unavailable"))
}

// servableVersion is the data version whose cached answers may be served:
// the current one, or, while the database cannot be reached, the newest one
// seen (its answers were right when the database was last reached, and
// nothing newer can be computed). 0 means none.
func (s *Server) servableVersion(ctx context.Context) int64 {
	v, err := s.currentVersion(ctx)
	if db.Unavailable(err) {
		v, _ = s.cache.freshVersion(0)
		return v
	}
	if err != nil {
		return 0
	}
	return v
}
