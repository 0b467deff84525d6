package kubetest

import (
	"strconv"
	"strings"
)

// indexSet is a set of completion indexes below len(s).
type indexSet []bool

func (s indexSet) add(ix int) {
	if ix < len(s) {
		s[ix] = true
	}
}

func (s indexSet) has(ix int) bool { return ix < len(s) && s[ix] }

func (s indexSet) count() int32 {
	var n int32
	for _, in := range s {
		if in {
			n++
		}
	}
	return n
}

// addIntervals adds the indexes of a status.completedIndexes string, such as
// "0-2,4", ignoring what it cannot parse.
func (s indexSet) addIntervals(intervals string) {
	if intervals == "" {
		return
	}
	for _, part := range strings.Split(intervals, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		if err != nil {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(last); err != nil {
				continue
			}
		}
		for ix := max(lo, 0); ix <= hi && ix < len(s); ix++ {
			s[ix] = true
		}
	}
}

// String formats the set as the Job controller writes completedIndexes:
// runs of three or more as "first-last", others one by one ("0-2,4,5").
func (s indexSet) String() string {
	var b strings.Builder
	for ix := 0; ix < len(s); ix++ {
		if !s[ix] {
			continue
		}
		last := ix
		for last+1 < len(s) && s[last+1] {
			last++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ix))
		switch {
		case last == ix+1:
			b.WriteString("," + strconv.Itoa(last))
		case last > ix+1:
			b.WriteString("-" + strconv.Itoa(last))
		}
		ix = last
	}
	return b.String()
}
