package precalc

import "math"

// Dates as PostgreSQL's binary format has them: days since 2000-01-01.
// A month is numbered year·12 + month − 1.

// unixToPGDays is 1970-01-01 → 2000-01-01 in days.
const unixToPGDays = 10957

// civil is the calendar date of a day (Howard Hinnant's days_from_civil,
// inverted), exact for every date PostgreSQL can store.
func civil(day int32) (year, month, dom int) {
	z := int64(day) + unixToPGDays + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dom = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, dom
}

// dayOf is the day of a calendar date.
func dayOf(year, month, dom int) int32 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(dom) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468 - unixToPGDays)
}

func monthOf(day int32) int32 {
	y, m, _ := civil(day)
	return int32(y*12 + m - 1)
}

// monthStart is the first day of month m, and yearOf its year.
func monthStart(m int32) int32 { return dayOf(int(floorDiv(m, 12)), int(m-floorDiv(m, 12)*12)+1, 1) }

func yearOf(m int32) int32 { return floorDiv(m, 12) }

func yearStart(y int32) int32 { return dayOf(int(y), 1, 1) }

func floorDiv(a, b int32) int32 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// finiteDay says whether a date is a day, not ±infinity.
func finiteDay(day int32) bool { return day != math.MaxInt32 && day != math.MinInt32 }
