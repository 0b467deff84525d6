package apiserver

import "context"

// SystemStatus is /api/system/status' answer (docs/api.md#311-get-apisystemstatus).
type SystemStatus struct {
	IsCalculating bool `json:"is_calculating"`
	// LastCalculatedAt is RFC 3339 UTC with microseconds, or null.
	LastCalculatedAt *string `json:"last_calculated_at"`
	ErrorMessage     *string `json:"error_message"`
}

// statusTimeLayout is last_calculated_at's form, e.g. 2024-05-01T10:15:30.123456Z.
const statusTimeLayout = "2006-01-02T15:04:05.000000Z"

// answerSystemStatus reports the aggregate refresh's state (docs/api.md#311-get-apisystemstatus):
// calculating and failing only while no version is servable.
func answerSystemStatus(ctx context.Context, s source) (SystemStatus, error) {
	st, err := s.state(ctx)
	if err != nil {
		return SystemStatus{}, err
	}
	out := SystemStatus{IsCalculating: st.Version == 0 && st.Refreshing}
	if st.RefreshedAt != nil {
		at := st.RefreshedAt.UTC().Format(statusTimeLayout)
		out.LastCalculatedAt = &at
	}
	if st.Version == 0 && st.LastError != nil {
		msg := *st.LastError
		out.ErrorMessage = &msg
	}
	return out, nil
}
