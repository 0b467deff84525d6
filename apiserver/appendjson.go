package apiserver

import (
	"encoding/json"
	"math"
	"strconv"
)

// An answer whose length follows its window (a vehicle's days) is encoded
// by hand: encoding/json spent about half a millisecond reflecting over the
// thousand days of a three-year window, a sixth of the answer's cost. The
// bytes are encoding/json's (TestAppendJSONMatchesEncodingJSON).

// jsonAppender is an answer that appends its own JSON encoding to b.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// marshal encodes an answer as encoding/json does.
func marshal(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		return a.appendJSON(nil)
	}
	return json.Marshal(v)
}

// jsonBuf appends JSON values as encoding/json encodes them. The first
// value it cannot encode (NaN or an infinity) is kept in err.
type jsonBuf struct {
	b   []byte
	err error
	// open: the object just opened has no member yet.
	open bool
}

func (j *jsonBuf) begin() { j.b, j.open = append(j.b, '{'), true }
func (j *jsonBuf) end()   { j.b, j.open = append(j.b, '}'), false }

// key appends a member's name, which needs no escaping, and colon.
func (j *jsonBuf) key(name string) {
	if !j.open {
		j.b = append(j.b, ',')
	}
	j.open = false
	j.b = append(j.b, '"')
	j.b = append(j.b, name...)
	j.b = append(j.b, '"', ':')
}

func (j *jsonBuf) strMember(name, s string) { j.key(name); j.str(s) }
func (j *jsonBuf) intMember(name string, n int64) {
	j.key(name)
	j.b = strconv.AppendInt(j.b, n, 10)
}
func (j *jsonBuf) floatMember(name string, f float64) { j.key(name); j.float(f) }

// str appends s quoted, escaped as encoding/json escapes it: plain ASCII
// as it is, anything else through encoding/json itself.
func (j *jsonBuf) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil && j.err == nil {
				j.err = err
			}
			j.b = append(j.b, q...)
			return
		}
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, s...)
	j.b = append(j.b, '"')
}

// float appends f as encoding/json's float64 encoder does.
func (j *jsonBuf) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if j.err == nil {
			_, j.err = json.Marshal(f)
		}
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	j.b = strconv.AppendFloat(j.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9.
		if n := len(j.b); n >= 4 && j.b[n-4] == 'e' && j.b[n-3] == '-' && j.b[n-2] == '0' {
			j.b[n-2] = j.b[n-1]
			j.b = j.b[:n-1]
		}
	}
}

func (d VehicleDetails) appendJSON(b []byte) ([]byte, error) {
	j := jsonBuf{b: b}
	s := d.Summary
	j.begin()
	j.key("summary")
	j.begin()
	j.strMember("vehicle_id", s.VehicleID)
	j.strMember("name", s.Name)
	j.floatMember("lifetime_mileage", s.LifetimeMileage)
	j.intMember("total_trips", s.TotalTrips)
	j.floatMember("period_mileage", s.PeriodMileage)
	j.floatMember("total_fuel", s.TotalFuel)
	j.floatMember("fuel_efficiency", s.FuelEfficiency)
	j.intMember("deliveries_completed", s.DeliveriesCompleted)
	j.floatMember("avg_delivery_time", s.AvgDeliveryTime)
	j.floatMember("total_revenue", s.TotalRevenue)
	j.floatMember("revenue_per_trip", s.RevenuePerTrip)
	j.floatMember("fuel_per_trip", s.FuelPerTrip)
	j.end()

	j.key("daily_performance")
	if d.DailyPerformance == nil {
		j.b = append(j.b, "null"...)
	} else {
		j.b = append(j.b, '[')
		for i, r := range d.DailyPerformance {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.begin()
			j.strMember("date", r.Date)
			j.intMember("trips", r.Trips)
			j.floatMember("daily_mileage", r.DailyMileage)
			j.floatMember("daily_fuel", r.DailyFuel)
			j.floatMember("daily_revenue", r.DailyRevenue)
			j.intMember("daily_deliveries", r.DailyDeliveries)
			j.end()
		}
		j.b = append(j.b, ']')
	}

	// A vehicle's top routes are few: encoding/json's cost does not matter.
	j.key("top_routes")
	routes, err := json.Marshal(d.TopRoutes)
	if err != nil && j.err == nil {
		j.err = err
	}
	j.b = append(j.b, routes...)
	j.end()
	if j.err != nil {
		return nil, j.err
	}
	return j.b, nil
}
