package apiserver

import (
	"net/http"
	"testing"

	"github.com/haul-dev/haul/internal/datagen"
)

// Windows at the ends of the calendar the parameters allow, and the windows
// derived from them (the dashboard's shift, the costs' previous window),
// which reach before year 1: answers, never a 500.
func TestExtremeWindows(t *testing.T) {
	e := newLoadedSrvEnv(t, datagen.Config{Shipments: 500, Cities: 8, Seed: 3})
	for _, target := range []string{
		"/api/costs/overview?start=0001-01-01&end=9999-12-31",
		"/api/costs/overview?start=0001-01-01&end=0001-01-01",
		"/api/dashboard?start=0001-01-01&end=9999-12-31&interval_type=year&periods_back=100",
		"/api/dashboard?start=0001-03-31&end=0001-03-31&interval_type=month&periods_back=100",
		"/api/shipments/analytics?start=0001-01-01&end=9999-12-31",
		"/api/vehicles/metrics?start=0001-01-01&end=9999-12-31",
		"/api/vehicles/V-001/details?start=0001-01-01&end=9999-12-31",
		"/api/route/reliability?start=0001-01-01&end=9999-12-31",
		"/api/route/cost-value?start=9999-12-31&end=9999-12-31",
		"/api/route/optimization?start=0001-01-01&end=9999-12-31",
		"/api/route/top-performing?start=0001-01-01&end=9999-12-31&limit=100",
	} {
		if w := srvDo(e.srv, http.MethodGet, target); w.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", target, w.Code, w.Body)
		}
	}
}
